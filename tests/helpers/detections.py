"""Compare two detectors' :class:`~mmdet_face.apis.FaceDetections` of one image, order-free.

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
