"""FaceDetector gives boxes inside the image for every model family; ``clip_boxes=False`` gives the head's boxes
as they are (the RetinaFace and DSFD releases' unclipped boxes) for comparisons with a release.

The random-weight toy models of every family have their decoded boxes widened by 40 input pixels on each side, so
that many cross the image border whatever the weights."""
import warnings

import numpy as np
import pytest

from mmdet_face.apis.face_detector import FaceDetector, RandomWeightsWarning
from tests.models.test_no_detections import FAMILIES, noise
from tests.helpers.small_dsfd import small_dsfd_config

H, W = 50, 90


def _widened_detector(family, monkeypatch, **kwargs):
    config = FAMILIES[family][0]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        detector = FaceDetector(small_dsfd_config() if config is None else str(config), **kwargs)
    head = detector.head
    decode = head.decode_image

    def widened(*args, **kw):
        results = decode(*args, **kw)
        results.bboxes = results.bboxes + results.bboxes.new_tensor([-40., -40., 40., 40.])
        return results

    monkeypatch.setattr(head, 'decode_image', widened)
    return detector


def _check_clipped(detector, monkeypatch, **call):
    img = noise(1, H, W)
    faces = detector(img, score_thr=0.0, **call)
    assert len(faces) > 0
    assert faces.bboxes[:, 0::2].min() >= 0 and faces.bboxes[:, 0::2].max() <= W
    assert faces.bboxes[:, 1::2].min() >= 0 and faces.bboxes[:, 1::2].max() <= H
    monkeypatch.setattr(detector, 'clip_boxes', False)
    raw = detector(img, score_thr=0.0, **call)
    np.testing.assert_array_equal(faces.scores, raw.scores)
    np.testing.assert_array_equal(faces.bboxes, np.clip(raw.bboxes, 0, [W, H, W, H]))
    return raw


@pytest.mark.parametrize('family', list(FAMILIES))
def test_default_boxes_lie_inside_the_image(family, monkeypatch):
    detector = _widened_detector(family, monkeypatch)
    raw = _check_clipped(detector, monkeypatch, max_size=128)
    if detector.head.clips_boxes:  # clipped to the network input, which maps back onto the image here
        assert raw.bboxes.min() >= 0
    else:  # the release's boxes: not clipped (before, FaceDetector returned these by default)
        assert raw.bboxes[:, :2].min() < 0 and (raw.bboxes[:, 2] > W).any()


@pytest.mark.parametrize('family', ['retinaface', 'dsfd'])
def test_letterbox_boxes_of_unclipped_heads_lie_inside_the_image(family, monkeypatch):
    raw = _check_clipped(_widened_detector(family, monkeypatch, letterbox=64), monkeypatch)
    assert raw.bboxes[:, :2].min() < 0


def test_clip_boxes_must_be_a_bool():
    with pytest.raises(TypeError, match='clip_boxes must be True or False'):
        FaceDetector(str(FAMILIES['scrfd_kps'][0]), clip_boxes='no')
