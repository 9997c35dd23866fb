"""Greedy NMS for the CPU that stays fast when thousands of candidates reach it.

At the WIDER FACE evaluation threshold (score >= 0.02) a crowded 640 x 640 image sends 3,000-5,000 boxes to NMS and
a thousand or more survive. The classic greedy loop (mmcv's ``nms`` on the CPU, the official Python ``nms`` of the
SCRFD and RetinaFace releases) compares every kept box with every later one: O(n x kept) (the README lists measured
times). This module computes the *same* result (same kept boxes, same order) from the few pairs that can overlap:

* two boxes with IoU > t overlap horizontally by more than ``t * max(w_i, w_j)``, so with boxes sorted by ``x1``
  and ``x1_j >= x1_i`` only ``x1_j - x1_i < (1 - t) * w_i`` can suppress each other: a forward sweep over the
  sorted boxes lists every pair with IoU > t, checking a small window per box;
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


def _sweep_nms_py(boxes: np.ndarray, by_x: np.ndarray, order: np.ndarray, iou_thr: np.float32, max_num: int,
                  max_visits: int) -> np.ndarray:
    """Greedy NMS of ``boxes`` (float32 (n, 4)) visited in ``order``; returns kept indices in visiting order.
    ``by_x``: the box indices by increasing ``x1``, ties in index order (a stable argsort: numpy's, outside the
    compiled code, runs faster than numba's mergesort here).

    Returns ``[-1]`` instead when the sweep would look at more than ``max_visits`` box pairs (many wide,
    overlapping boxes: the classic loop, which stops at the few boxes kept, is then the cheaper one)."""
    n = boxes.shape[0]
    zero = np.float32(0.0)
    rank = np.empty(n, np.int64)
    for r in range(n):
        rank[order[r]] = r
    # boxes in x1 order, copied contiguous: the sweep reads its window in memory order
    x1 = np.empty(n, np.float32)
    y1 = np.empty(n, np.float32)
    x2 = np.empty(n, np.float32)
    y2 = np.empty(n, np.float32)
    for a in range(n):
        x1[a] = boxes[by_x[a], 0]
        y1[a] = boxes[by_x[a], 1]
        x2[a] = boxes[by_x[a], 2]
        y2[a] = boxes[by_x[a], 3]
    areas = (x2 - x1) * (y2 - y1)
    # window factor (1 - thr), widened a little so float rounding can never hide a pair
    reach = (np.float32(1.0) - iou_thr) * np.float32(1.0001)
    # window of each box: the boxes after it whose x1 is within reach (binary search); their count bounds the work
    ends = np.empty(n, np.int64)
    visits = 0
    for a in range(n):
        wa = x2[a] - x1[a]
        if not wa > zero:  # empty boxes overlap nothing
            ends[a] = a + 1
            continue
        limit = x1[a] + reach * wa + np.float32(1e-4)
        lo = a + 1
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if x1[mid] > limit:
                hi = mid
            else:
                lo = mid + 1
        ends[a] = lo
        visits += lo - a - 1
    if visits > max_visits:
        return np.full(1, -1, np.int64)
    # pairs (higher-ranked, lower-ranked) with IoU > thr. Per window: the IoUs branch-free (the compiler
    # vectorises that loop), then the hits compacted branch-free, then recorded.
    ious = np.empty(n, np.float32)
    hits = np.empty(n, np.int64)
    src = np.empty(4 * n + 16, np.int64)
    dst = np.empty(4 * n + 16, np.int64)
    num_pairs = 0
    for a in range(n):
        lo = a + 1
        hi = ends[a]
        if hi <= lo:
            continue
        ya1 = y1[a]
        ya2 = y2[a]
        xa2 = x2[a]
        area_a = areas[a]
        for b in range(lo, hi):
            # the float32 operations of mmcv's kernel; max(x1) is x1[b] (sorted); 0 / 0 = nan is not > thr
            h = max(zero, min(ya2, y2[b]) - max(ya1, y1[b]))
            w = max(zero, min(xa2, x2[b]) - x1[b])
            inter = w * h
            ious[b - lo] = inter / (area_a + areas[b] - inter)
        num_hits = 0
        for b in range(lo, hi):
            hits[num_hits] = b
            num_hits += ious[b - lo] > iou_thr
        if num_pairs + num_hits > src.shape[0]:
            grow = max(src.shape[0], num_hits)
            src = np.concatenate((src, np.empty(grow, np.int64)))
            dst = np.concatenate((dst, np.empty(grow, np.int64)))
        i = by_x[a]
        for k in range(num_hits):
            j = by_x[hits[k]]
            if rank[i] < rank[j]:
                src[num_pairs] = i
                dst[num_pairs] = j
            else:
                src[num_pairs] = j
                dst[num_pairs] = i
            num_pairs += 1
    # CSR adjacency keyed by the higher-ranked box
    start = np.zeros(n + 1, np.int64)
    for p in range(num_pairs):
        start[src[p] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
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


def use_sweep(boxes: Tensor, nms_cfg: Optional[Dict]) -> bool:
    """Whether :func:`sweep_batched_nms` takes the sweep path for these boxes and settings."""
    if nms_cfg is None or _sweep_nms is None or boxes.device.type != 'cpu':
        return False
    cfg = dict(nms_cfg)
    return (cfg.get('type', 'nms') == 'nms' and cfg.get('offset', 0) == 0 and boxes.size(-1) == 4
            and cfg.get('score_threshold', 0) == 0 and boxes.shape[0] >= MIN_BOXES_FOR_SWEEP)


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

