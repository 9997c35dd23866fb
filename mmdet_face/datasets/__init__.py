from .retinaface import RetinaFaceDataset, parse_labelv2, parse_wider_gt
from .transforms import *  # noqa: F401,F403

__all__ = ['RetinaFaceDataset', 'parse_labelv2', 'parse_wider_gt']
