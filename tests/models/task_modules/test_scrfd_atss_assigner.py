import pytest
import torch
from mmengine.structures import InstanceData

from mmdet_face.models.task_modules import SCRFDATSSAssigner, center_in_box


def grid_anchors(size, stride, n):
    """n x n anchors of side ``size`` centred on (i * stride, j * stride), row-major (y then x)."""
    ys, xs = torch.meshgrid(torch.arange(n) * stride, torch.arange(n) * stride, indexing='ij')
    c = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float()
    return torch.cat([c - size / 2, c + size / 2], 1)


def assign(assigner, priors, gt, ignore=None, levels=None):
    gts = InstanceData(bboxes=torch.tensor(gt, dtype=torch.float), labels=torch.zeros(len(gt), dtype=torch.long))
    ign = None if ignore is None else InstanceData(bboxes=torch.tensor(ignore, dtype=torch.float))
    return assigner.assign(InstanceData(priors=priors), levels or [len(priors)], gts, ign)


def test_center_in_box_is_normalised_by_sqrt_area():
    sqrt_area = torch.tensor([16.0, 160.0])
    # 3 px outside a 16x16 face == 30 px outside a 160x160 face: d = -0.1875 for both
    dist = torch.tensor([[-3.0, -30.0]])
    assert center_in_box(dist, sqrt_area, 0).tolist() == [[False, False]]  # d > 0.001
    assert center_in_box(dist, sqrt_area, 1).tolist() == [[True, True]]    # d > -0.25
    assert center_in_box(dist, sqrt_area, 2).tolist() == [[False, False]]  # d > -0.15
    # 0.02 px inside: d = 0.00125 for the small face (passes), 0.000125 for the large one (fails)
    assert center_in_box(torch.tensor([[0.02, 0.02]]), sqrt_area, 0).tolist() == [[True, False]]
    with pytest.raises(ValueError):
        center_in_box(dist, sqrt_area, 9)


def test_atss_picks_the_four_anchors_around_the_face():
    # 4x4 anchors (16 px, stride 8): face 16x16 centred at (12, 12) between four anchor centres
    priors = grid_anchors(16, 8, 4)
    result = assign(SCRFDATSSAssigner(topk=9), priors, [[4, 4, 20, 20]])
    pos = torch.nonzero(result.gt_inds > 0).squeeze(1).tolist()
    # centres (8,8), (16,8), (8,16), (16,16) -> indices y*4+x
    assert pos == [5, 6, 9, 10]
    assert (result.gt_inds[pos] == 1).all() and (result.labels[pos] == 0).all()
    assert (result.gt_inds[[0, 15]] == 0).all()


def test_center_test_rejects_centres_outside_the_face():
    # a face whose box the closest anchor centres miss: (16,16) is 1 px right of x2 = 15
    priors = grid_anchors(16, 8, 4)
    result = assign(SCRFDATSSAssigner(topk=9, center_mode=0), priors, [[1, 1, 15, 15]])
    assert result.gt_inds[10] == 0  # centre (16, 16) is outside [1, 15]
    assert result.gt_inds[5] == 1   # centre (8, 8) is inside
    # mode 1 lets a centre 1 px outside a 14 px face (d = -1/14 > -0.25) through if its IoU passes
    relaxed = assign(SCRFDATSSAssigner(topk=9, center_mode=1), priors, [[1, 1, 15, 15]])
    assert (relaxed.gt_inds > 0).sum() >= (result.gt_inds > 0).sum()


def test_topk_is_per_level():
    small, large = grid_anchors(16, 8, 4), grid_anchors(32, 16, 2)
    priors = torch.cat([small, large])
    assigner = SCRFDATSSAssigner(topk=3)
    result = assign(assigner, priors, [[4, 4, 20, 20]], levels=[16, 4])
    assert result.gt_inds.shape == (20,)
    assert (result.gt_inds >= 0).all()


def test_ignore_faces_are_neither_positive_nor_negative():
    priors = grid_anchors(16, 8, 4)
    # face at top-left, ignore box covering the bottom-right anchors (iof > 0.5)
    result = assign(SCRFDATSSAssigner(topk=9, ignore_iof_thr=0.5), priors, [[4, 4, 20, 20]],
                    ignore=[[14, 14, 40, 40]])
    ignored = torch.nonzero(result.gt_inds == -1).squeeze(1).tolist()
    # centres (24, 16), (16, 24), (24, 24): 160/256, 160/256 and 256/256 of the anchor inside the ignore box
    assert ignored == [11, 14, 15]
    assert (result.gt_inds[[5, 6, 9]] == 1).all()
    # anchor 10 ([8,8,24,24]) overlaps the ignore box by 100/256 < 0.5: still usable
    assert result.gt_inds[10] == 1
    # disabled (SCRFD's default) -> nothing ignored
    plain = assign(SCRFDATSSAssigner(topk=9), priors, [[4, 4, 20, 20]], ignore=[[14, 14, 40, 40]])
    assert (plain.gt_inds >= 0).all()


def test_no_gt_all_negative_except_ignored():
    priors = grid_anchors(16, 8, 4)
    gts = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    ign = InstanceData(bboxes=torch.tensor([[16., 16., 32., 32.]]))
    result = SCRFDATSSAssigner(ignore_iof_thr=0.5).assign(InstanceData(priors=priors), [16], gts, ign)
    assert (result.gt_inds == -1).sum() == 1 and (result.gt_inds == 0).sum() == 15
