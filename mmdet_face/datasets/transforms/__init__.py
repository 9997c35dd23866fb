from .data_anchor_sampling import DataAnchorSampling
from .formatting import PackFaceInputs
from .geometric import FLIP_ORDER, FaceRandomFlip, FaceResize, RandomSquareCrop
from .loading import LoadFaceAnnotations

__all__ = ['LoadFaceAnnotations', 'RandomSquareCrop', 'FaceResize', 'FaceRandomFlip', 'FLIP_ORDER',
           'PackFaceInputs', 'DataAnchorSampling']
