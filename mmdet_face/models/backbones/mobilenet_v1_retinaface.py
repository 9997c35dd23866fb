"""MobileNet-V1 with a width multiplier, cut into the three stages RetinaFace's ``mobilenet0.25`` model uses.

RetinaFace: Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild", 2019. MobileNet: Howard et
al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017.

The stage layout follows the widely used PyTorch release (``mobilenet0.25``): stage 1 (stride 8) is the stem conv
plus five depthwise-separable blocks, stage 2 (stride 16) six blocks, stage 3 (stride 32) two blocks; the ImageNet
classifier is not part of it. With ``widen_factor=0.25`` the stage outputs have 64 / 128 / 256 channels. Every conv
is followed by BN and LeakyReLU(0.1) (the release's choice for this network).
"""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS

# (out_channels at width 1.0, stride) of every depthwise-separable block, stage by stage; the stem is 32 ch, stride 2.
_STAGE_BLOCKS = (
    ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)),
    ((512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)),
    ((1024, 2), (1024, 1)),
)


@MODELS.register_module()
class MobileNetV1RetinaFace(BaseModule):
    """MobileNet-V1 trunk in three stages (strides 8, 16, 32), as in RetinaFace-MobileNet-0.25.

    Args:
        widen_factor (float): channel multiplier (0.25 for the released model: 8 stem channels, stage outputs
            64 / 128 / 256).
        out_indices (Sequence[int]): which stages (0, 1, 2) to return.
        norm_cfg (dict): norm layer after every conv.
        act_cfg (dict): activation after every conv (LeakyReLU 0.1 in the release).
        frozen_stages (int): stages ``0..frozen_stages-1`` get no gradient (-1: none).
        norm_eval (bool): keep BN layers in eval mode while training.

    Module names: ``stage{1,2,3}`` are ``nn.Sequential``; ``stage1[0]`` is a ``ConvModule`` (``.conv``, ``.bn``),
    every other entry a ``DepthwiseSeparableConvModule`` (``.depthwise_conv``, ``.pointwise_conv``).

    Input (B, 3, H, W); output: tuple of (B, C_i, ceil(H / s_i), ceil(W / s_i)) for s = 8, 16, 32.
    """

    def __init__(self,
                 widen_factor: float = 0.25,
                 out_indices: Sequence[int] = (0, 1, 2),
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.out_channels = []
        in_channels = int(32 * widen_factor)
        for stage_idx, blocks in enumerate(_STAGE_BLOCKS):
            layers = []
            if stage_idx == 0:
                layers.append(ConvModule(3, in_channels, 3, stride=2, padding=1, bias=False, norm_cfg=norm_cfg,
                                         act_cfg=act_cfg))
            for width, stride in blocks:
                out_channels = int(width * widen_factor)
                layers.append(DepthwiseSeparableConvModule(
                    in_channels, out_channels, 3, stride=stride, padding=1, bias=False, norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
                in_channels = out_channels
            self.add_module(f'stage{stage_idx + 1}', nn.Sequential(*layers))
            self.out_channels.append(in_channels)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for i in range(len(_STAGE_BLOCKS)):
            x = getattr(self, f'stage{i + 1}')(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            stage = getattr(self, f'stage{i + 1}')
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
