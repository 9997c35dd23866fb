from .afw_pascal import AFWPascalFaceDataset
from .face_dataset import FaceDataset
from .formats import detect_format, parse_labelv2, parse_retinaface_gt, parse_wider_gt
from .image_file import UnreadableImageError
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms
from .widerface import RetinaFaceDataset, WiderFaceDataset
from .fddb import FDDBDataset

__all__ = ['AFWPascalFaceDataset', 'FaceDataset', 'FDDBDataset', 'RetinaFaceDataset', 'UnreadableImageError', 'WiderFaceDataset',
           'detect_format', 'parse_labelv2', 'parse_retinaface_gt', 'parse_wider_gt', *_transforms]
