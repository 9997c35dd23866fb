"""Receptive Field Enhancement (RFE) block.

Selective Refinement Network for High Performance Face Detection (Chi et al., AAAI 2019, arXiv 1809.02693),
Fig. 3: four branches ``1x1 -> 1xk or kx1 -> 1x1`` (k in {3, 5}) with rectangular receptive fields suited to
faces of varied aspect ratio, concatenated, fused by a 1x1 conv + ReLU and added to the input (no activation
after the add, as in the authors' release ChiCheng123/SRN).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmdet_face.registry import MODELS


@MODELS.register_module()
class RFE(nn.Module):
    """``(B, C, H, W) -> (B, out_channels, H, W)``.

    Args:
        in_channels (int): Input channels ``C``.
        out_channels (int, optional): Output channels (default ``C``); the residual add needs them equal, else the
            input goes through a 1x1 projection first.
        kernel_sizes (Sequence[int]): ``k`` of the rectangular convs; one ``1xk`` and one ``kx1`` branch each.
        norm_cfg, act_cfg (dict): Of every conv.
    """

    def __init__(self, in_channels: int, out_channels: Optional[int] = None, kernel_sizes: Sequence[int] = (3, 5),
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = dict(type='ReLU')):
        super().__init__()
        out_channels = out_channels or in_channels
        num_branches = 2 * len(kernel_sizes)
        mid = max(out_channels // num_branches, 1)
        self.branches = nn.ModuleList()
        for k in kernel_sizes:
            for ksize, pad in (((1, k), (0, k // 2)), ((k, 1), (k // 2, 0))):
                self.branches.append(nn.Sequential(
                    ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg),
                    ConvModule(mid, mid, ksize, padding=pad, norm_cfg=norm_cfg, act_cfg=act_cfg),
                    ConvModule(mid, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)))
        self.fuse = ConvModule(mid * num_branches, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))

    def forward(self, x: Tensor) -> Tensor:
        out = self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))
        return out + self.shortcut(x)
