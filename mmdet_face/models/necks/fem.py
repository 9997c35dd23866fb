"""DSFD's Feature Enhance Module, as released: a top-down product on the lowest levels, then dilated branches.

Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019. The paper's Fig. 3 splits each map into three dilation-3
sub-networks; the released weights (Tencent/FaceDetection-DSFD ``face_ssd.py``, class ``FEM`` and
``_upsample_product``; the authors confirm the difference in their issues #5 and #64) use what this file builds:

1. Top-down fusion on the ``num_fused_levels`` lowest levels only (3 in the release): going down from level
   ``num_fused_levels - 1`` to 0, ``fused_l = up(lateral_l(fused_{l+1})) * smooth_l(x_l)``, where
   ``fused_{num_fused_levels} = x_{num_fused_levels}`` (the unfused level above), ``lateral_l`` is a 1x1 conv
   ``C_{l+1} -> C_l``, ``smooth_l`` a 1x1 conv ``C_l -> C_l`` (both with bias, no activation), ``up`` bilinear
   resizing to the exact size of ``x_l`` with ``align_corners=True`` (the release ran on torch 0.3.1, whose
   bilinear upsampling aligned corners), and ``*`` the element-wise **product** (not FPN's sum). Higher levels
   pass through unchanged.
2. One enhance block per level (3x3 convs with bias, each followed by ReLU; padding = dilation, so the size is
   kept): branch A = conv(x, C -> 256, dilation 1); trunk t = conv(x, C -> 256, dilation 2);
   branch B = conv(t, 256 -> 128, dilation 1); branch C = conv(conv(t, 256 -> 128, dilation 2), 128 -> 128,
   dilation 1); output = concat[A, B, C] (512 channels).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS


class FeatureEnhanceBlock(BaseModule):
    """The release's per-level FEM (its ``cpm1`` .. ``cpm5``).

    Args:
        in_channels (int): C of the input level.
        branch_channels (Sequence[int]): (A, B, C) output channels; the release: (256, 128, 128). The trunk has
            A channels and branch C's first conv B channels, as released.

    (B, C, H, W) -> (B, A + B + C, H, W).
    """

    def __init__(self, in_channels: int, branch_channels: Sequence[int] = (256, 128, 128), init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        a, b, c = branch_channels
        self.branch_a = nn.Conv2d(in_channels, a, 3, padding=1)             # release cpm1
        self.trunk = nn.Conv2d(in_channels, a, 3, padding=2, dilation=2)    # release cpm2
        self.branch_b = nn.Conv2d(a, b, 3, padding=1)                       # release cpm3
        self.branch_c1 = nn.Conv2d(a, b, 3, padding=2, dilation=2)          # release cpm4
        self.branch_c2 = nn.Conv2d(b, c, 3, padding=1)                      # release cpm5
        self.out_channels = a + b + c

    def forward(self, x: Tensor) -> Tensor:
        trunk = F.relu(self.trunk(x))
        return torch.cat([F.relu(self.branch_a(x)),
                          F.relu(self.branch_b(trunk)),
                          F.relu(self.branch_c2(F.relu(self.branch_c1(trunk))))], dim=1)


@MODELS.register_module()
class DSFDFEM(BaseModule):
    """Top-down product fusion on the lowest levels, then a :class:`FeatureEnhanceBlock` on every level.

    Args:
        in_channels (Sequence[int]): channels of the input levels, finest first; the release (ResNet-152):
            (256, 512, 1024, 2048, 512, 256).
        num_fused_levels (int): lowest levels that get the top-down product (3 in the release; 0 disables it).
        branch_channels (Sequence[int]): the enhance blocks' (A, B, C) channels; (256, 128, 128) as released.

    Input: tuple of (B, C_l, H_l, W_l), finest first. Output: tuple of (B, sum(branch_channels), H_l, W_l).

    Keys: ``lateral_convs.{l}`` / ``smooth_convs.{l}`` for l < ``num_fused_levels`` (release ``latlayer{l+1}`` /
    ``smooth{l+1}``) and ``enhance_blocks.{l}`` (release ``cpm3_3, cpm4_3, cpm5_3, cpm7, cpm6_2, cpm7_2``).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048, 512, 256),
                 num_fused_levels: int = 3,
                 branch_channels: Sequence[int] = (256, 128, 128),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        if not 0 <= num_fused_levels < len(self.in_channels):
            raise ValueError(f'num_fused_levels must be in [0, {len(self.in_channels) - 1}], '
                             f'got {num_fused_levels}')
        self.num_fused_levels = num_fused_levels
        self.lateral_convs = nn.ModuleList([
            nn.Conv2d(self.in_channels[i + 1], self.in_channels[i], 1) for i in range(num_fused_levels)])
        self.smooth_convs = nn.ModuleList([
            nn.Conv2d(self.in_channels[i], self.in_channels[i], 1) for i in range(num_fused_levels)])
        self.enhance_blocks = nn.ModuleList([FeatureEnhanceBlock(c, branch_channels) for c in self.in_channels])
        self.out_channels = self.enhance_blocks[0].out_channels

    def fuse(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Step 1 only: the levels after the top-down product (same shapes as ``inputs``)."""
        outs = list(inputs)
        for i in range(self.num_fused_levels - 1, -1, -1):
            top = F.interpolate(self.lateral_convs[i](outs[i + 1]), size=inputs[i].shape[-2:], mode='bilinear',
                                align_corners=True)
            outs[i] = top * self.smooth_convs[i](inputs[i])
        return outs

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'DSFDFEM expects {len(self.in_channels)} levels, got {len(inputs)}')
        return tuple(block(x) for block, x in zip(self.enhance_blocks, self.fuse(inputs)))
