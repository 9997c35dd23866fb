"""Convert the released DSFD weights (Tencent/FaceDetection-DSFD ``WIDERFace_DSFD_RES152.pth``, the layout of its
``face_ssd.SSD``, which the ``face-detection`` package keeps) to our DSFD-R152 model's keys.

Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019. Our model is ``configs/dsfd/dsfd_r152_release_widerface.py``:
``DSFDBackbone`` (mmdet ResNet-152 + two extra blocks) + ``DSFDFEM`` + ``DSFDHead``. Names change and tensors are
copied, except the last conv of each head branch, whose PyramidBox head/body rows are dropped (below), so the
converted model computes exactly what the release computes for faces.

    layer1.0 / layer1.1                -> backbone.body.conv1 / backbone.body.bn1    (stem; 2, 3 = ReLU, maxpool)
    layer1.4.{k}.*                     -> backbone.body.layer1.{k}.*                 (torchvision = mmdet names)
    layer{2,3,4}.0.{k}.*               -> backbone.body.layer{2,3,4}.{k}.*
    layer5.{i}.* / layer6.{i}.*        -> backbone.extras.0.{i}.* / backbone.extras.1.{i}.*   (i = 0, 1, 3, 4)
    latlayer{n}.* / smooth{n}.*        -> neck.lateral_convs.{n-1}.* / neck.smooth_convs.{n-1}.*
    cpm3_3, cpm4_3, cpm5_3, cpm7, cpm6_2, cpm7_2 .cpm{1..5}.*
                                       -> neck.enhance_blocks.{0..5}.{branch_a, trunk, branch_b, branch_c1, branch_c2}.*
    loc.{l}.conv{1,2,3} / conf.{l}.conv{1,2,3}.*
                                       -> bbox_head.reg_branches.{l}.convs.{0,1,2}.* / bbox_head.cls_branches...
    loc.{l}.conv4 / conf.{l}.conv4     -> ....out_conv, first 4 output channels only

The released ``loc`` / ``conf`` 1x1 convs also predict PyramidBox "head" and "body" boxes and scores (loc channels
4..11, conf channels 4..7 on levels 1..5) that the release's inference never reads: they are dropped, with a log
line that says how many channels and numbers. Accepted forms: a bare state dict (the torch-0.3.1 file: 967
tensors, no ``num_batches_tracked``), ``{'state_dict': ...}`` / ``{'model': ...}`` wrappers, a ``module.`` prefix,
and ``num_batches_tracked`` present (1,126 tensors) or absent (then written as 0, so the output has every key our
model has and loads strictly).
"""
import logging
import re
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch

from mmdet_face.utils.output_file import check_output_path
from .release_checkpoint import (check_fits_config, read_release_state, save_converted_checkpoint, strip_wrappers,
                                 with_num_batches_tracked)

logger = logging.getLogger(__name__)

EXPECTED = 'the DSFD release state dict (Tencent/FaceDetection-DSFD WIDERFace_DSFD_RES152.pth layout)'
_FEM_LEVELS = {'cpm3_3': 0, 'cpm4_3': 1, 'cpm5_3': 2, 'cpm7': 3, 'cpm6_2': 4, 'cpm7_2': 5}
_FEM_CONVS = {'cpm1': 'branch_a', 'cpm2': 'trunk', 'cpm3': 'branch_b', 'cpm4': 'branch_c1', 'cpm5': 'branch_c2'}
_HEADS = {'loc': 'reg_branches', 'conf': 'cls_branches'}
_STEM = {'0': 'conv1', '1': 'bn1'}
# output channels kept from each release head's last conv: face box (4) / the 4 max-in-out logits
FACE_CHANNELS = {'loc': 4, 'conf': 4}
_PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'


def convert_key(name: str) -> str:
    """One release key -> our key; raises ``KeyError`` for a key the release layout does not have."""
    m = re.fullmatch(r'layer1\.([01])\.' + _PARAM, name)
    if m:
        return f'backbone.body.{_STEM[m.group(1)]}.{m.group(2)}'
    m = re.fullmatch(r'layer1\.4\.(\d+\..+)', name)
    if m:
        return f'backbone.body.layer1.{m.group(1)}'
    m = re.fullmatch(r'layer([234])\.0\.(\d+\..+)', name)
    if m:
        return f'backbone.body.layer{m.group(1)}.{m.group(2)}'
    m = re.fullmatch(r'layer([56])\.([0134])\.' + _PARAM, name)
    if m:
        return f'backbone.extras.{int(m.group(1)) - 5}.{m.group(2)}.{m.group(3)}'
    m = re.fullmatch(r'(latlayer|smooth)([123])\.(weight|bias)', name)
    if m:
        group = 'lateral_convs' if m.group(1) == 'latlayer' else 'smooth_convs'
        return f'neck.{group}.{int(m.group(2)) - 1}.{m.group(3)}'
    m = re.fullmatch(r'(cpm3_3|cpm4_3|cpm5_3|cpm7|cpm6_2|cpm7_2)\.(cpm[1-5])\.(weight|bias)', name)
    if m:
        return f'neck.enhance_blocks.{_FEM_LEVELS[m.group(1)]}.{_FEM_CONVS[m.group(2)]}.{m.group(3)}'
    m = re.fullmatch(r'(loc|conf)\.([0-5])\.conv([1-4])\.(weight|bias)', name)
    if m:
        head, level, conv, param = m.groups()
        where = 'out_conv' if conv == '4' else f'convs.{int(conv) - 1}'
        return f'bbox_head.{_HEADS[head]}.{level}.{where}.{param}'
    raise KeyError(f'unexpected key {name!r} for a DSFD release checkpoint')


def convert_dsfd_state_dict(checkpoint: Mapping) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, int]]:
    """Release checkpoint (state dict, possibly wrapped / ``module.``-prefixed) -> (our state dict, dropped), where
    ``dropped`` counts the PyramidBox head/body ``channels`` and ``numbers`` removed from the head convs."""
    state = strip_wrappers(checkpoint)
    out = OrderedDict()
    dropped = dict(channels=0, numbers=0)
    for name, value in state.items():
        key = convert_key(name)
        m = re.fullmatch(r'(loc|conf)\.\d\.conv4\.(weight|bias)', name)
        if m:
            keep = FACE_CHANNELS[m.group(1)]
            if value.shape[0] < keep:
                raise KeyError(f'{name} has {value.shape[0]} output channels, the release has at least {keep}')
            if m.group(2) == 'bias':
                dropped['channels'] += value.shape[0] - keep
            dropped['numbers'] += value[keep:].numel()
            value = value[:keep].clone()
        out[key] = value
    # BN counters absent from the torch-0.3.1 file: written as 0 (what torch itself fills in for such files)
    return with_num_batches_tracked(out), dropped


def load_release_checkpoint(src: str) -> 'OrderedDict[str, torch.Tensor]':
    """Read a release ``.pth`` safely (``torch.load(weights_only=True)``), convert it and log what was dropped.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src``: not a checkpoint ``torch.load`` reads safely, no state dict of tensors, the
            state dict of another model family (e.g. an mmengine checkpoint of our DSFD, already converted or
            trained here, or a RetinaFace release; the message says what it is and what to do with it), or a key
            the release layout does not have.
    """
    state = read_release_state(src, EXPECTED, family='dsfd_release')
    try:
        converted, dropped = convert_dsfd_state_dict(state)
    except KeyError as err:
        raise ValueError(f'{src}: {err.args[0]}; expected {EXPECTED}') from None
    logger.info('%s: dropped the release\'s PyramidBox head/body outputs (%d channels of the loc/conf heads\' last '
                'convs, %d numbers); the face outputs are kept', src, dropped['channels'], dropped['numbers'])
    return converted


def convert_dsfd_checkpoint(src: str, dst: str, config: str = None, overwrite: bool = False) -> dict:
    """Read ``src`` (release ``.pth``), write an mmengine checkpoint ``{'state_dict', 'meta'}`` to ``dst``.

    With ``config`` (``tools/model_converters/dsfd_pth2mmdet.py`` passes the release's own,
    ``configs/dsfd/dsfd_r152_release_widerface.py``, unless told another), the converted weights must have exactly
    the keys and shapes of its model, so a truncated or foreign file fails here, naming what is missing, and not
    at test time; without it only the key names are checked. ``dst`` is written atomically and an existing ``dst``
    is refused unless ``overwrite``. Returns the written checkpoint; its ``meta`` records ``converted_from``,
    ``converter`` and ``config``.

    Raises:
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (checked before anything is read).
        OutputIsInputError: ``dst`` is ``src`` or ``config`` (whatever ``overwrite`` says).
        FileNotFoundError / ValueError: see :func:`load_release_checkpoint`; ValueError also when the converted
            weights do not fit ``config``'s model.
    """
    check_output_path(dst, overwrite, inputs=(src, config))
    state = load_release_checkpoint(src)
    if config is not None:
        check_fits_config(config, state, f'{src}: the converted weights do not fit the model of {config}')
    return save_converted_checkpoint(dst, state, dict(converted_from=str(src), converter=__name__, config=config),
                                     overwrite)


__all__ = ['convert_key', 'convert_dsfd_state_dict', 'load_release_checkpoint', 'convert_dsfd_checkpoint']
