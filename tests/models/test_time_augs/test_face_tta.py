"""FaceTTAModel's merge of augmented views: flip-back of boxes and landmarks, NMS and box voting."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_face.models.test_time_augs import FaceTTAModel, box_vote, flip_keypoints_back


def _kps(x, y):
    return torch.tensor([[x + 2., y + 3.], [x + 8., y + 3.], [x + 5., y + 5.], [x + 3., y + 8.], [x + 7., y + 8.]])


def test_flip_keypoints_back_swaps_left_right():
    flipped = torch.tensor([[[90., 3.], [82., 3.], [85., 5.], [87., 8.], [83., 8.]]])  # a face flipped in W=100
    back = flip_keypoints_back(flipped, 100)
    # x' = 100 - x, then left/right eyes and mouth corners trade places
    assert torch.equal(back[0], torch.tensor([[18., 3.], [10., 3.], [15., 5.], [17., 8.], [13., 8.]]))


def test_box_vote_hand_computed():
    bboxes = torch.tensor([[0., 0., 10., 10.], [2., 0., 12., 10.], [50., 50., 60., 60.], [51., 50., 61., 60.]])
    scores = torch.tensor([0.9, 0.3, 0.8, 0.2])
    kps = torch.stack([_kps(0, 0), _kps(2, 0), _kps(50, 50), _kps(51, 50)])
    boxes, out_scores, out_kps = box_vote(bboxes, scores, kps, iou_threshold=0.3)
    # group 1: IoU([0,0,10,10],[2,0,12,10]) = 80/120 >= 0.3 -> x1 = (0*.9 + 2*.3)/1.2 = 0.5, x2 = 10.5
    # group 2: IoU = 90/110 -> x1 = (50*.8 + 51*.2)/1.0 = 50.2
    torch.testing.assert_close(boxes, torch.tensor([[0.5, 0., 10.5, 10.], [50.2, 50., 60.2, 60.]]))
    torch.testing.assert_close(out_scores, torch.tensor([0.9, 0.8]))
    torch.testing.assert_close(out_kps[0], _kps(0.5, 0))


def test_box_vote_drops_unconfirmed_singletons_like_the_reference():
    bboxes = torch.tensor([[100., 100., 110., 110.], [0., 0., 10., 10.], [1., 0., 11., 10.]])
    scores = torch.tensor([0.95, 0.9, 0.5])
    boxes, out_scores, _ = box_vote(bboxes, scores, None)
    # the lone box at (100, 100) is processed first, with others still left -> dropped
    torch.testing.assert_close(out_scores, torch.tensor([0.9]))
    torch.testing.assert_close(boxes, torch.tensor([[(0 * 0.9 + 1 * 0.5) / 1.4, 0., (10 * 0.9 + 11 * 0.5) / 1.4,
                                                     10.]]))
    boxes, out_scores, _ = box_vote(bboxes, scores, None, drop_single=False)
    torch.testing.assert_close(out_scores, torch.tensor([0.95, 0.9]))


def _view(bboxes, scores, kps, flip):
    sample = DetDataSample(metainfo=dict(ori_shape=(50, 100), flip=flip,
                                         flip_direction='horizontal' if flip else None))
    sample.pred_instances = InstanceData(bboxes=bboxes, scores=scores, labels=torch.zeros(len(scores)).long(),
                                         keypoints=kps)
    return sample


def test_merge_flipped_views_nms():
    # the merge needs no network: skip building the wrapped detector
    model = FaceTTAModel.__new__(FaceTTAModel)
    model.tta_cfg = dict(merge='nms', iou_threshold=0.4, max_per_img=750)
    plain = _view(torch.tensor([[10., 10., 30., 30.]]), torch.tensor([0.6]), _kps(10, 10)[None], flip=False)
    # the same face seen in the flipped image (W = 100): x1' = 100 - 30 = 70, landmarks mirrored and swapped
    flipped_kps = flip_keypoints_back(_kps(10, 10)[None], 100)
    flipped = _view(torch.tensor([[70., 10., 90., 30.]]), torch.tensor([0.7]), flipped_kps, flip=True)
    merged = model._merge_single_sample([plain, flipped]).pred_instances
    assert len(merged) == 1
    torch.testing.assert_close(merged.bboxes, torch.tensor([[10., 10., 30., 30.]]))
    torch.testing.assert_close(merged.scores, torch.tensor([0.7]))
    torch.testing.assert_close(merged.keypoints, _kps(10, 10)[None])


def test_the_two_box_votes_differ_as_their_module_documents():
    """box_votes.py's example: IoU 36 / 81 without +1 (box_vote: two groups of one, the last kept), 50 / 100 with
    +1 (release_bbox_vote: one group, weighted mean y2 = (9 * 0.9 + 4 * 0.6) / 1.5 = 7)."""
    from mmdet_face.models.test_time_augs import box_votes, release_bbox_vote
    assert box_votes.box_vote is box_vote and box_votes.release_bbox_vote is release_bbox_vote
    bboxes = torch.tensor([[0., 0., 9., 9.], [0., 0., 9., 4.]])
    scores = torch.tensor([0.9, 0.6])
    boxes, out_scores, _ = box_vote(bboxes, scores, None, iou_threshold=0.5)
    assert boxes.tolist() == [[0., 0., 9., 4.]] and out_scores.tolist() == pytest.approx([0.6])
    dets = release_bbox_vote(np.concatenate([bboxes.numpy(), scores.numpy()[:, None]], axis=1), iou_threshold=0.5)
    np.testing.assert_allclose(dets, [[0., 0., 9., 7., 0.9]], rtol=1e-6)


def test_nms_merge_is_mmcv_nms():
    """merge='nms' keeps exactly what mmcv's nms keeps, in its order (the sweep NMS, enough boxes to use it)."""
    from mmcv.ops import nms as mmcv_nms
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(400, 2, generator=gen) * 200
    bboxes = torch.cat([xy, xy + 10 + torch.rand(400, 2, generator=gen) * 30], dim=1)
    scores = torch.rand(400, generator=gen)
    model = FaceTTAModel.__new__(FaceTTAModel)
    model.tta_cfg = dict(merge='nms', iou_threshold=0.4, max_per_img=1000)
    sample = DetDataSample(metainfo=dict(ori_shape=(300, 300), flip=False))
    sample.pred_instances = InstanceData(bboxes=bboxes, scores=scores, labels=torch.zeros(400, dtype=torch.long))
    merged = model._merge_single_sample([sample]).pred_instances
    assert 150 < len(merged) < 400
    _, keep = mmcv_nms(bboxes, scores, 0.4)
    assert torch.equal(merged.bboxes, bboxes[keep]) and torch.equal(merged.scores, scores[keep])
