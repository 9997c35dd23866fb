"""masked_gt_keypoints: the landmark targets and per-point weights every landmark head reads."""
import math

import torch
from mmengine.structures import InstanceData

from mmdet_face.models.utils import masked_gt_keypoints

LIKE = torch.zeros((), dtype=torch.float64)


def test_missing_points_are_zeroed_and_weights_kept_per_point():
    kps = torch.tensor([[[1., 2.], [3., 4.], [5., 6.], [-1., -1.], [math.nan, math.nan]]])
    gt = InstanceData(labels=torch.zeros(1, dtype=torch.long), keypoints=kps,
                      keypoints_weights=torch.tensor([[1., 0.5, 1., 0., -1.]]))
    out_kps, out_w = masked_gt_keypoints(gt, 1, 5, LIKE)
    assert out_kps.dtype == torch.float64 and out_kps.shape == (1, 5, 2) and out_w.shape == (1, 5)
    assert out_kps.tolist() == [[[1., 2.], [3., 4.], [5., 6.], [0., 0.], [0., 0.]]]
    assert out_w.tolist() == [[1., 0.5, 1., 0., 0.]]  # a negative weight reads as "not annotated"


def test_without_landmark_fields():
    boxes_only = InstanceData(labels=torch.zeros(2, dtype=torch.long))
    kps, weights = masked_gt_keypoints(boxes_only, 2, 5, LIKE)
    assert kps.shape == (2, 5, 2) and not kps.any() and weights.shape == (2, 5) and not weights.any()
    no_weights = InstanceData(labels=torch.zeros(1, dtype=torch.long), keypoints=torch.ones(1, 10))
    kps, weights = masked_gt_keypoints(no_weights, 1, 5, LIKE)
    assert kps.shape == (1, 5, 2) and (kps == 1).all() and (weights == 1).all()
    empty = InstanceData(labels=torch.zeros(0, dtype=torch.long), keypoints=torch.zeros(0, 5, 2),
                         keypoints_weights=torch.zeros(0, 5))
    assert [t.shape for t in masked_gt_keypoints(empty, 0, 5, LIKE)] == [(0, 5, 2), (0, 5)]
