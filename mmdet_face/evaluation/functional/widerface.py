"""The WIDER FACE validation protocol (Easy / Medium / Hard AP), in numpy only.

Reference: Yang, Luo, Loy, Tang, "WIDER FACE: A Face Detection Benchmark", CVPR 2016, and its official MATLAB
evaluation kit (``eval_tools/``: ``read_pred.m``, ``norm_score.m``, ``evaluation.m``, ``boxoverlap.m``,
``VOCap.m``), of which ``wondervictor/WiderFace-Evaluation`` is the widely used Python port.

This file imports neither torch nor mmengine: anyone can score any detector's submission folder with it.

What the kit does, and what this module reproduces exactly (results agree to the last bit in practice; the tests
check 1e-9 against a line-by-line re-implementation of the kit):

1. *Reading* (``read_pred.m``): each image's boxes are sorted by score, descending, with ties kept in file order
   (MATLAB's ``sort(..., 'descend')`` is stable). An image without a prediction file has no detections.
2. *Score normalisation* (``norm_score.m``): ``s' = (s - min) / (max - min)`` with ``min`` / ``max`` taken over
   the whole submission (all images, all events), starting from ``max = realmin('single')`` and
   ``min = realmax('single')``. When every score is equal this is ``0 / 0 = NaN``: no box passes any threshold and
   every AP is 0 - that is the official result, and we warn about it. (The Python port starts from ``max = 0,
   min = 1`` instead, which only differs when scores lie outside [0, 1]; we warn in that case.)
3. *Matching* (``evaluation.m: image_evaluation``), per image, boxes in score order: a box's IoU with every ground
   truth box uses the ``+1`` pixel convention of ``boxoverlap.m`` on ``x2 = x + w`` (so a ``w x h`` box has area
   ``(w + 1) (h + 1)``), and an IoU is 0 when the intersection's ``+1`` width or height is ``<= 0``. The box takes
   the first ground-truth box of maximal IoU; if that IoU is ``>= 0.5``: when it is an *ignore* face (not in the
   setting's ``gt_list``) the box is discarded (it is neither a true nor a false positive) and the face marked; else
   the face is recalled if it was not already (a second box on a recalled face stays a proposal: a false
   positive). ``pred_recall[h]`` is the number of faces recalled by boxes ``0..h``.
4. *PR curve* (``image_pr_info`` / ``dataset_pr_info``): for ``t = 1..1000``, ``thresh = 1 - t / 1000``; each image
   contributes, at its last box with score ``>= thresh``, the count of non-discarded boxes up to it and
   ``pred_recall`` there. Summed over images: ``precision = recalled / proposals`` (0/0 = NaN at thresholds no box
   passes), ``recall = recalled / number of faces in the setting``.
5. *AP* (``VOCap.m``): the area under the monotone precision envelope, sentinels ``rec = [0, ..., 1]``,
   ``prec = [0, ..., 0]``, summed where recall changes.

Because each image's boxes are sorted, "boxes up to the last one with score >= thresh" is exactly "boxes with
score >= thresh", so the whole curve is two weighted histograms over the 1000 thresholds: that is the vectorised
algorithm below (integer counts, hence bit-identical to the loop).

Formats:
- predictions: ``{event: {image_name: (N, 5) array [x, y, w, h, score]}}`` (``image_name`` without ``.jpg``) or a
  submission folder ``<event>/<image_name>.txt`` (read and written by :mod:`.widerface_submission`).
- ground truth: the four official ``.mat`` files, read by :func:`.widerface_gt_mat.load_ground_truth` into
  ``{'boxes': {event: {image: (K, 4) int x y w h}}, 'settings': {'easy'|'medium'|'hard': {event: {image: 0-based
  index array}}}}``, or :class:`FlatGroundTruth` built from it once and reused.
Reporting (the AP lines, PR curves as JSON) is :mod:`.widerface_report`.
"""
import os
import warnings

import numpy as np

from .widerface_gt_mat import SETTINGS, load_ground_truth
from .widerface_submission import describe_unmatched_submission, read_submission, strip_jpg

__all__ = ['SETTINGS', 'THRESH_NUM', 'IOU_THRESH', 'FlatGroundTruth', 'evaluate_widerface', 'voc_ap']

THRESH_NUM = 1000
IOU_THRESH = 0.5
# norm_score.m initial values: realmin('single') and realmax('single').
_MATLAB_REALMIN_SINGLE = float(np.finfo(np.float32).tiny)
_MATLAB_REALMAX_SINGLE = float(np.finfo(np.float32).max)


class FlatGroundTruth:
    """Ground truth flattened to arrays once (image order of the files), reused for every evaluation.

    ``keys``: ``(event, image_name)`` per image; ``boxes``: ``(K, 4)`` x1 y1 x2 y2 (``x2 = x + w`` as
    ``evaluation.m``); ``offsets``: image ``i``'s boxes are ``boxes[offsets[i]:offsets[i + 1]]``; ``keep[setting]``:
    which boxes count in a setting; ``count_face[setting]``: how many."""

    def __init__(self, gt):
        self.keys = []  # (event, image_name) in file order
        boxes, offsets = [], [0]
        for event, images in gt['boxes'].items():
            for name, b in images.items():
                self.keys.append((event, name))
                b = np.asarray(b, dtype=np.float64).reshape(-1, 4).copy()
                # evaluation.m: x2 = x + w, y2 = y + h (boxoverlap.m then adds the +1)
                b[:, 2] += b[:, 0]
                b[:, 3] += b[:, 1]
                boxes.append(b)
                offsets.append(offsets[-1] + len(b))
        self.boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.keep = {}
        self.count_face = {}
        for setting in SETTINGS:
            keep = np.zeros(len(self.boxes), bool)
            count = 0
            per_event = gt['settings'][setting]
            for i, (event, name) in enumerate(self.keys):
                idx = np.asarray(per_event.get(event, {}).get(name, ()), dtype=np.int64).reshape(-1)
                count += len(idx)  # evaluation.m: count_face += length(keep_index)
                keep[self.offsets[i] + idx] = True
            self.keep[setting] = keep
            self.count_face[setting] = count


def _as_flat_gt(gt):
    if isinstance(gt, FlatGroundTruth):
        return gt
    if isinstance(gt, (str, os.PathLike)):
        gt = load_ground_truth(gt)
    return FlatGroundTruth(gt)


def _gather_predictions(predictions, flat_gt, pred_dir=None):
    """Predictions for the ground-truth images only, in ground-truth order: list of (N, 5) float64 arrays.

    Predictions that match no ground-truth image at all are an error (read from the folder ``pred_dir``, the
    message says what the folder holds), not an AP of 0; an empty ``predictions`` dict scores 0 with a warning."""
    per_image = [None] * len(flat_gt.keys)
    extra = 0
    for event, images in predictions.items():
        for name, boxes in images.items():
            i = flat_gt.index.get((event, strip_jpg(name)))
            if i is None:
                extra += 1
                continue
            arr = np.asarray(boxes, dtype=np.float64)
            if arr.size == 0:
                arr = arr.reshape(0, 5)
            if arr.ndim != 2 or arr.shape[1] < 5:
                raise ValueError(f'predictions[{event!r}][{name!r}]: expected an (N, 5) array [x, y, w, h, score], '
                                 f'got shape {arr.shape}')
            arr = arr[:, :5]
            if not np.isfinite(arr).all():
                raise ValueError(f'predictions[{event!r}][{name!r}]: boxes and scores must be finite numbers')
            per_image[i] = arr
    missing = sum(p is None for p in per_image)
    if per_image and missing == len(per_image) and (pred_dir is not None or extra):
        if pred_dir is not None:
            raise ValueError(describe_unmatched_submission(pred_dir, flat_gt.keys))
        some = next((event, name) for event, images in predictions.items() for name in images)
        raise ValueError(f'WIDER FACE evaluation: none of the {extra} predicted image(s) is a ground-truth image '
                         f'(e.g. predicted {some[0]}/{some[1]}, ground truth {"/".join(flat_gt.keys[0])}): the '
                         'predictions and the ground truth are of different image sets')
    if missing:
        warnings.warn(f'WIDER FACE evaluation: {missing} of {len(per_image)} ground-truth images have no '
                      'predictions; they count as images with no detections.', stacklevel=3)
    if extra:
        warnings.warn(f'WIDER FACE evaluation: {extra} predicted image(s) are not in the ground truth and are '
                      'ignored (the official read_pred.m only reads the ground-truth images).', stacklevel=3)
    empty = np.zeros((0, 5), np.float64)
    return [empty if p is None else p for p in per_image]


def _normalise_scores(scores):
    """norm_score.m: min-max over the whole submission, from realmin/realmax('single') as the kit starts."""
    if len(scores) == 0:
        return scores
    max_score = max(_MATLAB_REALMIN_SINGLE, float(scores.max()))
    min_score = min(_MATLAB_REALMAX_SINGLE, float(scores.min()))
    if scores.min() < 0 or scores.max() > 1:
        warnings.warn('WIDER FACE evaluation: scores lie outside [0, 1]; they are min-max normalised as the official '
                      'MATLAB kit does (the Python port wondervictor/WiderFace-Evaluation would instead use '
                      'min(min, 1) and max(max, 0), so its numbers can differ).', stacklevel=3)
    if max_score == min_score:
        warnings.warn('WIDER FACE evaluation: every score is equal, so the official normalisation '
                      '(s - min) / (max - min) is 0 / 0 = NaN, no box passes any threshold, and all APs are 0 '
                      '(this is what the official kit reports too). Give the detections distinct scores.',
                      stacklevel=3)
    with np.errstate(invalid='ignore', divide='ignore'):
        return (scores - min_score) / (max_score - min_score)


def _match_image(pred, gt_boxes, iou_thresh, chunk=4096):
    """Per box (already in score order): matched gt index (image-local) or -1, from boxoverlap.m's IoU.

    Each box's match depends only on its own IoU row, so images with many boxes are done in chunks (memory).
    """
    if len(pred) > chunk:
        return np.concatenate([_match_image(pred[i:i + chunk], gt_boxes, iou_thresh, chunk)
                               for i in range(0, len(pred), chunk)])
    x1 = pred[:, 0]
    y1 = pred[:, 1]
    x2 = pred[:, 0] + pred[:, 2]
    y2 = pred[:, 1] + pred[:, 3]
    gx1, gy1, gx2, gy2 = gt_boxes.T
    iw = np.minimum(x2[:, None], gx2[None]) - np.maximum(x1[:, None], gx1[None]) + 1
    ih = np.minimum(y2[:, None], gy2[None]) - np.maximum(y1[:, None], gy1[None]) + 1
    inter = iw * ih
    union = ((x2 - x1 + 1) * (y2 - y1 + 1))[:, None] + ((gx2 - gx1 + 1) * (gy2 - gy1 + 1))[None] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        overlaps = np.where((iw > 0) & (ih > 0), inter / union, 0.0)
    best = overlaps.argmax(axis=1)
    best_overlap = overlaps[np.arange(len(best)), best]
    return np.where(best_overlap >= iou_thresh, best, -1)


def voc_ap(recall, precision):
    """VOCap.m: area under the monotone precision envelope, sentinels recall 0 / 1 and precision 0 / 0.

    NaN precisions (thresholds that no box passes) propagate through the envelope exactly as in the kit's numpy
    loop; they only ever sit at recall 0, where they do not contribute.
    """
    mrec = np.concatenate(([0.], recall, [1.]))
    mpre = np.concatenate(([0.], precision, [0.]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate_widerface(predictions, gt, iou_thresh=IOU_THRESH, thresh_num=THRESH_NUM):
    """Easy / Medium / Hard AP of a submission, exactly as the official WIDER FACE kit computes them.

    Args:
        predictions (dict | str): ``{event: {image_name: (N, 5) [x, y, w, h, score]}}`` (pixels, int or float; the
            input is not modified) or the path of a submission folder. Predictions that match no ground-truth
            image at all raise ``ValueError`` (for a folder, saying what it holds); an empty dict scores 0.
        gt (dict | str): :func:`load_ground_truth`'s output, or the folder of the four official ``.mat`` files.
        iou_thresh (float): 0.5 in the official protocol.
        thresh_num (int): 1000 score thresholds in the official protocol.

    Returns:
        dict: ``{'easy': ap, 'medium': ap, 'hard': ap, 'pr_curves': {setting: {'precision': (T,), 'recall': (T,),
        'thresholds': (T,)}}, 'num_images': int, 'num_predictions': int}``.
    """
    pred_dir = None
    if isinstance(predictions, (str, os.PathLike)):
        pred_dir = os.fspath(predictions)
        predictions = read_submission(pred_dir)
    flat_gt = _as_flat_gt(gt)
    per_image = _gather_predictions(predictions, flat_gt, pred_dir)

    # read_pred.m: each image's boxes sorted by score, descending, ties in file order (stable).
    num_boxes = np.array([len(p) for p in per_image], dtype=np.int64)
    all_preds = np.concatenate(per_image) if len(per_image) else np.zeros((0, 5))
    image_id = np.repeat(np.arange(len(per_image)), num_boxes)
    order = np.lexsort((-all_preds[:, 4], image_id))
    all_preds = all_preds[order]
    scores = _normalise_scores(all_preds[:, 4])

    # evaluation.m skips images with no ground-truth box or no prediction.
    gt_counts = np.diff(flat_gt.offsets)
    matched = np.full(len(all_preds), -1, dtype=np.int64)  # global gt index, or -1
    counted = np.zeros(len(all_preds), dtype=bool)
    starts = np.concatenate(([0], np.cumsum(num_boxes)))
    for i in np.nonzero((num_boxes > 0) & (gt_counts > 0))[0]:
        s, e = starts[i], starts[i + 1]
        g0, g1 = flat_gt.offsets[i], flat_gt.offsets[i + 1]
        local = _match_image(all_preds[s:e], flat_gt.boxes[g0:g1], iou_thresh)
        matched[s:e] = np.where(local >= 0, local + g0, -1)
        counted[s:e] = True

    # image_pr_info: with boxes sorted, "boxes up to the last one with score >= thresh" = "boxes with score >=
    # thresh". Box passes thresholds t >= first_t (0-based t, thresh_t = 1 - (t + 1) / thresh_num, decreasing).
    thresholds = np.array([1 - (t + 1) / thresh_num for t in range(thresh_num)])
    passed = np.searchsorted(thresholds[::-1], scores, side='right')  # number of thresholds <= score
    first_t = np.where(np.isnan(scores), thresh_num, thresh_num - passed)

    is_matched = matched >= 0
    results = {'pr_curves': {}, 'num_images': len(per_image), 'num_predictions': int(num_boxes.sum())}
    for setting in SETTINGS:
        keep = flat_gt.keep[setting]
        matched_keep = is_matched & keep[np.maximum(matched, 0)]
        # a box on an ignore face is discarded: proposal_list(h) = -1
        proposal = counted & ~(is_matched & ~matched_keep)
        # a counted face is recalled by the first box (in image score order) matched to it
        recalled = np.zeros(len(all_preds), dtype=bool)
        cand = np.nonzero(counted & matched_keep)[0]
        if len(cand):
            _, first = np.unique(matched[cand], return_index=True)
            recalled[cand[first]] = True
        num_prop = np.cumsum(np.bincount(first_t, weights=proposal, minlength=thresh_num + 1)[:thresh_num])
        num_rec = np.cumsum(np.bincount(first_t, weights=recalled, minlength=thresh_num + 1)[:thresh_num])
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = num_rec / num_prop
            recall = num_rec / flat_gt.count_face[setting]
        if flat_gt.count_face[setting] == 0:
            warnings.warn(f'WIDER FACE evaluation: no face counts in the {setting} setting; its AP is NaN '
                          '(recall is 0 / 0), as in the official kit.', stacklevel=2)
        results[setting] = voc_ap(recall, precision)
        results['pr_curves'][setting] = {'precision': precision, 'recall': recall, 'thresholds': thresholds}
    return results
