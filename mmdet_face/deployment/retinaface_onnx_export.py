"""RetinaFace -> ONNX in the output layout of the widely used PyTorch release (``convert_to_onnx.py``, test phase).

Input ``input``: ``(B, 3, H, W)`` float32, **BGR** channel order, the per-channel mean ``(104, 117, 123)`` already
subtracted and no scaling (the config's ``data_preprocessor``: ``mean=[104, 117, 123], std=[1, 1, 1],
bgr_to_rgb=False``; i.e. ``cv2.imread(path).astype(np.float32) - (104, 117, 123)``, then HWC -> CHW). No padding is
needed: any H, W works with a dynamic export, and the prior grid of a level of stride s is ``ceil(H / s) x
ceil(W / s)``. The batch dimension is always dynamic; ``dynamic=True`` makes H and W symbolic too.

Outputs, all levels concatenated (stride 8, 16, 32; per level row-major over locations; the 2 anchors of a
location consecutive -- exactly the release's ``PriorBox`` order), N = sum over levels of ``2 * ceil(H/s) *
ceil(W/s)``:

* ``loc``    ``(B, N, 4)``  raw box deltas ``(dx, dy, dw, dh)`` encoded with variances (0.1, 0.2);
* ``conf``   ``(B, N, 2)``  softmax ``[background, face]``;
* ``landms`` ``(B, N, 10)`` raw landmark deltas ``(dx1, dy1, ..., dx5, dy5)`` encoded with variance 0.1
  (left eye, right eye, nose, left mouth corner, right mouth corner).

The release names these outputs differently in different versions of its script but always in this order
(``loc, conf, landms``), so consumers that read outputs by position can use our file unchanged. Decoding (the
release's ``decode`` / ``decode_landm``): prior ``k`` at level stride s, row i, column j, anchor a has centre
``((j + 0.5) * s, (i + 0.5) * s)`` and square size ``min_sizes[level][a]`` (16, 32 | 64, 128 | 256, 512 px);
centre ``= c + loc[:2] * 0.1 * size``, box size ``= size * exp(loc[2:] * 0.2)``, landmark ``m = c + landms[2m:2m+2]
* 0.1 * size``. The channel layout of our head's 1x1 convs equals the release's ``ClassHead`` / ``BboxHead`` /
``LandmarkHead`` (:mod:`mmdet_face.deployment.retinaface_pth_import` copies them unchanged), so the released weights
converted with ``tools/model_converters/retinaface_pth2mmdet.py`` export to the same numbers as the release.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .onnx_export import HeadExportWrapper, export_onnx
from .onnx_layouts import batched, level_grids, log_probs, rows_to_maps

OUTPUT_NAMES = ('loc', 'conf', 'landms')
INPUT_NAME = 'input'
DEFAULT_OPSET = 17


class RetinaFaceExportWrapper(HeadExportWrapper):
    """Image batch ``(B, 3, H, W)`` (BGR minus mean) -> ``(loc, conf, landms)`` (see the module docstring)."""

    HEAD_TYPE = 'RetinaFaceHead'
    OUTPUT_NAMES = OUTPUT_NAMES

    def forward(self, x):
        cls_scores, bbox_preds, kps_preds = self.detector._forward(x)

        def flat(preds, per_anchor):
            # (B, A * per_anchor, H, W) -> (B, H * W * A, per_anchor): rows, columns, then anchors
            return torch.cat([p.permute(0, 2, 3, 1).reshape(p.shape[0], -1, per_anchor) for p in preds], dim=1)

        loc = flat(bbox_preds, 4)
        conf = flat(cls_scores, self.head.num_classes + 1).softmax(dim=-1)
        landms = flat(kps_preds, 2 * self.head.num_keypoints)
        return loc, conf, landms


def onnx_output_names(head) -> List[str]:
    """``loc``, ``conf``, ``landms``."""
    return list(OUTPUT_NAMES)


def onnx_outputs_to_head_inputs(outputs: Dict[str, np.ndarray], head, input_hw: Sequence[int]) -> Tuple:
    """The inverse of the layout (see :mod:`mmdet_face.deployment.onnx_layouts`): ``{name: (B, N, C)}`` of a run
    on an ``input_hw`` batch -> ``(cls_scores, bbox_preds, kps_preds)`` as :meth:`RetinaFaceHead.forward` returns
    them, lists over levels of ``(B, A * C, h, w)``: ``conf`` as ``log`` of the softmax (the head's softmax gives it
    back), deltas unchanged."""
    anchors, classes = head.num_anchors, head.num_classes + 1
    loc = batched(outputs['loc'], 'loc', 4)
    conf = batched(outputs['conf'], 'conf', classes)
    landms = batched(outputs['landms'], 'landms', 2 * head.num_keypoints)
    grids = level_grids(input_hw, head.prior_generator.strides, anchors, [loc.shape[1]], 'output loc')
    return (rows_to_maps(log_probs(conf), grids, anchors), rows_to_maps(torch.from_numpy(loc), grids, anchors),
            rows_to_maps(torch.from_numpy(landms), grids, anchors))


def export_retinaface_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640),
                           dynamic: bool = False, opset: int = DEFAULT_OPSET, simplify: bool = False,
                           batch_size: int = 1, overwrite: bool = False, check: bool = True) -> List[str]:
    """Export a built RetinaFace detector (weights loaded; left unchanged) to ``out_file``; returns the output names.

    The steps (private copy, trace, simplify, onnxruntime check, atomic write) and the arguments are
    :func:`mmdet_face.deployment.onnx_export.export_onnx`'s; ``dynamic`` makes H, W and ``N`` symbolic (the batch
    always is). Opset 17 by default (every op here exists since opset 11).
    """
    return export_onnx(model, out_file, RetinaFaceExportWrapper, input_name=INPUT_NAME, output_axis='num_priors',
                       shape=shape, dynamic=dynamic, opset=opset, simplify=simplify, batch_size=batch_size,
                       overwrite=overwrite, check=check)


__all__ = ['DEFAULT_OPSET', 'RetinaFaceExportWrapper', 'export_retinaface_onnx', 'onnx_output_names',
           'onnx_outputs_to_head_inputs']
