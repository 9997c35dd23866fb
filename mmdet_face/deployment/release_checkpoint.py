"""What the release-weight converters (``retinaface_pth_import``, ``dsfd_pth_import``) share: reading a released
``.pth`` safely, the ``num_batches_tracked`` filler, and writing the converted mmengine checkpoint atomically.

Each converter keeps its own key mapping and checks; these functions take the converter's ``expected`` description
(what a right input is) so every error names the file and what was expected.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Mapping

import torch

from .output_file import atomic_output


def strip_wrappers(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Accept a bare state dict, ``{'state_dict': ...}`` / ``{'model': ...}`` and ``module.`` prefixes."""
    state = checkpoint
    for key in ('state_dict', 'model'):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    out = OrderedDict()
    for name, value in state.items():
        if name.startswith('module.'):
            name = name[len('module.'):]
        out[name] = value
    return out


def first_line(err: BaseException, limit: int = 200) -> str:
    """The reason in an exception's message; for torch's weights-only errors the unpickler's own words (its
    preamble suggests ``weights_only=False``, which we never do for a file of unknown origin)."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text[text.index(marker) + len(marker):]
    text = text.strip().splitlines()
    text = text[0] if text else ''
    return text if len(text) <= limit else text[:limit] + '...'


def read_release_state(src: str, expected: str) -> 'OrderedDict[str, torch.Tensor]':
    """Read a release ``.pth`` safely (``torch.load(weights_only=True)``) -> its state dict of tensors, wrappers and
    ``module.`` prefixes removed (:func:`strip_wrappers`); the keys are the release's, not yet converted.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src`` and ``expected``: not a checkpoint ``torch.load`` reads safely, not a mapping,
            or a state dict that is empty or has non-tensor entries.
    """
    src = str(src)
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: file not found (expected {expected})')
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle / zip / EOF errors of a file that is not a (safe) checkpoint
        raise ValueError(f'{src}: not a PyTorch checkpoint that loads with torch.load(weights_only=True) '
                         f'({type(err).__name__}: {first_line(err)}); expected {expected}') from err
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{src}: holds a {type(checkpoint).__name__}, not a state dict; expected {expected}')
    state = strip_wrappers(checkpoint)
    bad = [name for name, value in state.items() if not isinstance(name, str) or not torch.is_tensor(value)]
    if not state or bad:
        what = 'no entries' if not state else f'non-tensor entries such as {bad[0]!r}'
        raise ValueError(f'{src}: the state dict has {what}; expected {expected}')
    return state


def with_num_batches_tracked(state: 'OrderedDict[str, torch.Tensor]') -> 'OrderedDict[str, torch.Tensor]':
    """Add ``num_batches_tracked = 0`` after every BatchNorm's ``running_var`` that lacks it (files saved without
    them, e.g. by torch 0.3): torch's BatchNorm fills it in when loading, but our checkpoint loader compares key sets
    strictly, so the converted file has every key of the model. The value only matters to BN layers with
    ``momentum=None``."""
    out = OrderedDict()
    for name, value in state.items():
        out[name] = value
        if name.endswith('.running_var'):
            tracked = name[:-len('running_var')] + 'num_batches_tracked'
            if tracked not in state:
                out[tracked] = torch.tensor(0, dtype=torch.long)
    return out


def save_converted_checkpoint(dst: str, state: Mapping[str, torch.Tensor], meta: dict, overwrite: bool) -> dict:
    """Write ``{'state_dict': state, 'meta': meta}`` to ``dst`` atomically (temporary file + rename; an existing
    ``dst`` is refused unless ``overwrite``). Returns the written checkpoint."""
    checkpoint = dict(state_dict=state, meta=meta)
    with atomic_output(dst, overwrite) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint


def check_fits_config(config: str, state: Mapping[str, torch.Tensor], message: str) -> None:
    """Raise ``ValueError(message + what differs)`` unless ``state`` has exactly the keys and shapes of the model
    that ``config`` builds: a short list of the missing / unexpected / mis-shaped keys (torch's own message lists
    every key, hundreds for the ResNet releases) and of non-finite tensors. The model is built on the ``meta``
    device: nothing is allocated for its weights (DSFD-R152 would take 480 MB)."""
    from mmdet_face.apis.checkpoint import compare_state_dicts
    from mmdet_face.apis.inference import init_face_detector
    with torch.device('meta'):
        ours = init_face_detector(config, device='meta').state_dict()
    report = compare_state_dicts(ours, state)
    shapes = [f'{k} {tuple(state[k].shape)} (model: {tuple(ours[k].shape)})' for k in report['shape']]
    problems = [f'{len(items)} {what}: {", ".join(items[:3])}{" ..." if len(items) > 3 else ""}'
                for what, items in (('missing', report['missing']), ('unexpected', report['unexpected']),
                                    ('wrong shape', shapes), ('not finite', report['non_finite']))
                if items]
    if problems:
        raise ValueError(message + ': ' + '; '.join(problems))


__all__ = ['check_fits_config', 'first_line', 'read_release_state', 'save_converted_checkpoint', 'strip_wrappers',
           'with_num_batches_tracked']
