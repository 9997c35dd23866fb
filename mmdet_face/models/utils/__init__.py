from .complexity import get_model_complexity
from .nms import sweep_batched_nms

__all__ = ['get_model_complexity', 'sweep_batched_nms']
