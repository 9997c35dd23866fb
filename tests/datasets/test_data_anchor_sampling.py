"""PyramidBox data-anchor-sampling (``DataAnchorSampling``): hand-computed geometry, seeded sampling, statistics.

The fixture image is 100 (w) x 80 (h) with three faces (as in test_transforms.py):
    A  box [10, 20, 50, 70]  s_face = sqrt(40 * 50) = 44.72 -> nearest anchor 32 (i_anchor 1), targets i in {0, 1, 2}
    B  box [60, 10, 90, 40]  ignore
    C  box [70, 50, 98, 78]  s_face = 28 -> nearest anchor 32 (i_anchor 1)
"""
import math

import cv2
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope

from mmdet_face.datasets.transforms import DataAnchorSampling, LoadFaceAnnotations
from mmdet_face.registry import TRANSFORMS
from tests.datasets.three_faces import KPS_A, KPS_C, three_faces

SCALES = np.array([16, 32, 64, 128, 256, 512], dtype=np.float64)


def test_upscale_hand_computed_and_centre_rule():
    r = three_faces()
    img = r['img'].copy()
    # x2 -> 200 x 160 rescaled image, crop 64 x 64 at (40, 30):
    #   A [20, 40, 100, 140] - (40, 30) = [-20, 10, 60, 110]: centre (20, 60) inside -> clipped to [0, 10, 60, 64]
    #   B [120, 20, 180, 80] - (40, 30) = [80, -10, 140, 50]: centre (110, 20) outside -> dropped (with its flag)
    #   C [140, 100, 196, 156] - (40, 30) = [100, 70, 156, 126]: centre outside -> dropped
    out = DataAnchorSampling(crop_size=64).apply(r, 2.0, (40, 30))
    assert out['img'].shape == (64, 64, 3) and out['img'].dtype == np.uint8 and out['img_shape'] == (64, 64)
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[0, 10, 60, 64]])
    assert out['gt_ignore_flags'].tolist() == [False] and out['gt_bboxes_labels'].tolist() == [0]
    # keypoints: x2, minus (40, 30), not clipped; weights follow
    np.testing.assert_allclose(out['gt_keypoints'][0], [[0, 30], [40, 32], [20, 60], [4, 80], [36, 82]])
    np.testing.assert_array_equal(out['gt_keypoints_weights'], [[1, 1, 1, 1, 0]])
    assert out['das_info']['keep'].tolist() == [True, False, False] and out['das_info']['scale'] == (2.0, 2.0)
    # the warp of the crop window equals resizing the whole image and slicing (same pixel-centre convention)
    ref = cv2.resize(img, (200, 160), interpolation=cv2.INTER_LINEAR)[30:94, 40:104]
    assert np.abs(out['img'].astype(int) - ref.astype(int)).max() <= 1


def r_img_crop(x, y, size=64):
    img = three_faces()['img']
    out = np.zeros((size, size, 3), np.uint8)
    patch = img[y:y + size, x:x + size]
    out[:patch.shape[0], :patch.shape[1]] = patch
    return out


def test_centre_just_outside_is_dropped_and_centre_inside_is_clipped():
    r = three_faces()
    # x1, crop 64 at (0, 0): A centre (30, 45) inside; C centre (84, 64) has x > 64 -> dropped; B centre (75, 25)
    # outside -> dropped. Crop at (21, 1): C centre (84, 64) - (21, 1) = (63, 63) -> kept, clipped at 64; A centre
    # (9, 44) -> kept, x1 clipped to 0; B centre (54, 24) -> kept (ignore flag kept with it). At (21, 0) C's
    # centre y = 64 is on the border -> dropped (strictly inside only).
    out = DataAnchorSampling(crop_size=64).apply(three_faces(), 1.0, (0, 0))
    assert out['das_info']['keep'].tolist() == [True, False, False]
    out = DataAnchorSampling(crop_size=64).apply(three_faces(), 1.0, (21, 0))
    assert out['das_info']['keep'].tolist() == [True, True, False]
    out = DataAnchorSampling(crop_size=64).apply(r, 1.0, (21, 1))
    assert out['das_info']['keep'].tolist() == [True, True, True]
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[0, 19, 29, 64], [39, 9, 64, 39], [49, 49, 64, 64]])
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    np.testing.assert_allclose(out['gt_keypoints'][2], np.array(KPS_C) - [21, 1])
    np.testing.assert_array_equal(out['img'], r_img_crop(21, 1))


def test_downscale_hand_computed_with_padding():
    r = three_faces()
    img = r['img'].copy()
    # x0.5 -> 50 x 40 (exact, so s_x = s_y = 0.5); crop 64 at (-7, -12) puts the image at (7, 12), pad elsewhere
    out = DataAnchorSampling(crop_size=64, pad_val=7).apply(r, 0.5, (-7, -12))
    assert out['img'].shape == (64, 64, 3) and out['img_shape'] == (64, 64)
    np.testing.assert_array_equal(out['img'][12:52, 7:57], cv2.resize(img, (50, 40), interpolation=cv2.INTER_AREA))
    mask = np.ones((64, 64), dtype=bool)
    mask[12:52, 7:57] = False
    assert (out['img'][mask] == 7).all()
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[12, 22, 32, 47], [37, 17, 52, 32], [42, 37, 56, 51]])
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    np.testing.assert_allclose(out['gt_keypoints'][0], np.array(KPS_A) * 0.5 + [7, 12])
    np.testing.assert_allclose(out['gt_keypoints'][2], np.array(KPS_C) * 0.5 + [7, 12])
    assert out['das_info']['scale'] == (0.5, 0.5)


def test_upscale_padding_fills_every_channel():
    # cv2 reads a bare border value as (v, 0, 0, 0); every channel must get pad_val
    out = DataAnchorSampling(crop_size=64, pad_val=7).apply(three_faces(), 2.0, (150, 100))
    assert out['img'].shape == (64, 64, 3)
    assert (out['img'][:, 51:] == 7).all() and (out['img'][61:] == 7).all()
    out = DataAnchorSampling(crop_size=(48, 32), pad_val=(1, 2, 3)).apply(three_faces(), 2.0, (190, 150))
    assert out['img'].shape == (32, 48, 3) and out['img_shape'] == (32, 48)
    assert (out['img'][20:, 20:] == [1, 2, 3]).all()


@pytest.mark.parametrize('seed', range(40))
def test_seeded_sample_chosen_face_has_target_size_and_is_inside(seed):
    np.random.seed(seed)
    r = three_faces()
    boxes_in = r['gt_bboxes'].tensor.numpy().copy()
    kps_in = r['gt_keypoints'].copy()
    out = DataAnchorSampling(crop_size=256)(r)
    info = out['das_info']
    assert out['img'].shape == (256, 256, 3) and out['img_shape'] == (256, 256)
    assert info['face_index'] in (0, 2)  # never the ignore face B
    x1, y1, x2, y2 = boxes_in[info['face_index']]
    s_face = math.sqrt((x2 - x1) * (y2 - y1))
    assert info['s_face'] == pytest.approx(s_face)
    assert info['i_anchor'] == int(np.argmin(np.abs(SCALES - s_face))) == 1
    assert 0 <= info['i_target'] <= min(5, info['i_anchor'] + 1)
    s_i = SCALES[info['i_target']]
    assert s_i / 2 <= info['s_target'] <= 2 * s_i
    sx, sy = info['scale']
    ox, oy = info['offset']
    # every kept box: input x scale - offset (then clipped); the chosen face is inside the crop, so unclipped,
    # with size s_target (exact when upscaled, to the rounding of the image size when downscaled)
    keep = info['keep']
    expected = boxes_in[keep] * [sx, sy, sx, sy] - [ox, oy, ox, oy]
    got = out['gt_bboxes'].tensor.numpy()
    np.testing.assert_allclose(got, expected.clip(0, 256), atol=1e-3)
    k = info['kept_index']
    assert k is not None
    np.testing.assert_allclose(got[k], expected[k], atol=1e-3)
    assert (got[k] >= 0).all() and (got[k] <= 256).all()
    s_out = math.sqrt((got[k, 2] - got[k, 0]) * (got[k, 3] - got[k, 1]))
    assert s_out == pytest.approx(info['s_target'], rel=1e-4 if sx >= 1 else 2e-2)
    # keypoints follow their boxes
    np.testing.assert_allclose(out['gt_keypoints'], kps_in[keep] * [sx, sy] - [ox, oy], atol=1e-3)
    assert len(out['gt_ignore_flags']) == len(got) == len(out['gt_keypoints_weights'])


def test_image_without_valid_face_is_unchanged():
    t = DataAnchorSampling(crop_size=64)
    for r in (three_faces(ignore_all=True),
              LoadFaceAnnotations()(dict(img=np.zeros((30, 40, 3), np.uint8), img_shape=(30, 40), instances=[]))):
        img = r['img'].copy()
        boxes = r['gt_bboxes'].tensor.clone()
        out = t(r)
        np.testing.assert_array_equal(out['img'], img)
        assert out['img_shape'] == img.shape[:2] and 'das_info' not in out
        assert (out['gt_bboxes'].tensor == boxes).all()
    # prob 0: never applied
    r = three_faces()
    out = DataAnchorSampling(crop_size=64, prob=0.0)(r)
    assert out['img'].shape == (80, 100, 3) and 'das_info' not in out


def test_target_sizes_spread_over_allowed_anchors():
    np.random.seed(0)
    t = DataAnchorSampling(crop_size=640)
    n = 6000
    # (s_face, i_anchor): the allowed targets are i = 0 .. min(5, i_anchor + 1), each equally likely
    for s_face, i_anchor in ((10.0, 0), (44.72, 1), (100.0, 3), (600.0, 5)):
        draws = [t.sample_target(s_face) for _ in range(n)]
        assert {d[0] for d in draws} == {i_anchor}
        i_t = np.array([d[1] for d in draws])
        s_t = np.array([d[2] for d in draws])
        top = min(5, i_anchor + 1)
        freq = np.bincount(i_t, minlength=6)[:top + 1] / n
        assert i_t.max() == top and np.abs(freq - 1 / (top + 1)).max() < 0.03
        # each target inside its own anchor range [s_i / 2, 2 s_i]
        assert (s_t >= SCALES[i_t] / 2).all() and (s_t <= SCALES[i_t] * 2).all()
        # together they span the whole allowed range [8, 2 s_top]
        assert s_t.min() < 8 * 1.05 and s_t.max() > 2 * SCALES[top] * 0.95
        if s_face == 600.0:  # a large face is shrunk most of the time (P(s_target < 600) = 1 - 424/(6 * 768))
            assert (s_t < s_face).mean() > 0.88
    # through the full transform on the toy image: the target index is spread over {0, 1, 2}
    counts = np.zeros(6, dtype=int)
    for _ in range(300):
        counts[DataAnchorSampling(crop_size=64)(three_faces())['das_info']['i_target']] += 1
    assert counts[3:].sum() == 0 and (counts[:3] > 60).all()


def test_registered_and_mixed_with_square_crop_in_scope():
    init_default_scope('mmdet_face')
    t = TRANSFORMS.build(dict(type='DataAnchorSampling', crop_size=64))
    assert isinstance(t, DataAnchorSampling) and t.crop_size == (64, 64)
    mixed = TRANSFORMS.build(
        dict(type='RandomChoice', prob=[0.5, 0.5],
             transforms=[[dict(type='DataAnchorSampling', crop_size=64)],
                         [dict(type='RandomSquareCrop', crop_choice=[0.5])]]))
    np.random.seed(1)
    used = [('das_info' in mixed(three_faces())) for _ in range(60)]
    assert 10 < sum(used) < 50


def test_bad_arguments():
    with pytest.raises(ValueError):
        DataAnchorSampling(crop_size=0)
    with pytest.raises(ValueError):
        DataAnchorSampling(anchor_scales=())
    with pytest.raises(ValueError):
        DataAnchorSampling(prob=1.5)


def test_plain_array_boxes():
    r = three_faces()
    r['gt_bboxes'] = r['gt_bboxes'].tensor.numpy()
    out = DataAnchorSampling(crop_size=64).apply(r, 2.0, (40, 30))
    assert isinstance(out['gt_bboxes'], np.ndarray) and not isinstance(out['gt_bboxes'], HorizontalBoxes)
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 10, 60, 64]])
