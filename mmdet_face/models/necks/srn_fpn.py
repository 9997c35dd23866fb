"""SRN pyramid: backbone C2-C5 plus extra C6/C7 for the first step, and a P2-P7 FPN for the second.

Selective Refinement Network (Chi et al., AAAI 2019, arXiv 1809.02693), Sec. 3.1: the first step (STC/STR) reads
the backbone levels C2-C7, the second the pyramid levels P2-P7 (strides 4..128). Layout as in the authors'
release (ChiCheng123/SRN): C6, C7 are stride-2 3x3 convs on C5 (2048 -> 1024 -> 256 for ResNet-50); each C level
goes through its own 1x1 conv to the head width; the FPN is top-down over C2-C5 only, with P6 a stride-2 3x3
conv on C5's lateral and P7 one on P6 (RetinaNet style). No activations inside the neck. mmdet's ``FPN`` cannot
return the backbone levels with the pyramid, hence this neck.
"""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdet_face.registry import MODELS


@MODELS.register_module()
class SRNFPN(BaseModule):
    """Returns 12 maps of ``out_channels``: ``C2..C7`` (each through a 1x1 conv), then ``P2..P7``.

    Args:
        in_channels (Sequence[int]): Channels of C2-C5 (ResNet-50: 256, 512, 1024, 2048).
        out_channels (int): 256 in the paper.
        extra_channels (Sequence[int]): Channels of the extra backbone levels C6, C7 (release: 1024, 256).
        upsample_mode (str): Top-down interpolation (the release uses bilinear).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256,
                 extra_channels: Sequence[int] = (1024, 256), upsample_mode: str = 'bilinear',
                 norm_cfg: Optional[dict] = None,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01)):  # release: N(0, 0.01) everywhere
        super().__init__(init_cfg=init_cfg)
        self.upsample_mode = upsample_mode

        def conv(cin, cout, k, stride=1):
            return ConvModule(cin, cout, k, stride=stride, padding=k // 2, norm_cfg=norm_cfg, act_cfg=None)

        self.extra_convs = nn.ModuleList()
        last = in_channels[-1]
        for c in extra_channels:
            self.extra_convs.append(conv(last, c, 3, stride=2))
            last = c
        self.first_step_convs = nn.ModuleList(conv(c, out_channels, 1)
                                              for c in list(in_channels) + list(extra_channels))
        self.lateral_convs = nn.ModuleList(conv(c, out_channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(conv(out_channels, out_channels, 3) for _ in in_channels)
        self.extra_fpn_convs = nn.ModuleList(conv(out_channels, out_channels, 3, stride=2) for _ in extra_channels)

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        feats = list(inputs)
        for conv in self.extra_convs:
            feats.append(conv(feats[-1]))
        first = [conv(f) for conv, f in zip(self.first_step_convs, feats)]
        tops = [conv(f) for conv, f in zip(self.lateral_convs, inputs)]
        for i in range(len(tops) - 1, 0, -1):
            up = F.interpolate(tops[i], size=tops[i - 1].shape[-2:], mode=self.upsample_mode,
                               **({} if self.upsample_mode == 'nearest' else dict(align_corners=True)))
            tops[i - 1] = tops[i - 1] + up
        pyramid = [conv(t) for conv, t in zip(self.fpn_convs, tops)]
        last = tops[-1]  # P6 from C5's lateral, P7 from P6
        for conv in self.extra_fpn_convs:
            last = conv(last)
            pyramid.append(last)
        return tuple(first) + tuple(pyramid)
