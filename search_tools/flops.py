"""Analytic FLOPs and parameters of an SCRFD-style detector, part by part, without building it.

Sample and Computation Redistribution for Efficient Face Detection (Guo et al., ICLR 2022) searches how a fixed
FLOPs budget is split between the stem, the stages C2..C5, the neck and the head. The search needs that count
for thousands of candidates a second, so this module computes it in closed form from an architecture
description (see :func:`count_flops`) instead of building a model and running mmcv's counter on it.

Convention (the one of ``tools/analysis/get_flops.py`` = ``mmdet_face.models.utils.get_model_complexity``, i.e.
mmcv's ``get_model_complexity_info`` on ``detector._forward``): one multiply-accumulate is one FLOP; a conv also
counts one per output element for its bias; BN/GN count two per element (affine), ReLU and pooling one per input
element (max-pool, avg-pool shortcut); element-wise additions and ``F.interpolate`` in PAFPN are functional calls
the counter does not see and are not counted here either. Parameters are all trainable tensors (BN/GN affine
weights, the head's per-stride ``Scale`` factors). The count is exact (integer) for the modules below:

- backbone ``ResNetV1e`` (deep 3x3 stem, 2x2 max-pool, mmdet ``BasicBlock``/``Bottleneck`` stages with
  average-pool shortcuts), ``MobileNetV1`` (3x3 conv + depthwise-separable stem, depthwise-separable stages) or
  ``DamoFDNet`` (a DamoFD structure string, ``mmdet_face/models/backbones/damofd_net.py``: every block's layers as
  built there; the parts are the blocks grouped by their total stride, see :func:`damofd_layout`);
- neck mmdet ``PAFPN`` on C3..C5 (``start_level=1``, 3 outputs, no norm, no activation);
- head ``SCRFDHead`` (conv or depthwise-separable towers with GN/BN + ReLU, 3x3 predictors with bias).

Spatial sizes follow the layers' own arithmetic (3x3/s2/p1 conv: ``(h - 1) // 2 + 1``; 2x2 max-pool: ``h // 2``;
ceil-mode average pool: ``ceil(h / 2)``), so any input shape is counted as the counter would; the default is VGA,
``(H, W) = (480, 640)``.
"""
from functools import lru_cache
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

# the parts every count, table and report of the search uses: the backbone's stages, then the network's parts
STAGE_PARTS = ('stem', 'c2', 'c3', 'c4', 'c5')
NETWORK_PARTS = ('backbone', 'neck', 'head')
SHARE_PARTS = STAGE_PARTS + NETWORK_PARTS  # the parts a FLOPs share is given for
PARTS = SHARE_PARTS + ('total',)
BLOCK_EXPANSION = {'BasicBlock': 1, 'Bottleneck': 4}
# the detector's modules as mmcv's per-layer table names them (printed_module_gflops)
PRINTED_MODULES = dict(stem='stem', c2='layer1', c3='layer2', c4='layer3', c5='layer4', neck='neck', head='bbox_head')
HEAD_STRIDES = (8, 16, 32)


class _Tally:
    """Running (flops, params) of one part; every ``add_*`` is one module call as the counter's hook sees it."""

    __slots__ = ('flops', 'params')

    def __init__(self):
        self.flops = 0
        self.params = 0

    def conv(self, cin: int, cout: int, k: int, hw: int, groups: int = 1, bias: bool = False,
             count_params: bool = True) -> None:
        # mmcv: k*k*cin*(cout // groups) MACs per output position, + cout per position for the bias.
        self.flops += k * k * cin * (cout // groups) * hw + (cout * hw if bias else 0)
        if count_params:
            self.params += k * k * (cin // groups) * cout + (cout if bias else 0)

    def norm(self, channels: int, hw: int, count_params: bool = True) -> None:
        self.flops += 2 * channels * hw  # affine BN/GN: normalise + scale/shift
        if count_params:
            self.params += 2 * channels

    def elementwise(self, channels: int, hw: int) -> None:  # ReLU, pooling (counted on the input)
        self.flops += channels * hw

    def add(self, other: '_Tally', times: int = 1) -> None:
        self.flops += other.flops * times
        self.params += other.params * times


def _down(size: Tuple[int, int]) -> Tuple[int, int]:
    """Output size of a 3x3/stride-2/pad-1 conv (also of a ceil-mode 2x2/stride-2 average pool)."""
    return ((size[0] - 1) // 2 + 1, (size[1] - 1) // 2 + 1)


def _area(size: Tuple[int, int]) -> int:
    return size[0] * size[1]


def backbone_out_channels(backbone: dict) -> List[int]:
    """Channels of C2..C5 of a backbone description (see :func:`count_flops`)."""
    if backbone['type'] == 'ResNetV1e':
        expansion = BLOCK_EXPANSION[backbone['block']]
        return [p * expansion for p in backbone['stage_planes']]
    if backbone['type'] == 'MobileNetV1':
        return list(backbone['stage_planes'][2:])
    if backbone['type'] == 'DamoFDNet':
        blocks, out_indices, _ = damofd_layout(backbone['structure'])
        return [blocks[i].out_channels for i in out_indices]
    raise ValueError(f"backbone.type must be 'ResNetV1e', 'MobileNetV1' or 'DamoFDNet', got {backbone['type']!r}")


@lru_cache(maxsize=4096)
def damofd_layout(structure: str) -> Tuple[tuple, Tuple[int, ...], Tuple[str, ...]]:
    """``(blocks, out_indices, parts)`` of a DamoFD structure string as ``DamoFDNet`` builds it (default
    ``out_indices``): the parsed blocks (``damofd_structure.DamoBlock``), the indices of the first block at total
    stride 4, 8, 16 and 32 (C2..C5), and the part each block's FLOPs and parameters count towards: by its total
    stride, ``stem`` up to 2 (the first block, in the released structures), ``c2`` at 4, ``c3`` at 8, ``c4`` at 16,
    ``c5`` from 32 on.

    Raises:
        ValueError (``StructureError``): an invalid string, or one without a block at one of the four strides.
    """
    from mmdet_face.models.backbones.damofd_structure import StructureError, parse_structure
    blocks = parse_structure(structure, source='arch.backbone.structure')
    strides, total = [], 1
    for block in blocks:
        total *= block.stride
        strides.append(total)
    missing = [s for s in (4, 8, 16, 32) if s not in strides]
    if missing:
        raise StructureError(f'arch.backbone.structure {structure!r}: no block reaches total stride {missing[0]} '
                             f'(block strides {tuple(strides)}): DamoFDNet needs C2..C5 at strides 4/8/16/32')
    out_indices = tuple(strides.index(s) for s in (4, 8, 16, 32))
    names = {4: 'c2', 8: 'c3', 16: 'c4'}
    parts = tuple('stem' if s <= 2 else names.get(s, 'c5') for s in strides)
    return blocks, out_indices, parts


def _resnet(backbone: dict, size: Tuple[int, int], parts: Dict[str, _Tally]) -> List[Tuple[int, int]]:
    stem_c = backbone['stem_channels']
    half = stem_c // 2
    t = parts['stem']
    size = _down(size)
    hw = _area(size)
    t.conv(3, half, 3, hw), t.norm(half, hw), t.elementwise(half, hw)
    t.conv(half, half, 3, hw), t.norm(half, hw), t.elementwise(half, hw)
    t.conv(half, stem_c, 3, hw), t.norm(stem_c, hw), t.elementwise(stem_c, hw)
    parts['maxpool'].elementwise(stem_c, hw)  # 2x2 max-pool, counted on its input
    size = (size[0] // 2, size[1] // 2)

    block = backbone['block']
    expansion = BLOCK_EXPANSION[block]
    inplanes, sizes = stem_c, []
    for i, (depth, planes) in enumerate(zip(backbone['stage_blocks'], backbone['stage_planes'])):
        out_c = planes * expansion
        out_size = _down(size) if i > 0 else size
        _res_block(parts[f'c{i + 2}'], block, inplanes, planes, out_c, size, out_size)
        # blocks 2..depth are identical (stride 1, out_c -> out_c): count one, add it depth - 1 times
        # (mmdet's ResLayer always builds the first block, so depth 0 counts as 1)
        if depth > 1:
            repeat = _Tally()
            _res_block(repeat, block, out_c, planes, out_c, out_size, out_size)
            parts[f'c{i + 2}'].add(repeat, depth - 1)
        size = out_size
        inplanes = out_c
        sizes.append(size)
    return sizes


def _res_block(t: _Tally, block: str, cin: int, planes: int, out_c: int, size: Tuple[int, int],
               out_size: Tuple[int, int]) -> None:
    """One mmdet BasicBlock/Bottleneck from ``size`` to ``out_size`` (stride 2 when they differ)."""
    hw_in, hw = _area(size), _area(out_size)
    if block == 'BasicBlock':
        t.conv(cin, planes, 3, hw), t.norm(planes, hw), t.elementwise(planes, hw)
        t.conv(planes, planes, 3, hw), t.norm(planes, hw)
    else:  # Bottleneck, 'pytorch' style: the stride is on the 3x3 conv
        t.conv(cin, planes, 1, hw_in), t.norm(planes, hw_in), t.elementwise(planes, hw_in)
        t.conv(planes, planes, 3, hw), t.norm(planes, hw), t.elementwise(planes, hw)
        t.conv(planes, out_c, 1, hw), t.norm(out_c, hw)
    if size != out_size or cin != out_c:
        # avg_down shortcut: mmdet's ResLayer puts an average pool (kernel = stride; an identity at stride 1,
        # still counted) before the 1x1 conv
        t.elementwise(cin, hw_in)
        t.conv(cin, out_c, 1, hw), t.norm(out_c, hw)
    t.elementwise(out_c, hw)  # ReLU after the residual addition


def _dw_separable(t: _Tally, cin: int, cout: int, size_out: Tuple[int, int], count_params: bool = True) -> None:
    """3x3 depthwise conv -> norm -> ReLU -> 1x1 conv -> norm -> ReLU, no conv bias (both convs have a norm)."""
    hw = _area(size_out)
    t.conv(cin, cin, 3, hw, groups=cin, count_params=count_params)
    t.norm(cin, hw, count_params), t.elementwise(cin, hw)
    t.conv(cin, cout, 1, hw, count_params=count_params)
    t.norm(cout, hw, count_params), t.elementwise(cout, hw)


def _mobilenet(backbone: dict, size: Tuple[int, int], parts: Dict[str, _Tally]) -> List[Tuple[int, int]]:
    planes = backbone['stage_planes']
    t = parts['stem']
    size = _down(size)
    hw = _area(size)
    t.conv(3, planes[0], 3, hw), t.norm(planes[0], hw), t.elementwise(planes[0], hw)
    _dw_separable(t, planes[0], planes[1], size)
    sizes = []
    for i, depth in enumerate(backbone['stage_blocks']):
        t = parts[f'c{i + 2}']
        cin, cout = planes[i + 1], planes[i + 2]
        size = _down(size)
        _dw_separable(t, cin, cout, size)
        if depth > 1:  # the other blocks are identical
            repeat = _Tally()
            _dw_separable(repeat, cout, cout, size)
            t.add(repeat, depth - 1)
        sizes.append(size)
    return sizes


def _damofd_unit(t: _Tally, layers, size: Tuple[int, int], project: bool) -> Tuple[int, int]:
    """One ``damofd_net.ResidualUnit``: ``layers`` ``[(cin, cout, k, stride, groups)]``, each conv -> BN and
    ReLU after all but the last; the shortcut (1x1 conv with bias carrying the stride, BN) when ``project``, a
    stride or a width change; the ReLU after the addition. Returns the output size."""
    cin, cout, strided = layers[0][0], layers[-1][1], False
    for j, (a, b, k, stride, groups) in enumerate(layers):
        if stride > 1:
            size, strided = _down(size), True
        hw = _area(size)
        t.conv(a, b, k, hw, groups=groups), t.norm(b, hw)
        if j < len(layers) - 1:
            t.elementwise(b, hw)
    hw = _area(size)
    if project or strided or cin != cout:
        t.conv(cin, cout, 1, hw, bias=True), t.norm(cout, hw)
    t.elementwise(cout, hw)
    return size


def _damofd_block(t: _Tally, block, size: Tuple[int, int]) -> Tuple[int, int]:
    """The layers ``damofd_net.build_block`` builds for one block entered at ``size``; returns the output size.
    (Every conv has 'same' padding, so a stride-2 layer of any kernel gives :func:`_down` of its input.)"""
    from mmdet_face.models.backbones.damofd_structure import smart_round
    cin, cout, k, btn = block.in_channels, block.out_channels, block.kernel_size, block.bottleneck_channels
    for i in range(block.num_layers):
        stride, first = (block.stride if i == 0 else 1), i == 0
        if block.kind == 'conv':
            size = _down(size) if stride > 1 else size
            hw = _area(size)
            t.conv(cin, cout, k, hw), t.norm(cout, hw), t.elementwise(cout, hw)
        elif block.kind == 'res_kxkx':
            size = _damofd_unit(t, [(cin, btn, k, stride, 1), (btn, cout, k, 1, 1)], size, first)
        elif block.kind == 'res_k1kxk1':
            size = _damofd_unit(t, [(cin, btn, 1, 1, 1), (btn, btn, k, stride, 1), (btn, cout, 1, 1, 1)], size,
                                first)
            size = _damofd_unit(t, [(cout, btn, 1, 1, 1), (btn, btn, k, 1, 1), (btn, cout, 1, 1, 1)], size, False)
        elif block.kind == 'res_idw':
            mid1, mid2 = smart_round(btn * block.expansion), smart_round(cout * block.expansion)
            size = _damofd_unit(t, [(cin, mid1, 1, 1, 1), (mid1, mid1, k, stride, mid1), (mid1, btn, 1, 1, 1)],
                                size, first)
            size = _damofd_unit(t, [(btn, mid2, 1, 1, 1), (mid2, mid2, k, 1, mid2), (mid2, cout, 1, 1, 1)],
                                size, False)
        else:
            raise ValueError(f'arch.backbone.structure: block {block}: no FLOPs rule for kind {block.kind!r}')
        cin = cout
    return size


def _damofd(backbone: dict, size: Tuple[int, int], parts: Dict[str, _Tally]) -> List[Tuple[int, int]]:
    """DamoFDNet: each block into the part of its total stride (:func:`damofd_layout`). Its forward stops after
    the C5 block, so later blocks are not run: their parameters count, their FLOPs do not."""
    blocks, out_indices, names = damofd_layout(backbone['structure'])
    sizes = []
    for i, (block, name) in enumerate(zip(blocks, names)):
        if i > out_indices[-1]:
            idle = _Tally()
            _damofd_block(idle, block, size)
            parts[name].params += idle.params
            continue
        size = _damofd_block(parts[name], block, size)
        if i in out_indices:
            sizes.append(size)
    return sizes


def _pafpn(in_channels: Sequence[int], out_c: int, sizes: Sequence[Tuple[int, int]], t: _Tally) -> None:
    """mmdet PAFPN without norm/activation: every conv has a bias."""
    for cin, size in zip(in_channels, sizes):
        t.conv(cin, out_c, 1, _area(size), bias=True)  # lateral
    for size in sizes:
        t.conv(out_c, out_c, 3, _area(size), bias=True)  # fpn conv
    for size in sizes[1:]:
        t.conv(out_c, out_c, 3, _area(size), bias=True)  # bottom-up stride-2 conv, output at this level
        t.conv(out_c, out_c, 3, _area(size), bias=True)  # pafpn conv


def _head(head: dict, in_c: int, sizes: Sequence[Tuple[int, int]], t: _Tally) -> None:
    shared = head['strides_share']
    towers = 1 if head['cls_reg_share'] else 2
    anchors = head['num_anchors']
    outputs = [anchors * 1, anchors * 4] + ([anchors * 2 * head['num_keypoints']] if head['use_kps'] else [])
    for level, size in enumerate(sizes):
        hw = _area(size)
        count_params = not shared or level == 0  # a shared tower's weights are counted once
        for _ in range(towers):
            last = in_c
            for _ in range(head['stacked_convs']):
                c = head['feat_channels']
                if head['dw_conv']:
                    _dw_separable(t, last, c, size, count_params)
                else:
                    t.conv(last, c, 3, hw, count_params=count_params)
                    t.norm(c, hw, count_params), t.elementwise(c, hw)
                last = c
        last = head['feat_channels'] if head['stacked_convs'] > 0 else in_c
        for cout in outputs:
            t.conv(last, cout, 3, hw, bias=True, count_params=count_params)
    if head['scale_mode'] > 0 and (shared or head['scale_mode'] == 2):
        t.params += len(sizes)  # one learnable Scale per stride


def _count(arch: dict, input_shape: Sequence[int]) -> Dict[str, _Tally]:
    """Per-module tallies: stem (without the max-pool), maxpool, c2..c5, neck, head."""
    if len(input_shape) == 1:
        input_shape = (input_shape[0], input_shape[0])
    size = (int(input_shape[0]), int(input_shape[1]))
    parts = {name: _Tally() for name in STAGE_PARTS + ('maxpool', 'neck', 'head')}
    backbone = arch['backbone']
    if backbone['type'] == 'ResNetV1e':
        sizes = _resnet(backbone, size, parts)
    elif backbone['type'] == 'MobileNetV1':
        sizes = _mobilenet(backbone, size, parts)
    elif backbone['type'] == 'DamoFDNet':
        sizes = _damofd(backbone, size, parts)
    else:
        raise ValueError(f"arch.backbone.type must be 'ResNetV1e', 'MobileNetV1' or 'DamoFDNet', got "
                         f"{backbone['type']!r}")
    out_channels = backbone_out_channels(backbone)
    neck_c = arch['neck']['out_channels']
    _pafpn(out_channels[1:], neck_c, sizes[1:], parts['neck'])
    _head(arch['head'], neck_c, sizes[1:], parts['head'])

    return parts


def printed_module_gflops(arch: dict, input_shape: Sequence[int] = (480, 640)) -> Dict[str, float]:
    """GFLOPs of ``stem`` (the stem Sequential, without the max-pool), ``layer1``..``layer4``, ``neck`` and
    ``bbox_head`` rounded to 3 decimals, as mmcv's per-layer table prints them: the numbers SCRFD's generator
    parsed for its mode-2 stage-ratio filter."""
    parts = _count(arch, input_shape)
    return {name: round(parts[part].flops / 1e9, 3) for part, name in PRINTED_MODULES.items()}


def count_flops(arch: dict, input_shape: Sequence[int] = (480, 640)) -> dict:
    """FLOPs and parameters of an architecture, by part.

    Args:
        arch (dict): Canonical architecture (``search_tools.projection`` writes it)::

                backbone: {type: 'ResNetV1e', block: 'BasicBlock' | 'Bottleneck', stem_channels: int,
                           stage_blocks: [4 ints], stage_planes: [4 ints]}            (C2..C5 planes)
                       or {type: 'MobileNetV1', stage_blocks: [4 ints], stage_planes: [6 ints]}
                                                               (stem conv, stem dw-sep, C2..C5 widths)
                       or {type: 'DamoFDNet', structure: str}  (a DamoFD structure string, C2..C5 as
                                                                DamoFDNet takes them by default)
                neck:     {type: 'PAFPN', out_channels: int}    (on C3..C5)
                head:     {feat_channels, stacked_convs, norm: 'GN' | 'BN', num_groups, dw_conv,
                           strides_share, cls_reg_share, scale_mode, use_kps, num_keypoints, num_anchors}

        input_shape: ``(H, W)`` of the image (or one int for a square), VGA ``(480, 640)`` by default.

    Returns:
        dict: for each of ``stem`` (ResNetV1e: with its max-pool), ``c2``..``c5``, ``backbone``, ``neck``,
        ``head`` and ``total``: ``{'flops': int, 'params': int, 'gflops': float, 'params_m': float}``.
    """
    result = {name: (t.flops, t.params) for name, t in _count(arch, input_shape).items()}
    result['stem'] = (result['stem'][0] + result.pop('maxpool')[0], result['stem'][1])
    backbone_parts = [result[p] for p in STAGE_PARTS]
    result['backbone'] = (sum(f for f, _ in backbone_parts), sum(p for _, p in backbone_parts))
    result['total'] = tuple(result['backbone'][i] + result['neck'][i] + result['head'][i] for i in range(2))
    return {name: dict(flops=result[name][0], params=result[name][1], gflops=result[name][0] / 1e9,
                       params_m=result[name][1] / 1e6) for name in PARTS}


# ---------------------------------------------------------------------------------------------------- total only
# The projection evaluates the total of a few dozen width vectors per candidate. The closed forms below are the
# same count as :func:`count_flops` (every term is one of its ``_Tally`` calls, summed per block instead of per
# call, and the head's and neck's per-level terms factored by the level area); tests/search_tools/test_flops.py
# checks equality on thousands of random architectures.
def _res_block_total(block: str, cin, planes, out_c, hw_in: int, hw: int, shortcut) -> int:
    """One block's FLOPs; ``shortcut``: whether it has the average-pool + 1x1 shortcut (strided, or the channels
    change). Widths may be ints or numpy int64 arrays of one value per architecture; ``shortcut`` then a bool
    array."""
    if block == 'BasicBlock':
        flops = hw * (9 * cin * planes + 9 * planes * planes + 5 * planes)
    else:
        flops = hw_in * (cin * planes + 3 * planes) + hw * (9 * planes * planes + planes * out_c + 3 * planes
                                                             + 2 * out_c)
    if shortcut is not False:  # avg-pool shortcut (counted on its input) + 1x1 conv + norm
        flops = flops + shortcut * (cin * hw_in + hw * (cin * out_c + 2 * out_c))
    return flops + out_c * hw  # ReLU after the addition


def _resnet_stem_total(stem_area: int, stem_c, maxpool: bool = True):
    """The ResNetV1e deep stem, with its max-pool (``stem_c`` per position) or without (ints or numpy int64
    arrays)."""
    half = stem_c // 2
    return stem_area * (33 * half + 9 * half * half + 9 * half * stem_c + (4 if maxpool else 3) * stem_c)


def _neck_head_total(areas: Sequence[int], outs: Sequence, neck_c, feat, stacked: int, dw_conv: bool,
                     towers: int, outputs: int):
    """PAFPN on C3..C5 (channels ``outs``, areas ``areas``) and the head; widths ints or numpy int64 arrays."""
    all_areas = areas[0] + areas[1] + areas[2]
    flops = areas[0] * (outs[0] + 1) * neck_c + areas[1] * (outs[1] + 1) * neck_c \
        + areas[2] * (outs[2] + 1) * neck_c  # laterals (1x1 with bias) on C3..C5
    flops += (9 * neck_c * neck_c + neck_c) * (all_areas + 2 * (areas[1] + areas[2]))  # fpn; bottom-up + pafpn
    per_position, last = 0, neck_c
    for _ in range(stacked):
        per_position += (12 * last + last * feat + 3 * feat) if dw_conv else (9 * last * feat + 3 * feat)
        last = feat
    return flops + (towers * per_position + 9 * last * outputs + outputs) * all_areas


def _head_constants(head: dict) -> Tuple[int, int]:
    """``(towers, outputs per position)`` of a head description."""
    towers = 1 if head['cls_reg_share'] else 2
    return towers, head['num_anchors'] * (5 + (2 * head['num_keypoints'] if head['use_kps'] else 0))


def _dw_separable_total(cin: int, cout: int, hw: int) -> int:
    return hw * (12 * cin + cin * cout + 3 * cout)


@lru_cache(maxsize=64)
def _geometry(kind: str, height: int, width: int) -> Tuple[int, tuple, tuple]:
    """Areas a backbone of ``kind`` sees at ``(height, width)``: the stem's output area, per stage ``(area in,
    area out, strided)``, and the areas of C3..C5 (what the neck and head run on)."""
    size = _down((height, width))
    stem_area = _area(size)
    stages = []
    if kind == 'ResNetV1e':
        size = (size[0] // 2, size[1] // 2)
        for i in range(4):
            out_size = _down(size) if i > 0 else size
            stages.append((_area(size), _area(out_size), out_size != size))
            size = out_size
    elif kind == 'MobileNetV1':
        for _ in range(4):
            out_size = _down(size)
            stages.append((_area(size), _area(out_size), True))
            size = out_size
    else:
        raise ValueError(f"arch.backbone.type must be 'ResNetV1e' or 'MobileNetV1', got {kind!r}")
    return stem_area, tuple(stages), tuple(out for _, out, _ in stages[1:])


def width_counter(arch: dict, input_shape: Sequence[int] = (480, 640)) -> Callable[[Sequence[int], int, int], int]:
    """``count(backbone_widths, neck_channels, feat_channels) -> total FLOPs`` of ``arch`` with its widths
    replaced, everything else (type, block, depths, head switches, input size) as in ``arch``.
    ``backbone_widths`` is ``[stem_channels] + stage_planes`` for ResNetV1e (5 values) and ``stage_planes`` for
    MobileNetV1 (6 values). The count is :func:`count_flops`'s total, in closed form; the projection calls it for
    every width vector it tries."""
    if len(input_shape) == 1:
        input_shape = (input_shape[0], input_shape[0])
    backbone, head = arch['backbone'], arch['head']
    kind = backbone['type']
    stem_area, stages, areas = _geometry(kind, int(input_shape[0]), int(input_shape[1]))
    depths = list(backbone['stage_blocks'])
    stacked, dw_conv = head['stacked_convs'], head['dw_conv']
    towers, outputs = _head_constants(head)

    def neck_and_head(outs, neck_c, feat):
        return _neck_head_total(areas, outs, neck_c, feat, stacked, dw_conv, towers, outputs)

    if kind == 'ResNetV1e':
        block = backbone['block']
        expansion = BLOCK_EXPANSION[block]

        def count(widths, neck_c, feat):
            stem_c = widths[0]
            flops = _resnet_stem_total(stem_area, stem_c)
            inplanes = stem_c
            for (hw_in, hw, strided), depth, planes in zip(stages, depths, widths[1:]):
                out_c = planes * expansion
                flops += _res_block_total(block, inplanes, planes, out_c, hw_in, hw, strided or inplanes != out_c)
                if depth > 1:
                    flops += (depth - 1) * _res_block_total(block, out_c, planes, out_c, hw, hw, False)
                inplanes = out_c
            return flops + neck_and_head([p * expansion for p in widths[2:]], neck_c, feat)
    else:
        def count(widths, neck_c, feat):
            flops = stem_area * 30 * widths[0] + _dw_separable_total(widths[0], widths[1], stem_area)
            for i, ((_, hw, _), depth) in enumerate(zip(stages, depths)):
                cin, cout = widths[i + 1], widths[i + 2]
                flops += _dw_separable_total(cin, cout, hw)
                if depth > 1:
                    flops += (depth - 1) * _dw_separable_total(cout, cout, hw)
            return flops + neck_and_head(widths[3:], neck_c, feat)
    return count


def searched_widths(arch: dict) -> List[int]:
    """The ``backbone_widths`` of ``arch`` that :func:`width_counter`'s count takes."""
    backbone = arch['backbone']
    if backbone['type'] == 'ResNetV1e':
        return [backbone['stem_channels']] + list(backbone['stage_planes'])
    return list(backbone['stage_planes'])


def total_flops(arch: dict, input_shape: Sequence[int] = (480, 640)) -> int:
    """``count_flops(arch, input_shape)['total']['flops']``, computed in closed form without the per-part
    breakdown (about five times faster; a ``DamoFDNet`` arch, which has no width vector, by the breakdown)."""
    if arch['backbone']['type'] == 'DamoFDNet':
        return count_flops(arch, input_shape)['total']['flops']
    return width_counter(arch, input_shape)(searched_widths(arch), arch['neck']['out_channels'],
                                            arch['head']['feat_channels'])


# ------------------------------------------------------------------------------------------- many at once (numpy)
# The same closed forms on int64 arrays, one value per architecture: the released SCRFD rejection sampler
# (search_tools.scrfd_replay) counts tens of thousands of raw samples per batch. tests/search_tools/test_flops.py
# checks equality with total_flops.
def _check_int64(widest: int, deepest: int, input_shape: Sequence[int]) -> None:
    """Refuse counts whose terms could pass 2**62: numpy's int64 would wrap silently."""
    stem_area = _geometry('ResNetV1e', int(input_shape[0]), int(input_shape[1]))[0]
    # every term of a block is below ~20 * (4 * width)^2 * area, the stem's area is the largest, 4 stages
    if 20.0 * (4.0 * max(widest, 1)) ** 2 * stem_area * 4 * (max(deepest, 1) + 8) >= 2.0 ** 62:
        raise ValueError(f'widths up to {widest} and depths up to {deepest} at {tuple(input_shape)} may overflow '
                         'int64: count them one by one with total_flops')


def _shape2(input_shape: Sequence[int]) -> Tuple[int, int]:
    return (int(input_shape[0]), int(input_shape[-1]))


def _block_rows(block, num: int):
    """``[(block name, row indices or None for all rows)]`` of one name or an ``(N,)`` array of names."""
    if isinstance(block, str):
        if block not in BLOCK_EXPANSION:
            raise ValueError(f'block must be one of {sorted(BLOCK_EXPANSION)}, got {block!r}')
        return [(block, None)]
    block = np.asarray(block)
    groups, covered = [], 0
    for name in BLOCK_EXPANSION:
        rows = np.flatnonzero(block == name)
        covered += rows.size
        if rows.size:
            groups.append((name, rows))
    if covered != num:
        unknown = sorted(set(block.tolist()) - set(BLOCK_EXPANSION))
        raise ValueError(f'block must be one of {sorted(BLOCK_EXPANSION)}, got {unknown}')
    return groups


def resnet_backbone_parts_batch(block, depths, widths,
                                input_shape: Sequence[int] = (480, 640)) -> Dict[str, np.ndarray]:
    """Backbone FLOPs of many ResNetV1e architectures, module by module as :func:`printed_module_gflops` takes
    them: ``stem`` (without the max-pool), ``maxpool``, ``c2``..``c5``.

    Args:
        block: ``'BasicBlock'`` / ``'Bottleneck'``, or an ``(N,)`` array of these names.
        depths: ``(N, 4)`` ints, the blocks of C2..C5 (below 1 builds one block, as :func:`count_flops` counts).
        widths: ``(N, 5)`` ints, the stem width then the planes of C2..C5.
        input_shape: ``(H, W)`` (or one int for a square).

    Returns:
        dict: ``{part: (N,) int64 array}``.

    Raises:
        ValueError: an unknown block, or widths and depths that could overflow int64.
    """
    input_shape = _shape2(input_shape)
    stem_area, stages, _ = _geometry('ResNetV1e', *input_shape)
    depths = np.asarray(depths, dtype=np.int64).reshape(-1, 4)
    widths = np.asarray(widths, dtype=np.int64).reshape(-1, 5)
    parts = {name: np.zeros(len(widths), dtype=np.int64) for name in ('stem', 'maxpool', 'c2', 'c3', 'c4', 'c5')}
    if not len(widths):
        return parts
    _check_int64(int(widths.max()), int(depths.max()), input_shape)
    for name, rows in _block_rows(block, len(widths)):  # the closed form branches on the block type
        expansion = BLOCK_EXPANSION[name]
        w, d = (widths, depths) if rows is None else (widths[rows], depths[rows])
        rows = slice(None) if rows is None else rows
        inplanes = w[:, 0]
        parts['stem'][rows] = _resnet_stem_total(stem_area, inplanes, maxpool=False)
        parts['maxpool'][rows] = stem_area * inplanes  # counted on its input
        for i, (hw_in, hw, strided) in enumerate(stages):
            planes = w[:, i + 1]
            out_c = planes * expansion
            parts[f'c{i + 2}'][rows] = _res_block_total(
                name, inplanes, planes, out_c, hw_in, hw, True if strided else inplanes != out_c) \
                + np.maximum(d[:, i] - 1, 0) * _res_block_total(name, out_c, planes, out_c, hw, hw, False)
            inplanes = out_c
    return parts


def resnet_backbone_flops_batch(block, depths, widths, input_shape: Sequence[int] = (480, 640)) -> np.ndarray:
    """Backbone FLOPs (stem with its max-pool, C2..C5) of many ResNetV1e architectures, :func:`count_flops`'s
    ``backbone`` total; arguments as :func:`resnet_backbone_parts_batch`. Returns ``(N,)`` int64."""
    return sum(resnet_backbone_parts_batch(block, depths, widths, input_shape).values())


def neck_head_flops_batch(outs, neck_channels, feat_channels, head: dict, input_shape: Sequence[int] = (480, 640),
                          stacked_convs=None, family: str = 'ResNetV1e') -> np.ndarray:
    """PAFPN + head FLOPs of many architectures, as :func:`count_flops`'s ``neck`` + ``head``.

    Args:
        outs: ``(N, 3)`` ints, the channels of C3..C5 (``backbone_out_channels``).
        neck_channels, feat_channels: ``(N,)`` ints (or one int): the PAFPN width, the head's tower width.
        head: the head description (``dw_conv``, ``cls_reg_share``, ``num_anchors``, ``use_kps``,
            ``num_keypoints``, and ``stacked_convs`` unless ``stacked_convs`` is given).
        input_shape: ``(H, W)`` (or one int for a square).
        stacked_convs: ``(N,)`` ints: the head's tower depth per architecture (default ``head['stacked_convs']``).
        family: the backbone family (it sets the areas of C3..C5).

    Returns:
        np.ndarray: ``(N,)`` int64.
    """
    input_shape = _shape2(input_shape)
    areas = _geometry(family, *input_shape)[2]
    outs = np.asarray(outs, dtype=np.int64).reshape(-1, 3)
    num = len(outs)
    neck_channels = np.broadcast_to(np.asarray(neck_channels, dtype=np.int64), (num,))
    feat_channels = np.broadcast_to(np.asarray(feat_channels, dtype=np.int64), (num,))
    stacked = np.broadcast_to(np.asarray(head['stacked_convs'] if stacked_convs is None else stacked_convs,
                                         dtype=np.int64), (num,))
    total = np.zeros(num, dtype=np.int64)
    if not num:
        return total
    _check_int64(max(int(outs.max()), int(neck_channels.max()), int(feat_channels.max())) // 4 + 1, 1,
                 input_shape)
    towers, outputs = _head_constants(head)
    low, high = int(stacked.min()), int(stacked.max())
    if low == high:
        return _neck_head_total(areas, outs.T, neck_channels, feat_channels, low, head['dw_conv'], towers, outputs)
    for convs in range(low, high + 1):  # the tower is a loop over its depth
        rows = np.flatnonzero(stacked == convs)
        if rows.size:
            total[rows] = _neck_head_total(areas, outs[rows].T, neck_channels[rows], feat_channels[rows], convs,
                                           head['dw_conv'], towers, outputs)
    return total


def resnet_total_flops_batch(block, depths, widths, neck_channels, feat_channels, head: dict,
                             input_shape: Sequence[int] = (480, 640), stacked_convs=None) -> np.ndarray:
    """:func:`total_flops` of many ResNetV1e architectures (arguments as :func:`resnet_backbone_flops_batch` and
    :func:`neck_head_flops_batch`); ``(N,)`` int64."""
    widths = np.asarray(widths, dtype=np.int64).reshape(-1, 5)
    expansion = np.ones(len(widths), dtype=np.int64)
    for name, rows in _block_rows(block, len(widths)):
        expansion[slice(None) if rows is None else rows] = BLOCK_EXPANSION[name]
    return resnet_backbone_flops_batch(block, depths, widths, input_shape) + neck_head_flops_batch(
        widths[:, 2:] * expansion[:, None], neck_channels, feat_channels, head, input_shape, stacked_convs)
