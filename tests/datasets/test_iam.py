"""DSFD's Improved Anchor Matching pieces: the keypoint-aware SSD min-IoU crop (``FaceMinIoURandomCrop``) with
hand-checked boxes, and the 0.4 / 0.6 mix with data-anchor-sampling as the DSFD training configs write it.

Fixture (as in test_data_anchor_sampling.py): a 100 (w) x 80 (h) image with
    A  box [10, 20, 50, 70]  area 2000, centre (30, 45)
    B  box [60, 10, 90, 40]  ignore, centre (75, 25)
    C  box [70, 50, 98, 78]  area 784, centre (84, 64)
"""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_face.datasets.transforms import FaceMinIoURandomCrop, PackFaceInputs, RandomSquareCrop
from mmdet_face.datasets.transforms.min_iou_crop import patch_ious
from mmdet_face.registry import TRANSFORMS
from tests.datasets.three_faces import KPS_A, three_faces

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_patch_ious_hand_computed():
    # A vs [0, 0, 40, 40]: overlap 30 x 20 = 600, union 2000 + 1600 - 600 = 3000 -> 0.2
    # A vs [0, 0, 60, 80]: A inside, 2000 / 4800; C vs [0, 0, 60, 80]: no overlap -> 0
    ious = patch_ious(np.array([[10, 20, 50, 70], [70, 50, 98, 78]]), np.array([0, 0, 40, 40]))
    np.testing.assert_allclose(ious, [0.2, 0.0])
    np.testing.assert_allclose(patch_ious(np.array([[10, 20, 50, 70], [70, 50, 98, 78]]), np.array([0, 0, 60, 80])),
                               [2000 / 4800, 0.0])


def test_accepts_is_min_iou_and_a_centre_inside():
    faces = np.array([[10, 20, 50, 70], [70, 50, 98, 78]], dtype=np.float32)  # A and C (B is ignored)
    patch = np.array([0, 0, 60, 80])
    assert FaceMinIoURandomCrop.accepts(faces, patch, 0.0)  # A's centre is inside
    assert not FaceMinIoURandomCrop.accepts(faces, patch, 0.1)  # C's IoU is 0
    assert FaceMinIoURandomCrop.accepts(faces[:1], patch, 0.4)  # A alone: IoU 0.4167
    assert not FaceMinIoURandomCrop.accepts(faces[:1], patch, 0.5)
    # IoU 0.2 >= 0.1 but A's centre (30, 45) is below the patch: refused
    assert not FaceMinIoURandomCrop.accepts(faces[:1], np.array([0, 0, 40, 40]), 0.1)
    assert FaceMinIoURandomCrop.accepts(np.zeros((0, 4), np.float32), patch, 0.9)


def test_crop_moves_boxes_keypoints_flags_together():
    # patch [5, 10, 60, 80] (55 x 70): A centre (30, 45) inside -> [5, 10, 45, 60]; B centre (75, 25) and C centre
    # (84, 64) outside -> dropped with their flags, labels and landmarks; A's landmarks shift by (-5, -10)
    out = FaceMinIoURandomCrop().crop(three_faces(), np.array([5, 10, 60, 80]))
    assert out['img'].shape == (70, 55, 3) and out['img_shape'] == (70, 55)
    np.testing.assert_array_equal(out['img'], three_faces()['img'][10:80, 5:60])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[5, 10, 45, 60]])
    assert out['gt_ignore_flags'].tolist() == [False] and out['gt_bboxes_labels'].tolist() == [0]
    np.testing.assert_allclose(out['gt_keypoints'][0], np.array(KPS_A) - [5, 10])
    np.testing.assert_array_equal(out['gt_keypoints_weights'], [[1, 1, 1, 1, 0]])
    # patch [40, 0, 100, 60]: A centre (30, 45) out; B centre (75, 25) in -> kept as ignore; C centre (84, 64)
    # out (y 64 > 60). B [60, 10, 90, 40] - (40, 0) = [20, 10, 50, 40]
    out = FaceMinIoURandomCrop().crop(three_faces(), np.array([40, 0, 100, 60]))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[20, 10, 50, 40]])
    assert out['gt_ignore_flags'].tolist() == [True]
    # the keypoint-geometry guard accepts the crop (it recorded that the landmarks moved with the image)
    packed = PackFaceInputs()(out)
    assert packed['data_samples'].ignored_instances.bboxes.tensor.shape == (1, 4)


@pytest.mark.parametrize('seed', range(12))
def test_sampled_patches_meet_their_mode(seed):
    np.random.seed(seed)
    crop = FaceMinIoURandomCrop()
    faces = np.array([[10, 20, 50, 70], [70, 50, 98, 78]], dtype=np.float32)
    for _ in range(10):
        patch, mode = crop.choose_patch(80, 100, faces)
        assert mode in crop.sample_modes
        if patch is None:
            assert mode == 1.0
            continue
        x1, y1, x2, y2 = patch.tolist()
        assert 0 <= x1 < x2 <= 100 and 0 <= y1 < y2 <= 80
        # int() truncation of the corners may shave one pixel off the sampled 0.3 x side
        assert x2 - x1 >= 0.3 * 100 - 1 and y2 - y1 >= 0.3 * 80 - 1
        assert patch_ious(faces, patch).min() >= mode
        assert RandomSquareCrop.centres_inside(faces, patch).any()


def test_high_iou_mode_gives_a_large_patch():
    # one face covering the whole 100 x 80 image: IoU = patch area / 8000, so mode 0.9 needs >= 90 % of the image
    np.random.seed(0)
    crop = FaceMinIoURandomCrop(min_ious=(0.9, ))
    crop.sample_modes = (0.9, )
    face = np.array([[0, 0, 100, 80]], dtype=np.float32)
    for _ in range(5):
        patch, mode = crop.choose_patch(80, 100, face)
        assert mode == 0.9
        area = (patch[2] - patch[0]) * (patch[3] - patch[1])
        assert area >= 0.9 * 8000


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='min_ious'):
        FaceMinIoURandomCrop(min_ious=(0.1, 1.5))
    with pytest.raises(ValueError, match='min_crop_size'):
        FaceMinIoURandomCrop(min_crop_size=0)


def test_dsfd_config_mixes_das_and_ssd_crop_0_4_to_0_6():
    """The IAM step of the DSFD training config: DataAnchorSampling with probability 0.4, else the SSD crop."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dsfd', 'dsfd_r152_4xb4-60k_widerface.py'))
    steps = [t for t in cfg.train_pipeline if t['type'] == 'RandomChoice']
    assert len(steps) == 1
    iam = steps[0]
    assert list(iam['prob']) == [0.4, 0.6]
    assert iam['transforms'][0][0]['type'] == 'DataAnchorSampling'
    assert iam['transforms'][1][0]['type'] == 'FaceMinIoURandomCrop'
    assert iam['transforms'][0][0]['crop_size'] == 640
    iam['transforms'][0][0]['crop_size'] = 64  # the mix does not depend on the crop size; 64 keeps the test fast
    init_default_scope('mmdet_face')
    transform = TRANSFORMS.build(iam)
    np.random.seed(0)
    n, das = 400, 0
    for _ in range(n):
        out = transform(three_faces())
        das += 'das_info' in out
        if 'das_info' in out:
            assert out['img'].shape[:2] == (64, 64)
    # binomial(400, 0.4): sd 9.8 -> 6 sd band
    assert abs(das - 0.4 * n) < 60
