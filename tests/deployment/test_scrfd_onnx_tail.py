"""The compiled SCRFD tail of the onnxruntime backend (mmdet_face/deployment/scrfd_onnx_tail.py) against the head's
own path on the real photos: the released SCRFD-500M-kps file (letterbox 640) and our dynamic export of its converted
weights (a padded batch of three photos of different sizes), at the evaluation threshold 0.02 (1,000-2,000 faces:
the sweep NMS) and at 0.5 (tens of faces: mmcv's NMS, as in the head). The detections are bitwise the head's; our
export also matches PyTorch on the same weights within the issue's bound (1e-4 px / 1e-5 score, see
tests/helpers/detections.py). Then the detector's own calls, which run bound to this thread's preallocated arrays,
from one thread and from four at once; the test configs the tail does not cover; its stable orders."""
import numpy as np
import pytest
import torch

from mmdet_face.apis.face_detector import read_image
from mmdet_face.deployment import scrfd_onnx_tail
from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
from tests.helpers.detections import assert_identical, assert_same
from tests.helpers.paths import REPO_ROOT, shared_path

pytest.importorskip('onnxruntime')
pytest.importorskip('numba')

CONFIG = str(REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py')
PHOTOS = ('0_Parade_marchingband_1_765.jpg', '0_Parade_Parade_0_873.jpg',
          '11_Meeting_Meeting_11_Meeting_Meeting_11_176.jpg', 'test.jpg')


def photos():
    return [read_image(str(shared_path('real', 'images', name))) for name in PHOTOS]


def released():
    return str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx'))


def head_path(detector, outputs, hw, metas, cfg):
    """The reference: the head's predict_by_feat and face tail on the maps, then FaceDetector.finish."""
    return detector.decode(detector.network.to_head_inputs(outputs, hw), metas, cfg)


def check_batch(detector, images, max_size=None):
    """The compiled tail gives bitwise the head path's detections for one batch, at 0.02 and 0.5."""
    inputs, metas = detector.preprocess(images, max_size)
    outputs, hw = detector.network.run(inputs.numpy()), tuple(inputs.shape[2:])
    counts = {}
    for thr in (0.02, 0.5):
        cfg = detector._call_cfg(thr, 0.4)
        assert detector.network.detections_apply(cfg, metas)
        fast = detector.network.to_detections(outputs, hw, metas, cfg)
        assert fast is not None and len(fast) == len(images)
        for i, (a, b) in enumerate(zip(fast, head_path(detector, outputs, hw, metas, cfg))):
            assert_identical(a, b, f'score_thr={thr} image {i}')
            assert a.bboxes.dtype == a.scores.dtype == a.keypoints.dtype == np.float32
            assert a.keypoints.shape == (len(a), 5, 2)
        counts[thr] = [len(faces) for faces in fast]
    return counts


def test_released_file_bitwise_the_head_path():
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    for name, image in zip(PHOTOS, photos()):
        counts = check_batch(detector, [image])
        # 0.02: above MIN_BOXES_FOR_SWEEP, the compiled sweep; 0.5: below it, mmcv's NMS on the decoded boxes
        assert counts[0.02][0] > 500 and 5 < counts[0.5][0] < 200, (name, counts)
    assert counts[0.02] == [1246]  # test.jpg: the README's count at 640


def test_our_dynamic_export_batch_of_three_sizes(tmp_path):
    from mmdet_face.apis import FaceDetector
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment import convert_scrfd_onnx
    from mmdet_face.deployment.scrfd_onnx_export import export_scrfd_onnx
    checkpoint, exported = str(tmp_path / 'scrfd.pth'), str(tmp_path / 'scrfd_dynamic.onnx')
    convert_scrfd_onnx(released(), CONFIG, checkpoint)
    export_scrfd_onnx(init_face_detector(CONFIG, checkpoint), exported, dynamic=True)
    detector = OnnxFaceDetector(CONFIG, exported, ort_threads=1)
    images = photos()[1:]
    assert len({img.shape for img in images}) == 3
    counts = check_batch(detector, images, max_size=640)
    assert min(counts[0.02]) > 500 and min(counts[0.5]) > 5
    # the detector's own call (bound run, compiled tail) against PyTorch on the same weights and batch
    pytorch = FaceDetector(CONFIG, checkpoint)
    for thr in (0.02, 0.5):
        for name, a, b in zip(PHOTOS[1:], pytorch(images, score_thr=thr, max_size=640),
                              detector(images, score_thr=thr, max_size=640)):
            assert_same(a, b, f'{name} score_thr={thr}')


def test_calls_bound_to_reused_arrays_give_each_call_its_own_result():
    """The detector's calls write the batch into this thread's input array and read the outputs from its output
    arrays, both reused from call to call: every call still gives its own image's detections (the head path on a
    plain run), photo after photo, twice round."""
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    images = photos()
    expected = []
    for image in images:
        inputs, metas = detector.preprocess([image])
        outputs = detector.network.run(inputs.numpy())
        expected.append(head_path(detector, outputs, tuple(inputs.shape[2:]), metas,
                                  detector._call_cfg(0.02, 0.4))[0])
    for _ in range(2):
        for name, image, reference in zip(PHOTOS, images, expected):
            assert_identical(detector(image, score_thr=0.02), reference, name)
    bindings = detector.network._bindings.by_shape
    assert list(bindings) == [(1, 3, 640, 640)] and bindings[(1, 3, 640, 640)].io not in (None, False)


def test_threads_calling_at_once_get_their_own_results():
    """Four threads call one detector at once, three times each, each on its own photo: each thread's bound arrays
    are its own, so every call gives its photo's detections."""
    from concurrent.futures import ThreadPoolExecutor
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    images = photos()
    expected = [detector(image, score_thr=0.02) for image in images]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: [detector(images[k], score_thr=0.02) for _ in range(3)], range(4)))
    for name, calls, reference in zip(PHOTOS, results, expected):
        for faces in calls:
            assert_identical(faces, reference, name)


def test_configs_the_tail_does_not_cover_take_the_head_path():
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    inputs, metas = detector.preprocess(photos()[3:])
    outputs, hw = detector.network.run(inputs.numpy()), tuple(inputs.shape[2:])
    options = (dict(nms=dict(type='soft_nms', iou_threshold=0.4)),
               dict(nms=dict(type='nms', iou_threshold=0.4, offset=1)), dict(score_thr=0.0), dict(nms_pre=100))
    for option in options:
        cfg = detector._call_cfg(0.3, 0.4)
        cfg.update(option)
        assert detector.network.to_detections(outputs, hw, metas, cfg) is None, option
        assert_identical(detector.decode_outputs(outputs, hw, metas, cfg)[0],
                         head_path(detector, outputs, hw, metas, cfg)[0], str(option))
    without_scale = [{k: v for k, v in metas[0].items() if k != 'scale_factor'}]
    assert not detector.network.detections_apply(detector._call_cfg(0.3, 0.4), without_scale)


def test_a_call_asks_whether_the_tail_applies_once(monkeypatch):
    """The detector's call decides bound or plain run by whether the tail applies and passes that on: the check
    runs once per batch (it ran again inside the tail before). A verdict given as False skips the tail."""
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    image = photos()[3]
    reference = detector(image, score_thr=0.02)
    calls = []
    check = scrfd_onnx_tail.applies
    monkeypatch.setattr(scrfd_onnx_tail, 'applies', lambda *args: calls.append(1) or check(*args))
    assert_identical(detector(image, score_thr=0.02), reference, 'counted')
    assert len(calls) == 1
    inputs, metas = detector.preprocess([image])
    outputs, hw = detector.network.run(inputs.numpy()), tuple(inputs.shape[2:])
    cfg = detector._call_cfg(0.02, 0.4)
    assert detector.network.to_detections(outputs, hw, metas, cfg, applicable=False) is None
    assert_identical(detector.decode_outputs(outputs, hw, metas, cfg, applicable=False)[0], reference, 'head path')


def test_stable_orders_match_the_stable_sorts():
    """By decreasing score and by increasing x1, ties in row order (torch's and numpy's stable sorts), -0.0 as
    0.0; a NaN or a negative value gives empty orders (the caller hands the NMS to mmcv)."""
    rng = np.random.default_rng(0)
    scores = rng.choice(np.float32([0.02, 0.5, 0.7, 1.0]), 500).astype(np.float32)  # many ties
    boxes = np.zeros((500, 4), np.float32)
    boxes[:, 0] = rng.choice(np.float32([0.0, -0.0, 3.5, 100.25]), 500)
    by_score, by_x = scrfd_onnx_tail._stable_orders(scores, boxes)
    expected = torch.sort(torch.from_numpy(scores), descending=True, stable=True)[1].numpy()
    np.testing.assert_array_equal(by_score, expected)
    np.testing.assert_array_equal(by_x, np.argsort(boxes[:, 0], kind='stable'))
    for bad in (np.nan, -1.0):
        broken = boxes.copy()
        broken[7, 0] = bad
        assert scrfd_onnx_tail._stable_orders(scores, broken)[0].shape == (0,)
    # every byte of the keys varies (and +inf), one row, none
    for n in (5000, 1, 0):
        scores = np.abs(rng.standard_cauchy(n)).astype(np.float32)
        boxes = np.abs(rng.normal(0, 300, (n, 4))).astype(np.float32)
        if n > 1:
            scores[:3], boxes[:3, 0] = np.inf, np.inf
        by_score, by_x = scrfd_onnx_tail._stable_orders(scores, boxes)
        expected = torch.sort(torch.from_numpy(scores), descending=True, stable=True)[1].numpy()
        np.testing.assert_array_equal(by_score, expected)
        np.testing.assert_array_equal(by_x, np.argsort(boxes[:, 0], kind='stable'))


@pytest.mark.parametrize('spread', [1, 1 << 8, 1 << 16, 1 << 32])
def test_radix_order_is_a_stable_argsort(spread):
    """Keys whose high bytes are all equal (those passes skipped) or all differ; plain Python and compiled."""
    keys = np.random.default_rng(spread % 7).integers(0, spread, 3000).astype(np.uint32)
    expected = np.argsort(keys, kind='stable')
    np.testing.assert_array_equal(scrfd_onnx_tail._radix_order(keys), expected)
    np.testing.assert_array_equal(scrfd_onnx_tail._radix_order_py(keys[:300]), expected[expected < 300])


def test_bound_arrays_are_kept_for_few_small_shapes(monkeypatch):
    """A thread keeps bound arrays for MAX_BOUND_SHAPES input shapes at most, and none for inputs over
    MAX_BOUND_INPUT_BYTES (those run unbound, with the same detections)."""
    from mmdet_face.deployment import onnx_runtime
    detector = OnnxFaceDetector(CONFIG, released(), ort_threads=1)
    network = detector.network
    assert network.input_buffer((1, 3, 640, 640)) is network.input_buffer((1, 3, 640, 640))
    assert network.input_buffer((2, 3, 640, 640)) is None  # the released graph takes batches of one
    for side in (32, 64, 96):
        network.input_buffer((1, 3, side, side))
    assert len(network._bindings.by_shape) <= onnx_runtime.MAX_BOUND_SHAPES
    image = photos()[3]
    reference = detector(image, score_thr=0.02)
    monkeypatch.setattr(onnx_runtime, 'MAX_BOUND_INPUT_BYTES', 4 * 3 * 640 * 640 - 1)
    assert network.input_buffer((1, 3, 640, 640)) is None
    assert_identical(detector(image, score_thr=0.02), reference, 'unbound')
