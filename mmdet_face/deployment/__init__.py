"""One file per job: ``<family>_onnx_export.py`` (our model -> ONNX in the family's released layout, all through
:func:`onnx_export.export_onnx`, and its inverse for the onnxruntime backend), ``onnx_layouts.py`` (the families'
layouts side by side), ``onnx_runtime.py`` (:class:`OnnxFaceDetector`: an ONNX file run like FaceDetector runs a
checkpoint), ``onnx_face_model.py`` (the same inside mmengine's test loop), ``<family>_<format>_import.py``
(released weights -> our checkpoint), ``dsfd_strip_first_shot.py`` (a DSFD training checkpoint -> the inference
checkpoint), ``quantize_onnx.py`` (FP32 ONNX -> INT8 ONNX, onnxruntime's static quantisation).

The names below load on first use (torch, onnx). The atomic, never-overwriting output writes they use live in
:mod:`mmdet_face.utils.output_file`."""
import importlib

_LAZY = {
    'publish_dsfd_checkpoint': 'dsfd_strip_first_shot', 'strip_first_shot': 'dsfd_strip_first_shot',
    'OnnxCheckError': 'onnx_export', 'export_onnx': 'onnx_export',
    'RetinaFaceExportWrapper': 'retinaface_onnx_export', 'export_retinaface_onnx': 'retinaface_onnx_export',
    'convert_retinaface_checkpoint': 'retinaface_pth_import',
    'SCRFDExportWrapper': 'scrfd_onnx_export', 'export_scrfd_onnx': 'scrfd_onnx_export',
    'SCRFDOnnxMismatch': 'scrfd_onnx_import', 'convert_scrfd_onnx': 'scrfd_onnx_import',
    'find_matching_configs': 'scrfd_onnx_import', 'load_scrfd_onnx_weights': 'scrfd_onnx_import',
    'read_onnx_model': 'scrfd_onnx_import',
    'QuantizationCheckError': 'quantize_onnx', 'QuantizationError': 'quantize_onnx', 'quantize_onnx': 'quantize_onnx',
    'OnnxFaceDetector': 'onnx_runtime', 'OnnxNetwork': 'onnx_runtime', 'OnnxLayoutError': 'onnx_layouts',
    'SRNExportWrapper': 'srn_onnx_export', 'export_srn_onnx': 'srn_onnx_export',
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
