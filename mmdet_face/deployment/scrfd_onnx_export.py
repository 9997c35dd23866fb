"""SCRFD -> ONNX in the layout of insightface's released files (``detection/scrfd/tools/scrfd2onnx.py``).

Input ``input.1``: ``(B, 3, H, W)`` float32, RGB, ``(x - 127.5) / 128``. Outputs ``score_8/16/32`` ``(B, N, 1)``
sigmoid scores, ``bbox_8/16/32`` ``(B, N, 4)`` distances (left, top, right, bottom) in stride units and, with
keypoints, ``kps_8/16/32`` ``(B, N, 10)`` offsets in stride units; row r is location ``divmod(r // A, W / s)``,
anchor ``r % A``. :mod:`mmdet_face.deployment.scrfd_onnx_import` reads such files (ours and the released ones) back
into a checkpoint; :func:`onnx_outputs_to_head_inputs` maps their outputs back to the head's maps, so the
onnxruntime backend (:mod:`mmdet_face.deployment.onnx_runtime`) decodes them with the head's own code.

GroupNorm (the GN-head models) is written as one ``GroupNormalization`` node at opset >= 21 (per-channel scale and
bias, = torch's GroupNorm); at opsets 18-20 as one ``GroupNormalization`` with unit per-group scale followed by the
per-channel ``Mul`` + ``Add``; below 18 (or when the exporter refuses these) torch's ``Reshape ->
InstanceNormalization -> Reshape -> Mul -> Add`` decomposition is kept. The single-node forms come from swapping
the GroupNorm modules of the exporter's private copy of the model for :class:`ExportGroupNorm`; ``nn.GroupNorm``
itself is never patched.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .onnx_export import export_onnx
from .onnx_layouts import batched, level_grids, logit, rows_to_maps, strides_of

DEFAULT_OPSET = 21  # first opset whose GroupNormalization has per-channel scale/bias (= torch's GroupNorm)
INPUT_NAME = 'input.1'


class _GroupNormFunction(torch.autograd.Function):
    """GroupNorm that the TorchScript exporter writes as one ``GroupNormalization`` (opset >= 21, per-channel
    scale/bias) node instead of its reshape/InstanceNormalization decomposition."""

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps):
        return nn.functional.group_norm(x, num_groups, weight, bias, eps)

    @staticmethod
    def symbolic(g, x, weight, bias, num_groups, eps):
        return g.op('GroupNormalization', x, weight, bias, epsilon_f=eps, num_groups_i=num_groups)


class _GroupNormFunction18(_GroupNormFunction):
    """Opsets 18-20: ``GroupNormalization`` had one scale/bias per *group* then, so the node normalises with unit
    scale and zero bias and the per-channel affine follows as ``Mul`` + ``Add`` (TensorRT 10.0 reads opsets up to
    20 and fuses the pair)."""

    @staticmethod
    def symbolic(g, x, weight, bias, num_groups, eps):
        ones = g.op('Constant', value_t=torch.ones(num_groups))
        zeros = g.op('Constant', value_t=torch.zeros(num_groups))
        y = g.op('GroupNormalization', x, ones, zeros, epsilon_f=eps, num_groups_i=num_groups)
        axes = g.op('Constant', value_t=torch.tensor([1, 2], dtype=torch.long))
        y = g.op('Mul', y, g.op('Unsqueeze', weight, axes))
        return g.op('Add', y, g.op('Unsqueeze', bias, axes))


class ExportGroupNorm(nn.Module):
    """Stands in for an affine ``nn.GroupNorm`` during export (same parameters, same numbers); the exporter writes
    it as a single ``GroupNormalization`` node (see the module docstring)."""

    def __init__(self, norm: nn.GroupNorm, opset: int):
        super().__init__()
        self.num_groups, self.num_channels, self.eps = norm.num_groups, norm.num_channels, norm.eps
        self.weight, self.bias = norm.weight, norm.bias
        self.function = _GroupNormFunction if opset >= 21 else _GroupNormFunction18

    def forward(self, x):
        return self.function.apply(x, self.weight, self.bias, self.num_groups, self.eps)


def swap_group_norms(model: nn.Module, opset: int) -> bool:
    """Replace, in place, every affine ``nn.GroupNorm`` of ``model`` by an :class:`ExportGroupNorm` (a module
    shared by several parents stays shared). Call it on a copy: the model is meant for export only afterwards.
    Returns whether anything was replaced (nothing below opset 18, which has no ``GroupNormalization``)."""
    if opset < 18:
        return False
    replacements = {}
    for parent in list(model.modules()):
        for name, child in parent._modules.items():
            if isinstance(child, nn.GroupNorm) and child.affine:
                if id(child) not in replacements:
                    replacements[id(child)] = ExportGroupNorm(child, opset)
                parent._modules[name] = replacements[id(child)]
    return bool(replacements)


class SCRFDExportWrapper(nn.Module):
    """Image batch ``(B, 3, H, W)`` (normalised RGB) -> the released outputs (see the module docstring)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector
        self.head = detector.bbox_head

    def output_names(self) -> List[str]:
        return onnx_output_names(self.head)

    def forward(self, x):
        cls_scores, bbox_preds, kps_preds = self.detector._forward(x)
        b = x.shape[0]

        def flat(t, c):
            return t.permute(0, 2, 3, 1).reshape(b, -1, c)

        outs = [flat(t, self.head.cls_out_channels).sigmoid() for t in cls_scores]
        outs += [flat(t, 4) for t in bbox_preds]
        if self.head.use_kps:
            outs += [flat(t, 2 * self.head.num_keypoints) for t in kps_preds]
        return tuple(outs)


def onnx_output_names(head) -> List[str]:
    """``score_<s>``, ``bbox_<s>`` and (with keypoints) ``kps_<s>`` for the head's strides ``s``."""
    kinds = ['score', 'bbox'] + (['kps'] if head.use_kps else [])
    return [f'{kind}_{s}' for kind in kinds for s in strides_of(head)]


def onnx_outputs_to_head_inputs(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int]) -> Tuple:
    """The inverse of the layout (see :mod:`mmdet_face.deployment.onnx_layouts`): ``{name: (B, N, C)}`` of a run
    on an ``input_hw`` batch -> ``(cls_scores, bbox_preds, kps_preds)`` as :meth:`SCRFDHead.forward` returns them,
    lists over levels of ``(B, A * C, h, w)``: scores as logits of the sigmoid scores, distances and keypoint offsets
    unchanged (stride units, as the head's maps); ``kps_preds`` None without keypoints. Outputs without a batch
    dimension (older released files) are read as a batch of one."""
    anchors, classes = head.num_base_priors, head.cls_out_channels

    def maps(kind, channels, convert):
        rows = [batched(outputs[f'{kind}_{s}'], f'{kind}_{s}', channels) for s in strides_of(head)]
        grids = level_grids(input_hw, head.prior_generator.strides, anchors, [r.shape[1] for r in rows],
                            f'outputs {kind}_*')
        return [rows_to_maps(convert(r), [grid], anchors)[0] for r, grid in zip(rows, grids)]

    cls_scores = maps('score', classes, logit)
    bbox_preds = maps('bbox', 4, torch.from_numpy)
    kps_preds = maps('kps', 2 * head.num_keypoints, torch.from_numpy) if head.use_kps else None
    return cls_scores, bbox_preds, kps_preds


class LevelOutputs(NamedTuple):
    """The outputs of one run, level by level, checked against the head's anchors: ``scores`` ``(B, N_l, 1)``,
    ``bboxes`` ``(B, N_l, 4)``, ``kps`` ``(B, N_l, 2K)`` (None without keypoints) float32 arrays, ``centres``
    ``(N_l, 2)`` float32 anchor centres (x, y) in pixels (row ``location * A + anchor``), ``strides`` ints."""
    scores: List[np.ndarray]
    bboxes: List[np.ndarray]
    kps: Optional[List[np.ndarray]]
    centres: List[np.ndarray]
    strides: List[int]


def level_outputs(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int], cfg) -> Optional[LevelOutputs]:
    """:class:`LevelOutputs` of ``outputs`` (``{name: (B, N, C)}`` of a run on an ``input_hw`` batch; row counts
    checked against the level grids), or None where the head's selection for ``cfg`` is not the direct one: a
    per-level ``nms_pre`` top-k that cuts, ``score_thr`` outside (0, 1), several classes."""
    anchors = head.num_base_priors
    score_thr, nms_pre = cfg.get('score_thr', 0.0), cfg.get('nms_pre', -1)
    if head.cls_out_channels != 1 or not 0 < score_thr < 1:
        return None
    strides = strides_of(head)
    scores = [batched(outputs[f'score_{s}'], f'score_{s}', 1) for s in strides]
    if any(0 < nms_pre < r.shape[1] for r in scores):
        return None
    bboxes = [batched(outputs[f'bbox_{s}'], f'bbox_{s}', 4) for s in strides]
    kps = ([batched(outputs[f'kps_{s}'], f'kps_{s}', 2 * head.num_keypoints) for s in strides] if head.use_kps
           else None)
    grids = level_grids(input_hw, head.prior_generator.strides, anchors, [r.shape[1] for r in scores],
                        'outputs score_*')
    for kind, rows in (('bbox', bboxes), ('kps', kps)) if kps is not None else (('bbox', bboxes),):
        level_grids(input_hw, head.prior_generator.strides, anchors, [r.shape[1] for r in rows], f'outputs {kind}_*')
    centres = [c.numpy() for c in head._prior_centers(grids, torch.float32, 'cpu')]
    return LevelOutputs(scores, bboxes, kps, centres, strides)


class CandidateRows(NamedTuple):
    """The rows of one image the head keeps (its test ``logit > logit(score_thr)``), gathered in the head's order
    (level, anchor, location).

    ``level_scores`` per level the rows' scores ``(M_l,)`` float32 tensors (the head's sigmoid of their logits),
    ``centres`` ``(M, 2)`` anchor centres (x, y) in pixels, ``distances`` ``(M, 4)`` and ``offsets`` ``(M, 2K)``
    (``K = 0`` without keypoints) in stride units, ``strides`` ``(M, 1)`` each row's level stride; all float32."""
    level_scores: List[torch.Tensor]
    centres: np.ndarray
    distances: np.ndarray
    offsets: np.ndarray
    strides: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """``(M,)`` float32: the rows' scores, all levels in order."""
        return torch.cat(self.level_scores).numpy()


def candidate_rows(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int],
                   cfg) -> Optional[List[CandidateRows]]:
    """Per image :class:`CandidateRows` of the outputs of one run on an ``input_hw`` batch, or None where the head's
    selection is not the direct one (see :func:`onnx_outputs_to_candidates`).

    The rows are copied out by :func:`_gather_kept_py` (compiled with numba when installed): only rows whose
    sigmoid score is within 0.1 % below ``score_thr`` or above go back to logits (the values of
    :func:`~.onnx_layouts.logit_array`), where the head's test keeps exactly its candidates (the margin is far wider
    than float32 rounding of a logit, so no row the head keeps is left out). Their scores are the sigmoid of those
    logits, level by level as the head takes it (torch's vectorised and scalar paths round apart, so on arrays as
    long as the head's)."""
    levels = level_outputs(outputs, head, input_hw, cfg)
    if levels is None:
        return None
    score_thr = cfg['score_thr']
    logit_thr = np.float32(math.log(score_thr / (1 - score_thr)))  # the head compares float32 logits with it
    low = np.float32(score_thr * 0.999)
    total = sum(r.shape[1] for r in levels.scores)
    num_offsets = 2 * head.num_keypoints if levels.kps is not None else 0
    centres = tuple(levels.centres)
    strides = np.asarray(levels.strides, np.float32)
    no_kps = tuple(np.empty((0, 0), np.float32) for _ in levels.strides)
    gather = _gather_kept if _gather_kept is not None else _gather_kept_py
    results = []
    for b in range(levels.scores[0].shape[0]):
        rows = _KeptRows(total, num_offsets, len(levels.strides))
        gather(tuple(np.ascontiguousarray(r[b]) for r in levels.scores),
               tuple(np.ascontiguousarray(r[b]) for r in levels.bboxes),
               no_kps if levels.kps is None else tuple(np.ascontiguousarray(r[b]) for r in levels.kps),
               centres, strides, head.num_base_priors, low, logit_thr, rows.logits, rows.centres, rows.distances,
               rows.offsets, rows.strides, rows.bounds)
        bounds = rows.bounds.tolist()
        n = bounds[-1]
        level_scores = [torch.from_numpy(rows.logits[lo:hi]).sigmoid() for lo, hi in zip(bounds[:-1], bounds[1:])]
        results.append(CandidateRows(level_scores, rows.centres[:n], rows.distances[:n], rows.offsets[:n],
                                     rows.strides[:n, None]))
    return results


def onnx_outputs_to_candidates(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int],
                               cfg) -> Optional[List]:
    """Per image the candidates ``head.decode_image`` gives for :func:`onnx_outputs_to_head_inputs`'s maps, read
    from the rows directly: bitwise the same ``InstanceData`` (``bboxes``, ``scores``, ``labels``, ``keypoints``,
    in the same order), with only the candidate rows decoded: :func:`candidate_rows`, then
    :meth:`SCRFDHead.decode_rows` of the kept rows (all levels at once, each row with its level's stride, which
    multiplies as the level's scalar stride does).

    Returns None where the head's selection is not this one (a per-level ``nms_pre`` top-k that cuts,
    ``score_thr`` outside (0, 1), several classes): the caller then decodes the maps.
    """
    rows = candidate_rows(outputs, head, input_hw, cfg)
    if rows is None:
        return None
    results = []
    for image in rows:
        bboxes_kept, kps_kept = head.decode_rows(
            torch.from_numpy(image.centres), torch.from_numpy(image.distances),
            torch.from_numpy(image.offsets) if head.use_kps else None, torch.from_numpy(image.strides))
        results.append(head.gather_candidates([bboxes_kept], image.level_scores,
                                              [torch.zeros(len(bboxes_kept), dtype=torch.long)],
                                              [kps_kept] if head.use_kps else None))
    return results


def onnx_detections_apply(head, cfg, img_metas: List[dict]) -> bool:
    """Whether :func:`onnx_outputs_to_detections` applies to this head, test config and batch
    (:func:`mmdet_face.deployment.scrfd_onnx_tail.applies`)."""
    from .scrfd_onnx_tail import applies
    return applies(head, cfg, img_metas)


def onnx_outputs_to_detections(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int], img_metas: List[dict],
                               cfg, clip_boxes: bool = True, applicable: Optional[bool] = None) -> Optional[list]:
    """The final detections of the batch in one compiled pass where it applies, else None
    (:func:`mmdet_face.deployment.scrfd_onnx_tail.onnx_outputs_to_detections`; ``applicable``:
    :func:`onnx_detections_apply`'s verdict where the caller has it)."""
    from .scrfd_onnx_tail import onnx_outputs_to_detections as direct
    return direct(outputs, head, input_hw, img_metas, cfg, clip_boxes, applicable)


class _KeptRows:
    """Room for the kept rows of one image (``total``: the rows of all levels): their float32 logits, anchor
    centres, distances, keypoint offsets and strides, and where each level's rows end (``bounds``)."""

    def __init__(self, total: int, num_offsets: int, num_levels: int):
        self.logits = np.empty(total, np.float32)
        self.centres = np.empty((total, 2), np.float32)
        self.distances = np.empty((total, 4), np.float32)
        self.offsets = np.empty((total, num_offsets), np.float32)
        self.strides = np.empty(total, np.float32)
        self.bounds = np.zeros(num_levels + 1, np.int64)


def _gather_kept_py(scores, bboxes, kps, centres, strides, anchors, low, logit_thr, out_logits, out_centres,
                    out_distances, out_offsets, out_strides, bounds):
    """The rows the head keeps, level by level in the head's order (anchor, then location; row
    ``location * anchors + anchor``), copied into the ``out_*`` arrays; ``bounds[l + 1]``: where level ``l`` ends.

    Args:
        scores, bboxes, kps: per level (tuples) one image's ``(N_l, 1)`` sigmoid scores, ``(N_l, 4)`` distances and
            ``(N_l, 2K)`` keypoint offsets (``(0, 0)`` arrays: no keypoints).
        centres: per level ``(N_l, 2)`` anchor centres; strides: ``(L,)`` float32.
        low: rows at or below it are skipped unread (just below ``score_thr``); logit_thr: the head's float32
            threshold on the logits.

    A row is kept where its logit, ``log(p) - log1p(-p)`` in float64 rounded to float32 (the values of
    :func:`~mmdet_face.deployment.onnx_layouts.logit_array`), is above ``logit_thr``: the head's own test on the
    logits its maps hold."""
    k = 0
    for level in range(len(scores)):
        level_scores = scores[level]
        level_bboxes = bboxes[level]
        level_kps = kps[level]
        level_centres = centres[level]
        stride = strides[level]
        num_offsets = level_kps.shape[1]
        locations = level_scores.shape[0] // anchors
        for a in range(anchors):
            for loc in range(locations):
                r = loc * anchors + a
                p = level_scores[r, 0]
                if not p > low:
                    continue
                x = np.float64(p)
                logit = np.float32(np.log(x) - np.log1p(-x))
                if not logit > logit_thr:
                    continue
                out_logits[k] = logit
                for c in range(4):
                    out_distances[k, c] = level_bboxes[r, c]
                for c in range(num_offsets):
                    out_offsets[k, c] = level_kps[r, c]
                out_centres[k, 0] = level_centres[r, 0]
                out_centres[k, 1] = level_centres[r, 1]
                out_strides[k] = stride
                k += 1
        bounds[level + 1] = k
    return k


try:  # pragma: no cover - both branches run where numba is present (the tests call the Python version too)
    import numba
    _gather_kept = numba.njit(cache=True, nogil=True)(_gather_kept_py)
except ImportError:  # pragma: no cover
    _gather_kept = None


def export_scrfd_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640), dynamic: bool = False,
                      opset: int = DEFAULT_OPSET, simplify: bool = False, batch_size: int = 1,
                      overwrite: bool = False, check: bool = True) -> List[str]:
    """Export a built SCRFD detector (weights loaded; left unchanged) to ``out_file``; returns the output names.

    The steps (private copy, trace, simplify, onnxruntime check, atomic write; ``dynamic``: symbolic height and
    width) are :func:`mmdet_face.deployment.onnx_export.export_onnx`'s. GroupNorm: see the module docstring; when
    the exporter refuses the single-node form, a warning is issued and the file is written at opset 17.
    """
    return export_onnx(model, out_file, SCRFDExportWrapper, input_name=INPUT_NAME, output_axis='num_{name}',
                       shape=shape, dynamic=dynamic, opset=opset, simplify=simplify, batch_size=batch_size,
                       overwrite=overwrite, check=check, rewrite=swap_group_norms, fallback_opset=17)


__all__ = ['CandidateRows', 'DEFAULT_OPSET', 'ExportGroupNorm', 'LevelOutputs', 'SCRFDExportWrapper', 'candidate_rows',
           'export_scrfd_onnx', 'level_outputs',
           'onnx_detections_apply', 'onnx_output_names', 'onnx_outputs_to_candidates', 'onnx_outputs_to_detections',
           'onnx_outputs_to_head_inputs', 'swap_group_norms']
