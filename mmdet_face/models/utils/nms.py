"""Greedy NMS for the CPU that stays fast when thousands of candidates reach it.

At the WIDER FACE evaluation threshold (score >= 0.02) a crowded 640 x 640 image sends 3,000-5,000 boxes to NMS and
a thousand or more survive. The classic greedy loop (mmcv's ``nms`` on the CPU, the official Python ``nms`` of the
SCRFD and RetinaFace releases) compares every kept box with every later one: O(n x kept) (the README lists measured
times). This module computes the *same* result (same kept boxes, same order) from the few pairs that can overlap:

* two boxes with IoU > t overlap by more than ``t`` times each one's width and height, so the right one's ``x1``
  is less than ``(1 - t) * w`` of the left one to the right of the left one's ``x1``, and the lower one's ``y1``
  less than ``(1 - t) * h`` of the upper one below the upper one's ``y1``;
* the boxes are cut into horizontal strips by ``y1`` (about half the mean ``(1 - t) * h`` high), each strip in
  ``x1`` order. A box looks for its pairs in its own strip among the boxes after it within its reach in ``x1``,
  and in the strips below within its reach in ``y1`` among the boxes within reach in ``x1`` on either side (a
  box left of it reaches it with its own width: at most the widest box of that strip's). Every pair is found once
  (from its left box inside a strip, from its upper box across strips) and only boxes near each other in both
  axes are compared: on a crowded photo at score 0.02, 14,000 comparisons for 2,573 boxes where a sweep in
  ``x1`` alone makes 79,000;
* greedy suppression then walks the boxes by decreasing score over that pair list.

The sweep is compiled with numba when it is installed (``requirements/runtime.txt``); without numba, on CUDA tensors,
for ``offset != 0`` or other NMS types, :func:`sweep_batched_nms` hands over to mmcv's implementation unchanged.
IoUs are computed in float32 exactly as mmcv's CPU kernel computes them (``inter / (area_i + area_j - inter)``,
suppress when ``> iou_threshold``), so results are identical; score ties are broken by the lower index (stable order).

The face heads call :func:`sweep_batched_nms` (through ``dense_heads/face_head_mixin.py``) under that name, so a reader
sees that it is not mmcv's function, although it returns exactly mmcv's result.
"""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

try:  # pragma: no cover - exercised through both branches by the tests where numba is present
    import numba
except ImportError:  # pragma: no cover
    numba = None

#: below this many boxes mmcv's loop is as fast as anything else
MIN_BOXES_FOR_SWEEP = 200
#: beyond this many candidate pairs (about 20 ms of sweep) mmcv's loop is used instead
MAX_SWEEP_VISITS = 4_000_000


def _bucket_starts_py(keys: np.ndarray, num_keys: int, num_buckets: int) -> np.ndarray:
    """Where each bucket starts in a counting sort of ``keys[:num_keys]`` (ints in ``[0, num_buckets)``): bucket
    ``b`` takes positions ``start[b]:start[b + 1]``."""
    start = np.zeros(num_buckets + 1, np.int64)
    for p in range(num_keys):
        start[keys[p] + 1] += 1
    for b in range(num_buckets):
        start[b + 1] += start[b]
    return start


_bucket_starts = (numba.njit(cache=True, nogil=True)(_bucket_starts_py) if numba is not None
                  else _bucket_starts_py)


def _sweep_nms_py(boxes: np.ndarray, by_x: np.ndarray, order: np.ndarray, iou_thr: np.float32, max_num: int,
                  max_visits: int) -> np.ndarray:
    """Greedy NMS of ``boxes`` (float32 (n, 4)) visited in ``order``; returns kept indices in visiting order.
    ``by_x``: the box indices by increasing ``x1`` (a stable argsort: numpy's, outside the compiled code, runs
    faster than numba's sort here).

    The pairs come from the strip sweep of the module docstring. Returns ``[-1]`` instead (the caller then runs
    mmcv's loop: the same result) where the strips do not apply (a negative threshold, a non-finite coordinate) or
    the work would exceed ``max_visits`` box pairs: estimated before from every 16th box's window in ``x1`` alone
    (many wide, overlapping boxes: the classic loop, which stops at the few boxes kept, is then the cheaper one),
    and counted as the sweep goes."""
    n = boxes.shape[0]
    zero = np.float32(0.0)
    if not iou_thr >= zero:  # every pair suppresses at IoU 0: not a local question
        return np.full(1, -1, np.int64)
    # window factor (1 - thr), widened a little so float rounding can never hide a pair
    reach = (np.float32(1.0) - iou_thr) * np.float32(1.0001)
    margin = np.float32(1e-4)
    y_lo = np.inf
    y_hi = -np.inf
    total_h = 0.0
    for i in range(n):
        for c in range(4):
            if not np.isfinite(boxes[i, c]):
                return np.full(1, -1, np.int64)
        y_lo = min(y_lo, np.float64(boxes[i, 1]))
        y_hi = max(y_hi, np.float64(boxes[i, 1]))
        total_h += max(np.float64(boxes[i, 3] - boxes[i, 1]), 0.0)
    # the work estimate: every 16th box's window in x1 order (binary search)
    estimate = 0
    for a in range(0, n, 16):
        i = by_x[a]
        limit = boxes[i, 0] + reach * max(boxes[i, 2] - boxes[i, 0], zero) + margin
        lo = a + 1
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if boxes[by_x[mid], 0] > limit:
                hi = mid
            else:
                lo = mid + 1
        estimate += 16 * (lo - a - 1)
    if estimate > max_visits:
        return np.full(1, -1, np.int64)
    rank = np.empty(n, np.int64)
    for r in range(n):
        rank[order[r]] = r
    # strips of y1: about half the mean reach in y high, at most 4n of them
    height = max(np.float64(reach) * total_h / (2 * n), (y_hi - y_lo) / (4 * n), 1e-3)
    strip = np.empty(n, np.int64)  # of the boxes in x1 order
    num_strips = 0
    for a in range(n):
        strip[a] = np.int64((np.float64(boxes[by_x[a], 1]) - y_lo) / height)
        num_strips = max(num_strips, strip[a] + 1)
    start = _bucket_starts(strip, n, num_strips)
    # the boxes strip by strip, in x1 order inside each (a counting sort of the x1 order), copied contiguous
    fill = start[:-1].copy()
    position = np.empty(n, np.int64)
    index = np.empty(n, np.int64)
    x1 = np.empty(n, np.float32)
    y1 = np.empty(n, np.float32)
    x2 = np.empty(n, np.float32)
    y2 = np.empty(n, np.float32)
    widest = np.zeros(num_strips, np.float32)
    for a in range(n):
        s = strip[a]
        k = fill[s]
        fill[s] += 1
        position[a] = k
        i = by_x[a]
        index[k] = i
        x1[k] = boxes[i, 0]
        y1[k] = boxes[i, 1]
        x2[k] = boxes[i, 2]
        y2[k] = boxes[i, 3]
        widest[s] = max(widest[s], x2[k] - x1[k])
    areas = (x2 - x1) * (y2 - y1)
    # pairs (higher-ranked, lower-ranked) with IoU > thr, each found once: from its left box inside a strip, from
    # its upper box across strips. The boxes are taken in x1 order, so each strip's first box within reach on the
    # left only moves right (``first``).
    first = start[:-1].copy()
    hits = np.empty(n, np.int64)
    src = np.empty(4 * n + 16, np.int64)
    dst = np.empty(4 * n + 16, np.int64)
    num_pairs = 0
    visits = 0
    for a in range(n):
        k = position[a]
        s = strip[a]
        xa1 = x1[k]
        ya1 = y1[k]
        xa2 = x2[k]
        ya2 = y2[k]
        wa = xa2 - xa1
        ha = ya2 - ya1
        if not (wa > zero and ha > zero):  # empty boxes overlap nothing
            continue
        area_a = areas[k]
        x_limit = xa1 + reach * wa + margin
        last = min(np.int64((np.float64(ya1) - y_lo + np.float64(reach) * np.float64(ha) + 1e-4) / height),
                   num_strips - 1)
        num_hits = 0
        # its strip: the boxes after it (x1 >= its x1) within reach
        b = k + 1
        end = start[s + 1]
        while b < end and x1[b] <= x_limit:
            # the float32 operations of mmcv's kernel (max(x1) is x1[b]: sorted); 0 / 0 = nan is not > thr
            h = max(zero, min(ya2, y2[b]) - max(ya1, y1[b]))
            w = max(zero, min(xa2, x2[b]) - x1[b])
            inter = w * h
            hits[num_hits] = b
            num_hits += inter / (area_a + areas[b] - inter) > iou_thr
            b += 1
        visits += b - k - 1
        # the strips below within its reach in y: the boxes within reach in x on either side (max(y1) is y1[b])
        for t in range(s + 1, last + 1):
            x_first = xa1 - reach * widest[t] - margin
            b = first[t]
            end = start[t + 1]
            while b < end and x1[b] < x_first:
                b += 1
            first[t] = b
            begin = b
            while b < end and x1[b] <= x_limit:
                h = max(zero, min(ya2, y2[b]) - y1[b])
                w = max(zero, min(xa2, x2[b]) - max(xa1, x1[b]))
                inter = w * h
                hits[num_hits] = b
                num_hits += inter / (area_a + areas[b] - inter) > iou_thr
                b += 1
            visits += b - begin
        if visits > max_visits:
            return np.full(1, -1, np.int64)
        if num_pairs + num_hits > src.shape[0]:
            grow = max(src.shape[0], num_hits)
            src = np.concatenate((src, np.empty(grow, np.int64)))
            dst = np.concatenate((dst, np.empty(grow, np.int64)))
        i = index[k]
        for m in range(num_hits):
            j = index[hits[m]]
            if rank[i] < rank[j]:
                src[num_pairs] = i
                dst[num_pairs] = j
            else:
                src[num_pairs] = j
                dst[num_pairs] = i
            num_pairs += 1
    # CSR adjacency keyed by the higher-ranked box
    start = _bucket_starts(src, num_pairs, n)
    fill = start[:-1].copy()
    nbr = np.empty(max(num_pairs, 1), np.int64)
    for p in range(num_pairs):
        nbr[fill[src[p]]] = dst[p]
        fill[src[p]] += 1
    suppressed = np.zeros(n, np.bool_)
    keep = np.empty(n, np.int64)
    num_keep = 0
    for r in range(n):
        i = order[r]
        if suppressed[i]:
            continue
        keep[num_keep] = i
        num_keep += 1
        if num_keep == max_num:
            break
        for p in range(start[i], start[i + 1]):
            suppressed[nbr[p]] = True
    return keep[:num_keep]


_sweep_nms = numba.njit(cache=True, nogil=True, error_model='numpy')(_sweep_nms_py) if numba is not None else None


def sweep_nms(boxes: Tensor, scores: Tensor, iou_threshold: float, max_num: int = -1,
              max_visits: Optional[int] = None) -> Tensor:
    """Indices of the boxes greedy NMS keeps, by decreasing score (CPU; numba when present, else pure Python).

    When the sweep would visit more than ``max_visits`` pairs (default ``MAX_SWEEP_VISITS``), mmcv's loop runs
    instead: same result, bounded cost."""
    if boxes.numel() == 0:
        return boxes.new_zeros(0, dtype=torch.long)
    order = torch.sort(scores.detach().float(), descending=True, stable=True)[1].numpy()
    arr = np.ascontiguousarray(boxes.detach().float().cpu().numpy())
    fn = _sweep_nms if _sweep_nms is not None else _sweep_nms_py
    limit = MAX_SWEEP_VISITS if max_visits is None else max_visits
    by_x = np.argsort(arr[:, 0], kind='stable')
    keep = fn(arr, by_x, order.astype(np.int64), np.float32(iou_threshold), int(max_num), int(limit))
    if keep.shape[0] == 1 and keep[0] < 0:
        from mmcv.ops import nms as mmcv_nms
        keep = mmcv_nms(boxes.detach().float().cpu(), scores.detach().float().cpu(), float(iou_threshold))[1]
        return (keep[:max_num] if max_num > 0 else keep).to(boxes.device)
    return torch.from_numpy(keep).to(boxes.device)


def sweep_settings(nms_cfg: Optional[Dict]) -> bool:
    """Whether mmcv NMS settings are ones the sweep computes: plain ``nms``, no ``offset``, no ``score_threshold``."""
    if nms_cfg is None:
        return False
    cfg = dict(nms_cfg)
    return cfg.get('type', 'nms') == 'nms' and cfg.get('offset', 0) == 0 and cfg.get('score_threshold', 0) == 0


def use_sweep(boxes: Tensor, nms_cfg: Optional[Dict]) -> bool:
    """Whether :func:`sweep_batched_nms` takes the sweep path for these boxes and settings."""
    if _sweep_nms is None or boxes.device.type != 'cpu' or not sweep_settings(nms_cfg):
        return False
    return boxes.size(-1) == 4 and boxes.shape[0] >= MIN_BOXES_FOR_SWEEP


def sweep_batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, nms_cfg: Optional[Dict],
                      class_agnostic: bool = False) -> Tuple[Tensor, Tensor]:
    """``mmcv.ops.batched_nms`` with the sweep on the CPU: returns exactly mmcv's result.

    Args:
        boxes (Tensor): ``(n, 4)`` x1y1x2y2.
        scores (Tensor): ``(n,)``.
        idxs (Tensor): ``(n,)`` class of each box; boxes of different classes never suppress each other unless
            ``class_agnostic`` (argument or ``nms_cfg`` key).
        nms_cfg (dict, optional): mmcv's NMS config (``type``, ``iou_threshold``, ``offset``, ``max_num`` ...).

    Returns:
        tuple: ``dets`` ``(k, 5)`` x1y1x2y2 + score and ``keep`` ``(k,)`` indices into the inputs, by decreasing
        score: the same indices, order and scores as ``mmcv.ops.batched_nms``.

    Plain ``nms`` on CPU tensors with at least ``MIN_BOXES_FOR_SWEEP`` boxes runs :func:`sweep_nms`; everything
    else (CUDA, soft-NMS, ``offset``, few boxes, numba missing) runs mmcv's ``batched_nms`` itself, on float32 copies
    of CPU boxes of another dtype (its CPU kernels take float32 only; ``dets`` keeps the input dtype). Empty input
    gives empty outputs (mmcv's version fails on it).
    """
    if boxes.shape[0] == 0 and nms_cfg is not None:  # mmcv's version fails on empty input
        return boxes.new_zeros(0, 5), boxes.new_zeros(0, dtype=torch.long)
    if not use_sweep(boxes, nms_cfg):
        from mmcv.ops import batched_nms as mmcv_batched_nms
        if nms_cfg is not None and boxes.device.type == 'cpu' and boxes.dtype != torch.float32:
            # mmcv's CPU kernels take float32 only; float16 / bfloat16 boxes come from autocast (FaceDetector fp16)
            dets, keep = mmcv_batched_nms(boxes.float(), scores.float(), idxs, nms_cfg, class_agnostic)
            return dets.to(boxes.dtype), keep
        return mmcv_batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic)
    cfg = dict(nms_cfg)
    class_agnostic = cfg.pop('class_agnostic', class_agnostic)
    boxes_for_nms = boxes
    if not class_agnostic and idxs.numel() > 0 and bool((idxs != idxs[0]).any()):
        # same separation of classes as mmcv: shift each class beyond the previous one's coordinates
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        boxes_for_nms = boxes + offsets[:, None]
    keep = sweep_nms(boxes_for_nms, scores, float(cfg.get('iou_threshold', 0.5)), int(cfg.get('max_num', -1)))
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), keep

