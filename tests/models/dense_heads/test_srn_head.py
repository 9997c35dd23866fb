"""SRNHead with hand-built head outputs: anchors, STC dropping, STR refined-anchor targets."""
import math

import torch
from mmengine.structures import InstanceData

from mmdet_face.models.dense_heads import SRNHead

STRIDES = [4, 8, 16, 32, 64, 128]
IMG = 128
SIZES = [math.ceil(IMG / s) for s in STRIDES]  # 32, 16, 8, 4, 2, 1


def make_head(**kwargs):
    cfg = dict(num_classes=1, in_channels=8, feat_channels=8, tower=('conv', 'rfe'),
               train_cfg=dict(assigner_first=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3,
                                                  min_pos_iou=0.),
                              assigner_second=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                                   min_pos_iou=0.)),
               test_cfg=dict(nms_pre=-1, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=-1))
    cfg.update(kwargs)
    return SRNHead(**cfg)


def maps(channels, fill=0.0):
    return [torch.full((1, 2 * channels, s, s), fill, requires_grad=True) for s in SIZES]


def unflatten(flat, channels):
    """``(sum_l H*W*A, ch)`` in anchor order -> per-level ``(1, A*ch, H, W)`` maps."""
    out, start = [], 0
    for s in SIZES:
        n = s * s * 2
        out.append(flat[start:start + n].reshape(1, s, s, 2 * channels).permute(0, 3, 1, 2).contiguous()
                   .requires_grad_())
        start += n
    return out


META = [dict(img_shape=(IMG, IMG), pad_shape=(IMG, IMG), scale_factor=(1., 1.), batch_input_shape=(IMG, IMG))]


def gt(box):
    return [InstanceData(bboxes=torch.tensor([box]), labels=torch.tensor([0]))]


def test_anchors_two_scales_ratio_1_25_and_count_per_level():
    head = make_head()
    assert head.prior_generator.num_base_priors == [2] * 6
    for stride, base in zip(STRIDES, head.prior_generator.base_anchors):
        w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
        torch.testing.assert_close(h / w, torch.full((2,), 1.25))
        # sqrt(area) = 2S and 2*sqrt(2)*S
        torch.testing.assert_close((w * h).sqrt(), torch.tensor([2 * stride, 2 * math.sqrt(2) * stride]))
    anchors = head.prior_generator.grid_priors([(s, s) for s in SIZES], device='cpu')
    assert [a.shape[0] for a in anchors] == [s * s * 2 for s in SIZES]


def test_forward_shapes():
    head = make_head(maxout_levels=(0,), maxout_channels=3)
    feats = [torch.randn(1, 8, s, s) for s in SIZES] * 2
    cls1, reg1, cls2, reg2 = head(feats)
    for lvl, s in enumerate(SIZES):
        assert cls1[lvl].shape == cls2[lvl].shape == (1, 2, s, s)
        assert reg1[lvl].shape == reg2[lvl].shape == (1, 8, s, s)


def test_maxout_keeps_most_confident_background():
    head = make_head(tower=(), maxout_levels=(0,), maxout_channels=3)
    feats = [torch.randn(1, 8, s, s) for s in SIZES] * 2
    raw = head.cls_second_maxout(feats[6])
    _, _, cls2, _ = head(feats)
    torch.testing.assert_close(cls2[0], raw.view(1, 2, 3, 32, 32).min(dim=2).values)


def test_stc_confident_negatives_leave_second_step_loss_and_predictions():
    head = make_head()
    targets = gt([10., 10., 26., 30.])  # a small face, matched on the STC levels

    def run(first_fill_level0):
        cls1 = maps(1, 10.0)
        with torch.no_grad():
            cls1[0].fill_(first_fill_level0)
        cls2 = maps(1, 0.0)
        losses = head.loss_by_feat(cls1, maps(4), cls2, maps(4), targets, META)
        losses['loss_cls'].backward()
        return cls2

    cls2 = run(-10.0)  # background prob 1 - sigmoid(-10) > 0.99 everywhere on P2
    assert cls2[0].grad.abs().sum() == 0
    assert cls2[1].grad.abs().sum() > 0
    cls2 = run(10.0)
    assert cls2[0].grad.abs().sum() > 0

    # predictions: only P2 scores high; dropped by STC when the first step is confident it is background
    def predict(first_fill_level0):
        cls1 = maps(1, 10.0)
        with torch.no_grad():
            cls1[0].fill_(first_fill_level0)
        cls2 = maps(1, -30.0)
        with torch.no_grad():
            cls2[0].fill_(5.0)
        return head.predict_by_feat(cls1, maps(4), cls2, maps(4), batch_img_metas=META, with_nms=False)[0]

    assert len(predict(-10.0)) == 0 or predict(-10.0).scores.max() < 1e-6
    kept = predict(10.0)
    assert (kept.scores > 0.99).sum() == SIZES[0] ** 2 * 2

    # and the STC threshold reads exactly theta: p_face = 0.011 kept, 0.009 dropped
    keep = head.stc_keep(torch.logit(torch.tensor([[0.011], [0.009]])), torch.tensor([True, True]))
    assert keep.tolist() == [True, False]
    # outside the STC levels nothing is dropped
    assert head.stc_keep(torch.full((2, 1), -10.), torch.tensor([False, False])).all()


def test_refine_anchors_hand_numbers():
    head = make_head()
    anchor = torch.tensor([[0., 0., 40., 50.]])  # cx 20, cy 25, w 40, h 50
    delta = torch.tensor([[1., -1., 0.5, 0.]])  # stds (0.1, 0.1, 0.2, 0.2)
    refined = head.refine_anchors(anchor, delta, torch.tensor([True]))
    w = 40 * math.exp(0.1)
    expected = torch.tensor([[24 - w / 2, 20 - 25., 24 + w / 2, 20 + 25.]])
    torch.testing.assert_close(refined, expected)
    assert torch.equal(head.refine_anchors(anchor, delta, torch.tensor([False])), anchor)


def test_str_second_step_targets_are_against_refined_anchors():
    head = make_head()
    box = [20., 20., 100., 110.]  # a large face, matched on the STR levels
    targets = gt(box)
    anchors = torch.cat(head.prior_generator.grid_priors([(s, s) for s in SIZES], device='cpu'))
    stc_mask, str_mask = head._level_masks([s * s * 2 for s in SIZES], anchors.device)
    reg1_flat = torch.zeros(anchors.size(0), 4)
    reg1_flat[str_mask] = torch.tensor([1.0, 0.5, 0.3, -0.2])  # refine every STR anchor
    refined = head.refine_anchors(anchors, reg1_flat, str_mask)
    assert not torch.allclose(refined[str_mask], anchors[str_mask])
    gt_box = torch.tensor([box]).expand_as(anchors)

    # spy on the second assigner: it must see the refined anchors
    seen = {}
    assign = head.assigner_second.assign

    def spy(pred_instances, *args, **kwargs):
        seen['priors'] = pred_instances.priors.clone()
        return assign(pred_instances, *args, **kwargs)

    head.assigner_second.assign = spy

    def loss_with(reg2_flat):
        return head.loss_by_feat(maps(1, 10.0), unflatten(reg1_flat, 4), maps(1, 0.0), unflatten(reg2_flat, 4),
                                 targets, META)

    perfect = loss_with(head.bbox_coder.encode(refined, gt_box))
    torch.testing.assert_close(seen['priors'], refined)
    assert perfect['loss_bbox'].item() < 1e-6
    wrong = loss_with(head.bbox_coder.encode(anchors, gt_box))  # targets from the unrefined anchors
    assert wrong['loss_bbox'].item() > 1e-3
    # the first step regresses the STR positives from the original anchors
    first = head.loss_by_feat(maps(1, 10.0), unflatten(head.bbox_coder.encode(anchors, gt_box), 4), maps(1),
                              maps(4), targets, META)
    assert first['loss_str_bbox'].item() < 1e-6


def test_no_faces_gives_finite_zero_box_losses():
    head = make_head()
    empty = [InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]
    losses = head.loss_by_feat(maps(1), maps(4), maps(1), maps(4), empty, META)
    assert losses['loss_bbox'].item() == 0 and losses['loss_str_bbox'].item() == 0
    assert torch.isfinite(losses['loss_cls']) and torch.isfinite(losses['loss_stc_cls'])


def test_step_predictors_shared_or_separate():
    shared, separate = make_head(), make_head(share_step_predictors=False)
    assert shared.cls_second is shared.cls_first and shared.reg_second is shared.reg_first
    assert separate.cls_second is not separate.cls_first
