from .data_anchor_sampling import DataAnchorSampling
from .dsfd_release_tta import DSFDReleaseTTA
from .formatting import PackFaceInputs
from .geometric import FaceRandomFlip, FaceResize, RandomSquareCrop
from .keypoint_geometry import check_keypoint_geometry, record_keypoint_geometry
from .loading import LoadFaceAnnotations
from .min_iou_crop import FaceMinIoURandomCrop
from .capped_test_scales import WiderFaceCappedResize, WiderFaceCappedTTA

__all__ = ['LoadFaceAnnotations', 'RandomSquareCrop', 'FaceResize', 'FaceRandomFlip', 'PackFaceInputs',
           'DataAnchorSampling', 'record_keypoint_geometry', 'check_keypoint_geometry', 'WiderFaceCappedResize',
           'WiderFaceCappedTTA', 'FaceMinIoURandomCrop', 'DSFDReleaseTTA']
