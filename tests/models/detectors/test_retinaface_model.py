"""RetinaFace pieces with hand-built tensors: priors, coder, matching, hard-negative mining, loss, predict."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet_face.registry import MODELS, TASK_UTILS
from tests.helpers.paths import REPO_ROOT

MNET_CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py'
R50_CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_r50_4xb6-100e_widerface.py'


def _head(in_channels=8):
    init_default_scope('mmdet_face')
    cfg = Config.fromfile(str(MNET_CONFIG)).model
    cfg.bbox_head.update(in_channels=in_channels, train_cfg=cfg.train_cfg, test_cfg=cfg.test_cfg)
    return MODELS.build(cfg.bbox_head)


def _model(config=MNET_CONFIG):
    init_default_scope('mmdet_face')
    return MODELS.build(Config.fromfile(str(config)).model)


# ----------------------------------------------------------------------------- priors
def test_priors_count_and_centres():
    head = _head()
    # an image of H=41, W=64: grids ceil(41/8) x ceil(64/8) = 6 x 8, 3 x 4, 2 x 2; 2 anchors per location
    feats = [torch.zeros(1, 4, 6, 8), torch.zeros(1, 4, 3, 4), torch.zeros(1, 4, 2, 2)]
    priors = head._priors(feats)
    assert priors.shape == (2 * (48 + 12 + 4), 4)
    level0 = priors[:96]
    # location (y=0, x=0): centre (4, 4), sizes 16 then 32
    assert level0[0].tolist() == [-4, -4, 12, 12]
    assert level0[1].tolist() == [-12, -12, 20, 20]
    # next location is x=1 (row-major): centre (12, 4)
    assert level0[2].tolist() == [4, -4, 20, 12]
    # location (y=1, x=0) is the 9th: centre (4, 12)
    assert level0[16].tolist() == [-4, 4, 12, 20]
    level1 = priors[96:120]
    assert level1[0].tolist() == [-24, -24, 40, 40]        # centre (8, 8), size 64
    assert level1[1].tolist() == [-56, -56, 72, 72]        # size 128
    level2 = priors[120:]
    assert level2[0].tolist() == [-112, -112, 144, 144]    # centre (16, 16), size 256
    assert level2[-1].tolist() == [48 - 256, 48 - 256, 48 + 256, 48 + 256]  # centre (48, 48), size 512


def test_backbone_grid_is_ceil():
    model = _model().eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 41, 65))
    assert [tuple(f.shape[-2:]) for f in feats] == [(6, 9), (3, 5), (2, 3)]
    assert [f.shape[1] for f in feats] == [64, 64, 64]


def test_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    assert count(_model(MNET_CONFIG)) == 426_608  # the released mobilenet0.25 file
    assert count(_model(R50_CONFIG)) == 27_293_600


# ----------------------------------------------------------------------------- coder
def test_coder_hand_values_and_round_trip():
    coder = TASK_UTILS.build(dict(type='RetinaFaceBoxCoder', variances=(0.1, 0.2)))
    prior = torch.tensor([[0., 0., 16., 16.]])           # centre (8, 8), size 16
    gt = torch.tensor([[2., 4., 22., 20.]])              # centre (12, 12), size (20, 16)
    deltas = coder.encode(prior, gt)
    expected = torch.tensor([[4 / 1.6, 4 / 1.6, math.log(20 / 16) / 0.2, 0.0]])
    torch.testing.assert_close(deltas, expected)
    torch.testing.assert_close(coder.decode(prior, deltas), gt)

    kps = torch.tensor([[[10., 6.], [8., 8.], [0., 24.], [16., 8.], [8., 16.]]])
    kd = coder.encode_keypoints(prior, kps)
    assert kd.shape == (1, 10)
    torch.testing.assert_close(kd[0, :4], torch.tensor([1.25, -1.25, 0.0, 0.0]))
    torch.testing.assert_close(kd[0, 4:6], torch.tensor([-5.0, 10.0]))
    torch.testing.assert_close(coder.decode_keypoints(prior, kd), kps)

    priors = torch.rand(50, 2) * 100
    priors = torch.cat([priors, priors + 5 + torch.rand(50, 2) * 60], 1)
    boxes = torch.rand(50, 2) * 100
    boxes = torch.cat([boxes, boxes + 1 + torch.rand(50, 2) * 60], 1)
    torch.testing.assert_close(coder.decode(priors, coder.encode(priors, boxes)), boxes, atol=1e-3, rtol=1e-5)


# ----------------------------------------------------------------------------- matching and mining
def test_matching_thresholds():
    head = _head()
    feats = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 2, 2)]
    priors = head._priors(feats)
    # face 0 equals prior 0 of level 0 location (2, 2): centre (20, 20), size 16 -> positive by IoU 1
    # face 1 is an 8 x 8 face whose best prior (size 16) has IoU 0.25: in [0.2, 0.35), still matched
    gt = InstanceData(bboxes=torch.tensor([[12., 12., 28., 28.], [40., 40., 48., 48.]]),
                      labels=torch.tensor([0, 0]),
                      keypoints=torch.rand(2, 5, 2) * 30 + 12,
                      keypoints_weights=torch.tensor([[1.] * 5, [0.] * 5]))
    labels, bbox_t, kps_t, kps_w = head.get_targets(priors, gt)
    idx0 = (2 * 8 + 2) * 2
    assert labels[idx0] == 1
    torch.testing.assert_close(bbox_t[idx0], torch.zeros(4))
    # 8x8 face centred at (44, 44): priors with size 16 centred at (44, 44) -> IoU 64 / 256 = 0.25
    idx1 = (5 * 8 + 5) * 2
    assert labels[idx1] == 1
    assert kps_w[idx0].sum() == 10 and kps_w[idx1].sum() == 0
    assert int((labels == 1).sum()) == 2


def test_hard_negative_mining_ratio():
    head = _head()
    labels = torch.zeros(30, dtype=torch.long)
    labels[[0, 1]] = 1
    labels[[2, 3, 4]] = -1                        # ignored: never picked, however large their loss
    loss = torch.arange(30, dtype=torch.float32)
    loss[[2, 3, 4]] = 1000.0
    selected = head.hard_negative_mining(loss, labels)
    assert selected[[0, 1]].all()
    assert int(selected.sum()) == 2 + 6           # 3 negatives per positive
    assert selected[24:].all() and not selected[2:24].any()
    # no positive -> no negative
    assert not head.hard_negative_mining(loss, torch.zeros(30, dtype=torch.long)).any()
    # capped by the number of background priors
    few = torch.full((5,), -1, dtype=torch.long)
    few[0], few[1] = 1, 0
    assert int(head.hard_negative_mining(loss[:5], few).sum()) == 2


# ----------------------------------------------------------------------------- loss
def _tiny_batch(with_landmarks):
    gts = []
    for boxes in ([[10., 12., 40., 46.]], [[30., 8., 50., 30.], [4., 36., 20., 56.]]):
        boxes = torch.tensor(boxes)
        n = len(boxes)
        ctr = (boxes[:, :2] + boxes[:, 2:]) / 2
        kps = ctr[:, None, :] + torch.tensor([[-4., -3.], [4., -3.], [0., 0.], [-3., 4.], [3., 4.]])
        weights = torch.ones(n, 5) if with_landmarks else torch.zeros(n, 5)
        gts.append(InstanceData(bboxes=boxes, labels=torch.zeros(n, dtype=torch.long), keypoints=kps,
                                keypoints_weights=weights))
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2
    return gts, metas


@pytest.mark.parametrize('with_landmarks', [True, False])
def test_loss_finite_and_decreasing(with_landmarks):
    torch.manual_seed(0)
    head = _head(in_channels=8)
    feats = tuple(torch.randn(2, 8, s, s) for s in (8, 4, 2))
    gts, metas = _tiny_batch(with_landmarks)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    totals = []
    for _ in range(30):
        losses = head.loss_by_feat(*head(feats), gts, metas)
        total = sum(losses.values())
        assert all(torch.isfinite(v) for v in losses.values())
        if not with_landmarks:
            assert losses['loss_kps'].item() == 0.0
        totals.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert totals[-1] < 0.5 * totals[0]


def test_loss_without_faces_is_zero_regression():
    head = _head(in_channels=8)
    feats = tuple(torch.randn(1, 8, s, s) for s in (8, 4, 2))
    empty = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                         keypoints=torch.zeros(0, 5, 2), keypoints_weights=torch.zeros(0, 5))
    losses = head.loss_by_feat(*head(feats), [empty], [dict(img_shape=(64, 64))])
    assert losses['loss_cls'].item() == 0 and losses['loss_bbox'].item() == 0
    sum(losses.values()).backward()


# ----------------------------------------------------------------------------- detector round trip
def test_detector_loss_and_predict():
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    torch.manual_seed(0)
    model = _model()
    gts, _ = _tiny_batch(True)
    samples = []
    for gt in gts:
        sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(128, 128), pad_shape=(64, 64),
                                             scale_factor=(0.5, 0.5)))
        gt.bboxes = HorizontalBoxes(gt.bboxes)
        sample.gt_instances = gt
        sample.ignored_instances = InstanceData(bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                                                labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2, data_samples=samples)
    data = model.data_preprocessor(data, training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_kps'}
    model.eval()
    model.bbox_head.test_cfg['score_thr'] = 0.0
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'], rescale=True)
    pred = preds[0].pred_instances
    n = len(pred)
    assert 0 < n <= 750
    assert pred.bboxes.shape == (n, 4) and pred.keypoints.shape == (n, 5, 2) and pred.labels.eq(0).all()
    assert (pred.scores[:-1] >= pred.scores[1:]).all()
    # rescaled to the 128 x 128 original: prior centres reach past 64 px
    assert pred.bboxes[:, 2].max() > 64


@pytest.mark.parametrize('config', ['retinaface/retinaface_mnet025_1xb32-250e_widerface.py',
                                    'retinaface/retinaface_r50_4xb6-100e_widerface.py',
                                    'toy/retinaface_toy_mnet025.py'])
def test_configs_build_and_keep_the_release_recipe(config):
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / config))
    assert cfg.model.type == 'RetinaFace'
    pre = cfg.model.data_preprocessor
    assert pre.mean == [104, 117, 123] and pre.std == [1, 1, 1] and not pre.bgr_to_rgb
    assert cfg.model.test_cfg.score_thr == 0.02 and cfg.model.test_cfg.nms == dict(
        type='nms', iou_threshold=0.4, offset=1)
    if config.startswith('retinaface/'):
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 1e-3, 0.9, 5e-4)
        r50 = 'r50' in config
        assert cfg.train_cfg.max_epochs == (100 if r50 else 250)
        assert cfg.param_scheduler[0].milestones == ([70, 90] if r50 else [190, 220])
        assert cfg.train_dataloader.batch_size == (6 if r50 else 32)
        assert cfg.image_size == (840 if r50 else 640)
    if 'r50' in config:
        cfg.model.backbone.init_cfg = None  # no download in tests
    init_default_scope('mmdet_face')
    MODELS.build(cfg.model)


# ----------------------------------------------------------------------------- faces with and without landmarks
def _mixed_batch(placeholder=float('nan')):
    """Image 1: A with all 5 landmarks, B with none, C with its two mouth corners missing; image 2: one face without
    landmarks. Missing points hold ``placeholder``."""
    def faces(boxes, weights):
        boxes, weights = torch.tensor(boxes), torch.tensor(weights)
        ctr = (boxes[:, :2] + boxes[:, 2:]) / 2
        kps = ctr[:, None, :] + torch.tensor([[-4., -3.], [4., -3.], [0., 0.], [-3., 4.], [3., 4.]])
        kps[weights == 0] = placeholder
        return InstanceData(bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long), keypoints=kps,
                            keypoints_weights=weights)
    gts = [faces([[10., 12., 40., 46.], [40., 36., 60., 60.], [2., 40., 18., 62.]],
                 [[1.] * 5, [0.] * 5, [1., 1., 1., 0., 0.]]),
           faces([[30., 8., 50., 30.]], [[0.] * 5])]
    return gts, [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2


def _reference_kps_loss(head, kps_preds, gts):
    """The release's landmark loss written out: per positive prior, smooth-L1 (beta 1) of the predicted deltas of
    each annotated point against (point - prior centre) / (0.1 * prior size), summed over the batch and divided by
    the number of positives whose face has an annotated point."""
    priors = torch.cat(head.prior_generator.grid_priors([k.shape[-2:] for k in kps_preds], device='cpu'))
    centre, size = (priors[:, :2] + priors[:, 2:]) / 2, priors[:, 2:] - priors[:, :2]
    total, count = torch.zeros(()), 0
    for img_id, gt in enumerate(gts):
        assign = head.assigner.assign(InstanceData(priors=priors), InstanceData(bboxes=gt.bboxes, labels=gt.labels))
        pos = assign.gt_inds > 0
        face_of = assign.gt_inds[pos] - 1
        visible = gt.keypoints_weights[face_of] > 0
        target = (gt.keypoints[face_of] - centre[pos, None]) / (0.1 * size[pos, None])
        pred = torch.cat([k[img_id].permute(1, 2, 0).reshape(-1, 5, 2) for k in kps_preds])[pos]
        diff = (pred - target).abs()
        smooth_l1 = torch.where(diff < 1, 0.5 * diff ** 2, diff - 0.5)
        total = total + torch.where(visible[..., None], smooth_l1, torch.zeros(())).sum()
        count += int(visible.any(dim=1).sum())
    return total / count, count


def test_keypoint_loss_is_masked_per_point_hand_computed():
    torch.manual_seed(0)
    head = _head(in_channels=8)
    feats = tuple(torch.randn(2, 8, s, s) for s in (8, 4, 2))
    gts, metas = _mixed_batch()
    outs = head(feats)
    losses = head.loss_by_feat(*outs, gts, metas)
    expected, num_with_landmarks = _reference_kps_loss(head, outs[2], gts)
    assert 0 < num_with_landmarks
    assert losses['loss_kps'].item() == pytest.approx(expected.item(), rel=1e-5)


def test_masked_points_never_reach_the_loss_or_its_gradient():
    """A missing point's coordinates (0, -1, far away, NaN) change neither the losses nor any gradient; before,
    a NaN placeholder under weight 0 made loss_kps NaN (0 * NaN)."""
    torch.manual_seed(0)
    feats = tuple(torch.randn(2, 8, s, s) for s in (8, 4, 2))
    results = []
    for placeholder in (0.0, -1.0, 1e4, float('nan')):
        torch.manual_seed(1)
        head = _head(in_channels=8)
        losses = head.loss_by_feat(*head(feats), *_mixed_batch(placeholder))
        sum(losses.values()).backward()
        grads = torch.cat([p.grad.flatten() for p in head.parameters()])
        results.append((torch.stack(list(losses.values())).detach(), grads))
    for values, grads in results:
        assert torch.isfinite(values).all() and torch.isfinite(grads).all()
        torch.testing.assert_close(values, results[0][0], rtol=0, atol=0)
        torch.testing.assert_close(grads, results[0][1], rtol=0, atol=0)


def test_batch_without_landmarks_gives_exact_zero_keypoint_loss_and_gradient():
    torch.manual_seed(0)
    head = _head(in_channels=8)
    feats = tuple(torch.randn(2, 8, s, s) for s in (8, 4, 2))
    gts, metas = _mixed_batch(-1.0)
    for gt in gts:
        gt.keypoints_weights = torch.zeros_like(gt.keypoints_weights)
    del gts[1].keypoints, gts[1].keypoints_weights  # a format without landmarks at all
    losses = head.loss_by_feat(*head(feats), gts, metas)
    assert losses['loss_kps'].item() == 0.0 and losses['loss_bbox'].item() > 0
    sum(losses.values()).backward()
    assert all(torch.count_nonzero(p.grad) == 0 for p in head.kps_convs.parameters())
    assert any(torch.count_nonzero(p.grad) > 0 for p in head.reg_convs.parameters())
