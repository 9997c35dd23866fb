"""DSFD's per-shot training loss pieces (mmdet_face/models/utils/ssd_multibox.py) against hand-computed numbers.

Priors (x1y1x2y2, 10 x 10): p0 [0, 0, 10, 10], p1 [5, 0, 15, 10], p2 [20, 20, 30, 30], p3 [100, 100, 110, 110],
p4 [200, 200, 210, 210].
"""
import math

import pytest
import torch
from mmdet.models.losses import SmoothL1Loss
from mmdet.models.task_modules import MaxIoUAssigner
from mmengine.structures import InstanceData

from mmdet_face.models.utils.ssd_multibox import hard_negative_mining, match_priors, multibox_loss
from mmdet_face.models.task_modules import RetinaFaceBoxCoder

PRIORS = torch.tensor([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [100, 100, 110, 110],
                       [200, 200, 210, 210]], dtype=torch.float32)
# DSFD's matching (release overlap_thresh 0.4, best prior forced) as an mmdet assigner, as the DSFD configs write it
ASSIGNER = MaxIoUAssigner(pos_iou_thr=0.4, neg_iou_thr=0.4, min_pos_iou=0.0, gt_max_assign_all=False)
CODER = RetinaFaceBoxCoder(variances=(0.1, 0.2))


def _gt(*boxes):
    return InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        labels=torch.zeros(len(boxes), dtype=torch.long))


def test_match_threshold_0_4_and_forced_best_prior():
    # g0 [0, 0, 10, 10]: IoU 1 with p0; with p1 50 / 150 = 1/3 < 0.4 -> p1 background.
    # g1 [22, 22, 40, 40] (area 324): best prior p2 with IoU 64 / 360 = 0.178 < 0.4, forced positive anyway.
    labels, targets = match_priors(PRIORS, _gt([0, 0, 10, 10], [22, 22, 40, 40]), ASSIGNER, CODER)
    assert labels.tolist() == [1, 0, 1, 0, 0]
    # p2 centre (25, 25) size 10; g1 centre (31, 31) size 18: dx = 6 / (0.1 * 10), dw = ln(1.8) / 0.2
    torch.testing.assert_close(targets[2], torch.tensor([6.0, 6.0, math.log(1.8) / 0.2, math.log(1.8) / 0.2]))
    torch.testing.assert_close(targets[0], torch.zeros(4))
    assert targets[[1, 3, 4]].abs().sum() == 0


def test_match_later_face_wins_a_shared_best_prior():
    # ga [0, 0, 10, 10] and gb [1, 1, 11, 11] both have p0 as best prior (IoU 1 and 81 / 119); the release's loop
    # (and mmdet's) gives it to the later face: p0 -> gb, deltas (1, 1, 0, 0) (centre (6, 6) vs (5, 5), same size)
    labels, targets = match_priors(PRIORS, _gt([0, 0, 10, 10], [1, 1, 11, 11]), ASSIGNER, CODER)
    assert labels.tolist() == [1, 0, 0, 0, 0]
    torch.testing.assert_close(targets[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))


def test_match_ignore_boxes_and_empty_images():
    ignoring = MaxIoUAssigner(pos_iou_thr=0.4, neg_iou_thr=0.4, min_pos_iou=0.0, gt_max_assign_all=False,
                              ignore_iof_thr=0.5)
    labels, _ = match_priors(PRIORS, _gt([0, 0, 10, 10]), ignoring, CODER,
                             InstanceData(bboxes=torch.tensor([[95.0, 95.0, 115.0, 115.0]])))
    assert labels.tolist() == [1, 0, 0, -1, 0]  # p3 lies inside the ignore box
    labels, targets = match_priors(PRIORS, _gt(), ASSIGNER, CODER)
    assert labels.tolist() == [0] * 5 and targets.abs().sum() == 0


def test_hard_negative_mining_picks_3_per_positive_never_ignored():
    loss = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.1, 4.0])
    labels = torch.tensor([1, 0, 0, -1, 0, 0])
    # 1 positive -> 3 negatives among the background priors 1, 2, 4, 5 (losses 2, 1, 0.1, 4): 5, 1, 2;
    # prior 3 has the second largest loss but is ignored
    assert hard_negative_mining(loss, labels, 3).tolist() == [True, True, True, False, False, True]
    # 2 positives -> min(6, P - 1 = 5, 4 background) = 4 negatives
    labels2 = torch.tensor([1, 0, 0, -1, 0, 1])
    assert hard_negative_mining(loss, labels2, 3).tolist() == [True, True, True, False, True, True]
    # no positives -> no negatives
    assert not hard_negative_mining(loss, torch.tensor([0, 0, 0, -1, 0, 0]), 3).any()


@pytest.mark.parametrize('background_index', [1, 0])
def test_multibox_loss_hand_computed(background_index):
    # one face g0 -> one positive (p0); logits as (face, background):
    #   p0 (2, 0) face:  -log softmax = log(1 + e^-2)
    #   p1 (0, 1) bg:    log(1 + e^-1)       p2 (0, 0) bg: log 2
    #   p3 (1, 0) bg:    log(1 + e^1)        p4 (-1, 0) bg: log(1 + e^-1)
    # 3 hard negatives: p3, p2 and one of the tied p1 / p4 -> same sum
    face_bg = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    logits = face_bg if background_index == 1 else face_bg.flip(-1)
    deltas = torch.zeros(1, 5, 4)
    deltas[0, 0] = torch.tensor([0.5, -0.5, 0.0, 1.0])  # smooth-L1 (beta 1): 0.125 + 0.125 + 0 + 0.5
    deltas[0, 1] = 7.0  # a negative's deltas do not count
    loss_cls, loss_box, num_pos = multibox_loss(logits[None], deltas, PRIORS, [_gt([0, 0, 10, 10])], ASSIGNER,
                                                CODER, SmoothL1Loss(beta=1.0, loss_weight=1.0), 3,
                                                background_index=background_index)
    expected = math.log(1 + math.exp(-2)) + math.log(1 + math.e) + math.log(2) + math.log(1 + math.exp(-1))
    assert num_pos == 1
    assert loss_cls.item() == pytest.approx(expected, rel=1e-6)
    assert loss_box.item() == pytest.approx(0.75, rel=1e-6)


def test_multibox_loss_normalises_by_the_batch_positives():
    # image 0: g0 and g1 -> 2 positives (p0, p2); image 1: no face -> no terms. N = 2 for both losses.
    logits = torch.zeros(2, 5, 2)
    deltas = torch.zeros(2, 5, 4)
    deltas[0, 0, 0] = 2.0  # smooth-L1 1.5
    deltas[0, 2] = torch.tensor([6.0, 6.0, math.log(1.8) / 0.2, math.log(1.8) / 0.2])  # exact target: 0
    loss_cls, loss_box, num_pos = multibox_loss(logits, deltas, PRIORS, [_gt([0, 0, 10, 10], [22, 22, 40, 40]),
                                                                         _gt()],
                                                ASSIGNER, CODER, SmoothL1Loss(beta=1.0), 3)
    # image 0: 2 positives + min(6, 4, 3) = 3 negatives, all logits 0 -> 5 x log 2; image 1: nothing
    assert num_pos == 2
    assert loss_cls.item() == pytest.approx(5 * math.log(2) / 2, rel=1e-6)
    assert loss_box.item() == pytest.approx(1.5 / 2, rel=1e-6)


def test_multibox_loss_without_positives_is_zero_with_gradient():
    logits = torch.randn(1, 5, 2, requires_grad=True)
    deltas = torch.randn(1, 5, 4, requires_grad=True)
    loss_cls, loss_box, num_pos = multibox_loss(logits, deltas, PRIORS, [_gt()], ASSIGNER, CODER, SmoothL1Loss(), 3)
    assert num_pos == 0 and loss_cls.item() == 0 and loss_box.item() == 0
    (loss_cls + loss_box).backward()
    assert deltas.grad is not None and logits.grad is not None


def test_multibox_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match='2 logits'):
        multibox_loss(torch.zeros(1, 5, 3), torch.zeros(1, 5, 4), PRIORS, [_gt()], ASSIGNER, CODER, SmoothL1Loss())
    with pytest.raises(ValueError, match='prior counts'):
        multibox_loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, 4), PRIORS, [_gt()], ASSIGNER, CODER, SmoothL1Loss())
