import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet_face.models.dense_heads import SCRFDHead

IMG = 64  # feature maps 8x8, 4x4, 2x2 for strides 8, 16, 32
TRAIN_CFG = dict(assigner=dict(type='SCRFDATSSAssigner', topk=9, ignore_iof_thr=0.5), allowed_border=-1,
                 pos_weight=-1)
TEST_CFG = dict(nms_pre=-1, min_bbox_size=0, score_thr=0.02, nms=dict(type='nms', iou_threshold=0.45),
                max_per_img=-1)


def make_head(use_kps=True, seed=0, **kwargs):
    cfg = dict(num_classes=1, in_channels=8, feat_channels=16, stacked_convs=2,
               norm_cfg=dict(type='BN', requires_grad=True), cls_reg_share=True, strides_share=False,
               scale_mode=2, dw_conv=True, use_kps=use_kps, train_cfg=TRAIN_CFG, test_cfg=TEST_CFG)
    cfg.update(kwargs)
    torch.manual_seed(seed)  # the initialisation must not depend on which tests ran before
    head = SCRFDHead(**cfg)
    head.init_weights()
    return head


def feats(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 8, IMG // s, IMG // s, generator=g) for s in (8, 16, 32)]


def face(with_kps=True, kps_weight=1.0):
    gt = InstanceData(bboxes=torch.tensor([[12., 10., 40., 42.]]), labels=torch.tensor([0]))
    if with_kps:
        gt.keypoints = torch.tensor([[[20., 22.], [32., 22.], [26., 28.], [21., 35.], [31., 35.]]])
        gt.keypoints_weights = torch.full((1, 5), kps_weight)
    return gt


META = dict(img_shape=(IMG, IMG), pad_shape=(IMG, IMG), scale_factor=(1.0, 1.0))


def train(head, gt, ignore=None, steps=12):
    x = feats()
    opt = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    history = []
    for _ in range(steps):
        losses = head.loss_by_feat(*head(x), [gt], [META], None if ignore is None else [ignore])
        total = sum(sum(v) for v in losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append({k: float(sum(v).detach()) for k, v in losses.items()})
    return history


def test_forward_shapes():
    head = make_head()
    cls, box, kps = head(feats())
    assert [tuple(c.shape) for c in cls] == [(1, 2, 8, 8), (1, 2, 4, 4), (1, 2, 2, 2)]
    assert [b.shape[1] for b in box] == [8, 8, 8] and [k.shape[1] for k in kps] == [20, 20, 20]
    assert set(head.stride_cls) == {'(8, 8)', '(16, 16)', '(32, 32)'}  # SCRFD's checkpoint keys
    # the cls bias starts at p = 0.01
    assert torch.sigmoid(head.stride_cls['(8, 8)'].bias).mean().item() == pytest.approx(0.01, abs=1e-3)
    no_kps = make_head(use_kps=False, strides_share=True, norm_cfg=dict(type='GN', num_groups=4))
    assert no_kps(feats())[2] == [None, None, None] and len(no_kps.scales) == 3


def test_loss_decreases_with_keypoints():
    history = train(make_head(), face())
    first, last = history[0], history[-1]
    assert set(first) == {'loss_cls', 'loss_bbox', 'loss_kps'}
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    assert first['loss_kps'] > 0 and first['loss_bbox'] > 0
    # QFL's target is the IoU of the predicted box, which grows as boxes improve, so loss_cls alone need not fall;
    # the GIoU loss is weighted by the predicted scores, which grow too, so it falls more slowly than loss_kps
    assert last['loss_kps'] < 0.7 * first['loss_kps']
    assert last['loss_bbox'] < 0.9 * first['loss_bbox']
    assert sum(last.values()) < sum(first.values())


def test_loss_decreases_without_keypoint_branch():
    history = train(make_head(use_kps=False), face(with_kps=False))
    assert set(history[0]) == {'loss_cls', 'loss_bbox'}
    assert history[-1]['loss_bbox'] < 0.9 * history[0]['loss_bbox']
    assert sum(history[-1].values()) < sum(history[0].values())


def test_faces_without_landmarks_give_no_keypoint_loss():
    head = make_head()
    gt = face(kps_weight=0.0)
    gt.keypoints = torch.full_like(gt.keypoints, -1.0)  # placeholder coordinates
    losses = head.loss_by_feat(*head(feats()), [gt], [META])
    assert float(sum(losses['loss_kps'])) == 0.0
    assert float(sum(losses['loss_bbox'])) > 0


def test_no_face_gives_finite_zero_box_loss():
    head = make_head()
    gt = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                      keypoints=torch.zeros(0, 5, 2), keypoints_weights=torch.zeros(0, 5))
    losses = head.loss_by_feat(*head(feats()), [gt], [META])
    assert float(sum(losses['loss_bbox'])) == 0.0 and float(sum(losses['loss_kps'])) == 0.0
    assert torch.isfinite(sum(losses['loss_cls']))


def test_ignore_box_anchors_are_not_negatives():
    head = make_head()
    ignore = InstanceData(bboxes=torch.tensor([[44., 44., 64., 64.]]), labels=torch.tensor([0]))
    anchors, valid = head.get_anchors([(8, 8), (4, 4), (2, 2)], [META], device='cpu')
    flat = torch.cat(anchors[0])
    labels, label_weights, *_ = head._get_targets_single(flat, torch.cat(valid[0]), face(), META, ignore,
                                                         num_level_anchors=[128, 32, 8])
    result = head.assigner.assign(InstanceData(priors=flat), [128, 32, 8], face(), ignore)
    ignored = result.gt_inds == -1
    assert ignored.any()
    assert (label_weights[ignored] == 0).all()   # neither negative ...
    assert (labels[ignored] == head.num_classes).all()  # ... nor positive
    assert (label_weights[result.gt_inds == 0] == 1).all()
    # and training with it still works
    history = train(make_head(), face(), ignore=ignore, steps=4)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)


def test_predict_decodes_and_rescales_keypoints():
    head = make_head()
    cls = [torch.full((1, 2, IMG // s, IMG // s), -10.) for s in (8, 16, 32)]
    box = [torch.zeros(1, 8, IMG // s, IMG // s) for s in (8, 16, 32)]
    kps = [torch.zeros(1, 20, IMG // s, IMG // s) for s in (8, 16, 32)]
    # stride 8, row y=2, column x=3, anchor 0: centre (24, 16)
    cls[0][0, 0, 2, 3] = 5.0
    box[0][0, 0:4, 2, 3] = 1.0  # 8 px on every side -> [16, 8, 32, 24]
    kps[0][0, 0:10:2, 2, 3] = torch.arange(5.) * 0.5  # dx = 4 px * j
    kps[0][0, 1:10:2, 2, 3] = -0.25                   # dy = -2 px
    meta = dict(img_shape=(IMG, IMG), scale_factor=(0.5, 0.5))
    (res,) = head.predict_by_feat(cls, box, kps, batch_img_metas=[meta], rescale=True)
    assert len(res) == 1 and res.keypoints.shape == (1, 5, 2)
    assert res.scores[0].item() == pytest.approx(torch.sigmoid(torch.tensor(5.)).item())
    assert res.bboxes[0].tolist() == pytest.approx([32., 16., 64., 48.])
    expected = torch.stack([(24. + 4. * torch.arange(5.)) / 0.5, torch.full((5,), 14. / 0.5)], dim=1)
    assert torch.allclose(res.keypoints[0], expected)
    (raw,) = head.predict_by_feat(cls, box, kps, batch_img_metas=[meta], rescale=False)
    assert raw.bboxes[0].tolist() == pytest.approx([16., 8., 32., 24.])
    # without a keypoint branch there is no keypoints field
    (nokps,) = make_head(use_kps=False).predict_by_feat(cls, box, None, batch_img_metas=[meta],
                                                        cfg=ConfigDict(TEST_CFG))
    assert 'keypoints' not in nokps


def test_dfl_is_not_supported():
    with pytest.raises(NotImplementedError):
        make_head(loss_dfl=dict(type='DistributionFocalLoss'))


# ------------------------------------------------------------------ faces with and without landmarks
def mixed_faces(placeholder=float('nan')):
    """A with all 5 landmarks, B with none, C with its two mouth corners missing; the coordinates of every missing
    point hold ``placeholder`` (what a reader or a flip might leave there)."""
    kps = torch.tensor([[[20., 22.], [32., 22.], [26., 28.], [21., 35.], [31., 35.]],
                        [[44., 42.], [54., 42.], [49., 48.], [45., 54.], [53., 54.]],
                        [[6., 46.], [14., 46.], [10., 50.], [7., 56.], [13., 56.]]])
    weights = torch.tensor([[1.] * 5, [0.] * 5, [1., 1., 1., 0., 0.]])
    kps[weights == 0] = placeholder
    return InstanceData(bboxes=torch.tensor([[12., 10., 40., 42.], [38., 36., 60., 60.], [2., 40., 18., 62.]]),
                        labels=torch.tensor([0, 0, 0]), keypoints=kps, keypoints_weights=weights)


def reference_kps_loss(head, outs, gt):
    """SCRFD's keypoint loss written out on the head's own positives: per positive anchor, smooth-L1 (beta 1/9) of the
    predicted (dx, dy) of each annotated point against (point - anchor centre) / stride, weighted by the detached
    score, summed, times 0.1. Returns (that sum, score sum of all positives, score sum of the positives whose face has
    an annotated point)."""
    cls_scores, _, kps_preds = outs
    sizes = [c.shape[-2:] for c in cls_scores]
    priors = head.prior_generator.grid_priors(sizes, device='cpu')
    flat = torch.cat(priors)
    assign = head.assigner.assign(InstanceData(priors=flat), [len(p) for p in priors], gt, None)
    pos = assign.gt_inds > 0
    face_of = assign.gt_inds[pos] - 1
    stride = torch.cat([torch.full((len(p),), s[0]) for p, s in zip(priors, head.prior_generator.strides)])[pos]
    centre = ((flat[:, :2] + flat[:, 2:]) / 2)[pos]
    score = torch.cat([c.detach().permute(0, 2, 3, 1).reshape(-1) for c in cls_scores]).sigmoid()[pos]
    pred = torch.cat([k.permute(0, 2, 3, 1).reshape(-1, 5, 2) for k in kps_preds])[pos]
    visible = gt.keypoints_weights[face_of] > 0                                    # (P, 5)
    target = (gt.keypoints[face_of] - centre[:, None, :]) / stride[:, None, None]  # (P, 5, 2)
    diff = (pred - target).abs()
    smooth_l1 = torch.where(diff < 1 / 9, 0.5 * diff ** 2 * 9, diff - 0.5 / 9)
    per_anchor = torch.where(visible[..., None], smooth_l1, torch.zeros(())).sum(dim=(1, 2))
    assert visible.any(dim=1).sum() < len(visible), 'the batch must hold positives without landmarks'
    return 0.1 * (score * per_anchor).sum(), score.sum(), score[visible.any(dim=1)].sum()


@pytest.mark.parametrize('kps_avg_factor', ['positives', 'keypoint_positives'])
def test_keypoint_loss_is_masked_per_point_hand_computed(kps_avg_factor):
    """Mixed visibility: only annotated points count (C's two missing corners included: they are masked per point,
    not trained towards their placeholder), normalised by all positives' scores (SCRFD) or by those of the faces
    with landmarks."""
    head = make_head(kps_avg_factor=kps_avg_factor)
    outs = head(feats())
    gt = mixed_faces()
    losses = head.loss_by_feat(*outs, [gt], [META])
    numerator, all_positives, keypoint_positives = reference_kps_loss(head, outs, gt)
    expected = numerator / (all_positives if kps_avg_factor == 'positives' else keypoint_positives)
    assert float(sum(losses['loss_kps'])) == pytest.approx(float(expected), rel=1e-5)
    assert expected > 0


def test_masked_points_never_reach_the_loss_or_its_gradient():
    """Whatever a missing point's coordinates hold (0, -1, far away, NaN), the losses and every gradient are the same
    and finite."""
    results = []
    for placeholder in (0.0, -1.0, 1e4, float('nan')):
        head = make_head()
        losses = head.loss_by_feat(*head(feats()), [mixed_faces(placeholder)], [META])
        total = sum(sum(v) for v in losses.values())
        total.backward()
        grads = torch.cat([p.grad.flatten() for p in head.parameters() if p.grad is not None])
        results.append((torch.stack([sum(v).detach() for v in losses.values()]), grads))
    for values, grads in results:
        assert torch.isfinite(values).all() and torch.isfinite(grads).all()
        torch.testing.assert_close(values, results[0][0], rtol=0, atol=0)
        torch.testing.assert_close(grads, results[0][1], rtol=0, atol=0)


@pytest.mark.parametrize('kps_avg_factor', ['positives', 'keypoint_positives'])
def test_batch_without_landmarks_gives_exact_zero_keypoint_loss_and_gradient(kps_avg_factor):
    """Two images, no face with a landmark (placeholders -1, as labelv2's "-1 -1 -1" after a crop shift): loss_kps
    is exactly 0 (no 0/0 from the keypoint normaliser), the keypoint convs get an exactly zero gradient, and the
    box branch still learns."""
    head = make_head(kps_avg_factor=kps_avg_factor)
    gts = [mixed_faces(-1.0), face()]
    for gt in gts:
        gt.keypoints_weights = torch.zeros_like(gt.keypoints_weights)
    x = [torch.cat([f, f.flip(-1)]) for f in feats()]
    losses = head.loss_by_feat(*head(x), gts, [META, META])
    assert all(float(loss) == 0.0 for loss in losses['loss_kps'])
    sum(sum(v) for v in losses.values()).backward()
    kps_grads = [p.grad for p in head.stride_kps.parameters()]
    assert all(g is not None and torch.count_nonzero(g) == 0 for g in kps_grads)
    assert any(torch.count_nonzero(p.grad) > 0 for p in head.stride_reg.parameters())


def test_training_without_landmarks_keeps_keypoint_loss_zero():
    history = train(make_head(kps_avg_factor='keypoint_positives'), face(kps_weight=0.0))
    assert all(h['loss_kps'] == 0.0 for h in history)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    assert sum(history[-1].values()) < sum(history[0].values())


def test_kps_avg_factor_is_checked():
    with pytest.raises(ValueError, match=r"kps_avg_factor must be one of \('positives', 'keypoint_positives'\), "
                                         r"got 'faces'"):
        make_head(kps_avg_factor='faces')
