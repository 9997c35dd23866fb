from .complexity import get_model_complexity

__all__ = ['get_model_complexity']
