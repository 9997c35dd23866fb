from .finite_check_hook import FiniteCheckHook, TrainingDivergedError, non_finite_tensors

__all__ = ['FiniteCheckHook', 'TrainingDivergedError', 'non_finite_tensors']
