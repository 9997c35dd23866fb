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
``LandmarkHead`` (``mmdet_face/deployment/retinaface_convert.py`` copies them unchanged), so the released weights
converted with ``tools/model_converters/retinaface_pth2mmdet.py`` export to the same numbers as the release.
"""
import copy
from typing import Dict, List, Sequence

import torch
import torch.nn as nn

from .output_file import atomic_output, check_output_path

OUTPUT_NAMES = ('loc', 'conf', 'landms')
INPUT_NAME = 'input'
DEFAULT_OPSET = 17


class RetinaFaceExportWrapper(nn.Module):
    """Image batch ``(B, 3, H, W)`` (BGR minus mean) -> ``(loc, conf, landms)`` (see the module docstring)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        head = detector.bbox_head
        if head.__class__.__name__ != 'RetinaFaceHead':
            raise TypeError(f'expected a RetinaFaceHead, got {head.__class__.__name__}')
        self.detector = detector
        self.head = head

    @staticmethod
    def output_names() -> List[str]:
        return list(OUTPUT_NAMES)

    def forward(self, x):
        cls_scores, bbox_preds, kps_preds = self.detector._forward(x)

        def flat(preds, per_anchor):
            # (B, A * per_anchor, H, W) -> (B, H * W * A, per_anchor): rows, columns, then anchors
            return torch.cat([p.permute(0, 2, 3, 1).reshape(p.shape[0], -1, per_anchor) for p in preds], dim=1)

        loc = flat(bbox_preds, 4)
        conf = flat(cls_scores, self.head.num_classes + 1).softmax(dim=-1)
        landms = flat(kps_preds, 2 * self.head.num_keypoints)
        return loc, conf, landms


def export_retinaface_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640),
                           dynamic: bool = False, opset: int = DEFAULT_OPSET, simplify: bool = False,
                           batch_size: int = 1, overwrite: bool = False) -> List[str]:
    """Export a built RetinaFace detector (weights loaded) to ``out_file``; returns the output names.

    Args:
        model: a detector whose ``bbox_head`` is a ``RetinaFaceHead`` (copied; the original is left as it is).
        shape: ``(H, W)`` of the trace input (fixed in the graph unless ``dynamic``).
        dynamic: symbolic batch, height and width (otherwise only the batch is symbolic).
        opset: ONNX opset (17 by default; every op here exists since opset 11).
        simplify: simplify the written file (onnxsim when installed, else onnxruntime's basic offline optimisation,
            see :func:`mmdet_face.deployment.onnx_utils.simplify_onnx`).
        batch_size: batch of the trace input.
        overwrite: replace an existing ``out_file``; otherwise it is refused
            (:class:`~mmdet_face.deployment.output_file.OutputExistsError`). The file is written atomically
            (temporary file + rename), so a failed export or simplification leaves nothing behind.
    """
    check_output_path(out_file, overwrite)
    model = copy.deepcopy(model).cpu().eval()
    wrapper = RetinaFaceExportWrapper(model).eval()
    names = wrapper.output_names()
    x = torch.zeros(batch_size, 3, *shape)
    axes = {INPUT_NAME: {0: 'batch'}}
    if dynamic:
        axes[INPUT_NAME].update({2: 'height', 3: 'width'})
    axes.update({n: {0: 'batch', 1: 'num_priors'} if dynamic else {0: 'batch'} for n in names})
    with atomic_output(out_file, overwrite) as tmp, torch.no_grad():
        torch.onnx.export(wrapper, x, tmp, input_names=[INPUT_NAME], output_names=names, opset_version=opset,
                          dynamic_axes=axes, do_constant_folding=True, dynamo=False)
        if not dynamic:  # the tracer leaves N symbolic (it follows the symbolic batch): declare it
            import onnx
            onnx_model = onnx.load(tmp)
            for output, ref in zip(onnx_model.graph.output, wrapper(x)):
                dims = output.type.tensor_type.shape.dim
                for dim, size in list(zip(dims, ref.shape))[1:]:
                    dim.Clear()
                    dim.dim_value = int(size)
            onnx.save(onnx_model, tmp)
        if simplify:
            from .onnx_utils import simplify_onnx
            simplify_onnx(tmp, display_name=str(out_file))
    return names


def retinaface_outputs_flat(model: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """PyTorch reference of the exported outputs: ``{'loc', 'conf', 'landms'}`` for the input batch ``x``."""
    wrapper = RetinaFaceExportWrapper(model).eval()
    with torch.no_grad():
        return dict(zip(wrapper.output_names(), wrapper(x)))
