"""The two box votes of the face test-time augmentations, side by side.

Box voting merges the detections of all test views: the highest-scoring remaining box takes every remaining box
that overlaps it enough; the group becomes its score-weighted mean box with the group's maximum score.

* :func:`box_vote` (:class:`~mmdet_face.models.test_time_augs.FaceTTAModel`, ``merge='vote'``): the S3FD /
  PyramidBox / SRN evaluation scripts' vote on torch tensors, carrying landmarks (weighted like the boxes).
* :func:`release_bbox_vote` (:class:`~mmdet_face.models.test_time_augs.DSFDReleaseTTAModel`): the DSFD release's
  ``bbox_vote`` (Tencent/FaceDetection-DSFD ``widerface_val.py``), reproduced number for number.

Where they differ:

============================  ==========================================  ==========================================
                              ``box_vote``                                ``release_bbox_vote``
============================  ==========================================  ==========================================
input                         torch ``(N, 4)`` boxes, ``(N,)`` scores,    numpy ``(N, 5)`` x1, y1, x2, y2, score;
                              optional ``(N, K, 2)`` landmarks; input     float64
                              dtype
IoU                           mmdet ``bbox_overlaps``: sides ``x2 - x1``  sides ``x2 - x1 + 1`` (the release's pixel
                                                                          convention)
visiting order                ``torch.argsort`` of the scores,            numpy ``argsort`` of the scores reversed
                              descending                                  (equal scores: the later box first)
group of one box              dropped (``drop_single``) unless no other   always dropped
                              box is left: the last one is kept
cap                           none (``FaceTTAModel`` applies              ``max_dets`` (750)
                              ``max_per_img``)
============================  ==========================================  ==========================================

Both group with ``IoU >= iou_threshold`` (0.3 in the scripts), always put the top box in its own group (a box with
NaN or infinite sides joins no other) and return the merged boxes by decreasing score. Two boxes ``[0, 0, 9, 9]``
(0.9) and ``[0, 0, 9, 4]`` (0.6) at 0.5 show the differences: IoU 36 / 81 = 0.44 without +1, so ``box_vote``
drops the first (alone, another box left) and keeps the second (alone, the last); IoU 50 / 100 = 0.5 with +1, so
``release_bbox_vote`` merges them into ``[0, 0, 9, 7]`` with score 0.9.
"""
import numpy as np
import torch
from mmdet.structures.bbox import bbox_overlaps


def box_vote(bboxes: torch.Tensor, scores: torch.Tensor, keypoints=None, iou_threshold: float = 0.3,
             drop_single: bool = True):
    """Box voting: the highest-scoring box takes every remaining box with IoU >= ``iou_threshold``; the group's
    box (and landmarks) become their score-weighted mean and its score the group's maximum.

    ``drop_single`` follows the reference scripts, which discard a group of one box (a detection no other view
    confirmed) unless it is the last one left.

    Returns:
        tuple: (M, 4) boxes, (M,) scores and (M, 5, 2) keypoints or None, sorted by score.
    """
    order = torch.argsort(scores, descending=True)
    bboxes, scores = bboxes[order], scores[order]
    keypoints = keypoints[order] if keypoints is not None else None
    alive = torch.ones(len(scores), dtype=torch.bool, device=scores.device)
    out_boxes, out_scores, out_kps = [], [], []
    ious = bbox_overlaps(bboxes, bboxes)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (ious[i] >= iou_threshold)
        group[i] = True
        alive &= ~group
        if drop_single and int(group.sum()) == 1 and bool(alive.any()):
            continue
        weights = scores[group][:, None]
        out_boxes.append((bboxes[group] * weights).sum(0) / weights.sum())
        out_scores.append(scores[group].max())
        if keypoints is not None:
            out_kps.append((keypoints[group] * weights[:, :, None]).sum(0) / weights.sum())
    if not out_scores:
        empty_kps = keypoints.new_zeros((0, *keypoints.shape[1:])) if keypoints is not None else None
        return bboxes.new_zeros((0, 4)), scores.new_zeros((0,)), empty_kps
    return (torch.stack(out_boxes), torch.stack(out_scores),
            torch.stack(out_kps) if keypoints is not None else None)


def release_bbox_vote(dets: np.ndarray, iou_threshold: float = 0.3, max_dets: int = 750) -> np.ndarray:
    """The release's ``bbox_vote`` on (N, 5) ``x1, y1, x2, y2, score`` float64 detections.

    Boxes are visited by decreasing score (numpy's default ``argsort`` of the scores, reversed, as the release
    sorts). The top remaining box takes itself and every remaining box whose IoU with it, with +1 sides, is
    >= ``iou_threshold``; a cluster of one box is dropped, any other becomes the score-weighted mean box with the
    cluster's maximum score. The first ``max_dets`` results are kept.

    Returns:
        (M, 5) float64, in decreasing score order.
    """
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    dets = dets[dets[:, 4].argsort()[::-1]]
    merged = []
    while len(dets):
        x1, y1, x2, y2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
        with np.errstate(invalid='ignore', over='ignore'):   # inf - inf of a box with infinite sides: NaN IoU
            areas = (x2 - x1 + 1) * (y2 - y1 + 1)
            inter_w = np.maximum(0.0, np.minimum(x2[0], x2) - np.maximum(x1[0], x1) + 1)
            inter_h = np.maximum(0.0, np.minimum(y2[0], y2) - np.maximum(y1[0], y1) + 1)
            inter = inter_w * inter_h
            iou = inter / (areas[0] + areas - inter)
        in_cluster = iou >= iou_threshold
        # the top box always belongs to its own cluster (IoU 1); only a box with infinite or NaN coordinates gives
        # NaN there, on which the release's loop never ends
        in_cluster[0] = True
        cluster, dets = dets[in_cluster], dets[~in_cluster]
        if len(cluster) <= 1:
            continue
        weights = cluster[:, 4:5]
        box = (cluster[:, :4] * weights).sum(axis=0) / weights.sum()
        merged.append(np.append(box, cluster[:, 4].max()))
    return np.asarray(merged, dtype=np.float64).reshape(-1, 5)[:max_dets]
