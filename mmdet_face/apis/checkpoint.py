"""Loading weights for inference and testing: strict by default, with an error that says what does not fit.

mmengine's ``load_checkpoint(..., strict=False)`` (what ``Runner`` does for ``load_from``) loads whatever keys
happen to match and only logs the rest, so the RetinaFace weights given to an SCRFD config run a randomly
initialised head and return thousands of random boxes with exit code 0. :func:`load_face_checkpoint` refuses a
checkpoint that does not fit the model (missing keys, unexpected keys, shape mismatches, non-finite values), names
what is wrong and, where the checkpoint records it, the config it was trained with. Partial loading is an explicit
opt-in (``strict=False``), and it still logs every key it skipped.
"""
import os.path as osp
import re
from typing import Dict, List, Mapping, Optional

import torch

from mmdet_face import compat  # noqa: F401  (mmengine checkpoints load with weights_only=True)

_MODULE_PREFIX = re.compile(r'^module\.')
STRICT_HINT = ('Use the config the checkpoint was trained or converted for, or load the matching weights only on '
               'purpose (strict=False; tools: --partial-load).')
_EXAMPLES = 5


class CheckpointMismatchError(ValueError):
    """The checkpoint's weights do not fit the model (or are not finite)."""


def _examples(keys: List[str]) -> str:
    shown = ', '.join(keys[:_EXAMPLES])
    return shown + (f', ... ({len(keys) - _EXAMPLES} more)' if len(keys) > _EXAMPLES else '')


def checkpoint_origin(checkpoint: dict) -> Optional[str]:
    """What the checkpoint says about where it comes from: the config name of an mmengine run
    (``meta.experiment_name`` without its timestamp), the ``config`` a converter recorded, or the converter and
    source file. None when it records nothing."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    parts = []
    if meta.get('config'):
        parts.append(f"config {meta['config']}")
    name = meta.get('experiment_name')
    if isinstance(name, str) and name:
        parts.append(f"trained as {re.sub(r'_[0-9]{8}_[0-9]{6}$', '', name)}")
    source = meta.get('converted_from') or meta.get('source')
    if source:
        converter = meta.get('converter') or meta.get('converted_by') or 'a converter'
        parts.append(f'converted from {osp.basename(str(source))} by {converter}')
    return '; '.join(parts) or None


def non_finite_keys(tensors: Mapping[str, object]) -> List[str]:
    """The keys of ``tensors`` (a state dict, or ``dict(module.named_buffers())`` ...) whose value is a
    floating-point tensor holding a NaN or inf."""
    return [key for key, t in tensors.items() if torch.is_tensor(t) and t.is_floating_point() and t.numel()
            and not bool(torch.isfinite(t).all())]


# torch's weights-only unpickler names the global it refused: 'GLOBAL x.y was not an allowed global' or 'Trying to
# load unsupported GLOBAL x.y whose module x is blocked'.
_UNSAFE_GLOBAL = re.compile(r'GLOBAL (\S+)')


def read_checkpoint(filename: str, map_location='cpu'):
    """The object saved in ``filename`` (a local path, or a URL mmengine's ``CheckpointLoader`` knows), read with the
    safe loader (``torch.load(weights_only=True)``, plus the globals mmengine checkpoints hold:
    :mod:`mmdet_face.compat`).

    Raises:
        FileNotFoundError: a local ``filename`` that does not exist.
        CheckpointMismatchError: naming ``filename``: a file whose unpickling needs objects outside the allow-list
            (a crafted or foreign pickle: refused, never loaded unsafely), or one that is not a PyTorch checkpoint.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    if not osp.isfile(filename) and '://' not in filename:
        raise FileNotFoundError(f'{filename}: no such checkpoint file')
    try:
        return _load_checkpoint(filename, map_location=map_location)
    except Exception as exc:  # torch's unpickling errors are long, do not name the file, and advise the unsafe loader
        if filename.lower().endswith('.onnx'):  # FaceDetector runs PyTorch weights only (an ONNX file
            # fails the unpickler like a crafted file, but its remedy is the converter)
            raise CheckpointMismatchError(
                f'{filename}: an ONNX model, not a PyTorch checkpoint; convert a released SCRFD .onnx first '
                f'(tools/model_converters/scrfd_onnx2mmdet.py or mmdet_face.deployment.convert_scrfd_onnx)') from exc
        text = str(exc)
        unsafe = _UNSAFE_GLOBAL.search(text)
        if unsafe:
            raise CheckpointMismatchError(
                f'{filename}: contains objects that are not allowed to load ({unsafe.group(1)}): a checkpoint holds '
                'tensors, numbers and strings, and unpickling anything else could run code from the file. It is '
                'refused; use a checkpoint written by mmengine / torch.save of a state dict.') from exc
        raise CheckpointMismatchError(f'{filename}: not a readable PyTorch checkpoint '
                                      f'({type(exc).__name__}: {_unpickler_reason(text)[:200]})') from exc


def _unpickler_reason(text: str) -> str:
    """The line of a torch.load error that says what is wrong with the file: for the weights-only unpickler, the
    reason it states after its advice (which is to load unsafely, never the right advice here)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith('Weights only load failed'):
        reason = [line for line in lines[1:] if not line.startswith(('Please file an issue', 'Check the documentation'))]
        return reason[0] if reason else 'the weights-only unpickler refused it'
    return lines[0] if lines else ''


def compare_state_dicts(model_state: Dict[str, torch.Tensor], ckpt_state: Dict[str, torch.Tensor]) -> dict:
    """``{'missing', 'unexpected', 'shape', 'non_finite'}`` key lists, from the model's view."""
    shape = [key for key, value in ckpt_state.items() if torch.is_tensor(value) and key in model_state
             and tuple(value.shape) != tuple(model_state[key].shape)]
    return dict(missing=[k for k in model_state if k not in ckpt_state],
                unexpected=[k for k in ckpt_state if k not in model_state], shape=shape,
                non_finite=non_finite_keys(ckpt_state))


def load_face_checkpoint(model: torch.nn.Module, filename: str, strict: bool = True,
                         map_location='cpu', config_name: Optional[str] = None, logger=None) -> dict:
    """Load ``filename`` into ``model`` (an mmengine checkpoint ``{'state_dict', 'meta', ...}`` or a bare state
    dict; a DDP ``module.`` prefix is removed).

    Args:
        strict: refuse (:class:`CheckpointMismatchError`) unless every model weight is in the checkpoint with the
            same shape and the checkpoint has no other weights. ``strict=False`` loads the matching weights and
            logs the rest (fine-tuning from another model, on purpose).
        config_name: the config the model was built from, for the message.

    Non-finite (NaN / inf) weights are refused in both modes: such a model can only produce garbage.

    Returns:
        the loaded checkpoint dict (with its ``meta``).
    """
    checkpoint = read_checkpoint(filename, map_location)
    target = f'the model of {config_name}' if config_name else 'the model'
    loadable = fitting_weights(model.state_dict(), checkpoint, filename, strict=strict, target=target, logger=logger)
    model.load_state_dict(loadable, strict=False)
    return checkpoint


def fitting_weights(model_state: Mapping[str, torch.Tensor], checkpoint, filename: str, strict: bool = True,
                    target: str = 'the model', logger=None) -> Dict[str, torch.Tensor]:
    """The weights of ``checkpoint`` (as :func:`read_checkpoint` gives it) that load into a model whose state dict
    is ``model_state`` (only names and shapes are read: a model built on the ``meta`` device will do).

    Args:
        strict: refuse (:class:`CheckpointMismatchError`, naming ``filename`` and the missing, unexpected and
            mis-shaped weights) unless the checkpoint has exactly the model's weights. ``strict=False`` keeps the
            weights whose name and shape match and logs what is skipped and ``loaded N of M weights from FILE``;
            it still refuses a checkpoint of which nothing fits.
        target: how the message names the model.
        logger: where the partial-load note goes: a logger or logger name for ``print_log`` (default: the current
            one), or a callable that takes the line.

    Non-finite (NaN / inf) weights are refused in both modes: such a model can only produce garbage.
    """
    from mmengine.logging import print_log

    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'{filename}: expected a checkpoint dict or state dict, got '
                                      f'{type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        raise CheckpointMismatchError(f'{filename}: holds no weights (expected a state dict of tensors)')
    state = {_MODULE_PREFIX.sub('', k): v for k, v in state.items()}
    report = compare_state_dicts(model_state, state)
    origin = checkpoint_origin(checkpoint)
    if report['non_finite']:
        raise CheckpointMismatchError(
            f'{filename}: {len(report["non_finite"])} weight tensor(s) hold NaN or inf values '
            f'({_examples(report["non_finite"])}); the training that wrote it diverged')
    problems = []
    if report['missing']:
        problems.append(f'{len(report["missing"])} of {len(model_state)} model weights are missing from the '
                        f'checkpoint ({_examples(report["missing"])})')
    if report['unexpected']:
        problems.append(f'{len(report["unexpected"])} checkpoint weights are not in the model '
                        f'({_examples(report["unexpected"])})')
    if report['shape']:
        shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(model_state[k].shape)}'
                  for k in report['shape']]
        problems.append(f'{len(shapes)} weights differ in shape ({_examples(shapes)})')
    mismatched = set(report['shape'])
    loadable = {k: v for k, v in state.items() if k in model_state and k not in mismatched}
    if problems:
        message = (f'{filename} does not fit {target}: ' + '; '.join(problems) + '.'
                   + (f' The checkpoint records: {origin}.' if origin else ''))
        if strict:
            raise CheckpointMismatchError(message + ' ' + STRICT_HINT)
        if model_state and not loadable:
            # a partial load that loads nothing would silently run the randomly initialised model
            raise CheckpointMismatchError(f'{filename}: none of the checkpoint\'s weights fits {target}, not even '
                                          f'as a partial load: ' + '; '.join(problems) + '.')
        note = f'partial load: loaded {len(loadable)} of {len(model_state)} weights from {filename}. ' + message
        if callable(logger):
            logger(note)
        else:
            print_log(note, logger=logger or 'current', level=30)
    return loadable


def load_runner_checkpoint(runner, filename: str, strict: bool = True, config_name: Optional[str] = None) -> dict:
    """:func:`load_face_checkpoint` into the detector of an mmengine ``Runner`` (unwrapping DDP and test-time
    augmentation wrappers). The test tools call it instead of setting ``load_from``, which the runner loads with
    ``strict=False``."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if isinstance(model, BaseTTAModel):
        model = model.module
    return load_face_checkpoint(model, filename, strict=strict, config_name=config_name, logger=runner.logger)
