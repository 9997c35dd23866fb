from .build import build_face_detector
from .complexity import get_model_complexity
from .nms import sweep_batched_nms

__all__ = ['build_face_detector', 'get_model_complexity', 'sweep_batched_nms']
