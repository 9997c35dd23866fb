"""DSFD modules against hand-computed values: the release's prior clamp, max-in-out, the top-down product with
align_corners bilinear resizing, decoding, the six level sizes, and the parameter count of the released network."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmdet_face  # noqa: F401
from mmdet_face.models.dense_heads.dsfd_head import DSFDHead, apply_max_in_out
from mmdet_face.models.necks.fem import DSFDFEM
from mmdet_face.models.task_modules.dsfd_prior_generator import DSFDPriorGenerator
from mmdet_face.registry import MODELS
from tests.helpers.small_dsfd import small_dsfd_config
from tests.helpers.paths import REPO_ROOT

CONFIGS = REPO_ROOT / 'configs'


def test_prior_generator_applies_the_release_clamp_per_coordinate():
    gen = DSFDPriorGenerator(strides=[64], base_sizes=[512], ratio=1.5)
    # input 100 x 200 (H x W): a 2 x 4 map at stride 64; centres 32, 96, 160, 224 -> 200 (x), 32, 96 (y);
    # w = 512 / sqrt(1.5) = 418.0 -> 200, h = 512 * sqrt(1.5) = 627.1 -> 100
    (priors,) = gen.grid_priors([(2, 4)], (100, 200))
    cx = torch.tensor([32., 96., 160., 200.] * 2)
    cy = torch.tensor([32.] * 4 + [96.] * 4)
    expected = torch.stack([cx - 100, cy - 50, cx + 100, cy + 50], dim=1)
    torch.testing.assert_close(priors, expected)
    # unclamped: the portrait 1.5 ratio
    (priors,) = DSFDPriorGenerator(strides=[4], base_sizes=[16]).grid_priors([(1, 1)], (640, 640))
    w, h = 16 / math.sqrt(1.5), 16 * math.sqrt(1.5)
    torch.testing.assert_close(priors, torch.tensor([[2 - w / 2, 2 - h / 2, 2 + w / 2, 2 + h / 2]]))


def test_max_in_out_pools_background_on_level0_and_faces_above():
    logits = torch.tensor([1., 5., 2., 3.]).view(1, 4, 1, 1)
    # level 0: background = max(1, 5, 2) = 5, face = 3; emitted (face, background)
    assert apply_max_in_out(logits, 0).flatten().tolist() == [3., 5.]
    # levels >= 1: face = max(1, 5, 2) = 5, background = 3
    assert apply_max_in_out(logits, 4).flatten().tolist() == [5., 3.]


def test_fem_fusion_is_an_align_corners_product_on_the_lowest_levels_only():
    fem = DSFDFEM(in_channels=[1, 1, 1], num_fused_levels=1, branch_channels=[1, 1, 1])
    with torch.no_grad():
        for conv in (*fem.lateral_convs, *fem.smooth_convs):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    low = torch.full((1, 1, 1, 3), 2.0)
    mid = torch.tensor([[[[1.0, 5.0]]]])   # upsampled to width 3 with aligned corners: 1, 3, 5
    top = torch.full((1, 1, 1, 1), 7.0)
    fused = fem.fuse([low, mid, top])
    assert fused[0].flatten().tolist() == [2.0, 6.0, 10.0]
    assert fused[1] is mid and fused[2] is top   # not fused: unchanged
    out = fem([low, mid, top])
    assert [o.shape[1] for o in out] == [3, 3, 3] and out[0].shape[-2:] == low.shape[-2:]


def _tiny_head(**kwargs):
    head = DSFDHead(in_channels=4, feat_channels=4, num_convs=1,
                    prior_generator=dict(type='DSFDPriorGenerator', strides=[8, 16], base_sizes=[16, 32]),
                    test_cfg=dict(score_thr=0.01, nms_pre=5000, nms=dict(type='nms', iou_threshold=0.3),
                                  max_per_img=750), **kwargs)
    with torch.no_grad():
        for branch in (*head.cls_branches, *head.reg_branches):
            branch.out_conv.weight.zero_()
            branch.out_conv.bias.zero_()
    return head


def test_head_decodes_zero_deltas_to_the_priors_with_max_in_out_scores():
    head = _tiny_head()
    with torch.no_grad():
        # level 0 logits (1, 5, 2, 3): background 5, face 3 -> p(face) = 1 / (1 + e^2)
        head.cls_branches[0].out_conv.bias.copy_(torch.tensor([1., 5., 2., 3.]))
        # level 1: face 5, background 3 -> p(face) = 1 / (1 + e^-2); box deltas (0, 0, log 2 / 0.2, 0)
        head.cls_branches[1].out_conv.bias.copy_(torch.tensor([1., 5., 2., 3.]))
        head.reg_branches[1].out_conv.bias.copy_(torch.tensor([0., 0., math.log(2) / 0.2, 0.]))
    feats = (torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 1, 1))
    metas = [dict(batch_input_shape=(16, 16), img_shape=(16, 16))]
    boxes, scores = head.decode(*head(feats), metas)
    assert boxes.shape == (1, 5, 4) and scores.shape == (1, 5)
    torch.testing.assert_close(scores[0, :4], torch.full((4,), 1 / (1 + math.e ** 2)))
    torch.testing.assert_close(scores[0, 4], torch.tensor(1 / (1 + math.e ** -2)))
    priors = head.get_priors(head(feats)[0], metas)
    torch.testing.assert_close(boxes[0, :4], priors[:4])
    # level 1 prior: centre 8 (clamped to 16 -> stays 8), w = min(32 / sqrt 1.5, 16) = 16, h = 16; width doubled
    torch.testing.assert_close(boxes[0, 4], torch.tensor([-8., 0., 24., 16.]))
    (result,) = head.predict_by_feat(*head(feats), batch_img_metas=metas)
    # the four level-0 priors overlap each other by IoU > 0.3 pairwise except diagonal neighbours; the NMS keeps
    # the level-1 box (highest score) first
    assert result.scores[0].item() == pytest.approx(1 / (1 + math.e ** -2))
    torch.testing.assert_close(result.bboxes[0], torch.tensor([-8., 0., 24., 16.]))


def test_head_without_max_in_out_emits_face_background_logits():
    head = _tiny_head(max_in_out=False)
    assert head.cls_branches[0].out_conv.out_channels == 2
    with torch.no_grad():
        head.cls_branches[0].out_conv.bias.copy_(torch.tensor([2., -1.]))
    cls_scores, _ = head((torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 1, 1)))
    assert cls_scores[0][0, :, 0, 0].tolist() == [2., -1.]   # (face, background), no pooling


def _build(model_cfg):
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        return MODELS.build(model_cfg)


def test_detector_levels_have_ceil_sizes_and_keep_the_original_features():
    cfg = small_dsfd_config().model
    model = _build(cfg).eval()
    x = torch.randn(1, 3, 70, 100)
    with torch.no_grad():
        original, enhanced = model.extract_original_and_enhanced(x)
        assert [tuple(f.shape[-2:]) for f in original] == [
            (math.ceil(70 / s), math.ceil(100 / s)) for s in (4, 8, 16, 32, 64, 128)]
        assert [f.shape[1] for f in original] == [64, 128, 256, 512, 32, 16]
        assert all(f.shape[1] == 32 for f in enhanced)
        torch.testing.assert_close(model.extract_feat(x)[3], enhanced[3])


def test_dsfd_r152_parameter_count_is_the_release_minus_its_head_body_channels():
    cfg = Config.fromfile(str(CONFIGS / 'dsfd' / 'dsfd_r152_release_widerface.py'))
    model = _build(cfg.model)
    ours = sum(p.numel() for p in model.parameters())
    release = 120_058_406   # face_detection 0.2.2 SSD(resnet152_model_config), counted on its module
    # dropped PyramidBox outputs (1x1 convs of 256 inputs + bias): loc 4 channels on level 1 and 8 on levels
    # 2..5, conf 2 on level 1 and 4 on levels 2..5
    dropped = 257 * (4 + 8 * 4) + 257 * (2 + 4 * 4)
    assert ours == release - dropped == 120_044_528
