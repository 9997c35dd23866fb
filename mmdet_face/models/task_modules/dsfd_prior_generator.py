"""DSFD's priors: one box per location with the release's normalised clamp.

Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019; priors as in the authors' release
(Tencent/FaceDetection-DSFD ``layers/functions/prior_box.py``, config ``widerface_640``: ``steps`` 4..128,
``min_sizes`` 16..512, ``aspect_ratios`` [1.5] per level, no ``max_sizes``, ``clip=True``).

For an input of H x W pixels (the tensor the network sees) and level k with stride s_k and size a_k, the prior at
row i, column j has, in pixels:

    cx = min((j + 0.5) * s_k, W)        w = min(a_k / sqrt(r), W)
    cy = min((i + 0.5) * s_k, H)        h = min(a_k * sqrt(r), H)         (r = 1.5: portrait boxes)

which is the release's ``clamp(0, 1)`` of the normalised (cx, cy, w, h), each clamped on its own (a size clamp,
not a corner clip: a centre past the border is pulled onto it, e.g. W = 200 at stride 64 gives a last centre of
224 -> 200). Priors are returned as x1y1x2y2 (no +1), ordered level -> row -> column.
"""
import math
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from mmdet_face.registry import TASK_UTILS


@TASK_UTILS.register_module()
class DSFDPriorGenerator:
    """Args:
        strides (Sequence[int]): stride per level (4, 8, 16, 32, 64, 128 in the release).
        base_sizes (Sequence[float]): prior size per level (16 .. 512 for the release's second shot; the paper's
            first shot uses half: 8 .. 256).
        ratio (float): height / width = ``ratio`` (1.5 in the release; w = a / sqrt(r), h = a * sqrt(r)).
        clip (bool): apply the release's clamp of cx, cy, w, h to the input size (True in the release).
    """

    def __init__(self, strides: Sequence[int] = (4, 8, 16, 32, 64, 128),
                 base_sizes: Sequence[float] = (16, 32, 64, 128, 256, 512),
                 ratio: float = 1.5, clip: bool = True) -> None:
        if len(strides) != len(base_sizes):
            raise ValueError(f'strides ({len(strides)}) and base_sizes ({len(base_sizes)}) differ in length')
        self.strides = [int(s) for s in strides]
        self.base_sizes = [float(a) for a in base_sizes]
        self.ratio = float(ratio)
        self.clip = clip

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> List[int]:
        """Priors per location and level (one, as released)."""
        return [1] * self.num_levels

    def grid_priors(self, featmap_sizes: Sequence[Tuple[int, int]], input_shape: Tuple[int, int],
                    dtype: torch.dtype = torch.float32, device='cpu') -> List[Tensor]:
        """Priors of every level.

        Args:
            featmap_sizes: (h_k, w_k) per level.
            input_shape: (H, W) of the network input in pixels; the clamp bounds.

        Returns:
            list of (h_k * w_k, 4) x1y1x2y2 pixel tensors, row-major.
        """
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'expected {self.num_levels} feature maps, got {len(featmap_sizes)}')
        height, width = float(input_shape[0]), float(input_shape[1])
        priors = []
        for (feat_h, feat_w), stride, size in zip(featmap_sizes, self.strides, self.base_sizes):
            # centres and sizes in float64, then one cast: the release computes them in Python floats
            cx = (torch.arange(int(feat_w), dtype=torch.float64, device=device) + 0.5) * stride
            cy = (torch.arange(int(feat_h), dtype=torch.float64, device=device) + 0.5) * stride
            w = size / math.sqrt(self.ratio)
            h = size * math.sqrt(self.ratio)
            if self.clip:
                cx, cy = cx.clamp(0, width), cy.clamp(0, height)
                w, h = min(w, width), min(h, height)
            cy, cx = torch.meshgrid(cy, cx, indexing='ij')
            cx, cy = cx.reshape(-1), cy.reshape(-1)
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
            priors.append(boxes.to(dtype))
        return priors
