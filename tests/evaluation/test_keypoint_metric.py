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


def _sample(gt_boxes, gt_kps, gt_weights, pred_boxes, pred_scores, pred_kps=None):
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.structures import InstanceData
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    ds = DetDataSample(metainfo=dict(img_shape=(200, 200), ori_shape=(200, 200)))
    ds.gt_instances = InstanceData(bboxes=HorizontalBoxes(t(gt_boxes)), keypoints=t(gt_kps),
                                   keypoints_weights=t(gt_weights), labels=torch.zeros(len(gt_boxes)).long())
    pred = InstanceData(bboxes=t(pred_boxes), scores=t(pred_scores), labels=torch.zeros(len(pred_boxes)).long())
    if pred_kps is not None:
        pred.keypoints = t(pred_kps)
    ds.pred_instances = pred
    return ds


def test_face_keypoint_metric_two_images_hand_computed():
    """Image 1: face A [0, 0, 20, 20] (sqrt area 20) predicted with every landmark shifted by (3, 4): distance 5,
    NME 5 / 20 = 0.25; face B [40, 0, 50, 10] (sqrt area 10) with only the nose off by (6, 8): mean distance
    10 / 5 = 2, NME 0.2; face C lacks a landmark (weight 0): not scored. Image 2: face D [0, 0, 10, 10] has no
    detection with IoU >= 0.5 (the only one is at [5, 0, 15, 10], IoU 1/3): unmatched. A third image whose model
    gives no landmarks (a box-only head) is skipped. NME = (0.25 + 0.2) / 2 = 0.225, matched 2 of 3."""
    from mmengine.evaluator import Evaluator

    from mmdet_face.evaluation.metrics import FaceKeypointMetric
    kps_a, kps_b, kps_c, kps_d = _kps(6, 6), _kps(40, 0), _kps(60, 60), _kps(0, 0)
    pred_b = kps_b.copy()
    pred_b[2] += (6, 8)
    image1 = _sample([[0, 0, 20, 20], [40, 0, 50, 10], [60, 60, 70, 70]], [kps_a, kps_b, kps_c],
                     [[1] * 5, [1] * 5, [1, 1, 0, 1, 1]],
                     [[1, 0, 21, 20], [40, 0, 50, 10], [60, 60, 70, 70]], [0.9, 0.8, 0.7],
                     [kps_a + (3, 4), pred_b, kps_c + (50, 50)])
    image2 = _sample([[0, 0, 10, 10]], [kps_d], [[1] * 5], [[5, 0, 15, 10]], [0.95], [kps_d])
    box_only = _sample([[0, 0, 10, 10]], [kps_d], [[1] * 5], [[0, 0, 10, 10]], [0.95])
    evaluator = Evaluator(FaceKeypointMetric())
    evaluator.process(data_samples=[image1, image2])
    evaluator.process(data_samples=[box_only])
    metrics = evaluator.evaluate(3)
    assert metrics['landmarks/nme'] == pytest.approx(0.225, abs=1e-6)
    assert metrics['landmarks/matched'] == pytest.approx(2 / 3)


def test_face_keypoint_metric_iou_threshold_and_empty():
    from mmdet_face.evaluation.metrics import FaceKeypointMetric
    # IoU of [0, 0, 10, 10] and [5, 0, 15, 10] is 50 / 150 = 1/3: matched at iou_thr 0.3, not at 0.5
    sample = _sample([[0, 0, 10, 10]], [_kps(0, 0)], [[1] * 5], [[5, 0, 15, 10]], [0.9], [_kps(0, 0) + (5, 0)])
    for thr, nme, matched in ((0.3, 0.5, 1.0), (0.5, float('nan'), 0.0)):
        metric = FaceKeypointMetric(iou_thr=thr)
        metric.process(None, [sample.to_dict()])
        out = metric.compute_metrics(metric.results)
        assert out['matched'] == matched
        assert out['nme'] == pytest.approx(nme, nan_ok=True)  # 5 px over sqrt(100)
    assert all(np.isnan(v) for v in FaceKeypointMetric().compute_metrics([]).values())


def test_match_keypoint_errors_rejects_wrong_keypoint_shape():
    with pytest.raises(ValueError, match=r'pred_keypoints: expected shape \(1, 5, 2\)'):
        match_keypoint_errors(np.array([[0, 0, 10, 10]], float), _kps(0, 0)[None], np.ones((1, 5)),
                              np.array([[0, 0, 10, 10]], float), np.array([0.9]), np.zeros((1, 4, 2)))


def _logged(monkeypatch):
    from mmdet_face.evaluation.metrics import keypoint_metric
    logged = []
    monkeypatch.setattr(keypoint_metric, 'print_log', lambda msg, **kw: logged.append((msg, kw.get('level'))))
    return logged


def test_val_set_without_landmarks_says_so_instead_of_a_number(monkeypatch):
    """Every face's landmarks missing (labelv2 "-1 -1 -1", or a format without landmarks: weights 0), and a face with
    only some landmarks (not scored either): NaN for both values and one warning naming the reason."""
    from mmdet_face.evaluation.metrics import FaceKeypointMetric
    logged = _logged(monkeypatch)
    metric = FaceKeypointMetric()
    boxes = [[0, 0, 10, 10], [20, 0, 40, 20]]
    kps = [_kps(0, 0), _kps(20, 0)]
    metric.process(None, [_sample(boxes, kps, [[0] * 5, [1, 1, 1, 0, 0]], boxes, [0.9, 0.8], kps).to_dict(),
                          _sample(boxes[:1], kps[:1], [[0] * 5], boxes[:1], [0.9], kps[:1]).to_dict()])
    out = metric.compute_metrics(metric.results)
    assert np.isnan(out['nme']) and np.isnan(out['matched'])
    assert logged == [('FaceKeypointMetric: nothing to score, nme and matched are NaN: no faces with landmarks: none '
                       'of the 3 ground-truth faces of the 2 images has all 5 landmarks annotated', 30)]


def test_nothing_to_score_names_the_other_reasons(monkeypatch):
    from mmdet_face.evaluation.metrics import FaceKeypointMetric
    logged = _logged(monkeypatch)
    box_only = FaceKeypointMetric()
    box_only.process(None, [_sample([[0, 0, 10, 10]], [_kps(0, 0)], [[1] * 5], [[0, 0, 10, 10]], [0.9]).to_dict()])
    assert np.isnan(box_only.compute_metrics(box_only.results)['nme'])
    missed = FaceKeypointMetric()
    missed.process(None, [_sample([[0, 0, 10, 10]], [_kps(0, 0)], [[1] * 5], [[50, 50, 60, 60]], [0.9],
                                  [_kps(50, 50)]).to_dict()])
    out = missed.compute_metrics(missed.results)
    assert np.isnan(out['nme']) and out['matched'] == 0.0
    assert [msg.split(': ', 2)[2] for msg, _ in logged] == [
        'the model predicts no landmarks (1 images)', 'none of the 1 faces with landmarks was detected (IoU >= 0.5)']
    logged.clear()
    scored = FaceKeypointMetric()
    scored.process(None, [_sample([[0, 0, 10, 10]], [_kps(0, 0)], [[1] * 5], [[0, 0, 10, 10]], [0.9],
                                  [_kps(0, 0)]).to_dict()])
    assert scored.compute_metrics(scored.results) == dict(nme=0.0, matched=1.0) and logged == []
