"""FaceDetector calls change nothing shared: per-call thresholds (thread-safe), keypoint count from the head,
resize steps found by their type."""
import copy
import threading
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from mmdet_face.apis import FaceDetector

TOY = str(Path(__file__).resolve().parents[2] / 'configs' / 'toy' / 'scrfd_toy_kps.py')


def _image(seed, shape=(96, 128, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope='module')
def detector():
    """The constructor's weights give zero-size boxes; with the box regression biased to one stride on each side
    they overlap their neighbours, so the NMS threshold matters too (scores spread around 0.5)."""
    import torch
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the constructor's initialisation is random
        det = FaceDetector(TOY)
    with torch.no_grad():
        for conv in det.head.stride_reg.values():
            conv.bias.fill_(1.0)
    return det


def _same(a, b):
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.bboxes, b.bboxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_thresholds_do_not_touch_head_test_cfg(detector):
    before = copy.deepcopy(detector.head.test_cfg)
    detector(_image(0), score_thr=0.1, nms_thr=0.9, max_size=96)
    assert detector.head.test_cfg == before
    with pytest.raises(ValueError):
        detector(_image(0), score_thr=0.1, nms_thr=2.0)
    assert detector.head.test_cfg == before


def test_concurrent_calls_with_different_thresholds(detector):
    """Two threads share one detector, each with its own score_thr and nms_thr; both start each call together
    (barrier). When the thresholds lived in head.test_cfg, one thread's call ran with the other's values."""
    images = [_image(1), _image(2)]
    levels = np.unique(detector(images[1], score_thr=0.0, nms_thr=0.3, max_size=96).scores)
    thr = float(levels[len(levels) // 2] + levels[len(levels) // 2 + 1]) / 2
    calls = [dict(score_thr=0.0, nms_thr=0.9), dict(score_thr=thr, nms_thr=0.3)]
    alone = [detector(img, max_size=96, **call) for img, call in zip(images, calls)]
    assert len(alone[0]) > len(alone[1]) > 0  # the first keeps far more boxes: a mix-up would show
    barrier = threading.Barrier(2)
    results = [[], []]
    errors = []

    def worker(k):
        try:
            for _ in range(15):
                barrier.wait(timeout=60)
                results[k].append(detector(images[k], max_size=96, **calls[k]))
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    before = copy.deepcopy(detector.head.test_cfg)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(2):
        assert len(results[k]) == 15
        for got in results[k]:
            _same(got, alone[k])
    assert detector.head.test_cfg == before


def test_call_thresholds_reach_the_head(detector):
    """score_thr and nms_thr of the call are the ones applied (not the config's 0.02 / 0.45)."""
    img = _image(3)
    loose = detector(img, score_thr=0.0, nms_thr=1.0, max_size=96)
    config_nms = detector(img, score_thr=0.0, nms_thr=detector.head.test_cfg.nms.iou_threshold, max_size=96)
    strict = detector(img, score_thr=0.0, nms_thr=0.0, max_size=96)
    levels = np.unique(loose.scores)
    thr = float(levels[len(levels) // 2] + levels[len(levels) // 2 + 1]) / 2  # between two scores: no ties
    high = detector(img, score_thr=thr, nms_thr=1.0, max_size=96)
    assert len(strict) < len(config_nms) < len(loose)
    assert 0 < len(high) < len(loose)
    np.testing.assert_array_equal(np.sort(high.scores), np.sort(loose.scores[loose.scores > thr]))


def test_a_changed_test_cfg_reaches_the_next_call(detector):
    """A call's config is kept for the next calls with the same thresholds: a change of the head's test_cfg between
    calls (here its max_per_img) still applies to the next one, and calls leave the kept config as built."""
    from mmdet_face.apis import face_detector
    img = _image(4)
    before = copy.deepcopy(detector.head.test_cfg)
    full = detector(img, score_thr=0.0, nms_thr=1.0, max_size=96)
    assert detector(img, score_thr=0.0, nms_thr=1.0, max_size=96) is not full  # kept config: same result
    _same(detector(img, score_thr=0.0, nms_thr=1.0, max_size=96), full)
    assert len(full) > 5
    try:
        detector.head.test_cfg.max_per_img = 5
        capped = detector(img, score_thr=0.0, nms_thr=1.0, max_size=96)
        np.testing.assert_array_equal(capped.scores, full.scores[:5])
    finally:
        detector.head.test_cfg = before
    _same(detector(img, score_thr=0.0, nms_thr=1.0, max_size=96), full)
    for (score_thr, nms_thr), (_, kept) in detector._call_cfgs.items():
        assert kept == detector._call_cfg(score_thr, nms_thr)
    for k in range(2 * face_detector.MAX_SHARED_CALL_CFGS):
        detector(img, score_thr=0.01 * k, max_size=96)
    assert len(detector._call_cfgs) <= face_detector.MAX_SHARED_CALL_CFGS


def test_keypoint_count_comes_from_the_head():
    cfg = Config.fromfile(TOY)
    cfg.model.bbox_head.num_keypoints = 3
    det = FaceDetector(cfg)
    assert det.num_keypoints == 3
    faces = det(_image(4), score_thr=0.0, max_size=64)
    assert len(faces) > 0 and faces.keypoints.shape == (len(faces), 3, 2)


def _resize_index(pipeline):
    return next(i for i, step in enumerate(pipeline) if 'Resize' in step['type'])


@pytest.mark.parametrize('kind', ['Resize', 'FaceResize', 'mmdet.Resize'])
def test_max_size_replaces_the_resize_step(kind):
    """max_size reaches the test pipeline's resize whatever name it is written with."""
    cfg = Config.fromfile(TOY)
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline[_resize_index(pipeline)]['type'] = kind
    det = FaceDetector(cfg)
    packed = det._pipeline(64)(dict(img=_image(5, (120, 160, 3)), img_id=0))
    assert tuple(packed['data_samples'].img_shape) == (48, 64)
    packed = det._pipeline(None)(dict(img=_image(5, (120, 160, 3)), img_id=0))
    assert tuple(packed['data_samples'].img_shape) == (240, 320)  # the config's (320, 320), aspect kept
