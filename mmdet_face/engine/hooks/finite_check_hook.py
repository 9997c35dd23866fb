"""Stop a diverged training at once instead of logging ``loss: nan`` for days and saving NaN weights.

mmdet's ``CheckInvalidLossHook`` asserts on the total loss every ``interval`` iterations; this hook checks every
iteration, names the loss term that went non-finite, also watches the normalisation layers' running statistics
(which can turn NaN while the loss still looks finite, e.g. after an fp16 overflow in a forward pass), and refuses
to let a checkpoint with non-finite weights be written or be kept as "best".
"""
import math
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet_face.apis.checkpoint import non_finite_keys
from mmdet_face.registry import HOOKS


class TrainingDivergedError(RuntimeError):
    """A loss term or a weight of the model became NaN or infinite."""


def _value(x) -> float:
    if torch.is_tensor(x):
        return float(x.detach().float().mean()) if x.numel() else 0.0
    return float(x)


def non_finite_tensors(module: torch.nn.Module, buffers_only: bool = False) -> List[str]:
    """Names of the floating-point buffers (and, unless ``buffers_only``, parameters) of ``module`` holding a NaN
    or inf."""
    named = dict(module.named_buffers())
    if not buffers_only:
        named.update(module.named_parameters())
    return non_finite_keys(named)


@HOOKS.register_module()
class FiniteCheckHook(Hook):
    """Raise :class:`TrainingDivergedError` when a logged loss term or a normalisation statistic is not finite.

    Args:
        check_buffers (bool): also check the model's buffers (BatchNorm running mean / variance) every iteration
            (a few hundred small tensors: well under a millisecond).
        amp_tolerance (int): under ``AmpOptimWrapper`` a non-finite loss is expected now and then: the dynamic
            loss scaler skips that step and the weights stay finite. Stop only after this many consecutive
            non-finite iterations there (the weights are checked every time). Without AMP the first one stops.

    Runs before ``CheckpointHook`` (priority ABOVE_NORMAL), so the iteration that diverged never reaches a checkpoint;
    ``before_save_checkpoint`` and ``after_val_epoch`` refuse non-finite weights as a last guard (the latter before
    ``CheckpointHook`` can replace the best checkpoint).
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, check_buffers: bool = True, amp_tolerance: int = 20) -> None:
        self.check_buffers = check_buffers
        self.amp_tolerance = int(amp_tolerance)
        self._amp_streak = 0

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    @staticmethod
    def _where(runner) -> str:
        return f'epoch {runner.epoch + 1}, iteration {runner.iter + 1}'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Dict] = None) -> None:
        bad = {}
        for name, value in (outputs or {}).items():
            try:
                number = _value(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                bad[name] = number
        model = self._model(runner)
        amp = 'Amp' in type(runner.optim_wrapper).__name__
        if bad:
            terms = ', '.join(f'{k} = {v}' for k, v in bad.items())
            if amp and self._amp_streak + 1 < self.amp_tolerance and not non_finite_tensors(model):
                self._amp_streak += 1
                runner.logger.warning(f'non-finite loss at {self._where(runner)} ({terms}); the AMP loss scaler '
                                      f'skips this step ({self._amp_streak} in a row, stopping at '
                                      f'{self.amp_tolerance})')
                return
            raise TrainingDivergedError(
                f'training diverged at {self._where(runner)}: {terms}. Nothing of this iteration is saved; the '
                f'last checkpoint in {runner.work_dir} (if any) is from before it. Lower the learning rate, check '
                'the warm-up and the data, or clip gradients (optim_wrapper.clip_grad).')
        self._amp_streak = 0
        if self.check_buffers:
            buffers = non_finite_tensors(model, buffers_only=True)
            if buffers:
                raise TrainingDivergedError(
                    f'training diverged at {self._where(runner)}: {len(buffers)} normalisation statistics are not '
                    f'finite ({", ".join(buffers[:5])}{" ..." if len(buffers) > 5 else ""}) while the loss still '
                    'is. Nothing of this iteration is saved.')

    def _check_weights(self, runner, what: str) -> None:
        names = non_finite_tensors(self._model(runner))
        if names:
            raise TrainingDivergedError(
                f'{what} at {self._where(runner)}: the model has non-finite weights ({", ".join(names[:5])}'
                f'{" ..." if len(names) > 5 else ""}); refusing to save or rank them')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._check_weights(runner, 'validation')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        names = non_finite_keys(checkpoint.get('state_dict', {}))
        if names:
            raise TrainingDivergedError(
                f'checkpoint at {self._where(runner)} not saved: non-finite weights ({", ".join(names[:5])}'
                f'{" ..." if len(names) > 5 else ""})')
