"""Keypoint-aware transforms, checked against hand-computed numbers.

The fixture image is 100 (w) x 80 (h) with three faces:
    A  box [10, 20, 50, 70]  landmarks (20,30) (40,31) (30,45) (22,55) (38,56), weights 1 1 1 1 0
    B  box [60, 10, 90, 40]  ignore, no landmarks
    C  box [70, 50, 98, 78]  landmarks (78,60) (90,60) (84,66) (80,72) (88,72)
"""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope

from mmdet_face.datasets.transforms import (FaceRandomFlip, FaceResize, LoadFaceAnnotations, PackFaceInputs,
                                            RandomSquareCrop)
from mmdet_face.registry import TRANSFORMS
from tests.datasets.three_faces import KPS_A, KPS_C, three_faces



def test_load_face_annotations():
    r = three_faces()
    assert isinstance(r['gt_bboxes'], HorizontalBoxes)
    assert r['gt_bboxes'].tensor.dtype == torch.float32 and r['gt_bboxes'].tensor.shape == (3, 4)
    assert r['gt_bboxes_labels'].dtype == np.int64 and r['gt_bboxes_labels'].shape == (3, )
    assert r['gt_ignore_flags'].dtype == bool and r['gt_ignore_flags'].tolist() == [False, True, False]
    assert r['gt_keypoints'].dtype == np.float32 and r['gt_keypoints'].shape == (3, 5, 2)
    assert r['gt_keypoints_weights'].dtype == np.float32 and r['gt_keypoints_weights'].shape == (3, 5)
    np.testing.assert_array_equal(r['gt_keypoints'][0], KPS_A)
    empty = LoadFaceAnnotations()(dict(instances=[]))
    assert empty['gt_bboxes'].tensor.shape == (0, 4) and empty['gt_keypoints'].shape == (0, 5, 2)


def test_square_crop_inside_with_clipping():
    r = three_faces()
    img = r['img'].copy()
    # patch x 25..85, y 30..90 (10 rows below the image): A centre (30, 45) and C centre (84, 64) are inside,
    # B centre (75, 25) is above the patch.
    out = RandomSquareCrop(crop_choice=[1.0]).crop(r, np.array([25, 30, 85, 90]))
    assert out['img'].shape == (60, 60, 3) and out['img_shape'] == (60, 60)
    np.testing.assert_array_equal(out['img'][:50], img[30:80, 25:85])
    assert (out['img'][50:] == 128).all()
    # A clipped at x1 = 25 -> [25, 20->30, 50, 70] - (25, 30); C clipped at x2 = 85
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[0, 0, 25, 40], [45, 20, 60, 48]])
    assert out['gt_ignore_flags'].tolist() == [False, False]
    assert out['gt_bboxes_labels'].tolist() == [0, 0]
    # landmarks shifted by (-25, -30) and not clipped: A's left eye lands at x = -5, its weight stays
    np.testing.assert_allclose(out['gt_keypoints'][0], [[-5, 0], [15, 1], [5, 15], [-3, 25], [13, 26]])
    np.testing.assert_allclose(out['gt_keypoints'][1], np.array(KPS_C) - [25, 30])
    np.testing.assert_array_equal(out['gt_keypoints_weights'], [[1, 1, 1, 1, 0], [1] * 5])


def test_square_crop_larger_than_image_pads_128():
    r = three_faces()
    img = r['img'].copy()
    out = RandomSquareCrop(crop_choice=[1.5]).crop(r, np.array([-20, -10, 100, 110]))
    o = out['img']
    assert o.shape == (120, 120, 3)
    np.testing.assert_array_equal(o[10:90, 20:120], img)
    assert (o[:10] == 128).all() and (o[90:] == 128).all() and (o[:, :20] == 128).all()
    # every centre is inside: boxes and landmarks shift by (+20, +10), the ignore face stays flagged
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                               [[30, 30, 70, 80], [80, 20, 110, 50], [90, 60, 118, 88]])
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    np.testing.assert_allclose(out['gt_keypoints'][0], np.array(KPS_A) + [20, 10])


def test_square_crop_random_offset_consistent():
    np.random.seed(3)
    for _ in range(20):
        r = three_faces()
        img = r['img'].copy()
        out = RandomSquareCrop(crop_choice=[1.0])(r)
        # side = int(1.0 * short side 80) = 80; top is 0 (h == side); left in [0, 20]
        x1, y1, x2, y2 = out['crop_patch']
        assert (y1, y2 - y1, x2 - x1) == (0, 80, 80) and 0 <= x1 <= 20
        np.testing.assert_array_equal(out['img'], img[:, x1:x1 + 80])
        centres = np.array([[30, 45], [75, 25], [84, 64]])
        keep = (centres[:, 0] > x1) & (centres[:, 0] < x1 + 80)
        assert len(out['gt_bboxes']) == keep.sum()


def test_square_crop_sampling_and_retries():
    np.random.seed(0)
    choice = [0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    t = RandomSquareCrop(crop_choice=choice)
    sides = set()
    for _ in range(50):
        out = t(three_faces())
        h, w = out['img'].shape[:2]
        assert h == w
        sides.add(h)
        # at least one non-ignore face kept, every kept centre inside the crop
        assert (~out['gt_ignore_flags']).any()
        b = out['gt_bboxes'].tensor.numpy()
        c = (b[:, :2] + b[:, 2:]) / 2
        assert ((c > 0) & (c < h)).all()
    assert sides <= {int(s * 80) for s in choice} and len(sides) >= 5
    # a single tiny face in a corner and scales <= 1: the scale grows by 1.2 per retry until a crop holds it
    r = dict(img=np.zeros((200, 200, 3), np.uint8),
             instances=[dict(bbox=[1, 1, 5, 5], keypoints=[[2, 2]] * 5, keypoints_weights=[1] * 5)])
    out = RandomSquareCrop(crop_choice=[0.1], max_tries_per_scale=2)(LoadFaceAnnotations()(r))
    assert len(out['gt_bboxes']) == 1
    # no non-ignore face: the first crop is accepted (no endless loop)
    r = dict(img=np.zeros((50, 50, 3), np.uint8), instances=[dict(bbox=[1, 1, 5, 5], ignore_flag=1)])
    out = RandomSquareCrop(crop_choice=[0.5])(LoadFaceAnnotations()(r))
    assert out['img'].shape == (25, 25, 3)


def test_resize_scales_keypoints():
    r = three_faces()
    out = FaceResize(scale=(200, 120), keep_ratio=False)(r)  # w x 2.0, h x 1.5
    assert out['img'].shape == (120, 200, 3) and out['scale_factor'] == (2.0, 1.5)
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy()[0], [20, 30, 100, 105])
    np.testing.assert_allclose(out['gt_keypoints'][0],
                               [[40, 45], [80, 46.5], [60, 67.5], [44, 82.5], [76, 84]])
    assert out['gt_keypoints'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_keypoints_weights'][0], [1, 1, 1, 1, 0])
    # keep_ratio: long side 100 -> 50 (x0.5)
    out = FaceResize(scale=(50, 50), keep_ratio=True)(three_faces())
    assert out['img'].shape[:2] == (40, 50)
    np.testing.assert_allclose(out['gt_keypoints'][2], np.array(KPS_C) * 0.5)


def test_flip_mirrors_and_swaps_landmarks():
    r = three_faces()
    img = r['img'].copy()
    out = FaceRandomFlip(prob=1.0)(r)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy()[0], [50, 20, 90, 70])  # x' = 100 - x
    # x' = 100 - x: (80,30) (60,31) (70,45) (78,55) (62,56); then order [1, 0, 2, 4, 3]
    np.testing.assert_allclose(out['gt_keypoints'][0], [[60, 31], [80, 30], [70, 45], [62, 56], [78, 55]])
    np.testing.assert_array_equal(out['gt_keypoints_weights'][0], [1, 1, 1, 0, 1])
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    # flipping twice gives the original back
    again = FaceRandomFlip(prob=1.0)(dict(out, flip=None, flip_direction=None))
    np.testing.assert_allclose(again['gt_keypoints'][0], KPS_A)
    # vertical: y' = 80 - y, no swap
    out = FaceRandomFlip(prob=1.0, direction='vertical')(three_faces())
    np.testing.assert_allclose(out['gt_keypoints'][0], [[20, 50], [40, 49], [30, 35], [22, 25], [38, 24]])
    no = FaceRandomFlip(prob=0.0)(three_faces())
    np.testing.assert_allclose(no['gt_keypoints'][0], KPS_A)


def test_pack_face_inputs():
    out = PackFaceInputs()(three_faces())
    assert out['inputs'].shape == (3, 80, 100) and out['inputs'].dtype == torch.uint8
    ds = out['data_samples']
    gt, ign = ds.gt_instances, ds.ignored_instances
    assert len(gt) == 2 and len(ign) == 1
    np.testing.assert_allclose(gt.bboxes.tensor.numpy(), [[10, 20, 50, 70], [70, 50, 98, 78]])
    assert gt.labels.tolist() == [0, 0] and gt.labels.dtype == torch.int64
    assert gt.keypoints.shape == (2, 5, 2) and gt.keypoints.dtype == torch.float32
    np.testing.assert_allclose(gt.keypoints[1].numpy(), KPS_C)
    assert gt.keypoints_weights.shape == (2, 5) and gt.keypoints_weights[0].tolist() == [1, 1, 1, 1, 0]
    np.testing.assert_allclose(ign.bboxes.tensor.numpy(), [[60, 10, 90, 40]])
    assert ign.keypoints.shape == (1, 5, 2) and ign.keypoints_weights.shape == (1, 5)
    meta = ds.metainfo
    assert meta['img_id'] == '0--Toy/x' and meta['img_shape'] == (80, 100) and meta['pad_shape'] == (80, 100)
    assert meta['ori_shape'] == (80, 100)


def test_registered_names_in_scope():
    init_default_scope('mmdet_face')
    assert TRANSFORMS.get('FaceResize') is FaceResize
    assert TRANSFORMS.get('FaceRandomFlip') is FaceRandomFlip
    # the bare names are mmdet's, not a second name of the face transforms (see test_keypoint_geometry.py)
    assert not issubclass(TRANSFORMS.get('Resize'), FaceResize)
    assert not issubclass(TRANSFORMS.get('RandomFlip'), FaceRandomFlip)
    for name in ('RandomSquareCrop', 'LoadFaceAnnotations', 'PackFaceInputs', 'PhotoMetricDistortion',
                 'LoadImageFromFile'):
        assert TRANSFORMS.get(name) is not None, name


@pytest.mark.parametrize('kwargs', [dict(), dict(crop_choice=[1.0], crop_ratio_range=(0.5, 1.0))])
def test_square_crop_needs_exactly_one_scale_source(kwargs):
    with pytest.raises(ValueError):
        RandomSquareCrop(**kwargs)
