"""ResNetV1e: ResNet with a deep 3x3 stem, a 2x2 max-pool and average-pool shortcuts, free depth and width per
stage; the backbone of SCRFD-2.5GF/10GF/34GF.

Sample and Computation Redistribution for Efficient Face Detection (Guo et al., 2021); the deep stem and the
average-pool downsampling shortcut are ResNet-D from "Bag of Tricks for Image Classification" (He et al., 2019).
"""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.layers import ResLayer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_face.registry import MODELS

BLOCKS = {'BasicBlock': BasicBlock, 'Bottleneck': Bottleneck}


@MODELS.register_module()
class ResNetV1e(BaseModule):
    """ResNet-D variant with a 2x2/stride-2 max-pool after the stem ("V1e") and per-stage depth/width.

    Stem: conv3x3(s2, C/2) -> BN -> ReLU -> conv3x3(C/2) -> BN -> ReLU -> conv3x3(C) -> BN -> ReLU ->
    maxpool 2x2/s2 (``C = stem_channels``). Each stage is mmdet's ``ResLayer`` with ``avg_down=True`` (2x2
    average pool then a 1x1 conv on the shortcut). Module names follow SCRFD's released checkpoints.

    Args:
        block_cfg (dict): ``block`` ('BasicBlock' | 'Bottleneck'), ``stage_blocks`` (blocks per stage) and
            ``stage_planes`` (planes per stage; a Bottleneck stage outputs ``4 * planes``).
        depth (int): Unused; kept so SCRFD configs (``depth=0``) read unchanged.
        in_channels (int): Input image channels.
        base_channels (int): Stem width when ``stem_channels`` is None.
        stem_channels (int, optional): Stem width.
        num_stages (int): Number of stages used (<= len(stage_blocks)).
        strides (Sequence[int]): Stride of the first block of each stage.
        out_indices (Sequence[int]): Stages whose outputs are returned.
        style (str): 'pytorch' (stride on the 3x3 conv of a Bottleneck) or 'caffe'.
        norm_cfg (dict): Normalisation layers.
        norm_eval (bool): Keep BN layers in eval mode while training.
        frozen_stages (int): Freeze the stem and stages ``1..frozen_stages`` (-1: none).
        zero_init_residual (bool): Zero-initialise the last norm of each residual block.

    Returns (forward):
        tuple[Tensor]: one ``(B, planes_i * expansion, H / 2**(i + 2), W / 2**(i + 2))`` map per out index.
    """

    def __init__(self,
                 block_cfg: dict,
                 depth: int = 0,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 stem_channels: int = None,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 conv_cfg: dict = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 init_cfg=None):
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg=init_cfg)
        block_name = block_cfg.get('block', 'BasicBlock')
        if block_name not in BLOCKS:
            raise ValueError(f'block_cfg.block must be one of {sorted(BLOCKS)}, got {block_name!r}')
        self.block = BLOCKS[block_name]
        stage_blocks = tuple(block_cfg['stage_blocks'])[:num_stages]
        stage_planes = tuple(block_cfg.get('stage_planes', [base_channels * 2**i for i in range(num_stages)]))
        if len(stage_blocks) != num_stages or len(stage_planes) < num_stages or len(strides) < num_stages:
            raise ValueError(f'ResNetV1e: need {num_stages} stage_blocks/stage_planes/strides, got '
                             f'{stage_blocks}/{stage_planes}/{strides}')
        if max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {out_indices} out of range for {num_stages} stages')
        stem_channels = stem_channels or base_channels
        self.stage_blocks = stage_blocks
        self.stage_planes = stage_planes[:num_stages]
        self.out_indices = tuple(out_indices)
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.zero_init_residual = zero_init_residual

        half = stem_channels // 2
        self.stem = nn.Sequential(
            build_conv_layer(conv_cfg, in_channels, half, 3, stride=2, padding=1, bias=False),
            build_norm_layer(norm_cfg, half)[1],
            nn.ReLU(inplace=True),
            build_conv_layer(conv_cfg, half, half, 3, stride=1, padding=1, bias=False),
            build_norm_layer(norm_cfg, half)[1],
            nn.ReLU(inplace=True),
            build_conv_layer(conv_cfg, half, stem_channels, 3, stride=1, padding=1, bias=False),
            build_norm_layer(norm_cfg, stem_channels)[1],
            nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)

        inplanes = stem_channels
        self.res_layers = []
        for i, (num_blocks, planes) in enumerate(zip(self.stage_blocks, self.stage_planes)):
            layer = ResLayer(block=self.block, inplanes=inplanes, planes=planes, num_blocks=num_blocks,
                             stride=strides[i], avg_down=True, style=style, with_cp=with_cp,
                             conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            inplanes = planes * self.block.expansion
            name = f'layer{i + 1}'
            self.add_module(name, layer)
            self.res_layers.append(name)
        self._freeze_stages()

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(self.stage_planes[i] * self.block.expansion for i in self.out_indices)

    def init_weights(self) -> None:
        super().init_weights()
        if self.zero_init_residual and self.init_cfg is not None and \
                not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.norm3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.norm2.weight, 0)

    def _freeze_stages(self) -> None:
        modules = ([self.stem] if self.frozen_stages >= 0 else []) + \
            [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        for m in modules:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.maxpool(self.stem(x))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
