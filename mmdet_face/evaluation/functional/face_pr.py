"""AFW and PASCAL Face: the precision-recall curve and AP of the evaluation toolbox of Mathias et al., "Face detection
without bells and whistles", ECCV 2014 (``marcopede/face-eval``: ``plot_AP.py``, ``VOCpr.py``, ``util.py``), for the
re-annotated ground truth (:mod:`.afw_pascal_files` reads it). Pure numpy, no file I/O.

The toolbox's rules, all reproduced:

* ground truth: a face narrower than ``min_width`` or lower than ``min_height`` (width ``x2 - x1``, height
  ``y2 - y1``; 30 x 30 by default) becomes an ignored face, as the faces flagged in the annotation file are;
* detections: sorted by score, highest first (equal scores keep their input order), then those whose width and
  height are both at most ``int(sqrt(0.5 * min_width * min_height))`` (21 px by default) are dropped;
* matching, one detection at a time: the overlap with every face of its image is VOC's with inclusive pixel
  coordinates (areas ``(x2 - x1 + 1) * (y2 - y1 + 1)``, the intersection counted only when the boxes overlap
  strictly); the face of highest overlap is chosen (the last one among equals, ignored faces included). Above
  ``iou_thresh`` (strictly) the detection is a true positive if that face is counted and still free, a false
  positive if it was already taken, and neither if the face is ignored; at or below, and in an image without
  faces, it is a false positive;
* box adjustment: the evaluation runs ``iterations`` times (5 by default). After each run every detection is moved
  and scaled by the mean offset of the true positives from their faces (centre shift over the detection size,
  size ratio), so a detector with another box convention than the annotations' is not penalised; the curve is
  that of the last run (``iterations - 1`` adjustments). A run without any true positive makes the toolbox's
  adjustment NaN, after which every detection is a false positive: reproduced as such;
* the curve has one point per kept detection: recall ``cumsum(tp) / num_gt``, precision
  ``cumsum(tp) / (cumsum(tp) + cumsum(fp))`` (NaN while only detections of ignored faces have been seen); AP is the
  area under the interpolated curve (VOC 2010+: ``VOCap``), not the 11-point one.

Boxes are ``x1, y1, x2, y2`` float pixels; image keys are what :func:`image_key` makes of a file name.
"""
import math
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

__all__ = ['FACE_PR_MIN_SIZE', 'detection_min_side', 'evaluate_face_pr', 'image_key', 'voc_area_ap']

# plot_AP.py's --minw / --minh defaults
FACE_PR_MIN_SIZE = (30, 30)


def image_key(name: str) -> str:
    """The toolbox's key of an image: the file name without ``/``-separated folders, cut at its first dot
    (``'x/2007_000272.jpg'`` -> ``'2007_000272'``)."""
    return name.split('/')[-1].split('.')[0]


def detection_min_side(min_width: float, min_height: float) -> int:
    """``int(sqrt(0.5 * min_width * min_height))``: a detection is kept when its width or its height exceeds it."""
    return int(math.sqrt(0.5 * min_width * min_height))


def voc_area_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC area AP (``VOCpr.VOCap``): the area under the precision envelope, recall padded with 0 and 1 and
    precision with 0 and 0. NaN precisions (only ever at the start, where the recall is 0) count for nothing."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    # the running maximum from the right; NaNs only precede the first counted detection, where the recall is 0
    # and no area is summed, so skipping them (fmax) changes no summed value
    mpre[1:-1] = np.fmax.accumulate(mpre[::-1])[::-1][1:-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


def _overlaps(dets: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``util.overlap`` of detections ``(M, 4)`` with faces ``(K, 4)`` as ``(M, K)``, both x1y1x2y2, inclusive
    pixels (the toolbox's operations, so the values are the same to the bit)."""
    d, g = dets[:, None, :], faces[None, :, :]
    a1 = (np.abs(d[..., 0] - d[..., 2]) + 1) * (np.abs(d[..., 1] - d[..., 3]) + 1)
    a2 = (np.abs(g[..., 0] - g[..., 2]) + 1) * (np.abs(g[..., 1] - g[..., 3]) + 1)
    meet = (d[..., 3] > g[..., 1]) & (g[..., 3] > d[..., 1]) & (d[..., 2] > g[..., 0]) & (g[..., 2] > d[..., 0])
    iw = np.minimum(d[..., 2], g[..., 2]) - np.maximum(d[..., 0], g[..., 0]) + 1
    ih = np.minimum(d[..., 3], g[..., 3]) - np.maximum(d[..., 1], g[..., 1]) + 1
    inter = np.where(meet, iw * ih, 0.0)
    return inter / (a1 + a2 - inter)


def _match(gt: Dict[str, Tuple[np.ndarray, np.ndarray]], keys: Sequence[str], boxes: np.ndarray, iou_thresh: float):
    """One run of ``VOCprRecordOptim``: tp / fp per detection (in the given order, highest score first) and the
    per-true-positive offsets ``(tx, ty, sx, sy)`` as ``(4, num_tp)`` in detection order.

    The toolbox walks the detections one by one; a detection's outcome depends only on the earlier ones of its
    image (which faces they took), so each image is done at once: the first detection (in order) above the
    threshold on a counted face takes it, later ones on that face are false positives."""
    n = len(keys)
    tp = np.zeros(n)
    fp = np.zeros(n)
    by_image: Dict[str, list] = {}
    for i, key in enumerate(keys):
        by_image.setdefault(key, []).append(i)
    hits, hit_faces = [], []
    for key, rows in by_image.items():
        rows = np.asarray(rows)
        faces, ignored = gt.get(key, (None, None))
        if faces is None or not len(faces):
            fp[rows] = 1
            continue
        ious = _overlaps(boxes[rows], faces)
        best = len(faces) - 1 - np.argmax(ious[:, ::-1], axis=1)  # the last face of highest overlap
        above = ious[np.arange(len(rows)), best] > iou_thresh
        fp[rows[~above]] = 1
        counted = np.flatnonzero(above & ~ignored[best])  # on an ignored face: neither
        taken = np.zeros(len(rows), bool)
        taken[counted[np.unique(best[counted], return_index=True)[1]]] = True  # each face's first detection
        counted = np.isin(np.arange(len(rows)), counted)
        tp[rows[taken]] = 1
        fp[rows[counted & ~taken]] = 1
        hits.append(rows[taken])
        hit_faces.append(faces[best[taken]])
    if not hits:
        return tp, fp, np.zeros((4, 0))
    order = np.argsort(np.concatenate(hits))
    det = boxes[np.concatenate(hits)[order]]
    g = np.concatenate(hit_faces)[order]
    dtx, dty = det[:, 2] - det[:, 0], det[:, 3] - det[:, 1]
    offsets = np.stack([((g[:, 2] + g[:, 0]) / 2. - (det[:, 2] + det[:, 0]) / 2.) / dtx,
                        ((g[:, 3] + g[:, 1]) / 2. - (det[:, 3] + det[:, 1]) / 2.) / dty,
                        (g[:, 2] - g[:, 0]) / dtx, (g[:, 3] - g[:, 1]) / dty])
    return tp, fp, offsets


def _adjust(boxes: np.ndarray, tx: float, ty: float, sx: float, sy: float) -> np.ndarray:
    """``VOCpr.transf_dets``: move each box by ``(tx, ty)`` times its size and scale it by ``(sx, sy)`` about its
    centre (the toolbox's operation order, so the numbers are the same to the bit)."""
    w = (boxes[:, 2] - boxes[:, 0]) / 2.0
    h = (boxes[:, 3] - boxes[:, 1]) / 2.0
    cx = (boxes[:, 2] + boxes[:, 0]) / 2. + tx * w * 2
    cy = (boxes[:, 3] + boxes[:, 1]) / 2. + ty * h * 2
    return np.stack([cx - w * sx, cy - h * sy, cx + w * sx, cy + h * sy], axis=1)


def evaluate_face_pr(ground_truth: Mapping[str, Tuple[np.ndarray, np.ndarray]],
                     image_keys: Sequence[str],
                     scores: np.ndarray,
                     boxes: np.ndarray,
                     min_width: float = FACE_PR_MIN_SIZE[0],
                     min_height: float = FACE_PR_MIN_SIZE[1],
                     iou_thresh: float = 0.5,
                     iterations: int = 5) -> dict:
    """The AFW / PASCAL Face precision-recall curve and AP as ``plot_AP.py`` computes them (module docstring).

    Args:
        ground_truth: ``{image key: (faces (K, 4) x1y1x2y2, ignored (K,) bool)}``, every image of the benchmark
            (images without faces included); the flags are the annotation file's, before the size rule.
        image_keys: ``(N,)`` image key of each detection (:func:`image_key`); a key absent from ``ground_truth``
            makes a false positive, as in the toolbox.
        scores: ``(N,)`` detection scores.
        boxes: ``(N, 4)`` detections, x1y1x2y2 pixels.
        min_width, min_height: the toolbox's ``--minw`` / ``--minh``.
        iou_thresh: the overlap a true positive must exceed (0.5).
        iterations: the toolbox's ``--nit``, runs of the evaluation (``iterations - 1`` box adjustments); >= 1.

    Returns:
        dict with ``ap`` (float), ``recall``, ``precision``, ``scores``, ``tp``, ``fp`` (each ``(M,)``, one entry per
        kept detection, highest score first), ``num_gt`` (counted faces), ``num_dropped`` (detections under the
        size rule) and ``adjustment`` ``(tx, ty, sx, sy)``: the total shift and scale applied before the last run
        (the "Tranformations" the toolbox prints also fold in the one it computes after the last run and never
        applies).

    Raises:
        ValueError: shapes that do not agree, a non-finite score or box, ``iterations < 1``, or no counted face.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keys = [str(k) for k in image_keys]
    if not (len(keys) == len(scores) == len(boxes)):
        raise ValueError(f'evaluate_face_pr: {len(keys)} image keys, {len(scores)} scores and {len(boxes)} boxes; '
                         'expected one of each per detection')
    if not (np.isfinite(scores).all() and np.isfinite(boxes).all()):
        raise ValueError('evaluate_face_pr: expected finite scores and boxes')
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f'evaluate_face_pr: iterations must be an integer >= 1, got {iterations}')
    gt = {}
    num_gt = 0
    for key, (faces, flags) in ground_truth.items():
        faces = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
        ignored = np.asarray(flags, dtype=bool).reshape(-1)
        if len(ignored) != len(faces):
            raise ValueError(f'evaluate_face_pr: image {key!r} has {len(faces)} faces but {len(ignored)} ignore flags')
        small = (np.abs(faces[:, 2] - faces[:, 0]) < min_width) | (np.abs(faces[:, 3] - faces[:, 1]) < min_height)
        ignored = ignored | small
        gt[key] = (faces, ignored)
        num_gt += int((~ignored).sum())
    if num_gt == 0:
        raise ValueError(f'evaluate_face_pr: no face to count: every face of the {len(gt)} images is flagged ignored '
                         f'or smaller than {min_width:g} x {min_height:g}')

    order = np.argsort(-scores, kind='stable')
    min_side = detection_min_side(min_width, min_height)
    wide = boxes[order, 2] - boxes[order, 0]
    high = boxes[order, 3] - boxes[order, 1]
    kept = order[(wide > min_side) | (high > min_side)]
    keys = [keys[i] for i in kept]
    scores, boxes = scores[kept], boxes[kept]

    total = [0.0, 0.0, 1.0, 1.0]
    for run in range(int(iterations)):
        tp, fp, offsets = _match(gt, keys, boxes, iou_thresh)
        if run == iterations - 1:
            break
        if offsets.shape[1] == 0:
            # the toolbox's mean over no true positive is NaN; its NaN boxes match nothing from then on
            tp, fp = np.zeros(len(keys)), np.ones(len(keys))
            total = [math.nan] * 4
            break
        tx, ty, sx, sy = (float(np.mean(v)) for v in offsets)
        total = [total[0] + tx, total[1] + ty, total[2] * sx, total[3] * sy]
        boxes = _adjust(boxes, tx, ty, sx, sy)
    ctp, cfp = np.cumsum(tp), np.cumsum(fp)
    recall = ctp / num_gt
    with np.errstate(invalid='ignore'):
        precision = ctp / (cfp + ctp)
    return dict(ap=voc_area_ap(recall, precision), recall=recall, precision=precision, scores=scores, tp=tp, fp=fp,
                num_gt=num_gt, num_dropped=len(order) - len(kept), adjustment=tuple(total))
