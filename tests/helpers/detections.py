"""Compare two detectors' :class:`~mmdet_face.apis.FaceDetections` of one image, order-free
(:func:`detection_differences`), and assert that they agree (:func:`assert_same`).

Detections whose scores tie to float rounding may come out of the NMS in either order, so they are paired by an
optimal assignment (scipy's ``linear_sum_assignment``) on the largest coordinate difference before the differences
are measured."""
import numpy as np


def detection_differences(a, b):
    """``dict(count=(len(a), len(b)), box=, score=, keypoints=)``: the largest absolute differences (pixels, score
    units) between paired detections; ``box`` etc. are None when the counts differ. Keypoints are compared when
    both have them."""
    from scipy.optimize import linear_sum_assignment
    out = dict(count=(len(a), len(b)), box=None, score=None, keypoints=None)
    if len(a) != len(b):
        return out
    if len(a) == 0:
        return dict(out, box=0.0, score=0.0, keypoints=0.0)
    cost = np.abs(a.bboxes[:, None, :].astype(np.float64) - b.bboxes[None, :, :]).max(-1)
    cost += np.abs(a.scores[:, None].astype(np.float64) - b.scores[None, :]) * 1e3
    rows, cols = linear_sum_assignment(cost)
    out['box'] = float(np.abs(a.bboxes[rows] - b.bboxes[cols]).max())
    out['score'] = float(np.abs(a.scores[rows] - b.scores[cols]).max())
    if a.keypoints is not None and b.keypoints is not None:
        out['keypoints'] = float(np.abs(a.keypoints[rows] - b.keypoints[cols]).max())
    return out


def tolerance(*detections):
    """1e-4 px, or 4 float32 ulps of the largest coordinate where that is more (1 ulp is 6.1e-5 px between 512 and
    1024 px, 1.2e-4 px between 1024 and 2048 px)."""
    largest = max([float(np.abs(d.bboxes).max(initial=0)) for d in detections] +
                  [float(np.abs(d.keypoints).max(initial=0)) for d in detections if d.keypoints is not None])
    return max(1e-4, 4 * float(np.spacing(np.float32(largest))))


def assert_same(pytorch, onnx, label, plain=None):
    """Assert that two detectors found the same faces in one image: same count (at least one), scores within 1e-5,
    boxes and keypoints within :func:`tolerance` or, with ``plain`` (the PyTorch model without its exact rewrites),
    within twice what those rewrites move the boxes by (the float32 noise floor of the network). Prints and returns
    the differences (:func:`detection_differences`)."""
    diff = detection_differences(pytorch, onnx)
    floor = None if plain is None else detection_differences(pytorch, plain)
    print(f'{label}: {diff}' + ('' if floor is None else f'; PyTorch optimize on / off: box {floor["box"]}'))
    assert diff['count'][0] > 0, f'{label}: no detection, the comparison would say nothing'
    assert diff['count'][0] == diff['count'][1], diff
    tol = tolerance(pytorch, onnx)
    if floor is not None and floor['box'] is not None:
        tol = max(tol, 2 * floor['box'])
    assert diff['box'] <= tol and diff['score'] <= 1e-5, (diff, tol)
    assert (pytorch.keypoints is None) == (onnx.keypoints is None)
    if pytorch.keypoints is not None:
        assert diff['keypoints'] <= tol, (diff, tol)
    return diff


def assert_identical(a, b, label):
    """Two FaceDetections bit for bit: boxes, scores and keypoints, in the same order."""
    assert len(a) == len(b), label
    np.testing.assert_array_equal(a.bboxes, b.bboxes, err_msg=label)
    np.testing.assert_array_equal(a.scores, b.scores, err_msg=label)
    assert (a.keypoints is None) == (b.keypoints is None), label
    if a.keypoints is not None:
        np.testing.assert_array_equal(a.keypoints, b.keypoints, err_msg=label)
