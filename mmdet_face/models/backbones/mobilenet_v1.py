"""MobileNetV1 with free per-stage depth and width, the backbone of SCRFD-0.5GF and SCRFD-1GF.

MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (Howard et al., 2017),
with the stage layout searched in "Sample and Computation Redistribution for Efficient Face Detection"
(Guo et al., 2021).
"""
from typing import Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 conv (no bias) -> BN -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


def depthwise_separable(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU (MobileNetV1 block)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


@MODELS.register_module()
class MobileNetV1(BaseModule):
    """MobileNetV1 whose stages have free depth and width.

    Layout (strides relative to the input)::

        stem:   conv3x3(3 -> planes[0], s2), dw-sep(planes[0] -> planes[1], s1)       /2
        layer1: dw-sep(planes[1] -> planes[2], s2), then (blocks[0]-1) x dw-sep(s1)   /4
        layer2: ... planes[3] ...                                                     /8
        layer3: ... planes[4] ...                                                     /16
        layer4: ... planes[5] ...                                                     /32

    The module names (``stem.0.0``, ``layer1.0.3`` ...) follow SCRFD's released checkpoints.

    Args:
        in_channels (int): Input image channels.
        block_cfg (dict, optional): ``stage_blocks`` (4 ints, blocks per stage) and ``stage_planes`` (6 ints:
            stem conv, stem dw-sep, then the output width of each of the 4 stages). ``None`` gives the
            0.25x MobileNetV1 layout ``(2, 4, 4, 2)`` / ``[8, 16, 32, 64, 128, 256]``.
        out_indices (Sequence[int]): Stages whose outputs are returned.
        init_cfg (dict | list, optional): Initialisation; Kaiming for convs, constant 1 for BN by default.

    Returns (forward):
        tuple[Tensor]: one ``(B, stage_planes[i + 2], H / 2**(i + 2), W / 2**(i + 2))`` map per out index.
    """

    def __init__(self,
                 in_channels: int = 3,
                 block_cfg: dict = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']))):
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        if block_cfg is None:
            block_cfg = dict(stage_blocks=(2, 4, 4, 2), stage_planes=(8, 16, 32, 64, 128, 256))
        stage_blocks = tuple(block_cfg['stage_blocks'])
        stage_planes = tuple(block_cfg['stage_planes'])
        if len(stage_blocks) != 4 or len(stage_planes) != 6:
            raise ValueError(f'MobileNetV1 expects 4 stage_blocks and 6 stage_planes, got {stage_blocks} and '
                             f'{stage_planes}')
        if max(out_indices) >= len(stage_blocks):
            raise ValueError(f'out_indices {out_indices} out of range for 4 stages')
        self.stage_blocks = stage_blocks
        self.stage_planes = stage_planes
        self.out_indices = tuple(out_indices)
        self.stem = nn.Sequential(
            conv_bn_relu(in_channels, stage_planes[0], 2),
            depthwise_separable(stage_planes[0], stage_planes[1], 1))
        self.stage_layers = []
        for i, num_blocks in enumerate(stage_blocks):
            in_planes, planes = stage_planes[i + 1], stage_planes[i + 2]
            blocks = [depthwise_separable(in_planes if n == 0 else planes, planes, 2 if n == 0 else 1)
                      for n in range(num_blocks)]
            name = f'layer{i + 1}'
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_layers.append(name)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(self.stage_planes[i + 2] for i in self.out_indices)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, name in enumerate(self.stage_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
