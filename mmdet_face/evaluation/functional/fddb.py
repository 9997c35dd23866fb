"""The FDDB protocol (discrete and continuous ROC over the ten folds pooled), as the official ``evaluate`` computes it.

Reference: V. Jain and E. Learned-Miller, "FDDB: A Benchmark for Face Detection in Unconstrained Settings", UMass
Amherst tech. report UM-CS-2010-009 (2010), and its evaluation program (``evaluate.cpp``, ``Matching.cpp``,
``Hungarian.cpp``, ``Results.cpp``; the OpenCV-3 port of the UMass C++ source is what the parity test builds).

What the program does, and what this module reproduces:

1. *Regions*: each annotated ellipse and each detection (a rectangle ``left top width height``, or an ellipse) is
   rasterised on a mask of the image's size (:mod:`.fddb_regions`); the matching score of a pair is
   ``|A and D| / |A or D|`` in pixels.
2. *Thresholds, per image*: the unique detection scores of the image, ascending. At each threshold ``t`` only the
   detections with ``score >= t`` take part.
3. *Matching, per image and threshold*: a bipartite matching of annotations and detections on the scores, meant
   to be of maximum weight, by the program's Hungarian solver (``Hungarian.cpp``, maximising, on the annotations and
   detections that overlap something, transposed to have no more rows than columns); a matched pair counts when its
   score is ``> 0``. That solver does not always find the maximum (:mod:`.fddb_hungarian` shows a case); it is
   re-implemented step for step and used by default, so the numbers are the official ones. ``matching='optimal'``
   uses a true maximum-weight matching instead.
4. *Counts, per image and threshold* (``Results.cpp``): ``TP_disc`` = matched pairs with score ``> 0.5``;
   ``TP_cont`` = the sum of the matched pairs' scores (all of them, also those ``<= 0.5``); ``FP`` = detections
   taking part minus ``TP_disc`` - the continuous ROC uses this same ``FP``. An image without detections has one
   entry at the threshold ``DBL_MAX`` with zero counts.
5. *Pooling* (``Results::merge``): the union of all images' thresholds, ascending; at each, every image contributes
   its counts at its own smallest threshold ``>= t`` (nothing when it has none), and every image its number of
   faces ``N``. The ROC points are ``(TP / N, FP)`` per pooled threshold, thresholds ascending (so false positives
   descending), the discrete file with the threshold as third column. Because of step 4's ``DBL_MAX`` entry, the
   pooled ROC ends with the point ``0 0 1.79769e+308`` whenever some image has no detection; that is the program's
   output and it is kept.

The program's ``FP`` of the continuous ROC, the ``DBL_MAX`` point and its solver's non-maximal matchings are
reproduced rather than "fixed": a researcher wants the official number. The sums are formed image after image in the
list's order, as the program forms them, so the doubles (and the ROC files' text) are the program's. One case is
not: a pair whose union is empty (an annotation wholly outside its image, against a detection outside too) scores 0
here, where the program divides 0 by 0 and its solver then loops forever on the NaN. The figure papers quote is the true-positive
rate at 1,000 false positives (:func:`tpr_at_fp`): the rate of the lowest pooled threshold whose false positives do
not exceed 1,000.

Formats (all arrays float64):
- annotations: ``{image_name: (K, 5) [major_axis_radius, minor_axis_radius, angle, center_x, center_y]}``
  (FDDB's ellipse order; pixels, radians);
- detections: ``{image_name: (D, 5) [left, top, width, height, score]}`` (``det_format='rectangle'``) or
  ``(D, 6) [major_axis_radius, minor_axis_radius, angle, center_x, center_y, score]`` (``'ellipse'``);
- image sizes: ``{image_name: (height, width)}`` of the decoded images.
ROC files and the plot are :mod:`.fddb_roc`; the annotation files are read by
:mod:`mmdet_face.evaluation.functional.fddb_files`.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from .fddb_hungarian import hungarian_official
from .fddb_regions import ellipse_mask, rectangle_pixel_bounds

__all__ = ['DET_FORMATS', 'MATCHING_METHODS', 'NO_DETECTION_THRESHOLD', 'FDDB_MAX_FP', 'FDDBResult', 'ImageCounts',
           'overlap_matrix', 'match_regions', 'image_counts', 'pool_counts', 'evaluate_fddb', 'tpr_at_fp',
           'boxes_to_fddb']

DET_FORMATS = ('rectangle', 'ellipse')
MATCHING_METHODS = ('official', 'optimal')
# Results.cpp: the threshold of an image without detections, std::numeric_limits<double>::max().
NO_DETECTION_THRESHOLD = float(np.finfo(np.float64).max)
FDDB_MAX_FP = 1000
DISCRETE_MIN_SCORE = 0.5


@dataclass
class ImageCounts:
    """One image's counts per threshold: ``thresholds`` (T,) ascending, ``tp_disc``, ``tp_cont``, ``fp`` (T,),
    and its number of annotated faces ``num_faces``."""
    thresholds: np.ndarray
    tp_disc: np.ndarray
    tp_cont: np.ndarray
    fp: np.ndarray
    num_faces: int


@dataclass
class FDDBResult:
    """The pooled ROC: ``thresholds`` (T,) ascending, ``fp`` (T,) false positives, ``tpr_disc`` / ``tpr_cont`` (T,)
    true-positive rates (0 where there are no faces, as the program writes), ``tp_disc`` / ``tp_cont`` (T,) the
    counts, ``num_faces`` and ``num_images``."""
    thresholds: np.ndarray
    fp: np.ndarray
    tp_disc: np.ndarray
    tp_cont: np.ndarray
    num_faces: int
    num_images: int

    @property
    def tpr_disc(self) -> np.ndarray:
        return self.tp_disc / self.num_faces if self.num_faces else np.zeros_like(self.tp_disc)

    @property
    def tpr_cont(self) -> np.ndarray:
        return self.tp_cont / self.num_faces if self.num_faces else np.zeros_like(self.tp_cont)


def overlap_matrix(annotations: np.ndarray, detections: np.ndarray, height: int, width: int,
                   det_format: str = 'rectangle') -> np.ndarray:
    """``(K, D)`` matching scores (pixel intersection over union of the rasterised regions) of ``K`` annotated
    ellipses ``(K, 5)`` and ``D`` detections (``(D, 4+)`` rectangles ``left top width height`` or ``(D, 5+)``
    ellipses, see the module docstring) on an image of ``height x width`` pixels. A pair whose union is empty (both
    regions outside the image) scores 0."""
    if det_format not in DET_FORMATS:
        raise ValueError(f'det_format must be one of {DET_FORMATS}, got {det_format!r}')
    annotations = np.asarray(annotations, np.float64).reshape(-1, 5)
    detections = np.asarray(detections, np.float64)
    num_det = len(detections)
    scores = np.zeros((len(annotations), num_det), np.float64)
    if not len(annotations) or not num_det:
        return scores
    gt_masks = [ellipse_mask(a, height, width) for a in annotations]
    gt_areas = np.array([m.sum() for m in gt_masks], np.float64)
    if det_format == 'rectangle':
        bounds = rectangle_pixel_bounds(detections[:, :4], height, width)
        x0, y0, x1, y1 = bounds.T
        inside = (x0 <= x1) & (y0 <= y1)
        det_areas = np.where(inside, (x1 - x0 + 1) * (y1 - y0 + 1), 0).astype(np.float64)
        # each annotation's pixels inside each rectangle, from the integral image of the annotation's bounding window
        inter = np.zeros_like(scores)
        for k, mask in enumerate(gt_masks):
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            if not len(rows):
                continue
            r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
            integral = np.zeros((r1 - r0 + 2, c1 - c0 + 2), np.int64)
            integral[1:, 1:] = mask[r0:r1 + 1, c0:c1 + 1].cumsum(0).cumsum(1)
            lx, hx = np.maximum(x0, c0) - c0, np.minimum(x1, c1) - c0
            ly, hy = np.maximum(y0, r0) - r0, np.minimum(y1, r1) - r0
            hit = inside & (lx <= hx) & (ly <= hy)
            lx, hx, ly, hy = (np.where(hit, v, 0) for v in (lx, hx, ly, hy))
            inter[k] = np.where(hit, integral[hy + 1, hx + 1] - integral[ly, hx + 1] - integral[hy + 1, lx] +
                                integral[ly, lx], 0)
    else:
        det_masks = [ellipse_mask(d, height, width) for d in detections]
        det_areas = np.array([m.sum() for m in det_masks], np.float64)
        inter = np.array([[np.count_nonzero(g & d) for d in det_masks] for g in gt_masks], np.float64)
    union = gt_areas[:, None] + det_areas[None, :] - inter
    np.divide(inter, union, out=scores, where=union > 0)
    return scores


def match_regions(overlaps: np.ndarray, method: str = 'official') -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matched pairs of a ``(K, D)`` score matrix: ``(annotation indices, detection indices, scores)`` of the
    pairs with a score ``> 0``, in the order the program lists them (``Matching::runHungarian``).

    As the program does, annotations and detections without any overlap are left out first, and the matrix is
    transposed when more annotations than detections remain. ``method='official'`` assigns with the program's
    solver (:func:`.fddb_hungarian.hungarian_official`, which is not always maximal); ``'optimal'`` with a true
    maximum-weight matching (``scipy.optimize.linear_sum_assignment``).
    """
    if method not in MATCHING_METHODS:
        raise ValueError(f'method must be one of {MATCHING_METHODS}, got {method!r}')
    overlaps = np.asarray(overlaps, np.float64)
    rows = np.flatnonzero(overlaps.sum(axis=1) != 0) if overlaps.size else np.zeros(0, np.int64)
    cols = np.flatnonzero(overlaps.sum(axis=0) != 0) if overlaps.size else np.zeros(0, np.int64)
    sub = overlaps[np.ix_(rows, cols)]
    transpose = len(rows) > len(cols)
    rating = sub.T if transpose else sub
    if method == 'official':
        assigned = hungarian_official(rating.tolist()) if rating.shape[0] else []
        pairs = [(i, j) for i, j in enumerate(assigned)]
    else:
        from scipy.optimize import linear_sum_assignment
        pairs = list(zip(*linear_sum_assignment(rating, maximize=True))) if rating.size else []
    pairs = [(i, j) for i, j in pairs if rating[i, j] > 0]
    if transpose:
        ann = np.array([rows[j] for _, j in pairs], np.int64)
        det = np.array([cols[i] for i, _ in pairs], np.int64)
    else:
        ann = np.array([rows[i] for i, _ in pairs], np.int64)
        det = np.array([cols[j] for _, j in pairs], np.int64)
    return ann, det, np.array([rating[i, j] for i, j in pairs], np.float64)


def _sequential_sum(values) -> float:
    """The sum in list order (``Results``' ``TPCont += score``), not numpy's pairwise one."""
    total = 0.0
    for value in values:
        total += float(value)
    return total


def image_counts(overlaps: np.ndarray, scores: np.ndarray, matching: str = 'official') -> ImageCounts:
    """One image's counts at each of its unique detection scores (``evaluate.cpp``'s loop over thresholds).

    Args:
        overlaps: ``(K, D)`` matching scores (:func:`overlap_matrix`).
        scores: ``(D,)`` detection scores.
        matching: ``'official'`` or ``'optimal'`` (:func:`match_regions`).
    """
    overlaps = np.asarray(overlaps, np.float64)
    scores = np.asarray(scores, np.float64).reshape(-1)
    num_faces = overlaps.shape[0]
    if not len(scores):
        zero = np.zeros(1, np.float64)
        return ImageCounts(np.array([NO_DETECTION_THRESHOLD]), zero, zero.copy(), zero.copy(), num_faces)
    thresholds = np.unique(scores)
    tp_disc = np.zeros(len(thresholds))
    tp_cont = np.zeros(len(thresholds))
    fp = np.zeros(len(thresholds))
    touching = overlaps.sum(axis=0) > 0 if num_faces else np.zeros(len(scores), bool)
    last_key, last = None, (0.0, 0.0)
    for i in range(len(thresholds) - 1, -1, -1):  # descending: the matching changes only when a touching one joins
        valid = scores >= thresholds[i]
        key = np.flatnonzero(valid & touching)
        if last_key is None or len(key) != len(last_key):
            _, _, matched = match_regions(overlaps[:, key], matching)
            last = (float(np.count_nonzero(matched > DISCRETE_MIN_SCORE)), _sequential_sum(matched))
            last_key = key
        tp_disc[i], tp_cont[i] = last
        fp[i] = np.count_nonzero(valid) - tp_disc[i]
    return ImageCounts(thresholds, tp_disc, tp_cont, fp, num_faces)


def pool_counts(images: Sequence[ImageCounts]) -> FDDBResult:
    """Pool the images' counts over the union of their thresholds (``Results::merge``): at each pooled threshold
    every image contributes its counts at its own smallest threshold at or above it."""
    images = list(images)
    num_faces = int(sum(im.num_faces for im in images))
    if not images:
        empty = np.zeros(0, np.float64)
        return FDDBResult(empty, empty, empty, empty, 0, 0)
    pooled = np.unique(np.concatenate([im.thresholds for im in images]))
    sums = np.zeros((3, len(pooled)))
    for im in images:
        # Results::merge adds each image's counts to the running sums, image after image: the same additions in
        # the same order give the same doubles. The image's value j holds on the pooled thresholds in
        # (thresholds[j - 1], thresholds[j]]; above its highest threshold it adds nothing.
        last = np.searchsorted(pooled, im.thresholds)
        lengths = np.diff(last, prepend=-1)
        sums[:, :last[-1] + 1] += np.repeat(np.stack([im.tp_disc, im.tp_cont, im.fp]), lengths, axis=1)
    return FDDBResult(pooled, sums[2], sums[0], sums[1], num_faces, len(images))


def evaluate_fddb(annotations: Dict[str, np.ndarray], detections: Dict[str, np.ndarray],
                  image_sizes: Dict[str, Tuple[int, int]], det_format: str = 'rectangle',
                  image_names: Optional[Iterable[str]] = None, matching: str = 'official') -> FDDBResult:
    """The pooled FDDB ROC of ``detections`` against ``annotations`` (formats in the module docstring).

    ``image_names`` (default: the keys of ``annotations``) are the images evaluated, the list file's images; an
    image missing from ``detections`` has no detections. Every image needs its size in ``image_sizes``.
    ``matching``: ``'official'`` (the program's solver, default) or ``'optimal'`` (:func:`match_regions`).

    Raises:
        KeyError: an image has no annotation entry or no size.
        ValueError: ``det_format`` is unknown, or a detection array has the wrong number of columns.
    """
    if det_format not in DET_FORMATS:
        raise ValueError(f'det_format must be one of {DET_FORMATS}, got {det_format!r}')
    if matching not in MATCHING_METHODS:
        raise ValueError(f'matching must be one of {MATCHING_METHODS}, got {matching!r}')
    columns = 5 if det_format == 'rectangle' else 6
    names = list(annotations if image_names is None else image_names)
    per_image = []
    for name in names:
        if name not in annotations:
            raise KeyError(f'{name}: no annotation entry for this image')
        if name not in image_sizes:
            raise KeyError(f'{name}: no image size for this image')
        dets = np.asarray(detections.get(name, np.zeros((0, columns))), np.float64)
        if dets.size and (dets.ndim != 2 or dets.shape[1] != columns):
            raise ValueError(f'{name}: expected ({det_format}) detections of shape (D, {columns}), got '
                             f'{dets.shape}')
        dets = dets.reshape(-1, columns)
        height, width = image_sizes[name]
        overlaps = overlap_matrix(annotations[name], dets[:, :-1], height, width, det_format)
        per_image.append(image_counts(overlaps, dets[:, -1], matching))
    return pool_counts(per_image)


def tpr_at_fp(result: FDDBResult, max_fp: float = FDDB_MAX_FP) -> Tuple[float, float]:
    """``(discrete, continuous)`` true-positive rate at ``max_fp`` false positives: the rates of the lowest pooled
    threshold whose false positives do not exceed ``max_fp`` (0 when no threshold qualifies, which is the operating
    point that keeps no detection)."""
    ok = np.flatnonzero(result.fp <= max_fp)
    if not len(ok):
        return 0.0, 0.0
    i = ok[0]  # thresholds ascend, so the first qualifying one keeps the most detections
    return float(result.tpr_disc[i]), float(result.tpr_cont[i])


def boxes_to_fddb(boxes: np.ndarray, scores: np.ndarray, height_scale: float = 1.0,
                  to_ellipse: bool = False) -> np.ndarray:
    """Detections ``(N, 4)`` x1y1x2y2 pixels with ``(N,)`` scores as FDDB detections: ``(N, 5)`` rectangles
    ``left top width height score``, or with ``to_ellipse`` ``(N, 6)`` ellipses ``major_axis_radius
    minor_axis_radius angle center_x center_y score`` (the ellipse inscribed in the box, its first axis vertical:
    ``angle = pi / 2``, radii ``h / 2`` and ``w / 2``).

    ``height_scale`` multiplies each box's height about its centre first. Both are conversions some papers apply to
    box detectors on FDDB's taller ellipses (e.g. height x 1.2, or an ellipse fit; which paper used which is
    unverified: see each paper's FDDB section); both are off by default, which scores the boxes as they are.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    x1, y1, x2, y2 = boxes.T
    w, h = x2 - x1, y2 - y1
    cy = (y1 + y2) / 2
    if height_scale != 1.0:
        h = h * height_scale
        y1 = cy - h / 2
    if to_ellipse:
        cx = (x1 + x2) / 2
        return np.stack([h / 2, w / 2, np.full_like(w, np.pi / 2), cx, cy, scores], axis=1)
    return np.stack([x1, y1, w, h, scores], axis=1)
