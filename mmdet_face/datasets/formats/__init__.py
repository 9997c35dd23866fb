"""One reader per annotation format, each checking values, not only structure: :mod:`.labelv2` (the RetinaFace /
SCRFD release), :mod:`.retinaface_label_txt` (RetinaFace's ``label.txt``), :mod:`.wider_bbx_gt` (the official
``wider_face_*_bbx_gt.txt``), :mod:`.afw_pascal_mat` (the AFW / PASCAL Face re-annotations); :mod:`.detect` tells
them apart by content. :mod:`.wider_filelist` reads the official image lists without annotations (the test split's
``wider_face_test_filelist.txt``).

Each reader returns ``[{'name', 'width', 'height', 'faces', 'lineno'}]``, a face being ``(bbox (4,) x1y1x2y2,
keypoints (5, 2), keypoints_weights (5,), ignore bool)``."""
from .afw_pascal_mat import parse_afw_pascal_mat
from .common import content_lines, read_lines
from .detect import ANN_FORMATS, PARSERS, detect_format
from .labelv2 import parse_labelv2
from .retinaface_label_txt import parse_retinaface_gt
from .wider_bbx_gt import parse_wider_gt
from .wider_filelist import parse_wider_filelist

__all__ = ['ANN_FORMATS', 'PARSERS', 'content_lines', 'detect_format', 'parse_labelv2', 'parse_retinaface_gt',
           'parse_wider_filelist', 'parse_wider_gt', 'read_lines', 'parse_afw_pascal_mat']
