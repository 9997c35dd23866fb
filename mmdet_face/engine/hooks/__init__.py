from .average_buffers_hook import AverageBuffersHook, sync_float_buffers
from .finite_check_hook import FiniteCheckHook, TrainingDivergedError, non_finite_tensors

__all__ = ['AverageBuffersHook', 'FiniteCheckHook', 'TrainingDivergedError', 'non_finite_tensors',
           'sync_float_buffers']
