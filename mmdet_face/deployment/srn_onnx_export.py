"""SRN and AInnoFace -> ONNX: both steps of the two-step head, in a layout of this package.

Selective Refinement Network (Chi et al., AAAI 2019) and AInnoFace (Zhang et al., 2019) share
:class:`~mmdet_face.models.dense_heads.SRNHead` (AInnoFace adds max-out background logits on the lowest level, which
the head reduces in ``forward``, and an IoU loss, which changes nothing at inference), so one exporter serves both.
Neither release ships an ONNX export; the layout below keeps everything the head's prediction reads, so the graph is
the network and the decoding (STC filter, STR anchor refinement, second-step boxes) stays outside it, readable by any
runtime.

Input ``input``: ``(B, 3, H, W)`` float32, the config's ``data_preprocessor`` applied (the SRN and AInnoFace configs:
RGB, ImageNet mean / std). Any H, W with a dynamic export.

Outputs, all levels concatenated (strides 4, 8, ..., 128; per level row-major over locations; the A anchors of a
location consecutive: mmdet's ``AnchorGenerator`` order), N = sum over levels of ``A * ceil(H / s) * ceil(W / s)``:

* ``score_first``  ``(B, N, C)`` first-step sigmoid face probability; the decoding reads it on the STC levels
  (``stc_levels``, the three lowest), where an anchor with ``1 - max_c p > stc_threshold`` (0.99) is dropped;
* ``bbox_first``   ``(B, N, 4)`` first-step ``DeltaXYWHBBoxCoder`` deltas (stds 0.1, 0.1, 0.2, 0.2); the decoding
  reads them on the STR levels (``str_levels``, the three highest), where they refine the anchors;
* ``score_second`` ``(B, N, C)`` second-step sigmoid face probability (max-out already reduced);
* ``bbox_second``  ``(B, N, 4)`` second-step deltas, relative to the refined anchors on the STR levels and to the
  plain anchors elsewhere.

Decoding (:meth:`SRNHead.decode_image`): per level, the anchors STC keeps, ``score_second > score_thr``, the
``nms_pre`` best; boxes ``delta2bbox`` of the (refined) anchors, clipped to the input; then NMS.
:func:`onnx_outputs_to_head_inputs` maps the outputs back to the head's maps, so the onnxruntime backend
(:mod:`mmdet_face.deployment.onnx_runtime`) decodes them with the head's own code.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .onnx_export import HeadExportWrapper, export_onnx
from .onnx_layouts import batched, level_grids, logit, rows_to_maps

OUTPUT_NAMES = ('score_first', 'bbox_first', 'score_second', 'bbox_second')
INPUT_NAME = 'input'
DEFAULT_OPSET = 17


class SRNExportWrapper(HeadExportWrapper):
    """Image batch ``(B, 3, H, W)`` (preprocessed) -> the four outputs of the module docstring."""

    HEAD_TYPE = 'SRNHead'
    OUTPUT_NAMES = OUTPUT_NAMES

    def forward(self, x):
        cls_first, reg_first, cls_second, reg_second = self.head(self.detector.extract_feat(x))
        classes = self.head.cls_out_channels
        return (self.head._flatten(cls_first, classes).sigmoid(), self.head._flatten(reg_first, 4),
                self.head._flatten(cls_second, classes).sigmoid(), self.head._flatten(reg_second, 4))


def onnx_output_names(head) -> List[str]:
    """``score_first``, ``bbox_first``, ``score_second``, ``bbox_second``."""
    return list(OUTPUT_NAMES)


def onnx_outputs_to_head_inputs(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int]) -> Tuple:
    """The inverse of the layout (see :mod:`mmdet_face.deployment.onnx_layouts`): ``{name: (B, N, C)}`` of a run
    on an ``input_hw`` batch -> ``(cls_first, reg_first, cls_second, reg_second)`` as :meth:`SRNHead.forward`
    returns them, lists over levels of ``(B, A * C, h, w)``: scores as logits of the sigmoid scores, deltas
    unchanged."""
    anchors, classes = head.num_base_priors, head.cls_out_channels
    rows = {name: batched(outputs[name], name, classes if name.startswith('score') else 4) for name in OUTPUT_NAMES}
    grids = level_grids(input_hw, head.prior_generator.strides, anchors, [rows['score_second'].shape[1]],
                        'output score_second')
    for name, value in rows.items():
        if value.shape[:2] != rows['score_second'].shape[:2]:
            raise ValueError(f'output {name}: shape {value.shape}, expected {rows["score_second"].shape[:2]} rows '
                             'as score_second')
    return tuple(rows_to_maps(logit(rows[name]) if name.startswith('score') else torch.from_numpy(rows[name]),
                              grids, anchors) for name in OUTPUT_NAMES)


def export_srn_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640), dynamic: bool = False,
                    opset: int = DEFAULT_OPSET, simplify: bool = False, batch_size: int = 1,
                    overwrite: bool = False, check: bool = True) -> List[str]:
    """Export a built SRN or AInnoFace detector (weights loaded; left unchanged) to ``out_file``; returns the output
    names.

    The steps (private copy, trace, simplify, onnxruntime check, atomic write) and the arguments are
    :func:`mmdet_face.deployment.onnx_export.export_onnx`'s; ``dynamic`` makes H, W and ``N`` symbolic (the batch
    always is). Opset 17 by default.
    """
    return export_onnx(model, out_file, SRNExportWrapper, input_name=INPUT_NAME, output_axis='num_anchors',
                       shape=shape, dynamic=dynamic, opset=opset, simplify=simplify, batch_size=batch_size,
                       overwrite=overwrite, check=check)


__all__ = ['DEFAULT_OPSET', 'SRNExportWrapper', 'export_srn_onnx', 'onnx_output_names',
           'onnx_outputs_to_head_inputs']
