"""Training-time pieces: hooks, and the checks that keep a work dir's runs apart (:mod:`.run_dir`)."""
from .hooks import FiniteCheckHook, TrainingDivergedError, non_finite_tensors

__all__ = ['FiniteCheckHook', 'TrainingDivergedError', 'non_finite_tensors']
