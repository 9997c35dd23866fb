"""DSFD's six source levels: a backbone's stages plus two SSD-style extra blocks.

Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019; the layout is the authors' release
(Tencent/FaceDetection-DSFD ``face_ssd.py``, ResNet-152 path): ResNet C2..C5 (strides 4..32) and two extra blocks,
each ``1x1 conv -> BN -> ReLU -> 3x3 stride-2 conv -> BN -> ReLU`` whose convs carry a bias (the release keeps it
although BN follows; the weights need it), giving strides 64 and 128.

The wrapped backbone is any registered backbone (mmdet's ``ResNet`` with ``style='pytorch'`` for the release:
torchvision's layout, stride on the 3x3 conv), so the DSFD-specific part stays this small file.
"""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS


@MODELS.register_module()
class DSFDBackbone(BaseModule):
    """A backbone's levels followed by stride-2 extra blocks.

    Args:
        backbone (dict): config of the wrapped backbone; its outputs are the first levels (finest first).
        in_channels (int): channels of the wrapped backbone's last output (2048 for ResNet-152).
        extra_channels (Sequence[tuple[int, int]]): per extra block (mid, out) channels: the 1x1 conv maps to
            ``mid``, the 3x3 stride-2 conv (padding 1) to ``out``. The release: ((512, 512), (128, 256)).
        norm_cfg (dict): norm of the extra blocks (BN in the release, eps 1e-5, torchvision's default).

    Input (B, 3, H, W); output: tuple of the wrapped backbone's maps then one (B, out, ceil(h / 2), ceil(w / 2))
    per extra block, where (h, w) is the previous level's size (for the release: ceil(H / s) x ceil(W / s) at
    s = 4, 8, ..., 128).

    Keys: ``body.*`` (the wrapped backbone's own names; for mmdet's ResNet those equal torchvision's),
    ``extras.{i}.{0,3}`` (block i's 1x1 and 3x3 convs) and ``extras.{i}.{1,4}`` (their BNs): the
    release's ``layer5`` / ``layer6`` indices.
    """

    def __init__(self,
                 backbone: dict,
                 in_channels: int,
                 extra_channels: Sequence[Sequence[int]] = ((512, 512), (128, 256)),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.body = MODELS.build(backbone)
        self.extras = nn.ModuleList()
        channels = in_channels
        for mid, out in extra_channels:
            # plain Sequential (not ConvModule, which warns about the bias before BN): the release's own layout
            self.extras.append(nn.Sequential(
                nn.Conv2d(channels, mid, 1), build_norm_layer(norm_cfg, mid)[1], nn.ReLU(inplace=True),
                nn.Conv2d(mid, out, 3, stride=2, padding=1), build_norm_layer(norm_cfg, out)[1],
                nn.ReLU(inplace=True)))
            channels = out

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = list(self.body(x))
        feat = outs[-1]
        for block in self.extras:
            feat = block(feat)
            outs.append(feat)
        return tuple(outs)
