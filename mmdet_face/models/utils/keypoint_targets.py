"""The landmark ground truth that every head with a landmark branch (SCRFD ``use_kps``, RetinaFace) trains on.

A face carries ``keypoints`` ``(N, K, 2)`` pixels and ``keypoints_weights`` ``(N, K)``, one weight per point
(the readers write 1 for an annotated point and 0 for a ``-1`` placeholder or a format without landmarks). The
keypoint loss is masked per point: a point of weight 0 contributes nothing to the loss or its gradient, whatever
its coordinates hold. Its coordinates are replaced by 0 here, before any encoding, because ``0 * loss(NaN)`` is
NaN: a placeholder must not reach the loss even under a zero weight. A positive weight multiplies the point's loss
in SCRFD's head and counts as "annotated" (1) in RetinaFace's, as in the two releases; the readers write only 0 or 1.
"""
from typing import Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor


def masked_gt_keypoints(gt_instances: InstanceData, num_gts: int, num_keypoints: int,
                        like: Tensor) -> Tuple[Tensor, Tensor]:
    """One image's landmark targets with their per-point weights.

    Args:
        gt_instances (InstanceData): the image's faces; ``keypoints`` ``(N, K, 2)`` (or ``(N, 2K)``) and
            ``keypoints_weights`` ``(N, K)`` are optional: without ``keypoints`` no face has landmarks (weights 0),
            ``keypoints`` without ``keypoints_weights`` means every point is annotated (weights 1).
        num_gts (int): N, the number of faces (the length of ``gt_instances.bboxes``).
        num_keypoints (int): K.
        like (Tensor): dtype and device of the result.

    Returns:
        tuple[Tensor, Tensor]: keypoints ``(N, K, 2)`` pixels, 0 where the weight is 0; weights ``(N, K)``,
        negative weights read as 0.
    """
    if 'keypoints' not in gt_instances:
        return like.new_zeros((num_gts, num_keypoints, 2)), like.new_zeros((num_gts, num_keypoints))
    keypoints = gt_instances.keypoints.to(like).reshape(num_gts, num_keypoints, 2)
    if 'keypoints_weights' in gt_instances:
        weights = gt_instances.keypoints_weights.to(like).reshape(num_gts, num_keypoints).clamp(min=0)
    else:
        weights = keypoints.new_ones((num_gts, num_keypoints))
    keypoints = torch.where(weights[..., None] > 0, keypoints, keypoints.new_zeros(()))
    return keypoints, weights
