"""Convert the released RetinaFace weights (biubug6/Pytorch_Retinaface PyTorch layout) to our model's keys.

Two releases share one layout below the backbone (Deng et al., "RetinaFace: Single-shot Multi-level Face
Localisation in the Wild", CVPR 2020; the PyTorch release by biubug6):

* MobileNet-0.25 (``mobilenet0.25_Final.pth``, ``cfg_mnet``): 300 tensors (253 without ``num_batches_tracked``), no
  prefix -> ``configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py`` (``MobileNetV1RetinaFace``).
* ResNet-50 (``Resnet50_Final.pth``, ``cfg_re50``): torchvision ResNet-50 up to ``layer4`` (no ``fc``), 256-channel
  FPN / SSH; trained with ``DataParallel`` on 4 GPUs, so its keys carry ``module.``; 456 tensors (383 without
  ``num_batches_tracked``) -> ``configs/retinaface/retinaface_r50_4xb6-100e_widerface.py`` (mmdet ``ResNet``).

Which release a file is, is read from its backbone keys (:func:`detect_release`), and the file must then have that
release's complete key set with its shapes (:func:`check_release_state`; ``num_batches_tracked`` may be present or
not), so a truncated or foreign file is an error here rather than a model with missing weights. Our model is
backbone + [``RetinaFaceFPN``, ``RetinaFaceSSH``] + ``RetinaFaceHead``. Only names change; tensors are copied
unchanged, so the converted model computes exactly what the release computes.

    body.stage{s}.0.{0,1}          -> backbone.stage{s}.0.{conv,bn}                          (stem, stage 1 only)
    body.stage{s}.{i}.{0,1,3,4}    -> backbone.stage{s}.{i}.{depthwise_conv,pointwise_conv}.{conv,bn}
    fpn.output{k}.{0,1}            -> neck.0.lateral_convs.{k-1}.{conv,bn}
    fpn.merge{k}.{0,1}             -> neck.0.merge_convs.{k-1}.{conv,bn}
    ssh{k}.<branch>.{0,1}          -> neck.1.levels.{k-1}.<branch>.{conv,bn}
    ClassHead / BboxHead / LandmarkHead.{k}.conv1x1 -> bbox_head.{cls,reg,kps}_convs.{k}
    body.{conv1,bn1,layer1..4}.*   -> backbone.*   (ResNet-50 release: torchvision names = mmdet ResNet names)
"""
import re
from collections import OrderedDict
from typing import Mapping, Tuple

import torch

from mmdet_face.utils.output_file import check_output_path
from .release_checkpoint import (check_fits_config, read_release_state, save_converted_checkpoint, strip_wrappers,
                                 with_num_batches_tracked)

_SSH_BRANCHES = {'conv3X3': 'conv3x3', 'conv5X5_1': 'conv5x5_1', 'conv5X5_2': 'conv5x5_2',
                 'conv7X7_2': 'conv7x7_2', 'conv7x7_3': 'conv7x7_3'}
_HEADS = {'ClassHead': 'cls_convs', 'BboxHead': 'reg_convs', 'LandmarkHead': 'kps_convs'}
_CONV_BN = {'0': 'conv', '1': 'bn'}
_DW_BLOCK = {'0': 'depthwise_conv.conv', '1': 'depthwise_conv.bn', '3': 'pointwise_conv.conv',
             '4': 'pointwise_conv.bn'}


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


# ----------------------------------------------------------------------------- the two release layouts
MOBILENET = 'mobilenet0.25'
RESNET50 = 'resnet50'
RELEASE_NAMES = {MOBILENET: 'RetinaFace MobileNet-0.25 release (mobilenet0.25_Final.pth)',
                 RESNET50: 'RetinaFace ResNet-50 release (Resnet50_Final.pth)'}


def _conv(layout, prefix, c_out, c_in, k, bias=False):
    layout[f'{prefix}.weight'] = (c_out, c_in, k, k)
    if bias:
        layout[f'{prefix}.bias'] = (c_out,)


def _bn(layout, prefix, c, num_batches_tracked):
    for param in ('weight', 'bias', 'running_mean', 'running_var'):
        layout[f'{prefix}.{param}'] = (c,)
    if num_batches_tracked:
        layout[f'{prefix}.num_batches_tracked'] = ()


def release_layout(release: str, num_batches_tracked: bool = True) -> 'OrderedDict[str, Tuple[int, ...]]':
    """The release's state-dict keys (without ``module.``), in its module order, with their shapes.

    Written from the release's module definitions (``models/net.py``, ``models/retinaface.py``, torchvision's
    ``resnet50``): MobileNet-0.25 has 300 keys (253 without ``num_batches_tracked``), ResNet-50 456 (383).
    """
    if release not in RELEASE_NAMES:
        raise ValueError(f'unknown RetinaFace release {release!r}; expected one of {sorted(RELEASE_NAMES)}')
    layout = OrderedDict()
    if release == MOBILENET:
        _conv(layout, 'body.stage1.0.0', 8, 3, 3)
        _bn(layout, 'body.stage1.0.1', 8, num_batches_tracked)
        # depthwise-separable blocks (c_in, c_out) per stage; the stem is stage1.0
        stages = {'stage1': [(8, 16), (16, 32), (32, 32), (32, 64), (64, 64)],
                  'stage2': [(64, 128)] + [(128, 128)] * 5, 'stage3': [(128, 256), (256, 256)]}
        for stage, blocks in stages.items():
            for i, (c_in, c_out) in enumerate(blocks, start=1 if stage == 'stage1' else 0):
                p = f'body.{stage}.{i}'
                layout[f'{p}.0.weight'] = (c_in, 1, 3, 3)
                _bn(layout, f'{p}.1', c_in, num_batches_tracked)
                _conv(layout, f'{p}.3', c_out, c_in, 1)
                _bn(layout, f'{p}.4', c_out, num_batches_tracked)
        in_channels, width = [64, 128, 256], 64
    else:
        _conv(layout, 'body.conv1', 64, 3, 7)
        _bn(layout, 'body.bn1', 64, num_batches_tracked)
        c_in = 64
        for stage, (blocks, planes) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=1):
            for i in range(blocks):  # torchvision Bottleneck: 1x1, 3x3, 1x1 (x4), projection on block 0
                p = f'body.layer{stage}.{i}'
                for k, (o, c, size) in enumerate([(planes, c_in, 1), (planes, planes, 3), (planes * 4, planes, 1)],
                                                 start=1):
                    _conv(layout, f'{p}.conv{k}', o, c, size)
                    _bn(layout, f'{p}.bn{k}', o, num_batches_tracked)
                if i == 0:
                    _conv(layout, f'{p}.downsample.0', planes * 4, c_in, 1)
                    _bn(layout, f'{p}.downsample.1', planes * 4, num_batches_tracked)
                c_in = planes * 4
        in_channels, width = [512, 1024, 2048], 256
    for k, c in enumerate(in_channels, start=1):
        _conv(layout, f'fpn.output{k}.0', width, c, 1)
        _bn(layout, f'fpn.output{k}.1', width, num_batches_tracked)
    for k in (1, 2):
        _conv(layout, f'fpn.merge{k}.0', width, width, 3)
        _bn(layout, f'fpn.merge{k}.1', width, num_batches_tracked)
    half, quarter = width // 2, width // 4
    for level in (1, 2, 3):
        for branch, (o, c) in {'conv3X3': (half, width), 'conv5X5_1': (quarter, width),
                               'conv5X5_2': (quarter, quarter), 'conv7X7_2': (quarter, quarter),
                               'conv7x7_3': (quarter, quarter)}.items():
            _conv(layout, f'ssh{level}.{branch}.0', o, c, 3)
            _bn(layout, f'ssh{level}.{branch}.1', o, num_batches_tracked)
    for head, per_anchor in (('ClassHead', 2), ('BboxHead', 4), ('LandmarkHead', 10)):
        for level in range(3):  # 2 anchors per location
            _conv(layout, f'{head}.{level}.conv1x1', 2 * per_anchor, width, 1, bias=True)
    return layout


def detect_release(state: Mapping[str, torch.Tensor]) -> str:
    """``'mobilenet0.25'`` or ``'resnet50'`` from a release state dict's backbone keys (``module.`` stripped).

    Raises:
        ValueError: the keys are of neither release (e.g. an already converted mmdet-face checkpoint, whose keys
            start with ``backbone.``), or of both.
    """
    names = [str(name) for name in state]
    mobilenet = any(name.startswith('body.stage') for name in names)
    resnet = any(re.match(r'body\.(conv1|bn1|layer[1-4])\.', name) for name in names)
    if mobilenet != resnet:
        return MOBILENET if mobilenet else RESNET50
    if mobilenet:
        raise ValueError('it has both MobileNet (body.stage*) and ResNet (body.layer*) backbone keys')
    hint = (' (it looks like an already converted mmdet-face checkpoint)'
            if any(name.startswith('backbone.') for name in names) else '')
    raise ValueError(f'its keys are of neither RetinaFace release: no MobileNet-0.25 backbone keys (body.stage1-3.*) '
                     f'and no ResNet-50 ones (body.conv1, body.layer1-4.*); first keys: {names[:3]}{hint}')


def check_release_state(state: Mapping[str, torch.Tensor]) -> str:
    """Detect the release (:func:`detect_release`) and check that ``state`` has exactly its keys and shapes
    (``num_batches_tracked`` optional). Returns the release name.

    Raises:
        ValueError: naming the release, the counts and the first few missing / unexpected / mis-shaped keys.
    """
    release = detect_release(state)
    layout = release_layout(release, num_batches_tracked=True)
    missing = [k for k in layout if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in layout]
    shapes = [f'{k} {tuple(state[k].shape)} (release: {layout[k]})' for k in state
              if k in layout and tuple(state[k].shape) != layout[k]]
    problems = []
    for what, items in (('missing', missing), ('unexpected', unexpected), ('wrong shape', shapes)):
        if items:
            more = f' and {len(items) - 3} more' if len(items) > 3 else ''
            problems.append(f'{len(items)} {what}: {", ".join(items[:3])}{more}')
    if problems:
        raise ValueError(f'not a complete {RELEASE_NAMES[release]}: ' + '; '.join(problems))
    return release


def convert_retinaface_state_dict(checkpoint: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """Release checkpoint (state dict, possibly wrapped / ``module.``-prefixed) -> our model's state dict."""
    return OrderedDict((convert_key(name), value) for name, value in strip_wrappers(checkpoint).items())


EXPECTED = ('a RetinaFace release .pth state dict (biubug6/Pytorch_Retinaface mobilenet0.25_Final.pth or '
            'Resnet50_Final.pth)')
# the config each release's converted weights load into (named in messages; the package never reads configs/)
RELEASE_CONFIGS = {MOBILENET: 'configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py',
                   RESNET50: 'configs/retinaface/retinaface_r50_4xb6-100e_widerface.py'}


def read_release_checkpoint(src: str) -> Tuple[str, 'OrderedDict[str, torch.Tensor]']:
    """Read a release ``.pth`` safely (``torch.load(weights_only=True)``), detect and check its release, convert.

    Returns:
        ``(release, state)``: ``'mobilenet0.25'`` or ``'resnet50'`` and our model's state dict (the same tensors,
        plus ``num_batches_tracked = 0`` where the file has none, so it holds every key of our model).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src``: it is not a checkpoint ``torch.load`` can read safely, it holds no state dict
            of tensors, it is of another model family (e.g. an already converted or trained mmengine checkpoint, the
            DSFD release; the message says what it is and what to do with it), its keys are of neither release, or
            it lacks some of its release's keys / has others / has a tensor of another shape.
    """
    state = read_release_state(src, EXPECTED, family='retinaface_release')
    try:  # a foreign key first (names it), then which release and whether it is complete
        converted = OrderedDict((convert_key(name), value) for name, value in state.items())
        release = check_release_state(state)
    except (KeyError, ValueError) as err:
        raise ValueError(f'{src}: {err.args[0]}; expected {EXPECTED}') from None
    return release, with_num_batches_tracked(converted)


def load_release_checkpoint(src: str) -> 'OrderedDict[str, torch.Tensor]':
    """:func:`read_release_checkpoint` without the release name: our model's state dict."""
    return read_release_checkpoint(src)[1]


def convert_retinaface_checkpoint(src: str, dst: str, config: str = None, overwrite: bool = False) -> dict:
    """Read ``src`` (release ``.pth``), write an mmengine checkpoint ``{'state_dict', 'meta'}`` to ``dst``.

    The release (MobileNet-0.25 or ResNet-50) is detected from the keys and recorded in ``meta['release']``. When
    ``config`` is given, the converted weights must have exactly the keys and shapes of its model (built on the
    ``meta`` device), so a mismatch (e.g. the ResNet-50 release with the MobileNet config) fails here, with the
    matching config named, and not at test time. ``dst`` is written atomically (temporary file + rename) and an
    existing ``dst`` is refused unless ``overwrite``. Returns the written checkpoint.

    Raises:
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (checked before anything is read).
        OutputIsInputError: ``dst`` is ``src`` or ``config`` (whatever ``overwrite`` says).
        FileNotFoundError / ValueError: see :func:`read_release_checkpoint`; ValueError also when the converted
            state does not load strictly into ``config``'s model.
    """
    check_output_path(dst, overwrite, inputs=(src, config))
    release, state = read_release_checkpoint(src)
    if config is not None:
        check_fits_config(config, state, f'{src}: the {RELEASE_NAMES[release]} does not fit the model of {config} '
                          f'(use {RELEASE_CONFIGS[release]} or a config derived from it)')
    return save_converted_checkpoint(
        dst, state, dict(converted_from=str(src), converter=__name__, release=release, config=config), overwrite)


__all__ = ['MOBILENET', 'RESNET50', 'RELEASE_CONFIGS', 'RELEASE_NAMES', 'check_release_state', 'convert_key',
           'convert_retinaface_checkpoint', 'convert_retinaface_state_dict', 'detect_release',
           'load_release_checkpoint', 'read_release_checkpoint', 'release_layout']
