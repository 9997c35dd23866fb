import numpy as np
import pytest

from mmdet_face.evaluation.metrics.keypoint_metric import match_keypoint_errors


def _kps(x, y):
    return np.array([[x + 3, y + 4], [x + 7, y + 4], [x + 5, y + 6], [x + 3, y + 8], [x + 7, y + 8]], float)


def test_match_keypoint_errors_hand_computed():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 0, 40, 20], [100, 100, 110, 110]], float)
    gt_kps = np.stack([_kps(0, 0), _kps(20, 0), _kps(100, 100)])
    weights = np.ones((3, 5))
    weights[2, 0] = 0  # third face lacks a landmark: not scored
    # det 0 hits face 0 shifted by (3, 4) -> distance 5, box area 100 -> error 5 / 10 = 0.5
    # det 1 (lower score) duplicates face 0: face 0 is taken, IoU with face 1 is 0 -> unmatched
    # det 2 hits face 1 exactly -> error 0; det 3 is far from everything
    pred_boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 0, 40, 20], [300, 300, 310, 310]], float)
    pred_scores = np.array([0.9, 0.8, 0.7, 0.6])
    pred_kps = np.stack([_kps(3, 4), _kps(0, 0), _kps(20, 0), _kps(300, 300)])
    errors, num = match_keypoint_errors(gt_boxes, gt_kps, weights, pred_boxes, pred_scores, pred_kps)
    assert num == 2
    np.testing.assert_allclose(sorted(errors), [0.0, 0.5])


def test_match_keypoint_errors_picks_highest_score_first():
    gt_boxes = np.array([[0, 0, 10, 10]], float)
    pred_boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    pred_kps = np.stack([_kps(0, 0), _kps(1, 0)])  # the higher-scoring one is 1 px off
    errors, _ = match_keypoint_errors(gt_boxes, _kps(0, 0)[None], np.ones((1, 5)), pred_boxes,
                                      np.array([0.1, 0.9]), pred_kps)
    assert errors == pytest.approx([0.1])
