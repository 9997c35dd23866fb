"""The DSFD release's test protocol (widerface_val.py) as a TTA mode: its views per image size, the per-view size
filters, the flip back, bbox_vote and the result-file rounding, on hand-built detections with hand-computed
output; and the wiring through tools/test.py's --tta on a small DSFD."""
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import mmdet_face  # noqa: F401
from mmdet_face.datasets.transforms.dsfd_release_tta import (LONG_OVER_30 as L, SHORT_UNDER_100 as S, DSFDReleaseTTA,
                                                             dsfd_release_views, release_max_shrink)
from mmdet_face.models.test_time_augs.dsfd_release_tta import (DSFDReleaseTTAModel, release_bbox_vote,
                                                               size_filter_mask)
from tests.helpers.small_dsfd import small_dsfd_config


def _views(h, w):
    return [(round(s, 6), f, filt) for s, f, filt in dsfd_release_views(h, w)]


def test_views_of_a_wider_sized_image():
    # m = min(3, sqrt(2^31 / 200 / (60 * 80))) = 3: origin + flip, 0.5 / 0.75 (> 30), 2 / 1.5 / m (< 100: the
    # final bt is 4 > 1), pyramid 0.25 (> 30) and 1.25 / 1.75 / 2.25 (< 100)
    assert release_max_shrink(60, 80) == 3
    assert _views(60, 80) == [(1, False, None), (1, True, None), (0.5, False, L), (0.75, False, L), (2, False, S),
                              (1.5, False, S), (3, False, S), (0.25, False, L), (1.25, False, S), (1.75, False, S),
                              (2.25, False, S)]


def test_views_of_large_images():
    # 1000 x 1718: m = sqrt(2147483647 / 200 / 1718000) = 2.49999...: as above with m instead of 3
    m = math.sqrt(0x7fffffff / 200 / (1000 * 1718))
    assert _views(1000, 1718) == [(1, False, None), (1, True, None), (0.5, False, L), (0.75, False, L),
                                  (2, False, S), (1.5, False, S), (round(m, 6), False, S), (0.25, False, L),
                                  (1.25, False, S), (1.75, False, S), (2.25, False, S)]
    # 4096 x 4096: m = 0.79999...: shrink m, st 0.5, 0.75, bt = (0.5 + m) / 2 <= 1 (> 30 filter), 0.25 only
    m = math.sqrt(0x7fffffff / 200 / 4096 ** 2)
    assert _views(4096, 4096) == [(round(m, 6), False, None), (round(m, 6), True, None), (0.5, False, L),
                                  (0.75, False, L), (round((0.5 + m) / 2, 6), False, L), (0.25, False, L)]
    # 5000 x 11930: m = 0.424 (< 0.75): st = 0.5 m, no 0.75 view, bt = (st + m) / 2
    h, w = 5000, 11930
    m = math.sqrt(0x7fffffff / 200 / (h * w))
    assert m < 0.75
    assert _views(h, w) == [(round(m, 6), False, None), (round(m, 6), True, None), (round(0.5 * m, 6), False, L),
                            (round((0.5 * m + m) / 2, 6), False, L), (0.25, False, L)]


def test_transform_resizes_like_cv2_and_flips_the_original_first():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = DSFDReleaseTTA()(dict(img=img, img_shape=(60, 80), ori_shape=(60, 80)))
    views = dsfd_release_views(60, 80)
    assert len(out['img']) == len(views) == 11
    for image, shape, factor, flip, filt, (s, f, expected_filter) in zip(
            out['img'], out['img_shape'], out['scale_factor'], out['flip'], out['dsfd_size_filter'], views):
        assert image.shape[:2] == shape == (round(60 * s), round(80 * s))
        assert factor == (s, s) and flip == f and filt == expected_filter
    np.testing.assert_array_equal(out['img'][0], img)                      # scale 1: the image itself
    np.testing.assert_array_equal(out['img'][1], img[:, ::-1])             # flip at scale 1
    np.testing.assert_array_equal(out['img'][3], cv2.resize(img, None, None, fx=0.75, fy=0.75,
                                                            interpolation=cv2.INTER_LINEAR))


class _Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.bbox_head = nn.Module()
        self.bbox_head.test_cfg = dict(max_per_img=750)

    def test_step(self, data):   # the merge tests never run the network
        raise AssertionError('not called')


def _view(boxes, scores, flip=False, size_filter=None, width=200):
    sample = DetDataSample(metainfo=dict(ori_shape=(200, width), flip=flip,
                                         flip_direction='horizontal' if flip else None,
                                         dsfd_size_filter=size_filter))
    sample.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                         scores=torch.tensor(scores, dtype=torch.float32),
                                         labels=torch.zeros(len(scores), dtype=torch.long))
    return sample


def _hand_built_views():
    return [
        # origin: a face, a box confirmed by view C, one confirmed only by the filtered view D
        _view([[0, 0, 9, 9], [100, 100, 139, 139], [300, 300, 398, 398]], [0.9, 0.4, 0.1]),
        # flip (W = 200): [190, 0, 199, 9] is [1, 0, 10, 9] in the image; IoU with [0, 0, 9, 9] = 90 / 110
        _view([[190, 0, 199, 9]], [0.6], flip=True),
        # shrink view (> 30): the 11 px box goes, the 41 px one stays (IoU with [100, 100, 139, 139] = 1600 / 1681)
        _view([[50, 50, 60, 60], [100, 100, 140, 140]], [0.95, 0.5], size_filter=L),
        # enlarge view (< 100): the 11 px box stays (alone now: dropped by the vote), the 100 px one goes
        _view([[50, 50, 60, 60], [300, 300, 399, 399]], [0.3, 0.7], size_filter=S),
    ]


def test_merge_against_hand_computed_votes():
    model = DSFDReleaseTTAModel(module=_Detector(), tta_cfg=dict(release_rounding=False))
    # the head detects every view with the release's rule and no per-view cap
    assert model.module.bbox_head.test_cfg == dict(score_thr=0.01, nms_pre=5000,
                                                   nms=dict(type='nms', iou_threshold=0.3), max_per_img=-1)
    pred = model._merge_single_sample(_hand_built_views()).pred_instances
    expected = torch.tensor([[(0 * 0.9 + 1 * 0.6) / 1.5, 0, (9 * 0.9 + 10 * 0.6) / 1.5, 9],
                             [100, 100, (140 * 0.5 + 139 * 0.4) / 0.9, (140 * 0.5 + 139 * 0.4) / 0.9]])
    torch.testing.assert_close(pred.bboxes, expected)
    torch.testing.assert_close(pred.scores, torch.tensor([0.9, 0.5]))
    assert pred.labels.tolist() == [0, 0]


def test_merge_rounds_like_the_release_result_files():
    model = DSFDReleaseTTAModel(module=_Detector())
    pred = model._merge_single_sample(_hand_built_views()).pred_instances
    # floor(x1), floor(y1); width ceil(x2 - x1 + 1): ceil(9.4 - 0.4 + 1) = 10, ceil(139.56 - 100 + 1) = 41
    torch.testing.assert_close(pred.bboxes, torch.tensor([[0., 0., 10., 10.], [100., 100., 141., 141.]]))


def test_bbox_vote_order_cap_and_filters():
    dets = np.array([[0, 0, 9, 9, 0.2], [0, 0, 9, 9, 0.8], [50, 50, 59, 59, 0.5], [50, 50, 59, 59, 0.6]])
    out = release_bbox_vote(dets)
    np.testing.assert_allclose(out, [[0, 0, 9, 9, 0.8], [50, 50, 59, 59, 0.6]])
    assert release_bbox_vote(dets, max_dets=1).shape == (1, 5)
    assert release_bbox_vote(np.zeros((0, 5))).shape == (0, 5)
    # a box with an infinite side (random weights can decode one) is a cluster of its own, not an endless loop
    wild = np.array([[0, -np.inf, 9, np.inf, 0.9], [0, 0, 9, 9, 0.5], [0, 0, 9, 9, 0.4]])
    np.testing.assert_allclose(release_bbox_vote(wild), [[0, 0, 9, 9, 0.5]])
    boxes = np.array([[0, 0, 29, 9], [0, 0, 30, 9], [0, 0, 98, 120], [0, 0, 99, 120]], dtype=float)
    assert size_filter_mask(boxes, L).tolist() == [False, True, True, True]      # longer side 30, 31, 121, 121
    assert size_filter_mask(boxes, S).tolist() == [True, True, True, False]      # shorter side 10, 10, 99, 100
    assert size_filter_mask(boxes, ('short_side', '>', 10)).tolist() == [False, False, True, True]
    for bad in ('big', ('width', '>', 3), ('long_side', '>=', 3)):
        with pytest.raises(ValueError, match='dsfd_size_filter'):
            size_filter_mask(boxes, bad)


def test_tools_test_tta_uses_the_release_protocol(tmp_path):
    from mmdet_face.engine.evaluate import set_tta
    from mmdet_face.registry import MODELS
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    cfg = small_dsfd_config()
    set_tta(cfg)   # what tools/test.py --tta does; the config's own tta_model / tta_pipeline win
    assert cfg.model.type == 'DSFDReleaseTTAModel'
    init_default_scope('mmdet_face')
    model = MODELS.build(cfg.model).eval()
    img_path = tmp_path / 'face.jpg'
    cv2.imwrite(str(img_path), np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    data = pipeline(dict(img_path=str(img_path), img_id='face', instances=[]))
    assert len(data['inputs']) == 11
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=[[x] for x in data['inputs']],
                                         data_samples=[[s] for s in data['data_samples']]))
    boxes = result.pred_instances.bboxes
    assert boxes.shape[1] == 4 and len(boxes) <= 750
    # release rounding: integer corners
    torch.testing.assert_close(boxes, boxes.round())
