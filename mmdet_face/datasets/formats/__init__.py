"""One reader per annotation format, each checking values, not only structure: :mod:`.labelv2` (the RetinaFace /
SCRFD release), :mod:`.retinaface_label_txt` (RetinaFace's ``label.txt``), :mod:`.wider_bbx_gt` (the official
``wider_face_*_bbx_gt.txt``), :mod:`.afw_pascal_mat` (the AFW / PASCAL Face re-annotations); :mod:`.detect` tells
them apart by content. :mod:`.wider_filelist` reads the official image lists without annotations (the test split's
``wider_face_test_filelist.txt``). The users' own formats: :mod:`.coco_json`, :mod:`.voc_xml`, :mod:`.yolo_face_txt`,
:mod:`.labelme_json`; :func:`read_annotations` reads any of them by name. labelv2, COCO, VOC and YOLO-face have
writers too (``write_*``).

Each reader returns ``[{'name', 'width', 'height', 'faces', 'lineno'}]``, a face being ``(bbox (4,) x1y1x2y2,
keypoints (5, 2), keypoints_weights (5,), ignore bool)``, float32 pixels. The readers of the users' formats set
``lineno`` to ``None`` and ``where`` to the file (and object) the record comes from, for messages."""
from .afw_pascal_mat import parse_afw_pascal_mat
from .coco_json import parse_coco_json, write_coco_json
from .common import content_lines, fit_faces, read_lines
from .detect import ANN_FORMATS, PARSERS, detect_format
from .labelme_json import parse_labelme_json
from .labelv2 import parse_labelv2, write_labelv2
from .readers import ALL_FORMATS, OWN_FORMATS, read_annotations
from .retinaface_label_txt import parse_retinaface_gt
from .voc_xml import parse_voc_xml, write_voc_xml
from .wider_bbx_gt import parse_wider_gt
from .wider_filelist import parse_wider_filelist
from .yolo_face_txt import parse_yolo_face, write_yolo_face

__all__ = ['ALL_FORMATS', 'ANN_FORMATS', 'OWN_FORMATS', 'PARSERS', 'content_lines', 'detect_format', 'fit_faces',
           'parse_afw_pascal_mat', 'parse_coco_json', 'parse_labelme_json', 'parse_labelv2', 'parse_retinaface_gt',
           'parse_voc_xml', 'parse_wider_filelist', 'parse_wider_gt', 'parse_yolo_face', 'read_annotations',
           'read_lines', 'write_coco_json', 'write_labelv2', 'write_voc_xml', 'write_yolo_face']
