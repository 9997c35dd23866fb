"""Convert the released RetinaFace (PyTorch, ``RetinaFace(cfg_mnet)`` key layout) weights to our model's keys.

Our model is ``configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py``: ``MobileNetV1RetinaFace`` +
[``RetinaFaceFPN``, ``RetinaFaceSSH``] + ``RetinaFaceHead``. Only names change; tensors are copied unchanged, so
the converted model computes exactly what the release computes.

    body.stage{s}.0.{0,1}          -> backbone.stage{s}.0.{conv,bn}                          (stem, stage 1 only)
    body.stage{s}.{i}.{0,1,3,4}    -> backbone.stage{s}.{i}.{depthwise_conv,pointwise_conv}.{conv,bn}
    fpn.output{k}.{0,1}            -> neck.0.lateral_convs.{k-1}.{conv,bn}
    fpn.merge{k}.{0,1}             -> neck.0.merge_convs.{k-1}.{conv,bn}
    ssh{k}.<branch>.{0,1}          -> neck.1.levels.{k-1}.<branch>.{conv,bn}
    ClassHead / BboxHead / LandmarkHead.{k}.conv1x1 -> bbox_head.{cls,reg,kps}_convs.{k}
    body.{conv1,bn1,layer1..4}.*   -> backbone.*   (ResNet-50 release, torchvision names = mmdet ResNet names;
                                                    use the ResNet-50 config with ``--config``)
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch

from .output_file import atomic_output, check_output_path

_SSH_BRANCHES = {'conv3X3': 'conv3x3', 'conv5X5_1': 'conv5x5_1', 'conv5X5_2': 'conv5x5_2',
                 'conv7X7_2': 'conv7x7_2', 'conv7x7_3': 'conv7x7_3'}
_HEADS = {'ClassHead': 'cls_convs', 'BboxHead': 'reg_convs', 'LandmarkHead': 'kps_convs'}
_CONV_BN = {'0': 'conv', '1': 'bn'}
_DW_BLOCK = {'0': 'depthwise_conv.conv', '1': 'depthwise_conv.bn', '3': 'pointwise_conv.conv',
             '4': 'pointwise_conv.bn'}


def _strip_wrappers(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
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


def convert_key(name: str) -> str:
    """One release key -> our key; raises ``KeyError`` for a key the release layout does not have."""
    m = re.fullmatch(r'body\.(stage[123])\.(\d+)\.(\d+)\.(\w+)', name)
    if m:
        stage, block, layer, param = m.groups()
        table = _CONV_BN if (stage == 'stage1' and block == '0') else _DW_BLOCK
        if layer in table:
            return f'backbone.{stage}.{block}.{table[layer]}.{param}'
    # ResNet-50 release: torchvision names, which mmdet's ResNet keeps (fc is not part of the release's body)
    m = re.fullmatch(r'body\.((conv1|bn1|layer[1-4])\..+)', name)
    if m:
        return f'backbone.{m.group(1)}'
    m = re.fullmatch(r'fpn\.(output|merge)([123])\.([01])\.(\w+)', name)
    if m:
        kind, level, layer, param = m.groups()
        group = 'lateral_convs' if kind == 'output' else 'merge_convs'
        return f'neck.0.{group}.{int(level) - 1}.{_CONV_BN[layer]}.{param}'
    m = re.fullmatch(r'ssh([123])\.(\w+?)\.([01])\.(\w+)', name)
    if m and m.group(2) in _SSH_BRANCHES:
        level, branch, layer, param = m.groups()
        return f'neck.1.levels.{int(level) - 1}.{_SSH_BRANCHES[branch]}.{_CONV_BN[layer]}.{param}'
    m = re.fullmatch(r'(ClassHead|BboxHead|LandmarkHead)\.(\d+)\.conv1x1\.(weight|bias)', name)
    if m:
        head, level, param = m.groups()
        return f'bbox_head.{_HEADS[head]}.{level}.{param}'
    raise KeyError(f'unexpected key {name!r} for a RetinaFace release checkpoint')


def convert_retinaface_state_dict(checkpoint: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """Release checkpoint (state dict, possibly wrapped / ``module.``-prefixed) -> our model's state dict."""
    return OrderedDict((convert_key(name), value) for name, value in _strip_wrappers(checkpoint).items())


EXPECTED = 'a RetinaFace release .pth state dict (e.g. biubug6/Pytorch_Retinaface mobilenet0.25_Final.pth)'


def load_release_checkpoint(src: str) -> 'OrderedDict[str, torch.Tensor]':
    """Read a release ``.pth`` safely (``torch.load(weights_only=True)``) and convert its keys.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src``: it is not a checkpoint ``torch.load`` can read safely, it holds no state dict
            of tensors, or it has a key the release layout does not have (e.g. an already converted checkpoint).
    """
    src = str(src)
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: file not found (expected {EXPECTED})')
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle / zip / EOF errors of a file that is not a (safe) checkpoint
        raise ValueError(f'{src}: not a PyTorch checkpoint that loads with torch.load(weights_only=True) '
                         f'({type(err).__name__}: {_first_line(err)}); expected {EXPECTED}') from err
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{src}: holds a {type(checkpoint).__name__}, not a state dict; expected {EXPECTED}')
    state = _strip_wrappers(checkpoint)
    bad = [name for name, value in state.items() if not isinstance(name, str) or not torch.is_tensor(value)]
    if not state or bad:
        what = 'no entries' if not state else f'non-tensor entries such as {bad[0]!r}'
        raise ValueError(f'{src}: the state dict has {what}; expected {EXPECTED}')
    try:
        return OrderedDict((convert_key(name), value) for name, value in state.items())
    except KeyError as err:
        raise ValueError(f'{src}: {err.args[0]}; expected {EXPECTED}') from None


def _first_line(err: BaseException, limit: int = 200) -> str:
    """The reason in an exception's message; for torch's weights-only errors the unpickler's own words (its
    preamble suggests ``weights_only=False``, which we never do for a file of unknown origin)."""
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text[text.index(marker) + len(marker):]
    text = text.strip().splitlines()
    text = text[0] if text else ''
    return text if len(text) <= limit else text[:limit] + '...'


def convert_retinaface_checkpoint(src: str, dst: str, config: str = None, overwrite: bool = False) -> dict:
    """Read ``src`` (release ``.pth``), write an mmengine checkpoint ``{'state_dict', 'meta'}`` to ``dst``.

    When ``config`` is given, the model is built from it and loaded strictly first, so a mismatch fails here and
    not at test time. ``dst`` is written atomically (temporary file + rename) and an existing ``dst`` is refused
    unless ``overwrite``. Returns the written checkpoint.

    Raises:
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (checked before anything is read).
        FileNotFoundError / ValueError: see :func:`load_release_checkpoint`.
    """
    check_output_path(dst, overwrite)
    state = load_release_checkpoint(src)
    if config is not None:
        from mmdet_face.apis.inference import init_face_detector
        init_face_detector(config).load_state_dict(state, strict=True)
    checkpoint = dict(state_dict=state,
                      meta=dict(converted_from=str(src), converter=__name__,
                                config=config))
    with atomic_output(dst, overwrite) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint


__all__ = ['convert_key', 'convert_retinaface_state_dict', 'load_release_checkpoint', 'convert_retinaface_checkpoint']
