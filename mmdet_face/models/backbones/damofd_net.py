"""DamoFDNet: the backbone a DamoFD structure string describes, with C2..C5 outputs for an SCRFD neck.

DamoFD: Digging into Backbone Design on Face Detection (Liu et al., ICLR 2023). The blocks follow the released
``mmdet/models/backbones/PlainNet/*.py`` (Zen-NAS PlainNet, Lin et al., ICCV 2021) layer by layer: convs without
bias, BN (eps 1e-3, as ``MasterNet`` sets on every BN) and ReLU; a residual unit adds a shortcut and then applies
ReLU; the first unit of a block always has a projection shortcut (1x1 conv with bias, carrying the stride, then
BN), a later unit has one only when its input and output widths differ. Outputs are taken as the released
``MasterNet.extract_stage_features_and_logit`` takes them: the output of the first block whose total stride is
4, 8, 16 and 32.
"""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS

from .damofd_structure import DamoBlock, StructureError, parse_structure, smart_round

__all__ = ['DamoFDNet']

DEFAULT_NORM = dict(type='BN', eps=1e-3, requires_grad=True)
DEFAULT_ACT = dict(type='ReLU', inplace=True)
XAVIER_GAIN = 3.26033  # the released MasterNet.init_weights gain


class ConvNormAct(nn.Sequential):
    """k x k conv (no bias, 'same' padding) -> norm -> optional activation; ``groups=channels`` is depthwise."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, norm_cfg, act_cfg=None, groups=1):
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups,
                            bias=False),
                  build_norm_layer(norm_cfg, out_channels)[1]]
        if act_cfg is not None:
            layers.append(build_activation_layer(act_cfg))
        super().__init__(*layers)


class ResidualUnit(nn.Module):
    """``act(branch(x) + shortcut(x))``; the shortcut is a 1x1 conv (bias) + norm when ``project`` is set or the
    branch changes the width or the resolution, else the identity.

    Args:
        branch (nn.Sequential): Convs whose last norm has no activation after it.
        in_channels, out_channels, stride (int): Of the branch.
    """

    def __init__(self, branch, in_channels, out_channels, stride, norm_cfg, act_cfg, project=False):
        super().__init__()
        self.branch = branch
        self.shortcut = None
        if project or stride > 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride),
                                          build_norm_layer(norm_cfg, out_channels)[1])
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.branch(x) + identity)


def _kxkx_unit(cin, cout, btn, k, stride, norm_cfg, act_cfg, first):
    branch = nn.Sequential(ConvNormAct(cin, btn, k, stride, norm_cfg, act_cfg),
                           ConvNormAct(btn, cout, k, 1, norm_cfg))
    return ResidualUnit(branch, cin, cout, stride, norm_cfg, act_cfg, project=first)


def _k1kxk1_unit(cin, cout, btn, k, stride, norm_cfg, act_cfg, first):
    branch = nn.Sequential(ConvNormAct(cin, btn, 1, 1, norm_cfg, act_cfg),
                           ConvNormAct(btn, btn, k, stride, norm_cfg, act_cfg),
                           ConvNormAct(btn, cout, 1, 1, norm_cfg))
    return ResidualUnit(branch, cin, cout, stride, norm_cfg, act_cfg, project=first)


def _idw_unit(cin, cout, mid, k, stride, norm_cfg, act_cfg, first):
    branch = nn.Sequential(ConvNormAct(cin, mid, 1, 1, norm_cfg, act_cfg),
                           ConvNormAct(mid, mid, k, stride, norm_cfg, act_cfg, groups=mid),
                           ConvNormAct(mid, cout, 1, 1, norm_cfg))
    return ResidualUnit(branch, cin, cout, stride, norm_cfg, act_cfg, project=first)


def build_block(block: DamoBlock, norm_cfg: dict, act_cfg: dict) -> nn.Sequential:
    """The layers of one structure-string block (see :mod:`.damofd_structure` for each kind's layout)."""
    units = []
    cin, cout, k = block.in_channels, block.out_channels, block.kernel_size
    for i in range(block.num_layers):
        stride = block.stride if i == 0 else 1
        first = i == 0
        if block.kind == 'conv':
            units.append(ConvNormAct(cin, cout, k, stride, norm_cfg, act_cfg))
        elif block.kind == 'res_kxkx':
            units.append(_kxkx_unit(cin, cout, block.bottleneck_channels, k, stride, norm_cfg, act_cfg, first))
        elif block.kind == 'res_k1kxk1':
            btn = block.bottleneck_channels
            units.append(_k1kxk1_unit(cin, cout, btn, k, stride, norm_cfg, act_cfg, first))
            units.append(_k1kxk1_unit(cout, cout, btn, k, 1, norm_cfg, act_cfg, False))
        elif block.kind == 'res_idw':
            btn, e = block.bottleneck_channels, block.expansion
            units.append(_idw_unit(cin, btn, smart_round(btn * e), k, stride, norm_cfg, act_cfg, first))
            units.append(_idw_unit(btn, cout, smart_round(cout * e), k, 1, norm_cfg, act_cfg, False))
        else:  # parse_structure only yields the kinds above
            raise StructureError(f'block {block}: unknown kind {block.kind!r}')
        cin = cout
    return nn.Sequential(*units)


@MODELS.register_module()
class DamoFDNet(BaseModule):
    """A backbone built from a DamoFD structure string.

    Each block of the string is one stage, ``stages.<i>`` (block 0 is usually the stride-2 stem). The string is
    checked by :func:`.damofd_structure.parse_structure` before any layer is built.

    Args:
        structure (str): The structure string (the released configs' ``plainnet_struct``).
        in_channels (int): Image channels; the first block's ``in`` must equal it.
        out_indices (Sequence[int], optional): Blocks whose outputs are returned. ``None`` takes, as the released
            MasterNet does, the first block whose total stride is 4, 8, 16 and 32 (C2..C5).
        norm_cfg (dict): Norm layers (BN with eps 1e-3 as released).
        act_cfg (dict): Activation (ReLU).
        init_cfg (dict | list, optional): mmengine initialisation; ``None`` uses the released
            ``MasterNet.init_weights`` (Xavier-normal convs with gain 3.26033, norms 1/0, the last norm of every
            residual branch 0).

    Returns (forward):
        tuple[Tensor]: one ``(B, out_channels[j], H / s_j, W / s_j)`` map per out index, ``s_j`` its total stride.

    Raises:
        StructureError: an invalid string; ``out_indices=None`` and a stride of 4/8/16/32 that no block reaches;
            an out index outside the blocks.
    """

    def __init__(self,
                 structure: str,
                 in_channels: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 norm_cfg: dict = DEFAULT_NORM,
                 act_cfg: dict = DEFAULT_ACT,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.blocks = parse_structure(structure, in_channels, source='DamoFDNet structure')
        self.structure = structure
        strides, total = [], 1
        for block in self.blocks:
            total *= block.stride
            strides.append(total)
        self.block_strides = tuple(strides)
        if out_indices is None:
            out_indices = []
            for target in (4, 8, 16, 32):
                if target not in strides:
                    raise StructureError(f'DamoFDNet structure {structure!r}: no block reaches total stride '
                                         f'{target} (block strides {tuple(strides)}); give out_indices')
                out_indices.append(strides.index(target))
        out_indices = tuple(int(i) for i in out_indices)
        if (not out_indices or any(not 0 <= i < len(self.blocks) for i in out_indices)
                or list(out_indices) != sorted(set(out_indices))):
            raise StructureError(f'DamoFDNet out_indices {out_indices}: expected increasing indices of the '
                                 f'{len(self.blocks)} blocks')
        self.out_indices = out_indices
        self.stages = nn.ModuleList(build_block(b, norm_cfg, act_cfg) for b in self.blocks)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned map (the neck's ``in_channels``)."""
        return tuple(self.blocks[i].out_channels for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        return tuple(self.block_strides[i] for i in self.out_indices)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight, gain=XAVIER_GAIN)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, ResidualUnit):
                last_norm = m.branch[-1][1]
                if getattr(last_norm, 'weight', None) is not None:
                    nn.init.zeros_(last_norm.weight)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
            if i == self.out_indices[-1]:
                break
        return tuple(outs)
