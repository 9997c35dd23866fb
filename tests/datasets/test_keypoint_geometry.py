"""mmdet's Resize / RandomFlip move the image but not gt_keypoints: PackFaceInputs must refuse such a sample,
naming the face transform to use; the face transforms (and a Resize before LoadFaceAnnotations) pass."""

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from mmdet_face.datasets.transforms import FaceRandomFlip, FaceResize, LoadFaceAnnotations, PackFaceInputs
from mmdet_face.registry import TRANSFORMS

KPS = [[20, 30], [40, 31], [30, 45], [22, 55], [38, 56]]


def _raw():
    img = (np.arange(80 * 100 * 3) % 251).astype(np.uint8).reshape(80, 100, 3)
    instances = [dict(bbox=[10, 20, 50, 70], bbox_label=0, ignore_flag=0, keypoints=KPS,
                      keypoints_weights=[1] * 5)]
    return dict(img=img, img_shape=(80, 100), ori_shape=(80, 100), img_id='x', img_path='x.jpg',
                instances=instances)


def _run(steps):
    init_default_scope('mmdet_face')
    pipeline = Compose([dict(type='LoadFaceAnnotations')] + steps + [dict(type='PackFaceInputs')])
    return pipeline(_raw())


@pytest.mark.parametrize('step, face_name', [
    (dict(type='mmdet.Resize', scale=(50, 40), keep_ratio=False), 'FaceResize'),
    (dict(type='mmdet.Resize', scale=(100, 80), keep_ratio=False), 'FaceResize'),  # same size: still refused
    (dict(type='mmdet.RandomFlip', prob=1.0), 'FaceRandomFlip'),
    (dict(type='mmdet.RandomFlip', prob=0.0), 'FaceRandomFlip'),  # did not flip: refused all the same
    (dict(type='mmdet.RandomFlip', prob=1.0, direction='vertical'), 'FaceRandomFlip'),
])
def test_mmdet_geometry_without_keypoints_is_refused(step, face_name):
    with pytest.raises(ValueError, match=face_name) as err:
        _run([step])
    assert 'gt_keypoints' in str(err.value) and 'x.jpg' in str(err.value)


def test_mmdet_crop_without_keypoints_is_refused():
    with pytest.raises(ValueError, match='keypoint-aware'):
        _run([dict(type='mmdet.RandomCrop', crop_size=(40, 40), allow_negative_crop=True)])


def test_face_transforms_pass_and_move_keypoints():
    packed = _run([dict(type='FaceResize', scale=(50, 40), keep_ratio=False), dict(type='FaceRandomFlip', prob=1.0)])
    kps = packed['data_samples'].gt_instances.keypoints.numpy()
    # resize x0.5: (10,15) (20,15.5) (15,22.5) (11,27.5) (19,28); flip x' = 50 - x and swap [1, 0, 2, 4, 3]
    np.testing.assert_allclose(kps[0], [[30, 15.5], [40, 15], [35, 22.5], [31, 28], [39, 27.5]])


def test_crops_and_das_pass():
    _run([dict(type='RandomSquareCrop', crop_choice=[1.0]), dict(type='FaceResize', scale=(32, 32), keep_ratio=False)])
    _run([dict(type='DataAnchorSampling', crop_size=64), dict(type='FaceRandomFlip', prob=0.5)])


def test_resize_before_annotations_is_fine():
    """Test pipelines resize first and load the ground truth in original-image pixels."""
    init_default_scope('mmdet_face')
    for resize in ('mmdet.Resize', 'FaceResize'):
        pipeline = Compose([dict(type=resize, scale=(50, 40), keep_ratio=True), dict(type='LoadFaceAnnotations'),
                            dict(type='PackFaceInputs')])
        packed = pipeline(_raw())
        np.testing.assert_allclose(packed['data_samples'].gt_instances.keypoints[0].numpy(), KPS)


def test_hand_built_results_are_not_checked():
    """Without LoadFaceAnnotations' record there is nothing to compare against."""
    results = LoadFaceAnnotations()(_raw())
    del results['keypoints_geometry']
    results['scale_factor'] = (2.0, 2.0)
    PackFaceInputs()(results)


@pytest.mark.parametrize('step, face_name', [
    (dict(type='Resize', scale=(50, 40), keep_ratio=False), 'FaceResize'),
    (dict(type='RandomFlip', prob=1.0), 'FaceRandomFlip'),
])
def test_bare_names_are_mmdets_and_refused_naming_the_face_transform(step, face_name):
    """'Resize' / 'RandomFlip' are mmdet's transforms in scope mmdet_face (no second name for the face ones): a
    training pipeline using them is refused by PackFaceInputs' check, which names the face transform."""
    init_default_scope('mmdet_face')
    built = TRANSFORMS.build(dict(step))
    assert not isinstance(built, (FaceResize, FaceRandomFlip))
    assert type(built).__module__.startswith('mmdet.')
    with pytest.raises(ValueError, match=f"use type='{face_name}'") as err:
        _run([step])
    assert 'gt_keypoints' in str(err.value) and 'x.jpg' in str(err.value)