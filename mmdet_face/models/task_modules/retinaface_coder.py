"""RetinaFace / SSD box and landmark encoding with variances (Deng et al., "RetinaFace", 2019; Liu et al., "SSD").

With a prior (anchor) of centre (px, py) and size (pw, ph), pixels, no +1:

    box:      dx = (cx - px) / (v0 * pw)     dw = log(w / pw) / v1      (and y, h alike)
    landmark: dx_k = (x_k - px) / (v0 * pw)  dy_k = (y_k - py) / (v0 * ph)

where (cx, cy, w, h) is the ground-truth box as centre / size, v = (0.1, 0.2). Decoding follows the release's
order of operations (``x1 = cx - w / 2``, then ``x2 = x1 + w``) so that decoded boxes match it to float rounding.
"""
from typing import Sequence

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from mmdet_face.registry import TASK_UTILS


def _centre_size(boxes: Tensor):
    """(..., 4) x1y1x2y2 -> centre (..., 2), size (..., 2)."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]


@TASK_UTILS.register_module()
class RetinaFaceBoxCoder(BaseBBoxCoder):
    """Encode / decode boxes and keypoints relative to priors, with variances.

    Args:
        variances (Sequence[float]): (centre variance, size variance); (0.1, 0.2) in RetinaFace.
    """
    encode_size = 4

    def __init__(self, variances: Sequence[float] = (0.1, 0.2), **kwargs) -> None:
        super().__init__(**kwargs)
        self.variances = tuple(float(v) for v in variances)

    def encode(self, priors: Tensor, gt_bboxes: Tensor) -> Tensor:
        """priors, gt_bboxes: (N, 4) x1y1x2y2 pixels -> deltas (N, 4) = (dx, dy, dw, dh)."""
        priors, gt_bboxes = get_box_tensor(priors), get_box_tensor(gt_bboxes)
        p_ctr, p_size = _centre_size(priors)
        g_ctr, g_size = _centre_size(gt_bboxes)
        d_ctr = (g_ctr - p_ctr) / (self.variances[0] * p_size)
        d_size = torch.log(g_size / p_size) / self.variances[1]
        return torch.cat([d_ctr, d_size], dim=-1)

    def decode(self, priors: Tensor, deltas: Tensor, max_shape=None) -> Tensor:
        """priors (N, 4) x1y1x2y2, deltas (N, 4) -> boxes (N, 4) x1y1x2y2 pixels (not clipped unless
        ``max_shape`` (h, w) is given)."""
        priors = get_box_tensor(priors)
        p_ctr, p_size = _centre_size(priors)
        ctr = p_ctr + deltas[..., :2] * self.variances[0] * p_size
        size = p_size * torch.exp(deltas[..., 2:] * self.variances[1])
        top_left = ctr - size / 2
        boxes = torch.cat([top_left, top_left + size], dim=-1)
        if max_shape is not None:
            boxes[..., 0::2] = boxes[..., 0::2].clamp(0, max_shape[1])
            boxes[..., 1::2] = boxes[..., 1::2].clamp(0, max_shape[0])
        return boxes

    def encode_keypoints(self, priors: Tensor, keypoints: Tensor) -> Tensor:
        """priors (N, 4) x1y1x2y2, keypoints (N, K, 2) pixels -> deltas (N, 2K) as (dx_0, dy_0, dx_1, ...)."""
        priors = get_box_tensor(priors)
        p_ctr, p_size = _centre_size(priors)
        deltas = (keypoints - p_ctr[:, None, :]) / (self.variances[0] * p_size[:, None, :])
        return deltas.flatten(1)  # (N, K, 2) -> (N, 2K), also for N = 0

    def decode_keypoints(self, priors: Tensor, deltas: Tensor) -> Tensor:
        """priors (N, 4) x1y1x2y2, deltas (N, 2K) -> keypoints (N, K, 2) pixels."""
        priors = get_box_tensor(priors)
        p_ctr, p_size = _centre_size(priors)
        deltas = deltas.unflatten(-1, (deltas.shape[-1] // 2, 2))  # (N, 2K) -> (N, K, 2), also for N = 0
        return p_ctr[:, None, :] + deltas * self.variances[0] * p_size[:, None, :]
