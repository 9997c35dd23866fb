"""RetinaFace's neck: a small FPN followed by one SSH context module per level.

SSH: Najibi et al., "SSH: Single Stage Headless Face Detector", ICCV 2017; used as the context module of RetinaFace
(Deng et al., 2019).

Why not mmdet's ``FPN`` / ``SSH``: the released RetinaFace FPN merges top-down *after* the 3x3 merge conv of the
level above (output2 = merge2(lateral2 + up(lateral3)); output1 = merge1(lateral1 + up(output2))), has no 3x3 conv
on the top level, and every conv is conv + BN + LeakyReLU; mmdet's FPN adds un-merged laterals and puts an output
conv on every level. mmdet's ``SSH`` hard-wires ReLU, while the MobileNet-0.25 release uses LeakyReLU(0.1) inside.
Both classes here reproduce the release exactly (see ``tests/models/parity/test_retinaface_parity.py``).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS


def _release_act_cfg(out_channels: int) -> dict:
    """The release's rule: LeakyReLU(0.1) for narrow necks (<= 64 channels), plain ReLU otherwise."""
    return dict(type='LeakyReLU', negative_slope=0.1) if out_channels <= 64 else dict(type='ReLU')


@MODELS.register_module()
class RetinaFaceFPN(BaseModule):
    """Top-down FPN of the RetinaFace release.

    Args:
        in_channels (Sequence[int]): channels of the backbone levels (finest first).
        out_channels (int): channels of every output level.
        norm_cfg (dict): norm after every conv.
        act_cfg (dict | None): activation after every conv; None picks the release's rule (LeakyReLU 0.1 when
            ``out_channels <= 64``, else ReLU).

    Input: tuple of (B, C_i, H_i, W_i), finest first. Output: tuple of (B, out_channels, H_i, W_i). The coarser
    level is upsampled with nearest interpolation to the exact size of the finer one (sizes need not be 2x).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        act_cfg = _release_act_cfg(out_channels) if act_cfg is None else act_cfg
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.lateral_convs = nn.ModuleList([
            ConvModule(c, out_channels, 1, bias=False, norm_cfg=norm_cfg, act_cfg=act_cfg) for c in in_channels])
        # no merge conv on the coarsest level
        self.merge_convs = nn.ModuleList([
            ConvModule(out_channels, out_channels, 3, padding=1, bias=False, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(len(in_channels) - 1)])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        assert len(inputs) == len(self.in_channels)
        outs: List[Tensor] = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(outs) - 2, -1, -1):
            up = F.interpolate(outs[i + 1], size=outs[i].shape[-2:], mode='nearest')
            outs[i] = self.merge_convs[i](outs[i] + up)
        return tuple(outs)


class SSHContextModule(BaseModule):
    """One SSH module: a 3x3 branch (C/2) and 5x5 / 7x7 branches built from stacked 3x3 convs (C/4 each).

    The last conv of each branch has BN but no activation; the concatenation goes through a ReLU (as the release).
    (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = None, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert out_channels % 4 == 0, f'SSH out_channels must be a multiple of 4, got {out_channels}'
        act_cfg = _release_act_cfg(out_channels) if act_cfg is None else act_cfg
        quarter = out_channels // 4

        def conv(c_in, c_out, act):
            return ConvModule(c_in, c_out, 3, padding=1, bias=False, norm_cfg=norm_cfg, act_cfg=act)

        self.conv3x3 = conv(in_channels, out_channels // 2, None)
        self.conv5x5_1 = conv(in_channels, quarter, act_cfg)
        self.conv5x5_2 = conv(quarter, quarter, None)
        self.conv7x7_2 = conv(quarter, quarter, act_cfg)
        self.conv7x7_3 = conv(quarter, quarter, None)

    def forward(self, x: Tensor) -> Tensor:
        branch3 = self.conv3x3(x)
        mid = self.conv5x5_1(x)
        branch5 = self.conv5x5_2(mid)
        branch7 = self.conv7x7_3(self.conv7x7_2(mid))
        return F.relu(torch.cat([branch3, branch5, branch7], dim=1))


@MODELS.register_module()
class RetinaFaceSSH(BaseModule):
    """One (unshared) :class:`SSHContextModule` per level.

    Args:
        num_levels (int): number of input levels.
        in_channels (int): channels of every input level.
        out_channels (int): channels of every output level (multiple of 4).
        norm_cfg (dict): norm after every conv.
        act_cfg (dict | None): activation inside the branches; None picks the release's rule.
    """

    def __init__(self, num_levels: int, in_channels: int, out_channels: int, norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = None, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.levels = nn.ModuleList([
            SSHContextModule(in_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(num_levels)])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        assert len(inputs) == len(self.levels)
        return tuple(module(x) for module, x in zip(self.levels, inputs))
