"""DSFD -> ONNX: the second shot, as released (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019).

The release ships no export. This file exports what its ``SSD`` computes before ``Detect``: the face part of the
box deltas and the max-in-out face / background softmax, all levels concatenated. The paper's first shot exists only
in training configs and never enters the graph (``DSFDHead.forward`` runs the second shot only).

Input ``input``: ``(B, 3, H, W)`` float32, **BGR** channel order, the per-channel mean ``(104, 117, 123)`` already
subtracted, no scaling (the config's ``data_preprocessor``). Any H, W with a dynamic export; no padding needed.

Outputs (levels at strides 4, 8, ..., 128; per level row-major; one prior per location -- the release's order),
N = sum over levels of ``ceil(H / s) * ceil(W / s)``:

* ``loc``  ``(B, N, 4)`` raw box deltas ``(dx, dy, dw, dh)`` encoded with variances (0.1, 0.2);
* ``conf`` ``(B, N, 2)`` softmax ``[background, face]`` after max-in-out (the release's ``conf_preds`` order).

Decoding (the release's ``PriorBox`` with ``clip=True`` and ``decode``): the prior of level k (stride s, size a =
16 * 2^k for the release) at row i, column j has centre ``cx = min((j + 0.5) * s, W)``, ``cy = min((i + 0.5) * s,
H)`` and size ``w = min(a / sqrt(1.5), W)``, ``h = min(a * sqrt(1.5), H)`` pixels; the box centre is
``(cx, cy) + loc[:2] * 0.1 * (w, h)``, its size ``(w, h) * exp(loc[2:] * 0.2)``. The release's test then keeps
``conf[:, 1] > 0.01``, the 5000 best, NMS 0.3 (areas without +1) and, in the paper, 750.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .onnx_export import HeadExportWrapper, export_onnx
from .onnx_layouts import batched, level_grids, log_probs, rows_to_maps

OUTPUT_NAMES = ('loc', 'conf')
INPUT_NAME = 'input'
DEFAULT_OPSET = 17


class DSFDExportWrapper(HeadExportWrapper):
    """Image batch ``(B, 3, H, W)`` (BGR minus mean) -> ``(loc, conf)`` (see the module docstring)."""

    HEAD_TYPE = 'DSFDHead'
    OUTPUT_NAMES = OUTPUT_NAMES

    def forward(self, x):
        cls_scores, bbox_preds = self.head(self.detector.extract_feat(x))   # the second shot only
        loc = self.head._flatten(bbox_preds, 4)
        # the head's logits are (face, background); the release's softmax is (background, face)
        conf = self.head._flatten(cls_scores, 2).flip(-1).softmax(dim=-1)
        return loc, conf


def onnx_output_names(head) -> List[str]:
    """``loc``, ``conf``."""
    return list(OUTPUT_NAMES)


def onnx_outputs_to_head_inputs(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int]) -> Tuple:
    """The inverse of the layout (see :mod:`mmdet_face.deployment.onnx_layouts`): ``{name: (B, N, C)}`` of a run
    on an ``input_hw`` batch -> ``(cls_scores, bbox_preds)`` as :meth:`DSFDHead.forward` returns them, lists over
    levels of ``(B, C, h, w)``: ``conf`` [background, face] as ``log`` of the softmax, flipped back to the head's
    (face, background) order; deltas unchanged."""
    loc = batched(outputs['loc'], 'loc', 4)
    conf = batched(outputs['conf'], 'conf', 2)
    grids = level_grids(input_hw, head.prior_generator.strides, head.num_anchors, [loc.shape[1]], 'output loc')
    return (rows_to_maps(log_probs(conf).flip(-1), grids, head.num_anchors),
            rows_to_maps(torch.from_numpy(loc), grids, head.num_anchors))


def export_dsfd_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640), dynamic: bool = False,
                     opset: int = DEFAULT_OPSET, simplify: bool = False, batch_size: int = 1,
                     overwrite: bool = False, check: bool = True) -> List[str]:
    """Export a built DSFD detector (weights loaded; left unchanged) to ``out_file``; returns the output names.

    The steps (private copy, trace, simplify, onnxruntime check, atomic write) and the arguments are
    :func:`mmdet_face.deployment.onnx_export.export_onnx`'s; ``dynamic`` makes H, W and ``N`` symbolic (the batch
    always is). Opset 17 by default.
    """
    return export_onnx(model, out_file, DSFDExportWrapper, input_name=INPUT_NAME, output_axis='num_priors',
                       shape=shape, dynamic=dynamic, opset=opset, simplify=simplify, batch_size=batch_size,
                       overwrite=overwrite, check=check)


__all__ = ['DEFAULT_OPSET', 'DSFDExportWrapper', 'export_dsfd_onnx', 'onnx_output_names',
           'onnx_outputs_to_head_inputs']
