"""The one ONNX export path shared by the exporters; a family supplies only its output layout.

:func:`export_onnx` runs the same steps for every family:

1. refuse an existing output unless ``overwrite`` (before any work);
2. deep-copy the model to the CPU in eval mode: the caller's model is never modified, and export-only module swaps
   (``rewrite``, e.g. SCRFD's single-node GroupNorm) touch the copy only -- no class or global is patched;
3. wrap the copy (``make_wrapper``: image batch ``(B, 3, H, W)`` -> tuple of output tensors, with
   ``output_names()``) and trace it with ``torch.onnx.export`` under fixed input / output names, a dynamic batch and,
   with ``dynamic``, dynamic height, width and per-output row count; a static export declares the outputs' traced
   sizes (the tracer leaves them symbolic);
4. optionally simplify (:func:`mmdet_face.deployment.onnx_utils.simplify_onnx`);
5. check the file with onnxruntime against the PyTorch wrapper on a seeded random input (names, shapes, values),
   so an export that computes something else fails here instead of in a user's runtime;
6. move the file into place atomically (:mod:`mmdet_face.utils.output_file`): a failure in any step leaves
   neither a half file nor a temporary one, and an existing file is kept.
"""
import copy
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmdet_face.utils.output_file import atomic_output, check_output_path


class OnnxCheckError(RuntimeError):
    """onnxruntime's outputs of the exported file differ from the PyTorch model's."""


def _log(msg: str) -> None:
    from mmengine.logging import print_log
    print_log(msg, logger='current')


def torch_outputs(wrapper: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """``{output name: tensor}`` of an export wrapper for the input batch ``x``: the PyTorch reference of what the
    exported file computes."""
    wrapper.eval()
    with torch.no_grad():
        return dict(zip(wrapper.output_names(), wrapper(x)))


def check_onnx_outputs(path: str, wrapper: nn.Module, x: torch.Tensor, rtol: float = 1e-3,
                       atol: float = 1e-3) -> bool:
    """Run the ONNX file ``path`` with onnxruntime on ``x`` and compare with ``wrapper``'s outputs.

    Tolerance per output: ``|onnx - torch| <= atol * max(1, max|torch|) + rtol * |torch|`` (a check for a wrong
    graph, not for float rounding). Returns False (and logs why) when onnxruntime is not installed.

    Raises:
        OnnxCheckError: output names, shapes or values differ.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        _log('ONNX export: onnxruntime is not installed; the exported file was not checked')
        return False
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    ref = torch_outputs(wrapper, x)
    if names != list(ref):
        raise OnnxCheckError(f'the exported graph has outputs {names}, expected {list(ref)}')
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    for name, value in zip(names, got):
        expected = ref[name].numpy()
        if value.shape != expected.shape:
            raise OnnxCheckError(f'output {name}: onnxruntime gives shape {value.shape}, PyTorch {expected.shape}')
        bound = atol * max(1.0, float(np.abs(expected).max(initial=0.0))) + rtol * np.abs(expected)
        diff = np.abs(value - expected)
        if not np.all(diff <= bound):  # NaN in either fails too
            raise OnnxCheckError(f'output {name}: onnxruntime differs from PyTorch by up to '
                                 f'{float(np.nanmax(diff, initial=np.nan)):.3g} (NaN: {bool(np.isnan(diff).any())})')
    return True


class HeadExportWrapper(nn.Module):
    """Base of an export wrapper (``make_wrapper`` of :func:`export_onnx`) whose outputs are a fixed list of names:
    holds the detector and its head, refusing a head of another family (checked by class name, so the exporter
    imports no model code). A family sets ``HEAD_TYPE`` and ``OUTPUT_NAMES`` and writes ``forward``."""

    HEAD_TYPE: str = ''
    OUTPUT_NAMES: Tuple[str, ...] = ()

    def __init__(self, detector: nn.Module):
        super().__init__()
        head = detector.bbox_head
        if head.__class__.__name__ != self.HEAD_TYPE:
            raise TypeError(f'expected a {self.HEAD_TYPE}, got {head.__class__.__name__}')
        self.detector = detector
        self.head = head

    @classmethod
    def output_names(cls) -> List[str]:
        return list(cls.OUTPUT_NAMES)


def _declare_output_sizes(path: str, outputs: Sequence[torch.Tensor]) -> None:
    """Write the traced sizes of every output dimension but the batch into the graph's output types."""
    import onnx
    model = onnx.load(path)
    for output, ref in zip(model.graph.output, outputs):
        for dim, size in list(zip(output.type.tensor_type.shape.dim, ref.shape))[1:]:
            dim.Clear()
            dim.dim_value = int(size)
    onnx.save(model, path)


def export_onnx(model: nn.Module, out_file: str, make_wrapper: Callable[[nn.Module], nn.Module], *,
                input_name: str, output_axis: str = 'num_{name}', shape: Sequence[int] = (640, 640),
                dynamic: bool = False, opset: int = 17, simplify: bool = False, batch_size: int = 1,
                overwrite: bool = False, check: bool = True,
                rewrite: Optional[Callable[[nn.Module, int], bool]] = None,
                fallback_opset: Optional[int] = None) -> List[str]:
    """Export ``model`` (a built detector, weights loaded) to ``out_file``; returns the output names.

    Args:
        make_wrapper: the family's layout: ``detector -> nn.Module`` mapping an image batch to the output tuple and
            naming it with ``output_names()``. Called on the private copy.
        input_name: the graph input's name.
        output_axis: name of each output's dimension 1 in a dynamic export, formatted with ``name`` (the output).
        shape: ``(H, W)`` of the trace input (fixed in the graph unless ``dynamic``).
        dynamic: symbolic height, width and output rows; the batch is always symbolic.
        opset: ONNX opset version.
        simplify: see :func:`mmdet_face.deployment.onnx_utils.simplify_onnx`.
        batch_size: batch of the trace input.
        overwrite: replace an existing ``out_file`` (otherwise
            :class:`~mmdet_face.utils.output_file.OutputExistsError`, raised before anything else runs).
        check: compare onnxruntime's outputs with PyTorch's (see :func:`check_onnx_outputs`).
        rewrite: ``(private copy, opset) -> changed``: swap modules of the copy for export-friendly ones.
        fallback_opset: when the export of a rewritten copy fails, warn and export an unrewritten copy at this opset
            (None: the error propagates).

    Raises:
        OnnxCheckError: the written graph does not compute what the model computes (no file is left).
    """
    check_output_path(out_file, overwrite)

    def private_wrapper(rewritten: bool) -> Tuple[nn.Module, bool]:
        copied = copy.deepcopy(model).cpu().eval()
        changed = bool(rewrite(copied, opset)) if rewritten and rewrite is not None else False
        return make_wrapper(copied).eval(), changed

    wrapper, rewritten = private_wrapper(True)
    names = list(wrapper.output_names())
    x = torch.zeros(batch_size, 3, *shape)
    axes = {input_name: {0: 'batch', 2: 'height', 3: 'width'} if dynamic else {0: 'batch'}}
    axes.update({n: {0: 'batch', 1: output_axis.format(name=n)} if dynamic else {0: 'batch'} for n in names})

    def trace(module, opset_version, path):
        with torch.no_grad():
            torch.onnx.export(module, x, path, input_names=[input_name], output_names=names,
                              opset_version=opset_version, dynamic_axes=axes, do_constant_folding=True, dynamo=False)

    from . import onnx_utils
    with atomic_output(out_file, overwrite) as tmp:
        try:
            trace(wrapper, opset, tmp)
        except Exception as err:
            if not (rewritten and fallback_opset is not None):
                raise
            warnings.warn(f'ONNX export of the export-friendly modules at opset {opset} failed '
                          f'({type(err).__name__}: {err}); exporting the plain model at opset {fallback_opset}')
            wrapper, _ = private_wrapper(False)
            trace(wrapper, fallback_opset, tmp)
        if not dynamic:
            with torch.no_grad():
                _declare_output_sizes(tmp, wrapper(x))
        if simplify:
            onnx_utils.simplify_onnx(tmp, display_name=str(out_file))
        if check:
            generator = torch.Generator().manual_seed(0)
            check_onnx_outputs(tmp, wrapper, torch.randn(x.shape, generator=generator))
    return names


__all__ = ['HeadExportWrapper', 'OnnxCheckError', 'export_onnx', 'check_onnx_outputs', 'torch_outputs']
