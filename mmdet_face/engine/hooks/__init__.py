from .average_buffers_hook import AverageBuffersHook, sync_float_buffers
from .folded_bn_calibration_hook import (FoldedBNCalibrationHook, calibrate_folded_batchnorms,
                                          identity_batchnorms, is_identity_batchnorm)
from .finite_check_hook import FiniteCheckHook, TrainingDivergedError, non_finite_tensors

__all__ = ['AverageBuffersHook', 'FiniteCheckHook', 'TrainingDivergedError', 'non_finite_tensors',
           'sync_float_buffers', 'FoldedBNCalibrationHook', 'calibrate_folded_batchnorms', 'identity_batchnorms',
           'is_identity_batchnorm']
