"""SCRFD ONNX outputs -> final detections in compiled passes (the onnxruntime backend's CPU fast path).

SCRFD: Guo et al., "Sample and Computation Redistribution for Efficient Face Detection", ICLR 2022; the released
files' layout is insightface's ``detection/scrfd/tools/scrfd2onnx.py`` (see :mod:`.scrfd_onnx_export`).

The reference is the head's own path: :func:`.scrfd_onnx_export.onnx_outputs_to_candidates` (the candidate rows
read from the outputs, logits, sigmoid level by level, :meth:`SCRFDHead.decode_rows`), then
:meth:`FaceHeadMixin._face_post_process` (clip to ``img_shape``, rescale by ``scale_factor``, ``min_bbox_size``,
:func:`~mmdet_face.models.utils.nms.sweep_batched_nms`, ``max_per_img``) and ``FaceDetector.finish`` (float32 numpy,
clipped to ``ori_shape``). :func:`onnx_outputs_to_detections` computes the same with two compiled calls per image and
torch's sigmoid between them:

* :func:`~.scrfd_onnx_export.candidate_rows` (its compiled gathering kernel, shared with the candidates path of
  the other test configs): the rows the head keeps, all levels in the head's order (level, anchor, location), each
  kept where its logit (``log(p) - log1p(-p)`` in float64, rounded to float32: the values of
  :func:`~mmdet_face.deployment.onnx_layouts.logit_array`) is above the head's float32 threshold;
* their scores: torch's sigmoid of those logits level by level, on arrays as long as the head's (torch's vectorised
  and scalar paths round apart), so the same numbers;
* :func:`_decode_and_suppress`: the head's float32 operations in the head's order:

  - boxes ``x1 = cx - d_left * s``, ``y1 = cy - d_top * s``, ``x2 = cx + d_right * s``, ``y2 = cy + d_bottom * s``
    (mmdet's ``distance2bbox`` of ``distances * stride``), keypoints ``c + o * s``;
  - clamp to ``[0, w] x [0, h]`` of ``img_shape``, divide by the float32 ``(w_scale, h_scale)``, drop boxes whose
    width or height is not above ``min_bbox_size``;
  - greedy NMS by the compiled sweep of :mod:`mmdet_face.models.utils.nms` (called from the compiled code: the same
    function and visiting orders: by decreasing score and by ``x1``, ties in row order, as the stable sorts give);
  - ``max_per_img``, then the boxes clamped to ``ori_shape`` (keypoints are never clipped).

Every operation is a single IEEE float32 (float64 for the logits) operation on the same operands (numba compiles
without fast-math, so no fused multiply-adds), so the detections are bitwise the reference's
(``tests/deployment/test_scrfd_onnx_tail.py`` holds them together on the real photos). Where the reference would
not take the sweep (fewer than ``MIN_BOXES_FOR_SWEEP`` boxes reach the NMS, or the sweep would visit too many pairs),
the compiled function stops before the NMS and :func:`sweep_batched_nms` decides on the decoded boxes, as in the
head.

It applies to one-class SCRFD heads with the head's own conventions (clip to the input, scores from the NMS) and
test configs with ``0 < score_thr < 1``, no cutting ``nms_pre``, ``nms`` of type ``'nms'`` without ``offset`` or
``score_threshold``, rescaling with a ``scale_factor`` in every meta, and numba installed; :func:`applies` says when,
and everything else keeps the head's path.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmdet_face.models.utils import nms as nms_module


def applies(head, cfg, img_metas: Sequence[dict]) -> bool:
    """Whether :func:`onnx_outputs_to_detections` computes what the head's path does for this head, ``cfg`` and
    batch (see the module docstring)."""
    if nms_module._sweep_nms is None or _decode_and_suppress is None:
        return False
    if (type(head).__name__ != 'SCRFDHead' or head.cls_out_channels != 1 or not head.clips_boxes
            or not head.scores_from_nms):
        return False
    if not 0 < cfg.get('score_thr', 0.0) < 1:
        return False
    nms = cfg.get('nms')
    if (not nms_module.sweep_settings(nms)
            or set(nms) - {'type', 'iou_threshold', 'offset', 'score_threshold', 'max_num', 'class_agnostic'}):
        return False
    return all('scale_factor' in meta and 'img_shape' in meta and 'ori_shape' in meta for meta in img_metas)


def onnx_outputs_to_detections(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int], img_metas: List[dict],
                               cfg, clip_boxes: bool = True, applicable: Optional[bool] = None) -> Optional[list]:
    """One :class:`~mmdet_face.apis.face_detector.FaceDetections` per image of the batch, bitwise what
    ``FaceDetector.finish`` of the head's path gives (see the module docstring), or None where :func:`applies` is
    false or the outputs' selection is not the direct one (the caller then takes the head's path).

    Args:
        outputs: ``{name: (B, N, C)}`` of one session run on a batch of ``input_hw``.
        head: the config's SCRFD head.
        img_metas: per image ``img_shape``, ``scale_factor`` ``(w_scale, h_scale)`` and ``ori_shape``.
        cfg: the call's test config.
        clip_boxes: clamp the final boxes to ``ori_shape`` (FaceDetector's ``clip_boxes``).
        applicable: :func:`applies`'s verdict where the caller has it (None: asked here).
    """
    from mmdet_face.apis.face_detector import FaceDetections

    from .scrfd_onnx_export import candidate_rows
    if not (applies(head, cfg, img_metas) if applicable is None else applicable):
        return None
    rows = candidate_rows(outputs, head, input_hw, cfg)
    if rows is None:
        return None
    nms = dict(cfg['nms'])
    iou_thr = np.float32(nms.get('iou_threshold', 0.5))
    max_num = int(nms.get('max_num', -1))
    min_size = np.float32(cfg.get('min_bbox_size', -1))
    max_per_img = int(cfg.get('max_per_img', -1))
    num_keypoints = head.num_keypoints if head.use_kps else 0
    results = []
    for image, meta in zip(rows, img_metas):
        h, w = meta['img_shape'][:2]
        ori_h, ori_w = meta['ori_shape'][:2]
        scale_w, scale_h = (np.float32(v) for v in meta['scale_factor'][:2])
        bboxes, scores, keypoints, decoded = _decode_and_suppress(
            image.scores, image.centres, image.distances, image.offsets, image.strides.reshape(-1),
            np.float32(w), np.float32(h), scale_w, scale_h, min_size, iou_thr, max_num,
            nms_module.MIN_BOXES_FOR_SWEEP, nms_module.MAX_SWEEP_VISITS, max_per_img,
            np.float32(ori_w), np.float32(ori_h), clip_boxes)
        if not decoded:  # the head hands these boxes to mmcv's NMS: so does this path
            bboxes, scores, keypoints = _mmcv_suppress(bboxes, scores, keypoints, nms, max_per_img, ori_h, ori_w,
                                                       clip_boxes)
        results.append(FaceDetections(bboxes=bboxes, scores=scores,
                                      keypoints=keypoints.reshape(-1, num_keypoints, 2) if num_keypoints else None))
    return results


def _mmcv_suppress(bboxes, scores, keypoints, nms_cfg, max_per_img, ori_h, ori_w, clip_boxes):
    """The NMS of the head's tail (:func:`sweep_batched_nms`, which takes mmcv's loop here), ``max_per_img`` and the
    final clip, on decoded, rescaled, size-filtered candidates."""
    import torch

    from mmdet_face.apis.face_detector import clip_to_image
    if len(scores):
        boxes_t, scores_t = torch.from_numpy(bboxes), torch.from_numpy(scores)
        dets, keep = nms_module.sweep_batched_nms(boxes_t, scores_t, torch.zeros(len(scores), dtype=torch.long),
                                                  nms_cfg)
        keep = keep.numpy()
        if max_per_img > 0:
            keep = keep[:max_per_img]
        bboxes, scores, keypoints = bboxes[keep], dets[:len(keep), -1].numpy().copy(), keypoints[keep]
    if clip_boxes:
        clip_to_image(bboxes, (ori_h, ori_w))
    return bboxes, scores, keypoints


def _radix_order_py(keys):
    """The stable ascending order of ``keys`` (uint32): a least-significant-digit radix sort, one pass per byte
    (skipped where every key has the same byte). Stable, so ties keep their index order."""
    n = keys.shape[0]
    counts = np.zeros((4, 257), np.int64)
    for i in range(n):
        key = keys[i]
        counts[0, (key & 0xFF) + 1] += 1
        counts[1, ((key >> 8) & 0xFF) + 1] += 1
        counts[2, ((key >> 16) & 0xFF) + 1] += 1
        counts[3, (key >> 24) + 1] += 1
    order = np.arange(n)
    spare = np.empty(n, np.int64)
    for d in range(4):
        start = counts[d]
        if start.max() == n:
            continue
        for v in range(256):
            start[v + 1] += start[v]
        shift = 8 * d
        for i in range(n):
            j = order[i]
            digit = (keys[j] >> shift) & 0xFF
            spare[start[digit]] = j
            start[digit] += 1
        order, spare = spare, order
    return order


def _stable_orders_py(scores, boxes):
    """The sweep's two visiting orders: the rows by decreasing score and by increasing ``x1``, ties in row order
    (what torch's and numpy's stable sorts give), or empty arrays when a score or an ``x1`` is negative or NaN.

    Each is :func:`_radix_order` of uint32 keys: the float32's bit pattern, which orders non-negative floats as
    their values (``+ 0.0`` turns ``-0.0`` into ``0.0``), subtracted from ``0x7FFFFFFF`` for the decreasing one."""
    n = scores.shape[0]
    zero = np.float32(0.0)
    values = np.empty((2, n), np.float32)
    for i in range(n):
        if not (scores[i] >= zero and boxes[i, 0] >= zero):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        values[0, i] = scores[i] + zero
        values[1, i] = boxes[i, 0] + zero
    bits = values.view(np.uint32)
    by_score = np.empty(n, np.uint32)
    for i in range(n):
        by_score[i] = np.uint32(0x7FFFFFFF) - bits[0, i]
    return _radix_order(by_score), _radix_order(bits[1].copy())


def _decode_and_suppress_py(scores, centres, distances, offsets, strides, w, h, scale_w, scale_h, min_size, iou_thr,
                            max_num, min_boxes, max_visits, max_per_img, ori_w, ori_h, clip_boxes):
    """The compiled tail of one image (see the module docstring).

    Args:
        scores: ``(M,)`` float32, the candidates' scores.
        centres ``(M, 2)``, distances ``(M, 4)``, offsets ``(M, 2K)`` (``K = 0``: no keypoints), strides ``(M,)``:
            the candidates' rows (anchor centre in pixels, distances and keypoint offsets in stride units).
        w, h: the network-input ``img_shape`` (boxes clamped to it); scale_w, scale_h: ``scale_factor``.
        min_size, iou_thr, max_num, max_per_img: the test config's; min_boxes / max_visits: the sweep's bounds.
        ori_w, ori_h, clip_boxes: the final clip to the original image.

    Returns:
        ``(bboxes (N, 4), scores (N,), keypoints (N, 2K), done)``: with ``done`` the final detections by decreasing
        score; without it (the head would run mmcv's NMS) the decoded, rescaled candidates before the NMS.
    """
    zero = np.float32(0.0)
    num_offsets = offsets.shape[1]
    m = scores.shape[0]
    boxes = np.empty((m, 4), np.float32)
    points = np.empty((m, num_offsets), np.float32)
    kept = np.empty(m, np.bool_)
    for j in range(m):
        s = strides[j]
        cx = centres[j, 0]
        cy = centres[j, 1]
        x1 = cx - distances[j, 0] * s
        y1 = cy - distances[j, 1] * s
        x2 = cx + distances[j, 2] * s
        y2 = cy + distances[j, 3] * s
        # clamp_(min=0, max=w) keeps NaN, as torch does
        x1 = zero if x1 < zero else (w if x1 > w else x1)
        x2 = zero if x2 < zero else (w if x2 > w else x2)
        y1 = zero if y1 < zero else (h if y1 > h else y1)
        y2 = zero if y2 < zero else (h if y2 > h else y2)
        x1 = x1 / scale_w
        y1 = y1 / scale_h
        x2 = x2 / scale_w
        y2 = y2 / scale_h
        boxes[j, 0] = x1
        boxes[j, 1] = y1
        boxes[j, 2] = x2
        boxes[j, 3] = y2
        for k in range(0, num_offsets, 2):
            points[j, k] = (cx + offsets[j, k] * s) / scale_w
            points[j, k + 1] = (cy + offsets[j, k + 1] * s) / scale_h
        kept[j] = min_size <= zero or (x2 - x1 > min_size and y2 - y1 > min_size)
    n = 0
    for j in range(m):
        n += kept[j]
    if n < m:  # the min-size filter, in order
        boxes, points, scores = boxes[kept], points[kept], scores[kept]
    else:
        scores = scores.copy()
    if n < min_boxes:
        return boxes, scores, points, False
    order, by_x = _stable_orders(scores, boxes)
    if order.shape[0] < n:  # NaN or negative values: mmcv's NMS decides, as in the head
        return boxes, scores, points, False
    survivors = _sweep(boxes, by_x, order, iou_thr, max_num, max_visits)
    if survivors.shape[0] == 1 and survivors[0] < 0:
        return boxes, scores, points, False
    count = survivors.shape[0] if max_per_img <= 0 else min(survivors.shape[0], max_per_img)
    out_boxes = np.empty((count, 4), np.float32)
    out_scores = np.empty(count, np.float32)
    out_points = np.empty((count, num_offsets), np.float32)
    for r in range(count):
        i = survivors[r]
        for c in range(4):
            v = boxes[i, c]
            if clip_boxes:
                limit = ori_w if c % 2 == 0 else ori_h
                v = zero if v < zero else (limit if v > limit else v)
            out_boxes[r, c] = v
        out_scores[r] = scores[i]
        for c in range(num_offsets):
            out_points[r, c] = points[i, c]
    return out_boxes, out_scores, out_points, True


try:  # pragma: no cover - numba is a runtime dependency; without it the head's path runs (applies() is False)
    import numba
    _sweep = nms_module._sweep_nms
    _radix_order = numba.njit(cache=True, nogil=True)(_radix_order_py)
    _stable_orders = numba.njit(cache=True, nogil=True)(_stable_orders_py)
    _decode_and_suppress = (numba.njit(cache=True, nogil=True)(_decode_and_suppress_py) if _sweep is not None
                            else None)
except ImportError:  # pragma: no cover
    _decode_and_suppress = _stable_orders = _radix_order = _sweep = None


__all__ = ['applies', 'onnx_outputs_to_detections']
