from .retinaface import (RetinaFaceDataset, UnreadableImageError, detect_format, parse_labelv2, parse_retinaface_gt,
                         parse_wider_gt)
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms

__all__ = ['RetinaFaceDataset', 'UnreadableImageError', 'detect_format', 'parse_labelv2', 'parse_retinaface_gt',
           'parse_wider_gt', *_transforms]
