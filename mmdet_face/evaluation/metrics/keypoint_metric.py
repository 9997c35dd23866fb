"""Landmark error of a face detector: NME of the ``NUM_KEYPOINTS`` (5) keypoints over detected faces.

For every ground-truth face with all landmarks annotated, the highest-scoring detection that overlaps it with
IoU >= ``iou_thr`` (greedy, each detection used once) is its match. The error of a match is the mean Euclidean
distance of the 5 predicted landmarks to the annotated ones divided by ``sqrt(w * h)`` of the ground-truth box.
Reported: ``nme`` (mean over matched faces) and ``matched`` (fraction of annotated faces that found a detection).

Faces with any landmark missing (weight 0) are not scored, so a validation set without landmarks (a format that has
none, or labelv2 faces with ``-1`` points) has nothing to score: both values are NaN and a warning says why (no
faces with landmarks, a model that predicts none, or no face with landmarks detected), never a number made of
nothing.
"""
import logging
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmdet_face.keypoints import NUM_KEYPOINTS
from mmdet_face.registry import METRICS


def _iou(boxes_a, boxes_b):
    """IoU of (N, 4) and (M, 4) x1y1x2y2 boxes (continuous pixels, no +1)."""
    lt = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    rb = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def match_keypoint_errors(gt_bboxes, gt_keypoints, gt_keypoint_weights, pred_bboxes, pred_scores,
                          pred_keypoints, iou_thr=0.5):
    """Normalised landmark errors of one image.

    Args:
        gt_bboxes (ndarray): (N, 4) x1y1x2y2. gt_keypoints (ndarray): (N, 5, 2).
        gt_keypoint_weights (ndarray): (N, 5); faces with any zero weight are skipped.
        pred_bboxes (ndarray): (M, 4). pred_scores (ndarray): (M,). pred_keypoints (ndarray): (M, 5, 2).

    Returns:
        tuple[ndarray, int]: errors of the matched faces and the number of annotated faces.
    """
    for name, kps, count in (('gt_keypoints', gt_keypoints, len(gt_bboxes)),
                             ('pred_keypoints', pred_keypoints, len(pred_bboxes))):
        if np.shape(kps) != (count, NUM_KEYPOINTS, 2):
            raise ValueError(f'{name}: expected shape ({count}, {NUM_KEYPOINTS}, 2), got {np.shape(kps)}')
    annotated = np.all(gt_keypoint_weights > 0, axis=1)
    gt_bboxes, gt_keypoints = gt_bboxes[annotated], gt_keypoints[annotated]
    if len(gt_bboxes) == 0 or len(pred_bboxes) == 0:
        return np.zeros(0), len(gt_bboxes)
    order = np.argsort(-pred_scores, kind='stable')
    ious = _iou(pred_bboxes[order], gt_bboxes)
    taken = np.zeros(len(gt_bboxes), bool)
    errors = []
    for det, row in zip(order, ious):
        row = np.where(taken, -1, row)
        best = int(np.argmax(row))
        if row[best] < iou_thr:
            continue
        taken[best] = True
        w, h = gt_bboxes[best, 2:] - gt_bboxes[best, :2]
        dist = np.linalg.norm(pred_keypoints[det] - gt_keypoints[best], axis=1).mean()
        errors.append(dist / np.sqrt(max(w * h, 1e-12)))
    return np.asarray(errors), len(gt_bboxes)


@METRICS.register_module()
class FaceKeypointMetric(BaseMetric):
    """Normalised mean landmark error (NME) of detected faces. See the module docstring."""
    default_prefix: Optional[str] = 'landmarks'

    def __init__(self, iou_thr: float = 0.5, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thr = iou_thr

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Per image: ``(errors, faces with all landmarks, ground-truth faces, whether the model predicts
        keypoints)``."""
        for sample in data_samples:
            pred, gt = sample['pred_instances'], sample['gt_instances']
            num_faces = len(gt['labels'])
            if 'keypoints' not in pred or 'keypoints' not in gt:
                self.results.append((np.zeros(0), 0, num_faces, 'keypoints' in pred))
                continue
            # The test pipelines load annotations after Resize, so ground truth is in original-image pixels,
            # like the predictions (rescale=True).
            errors, num = match_keypoint_errors(
                gt['bboxes'].cpu().numpy(), gt['keypoints'].cpu().numpy(), gt['keypoints_weights'].cpu().numpy(),
                pred['bboxes'].cpu().numpy(), pred['scores'].cpu().numpy(), pred['keypoints'].cpu().numpy(),
                self.iou_thr)
            self.results.append((errors, num, num_faces, True))

    def compute_metrics(self, results: list) -> dict:
        errors = np.concatenate([r[0] for r in results]) if results else np.zeros(0)
        total = sum(r[1] for r in results)
        if not results:
            why = 'no images were evaluated'
        elif not any(r[3] for r in results):
            why = f'the model predicts no landmarks ({len(results)} images)'
        elif total == 0:
            why = (f'no faces with landmarks: none of the {sum(r[2] for r in results)} ground-truth faces of the '
                   f'{len(results)} images has all {NUM_KEYPOINTS} landmarks annotated')
        elif len(errors) == 0:
            why = f'none of the {total} faces with landmarks was detected (IoU >= {self.iou_thr:g})'
        else:
            why = None
        if why is not None:
            print_log(f'{type(self).__name__}: nothing to score, nme and matched are NaN: {why}', logger='current',
                      level=logging.WARNING)
        return dict(nme=float(errors.mean()) if len(errors) else float('nan'),
                    matched=float(len(errors) / total) if total else float('nan'))
