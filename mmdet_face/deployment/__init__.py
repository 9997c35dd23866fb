"""One file per job: ``<family>_onnx_export.py`` (our model -> ONNX in the family's released layout, all through
:func:`onnx_export.export_onnx`), ``<family>_<format>_import.py`` (released weights -> our checkpoint)."""
from .onnx_export import OnnxCheckError, export_onnx  # noqa: F401
from .output_file import OutputExistsError, atomic_output, check_output_path  # noqa: F401
from .retinaface_onnx_export import RetinaFaceExportWrapper, export_retinaface_onnx  # noqa: F401
from .retinaface_pth_import import convert_retinaface_checkpoint  # noqa: F401
from .scrfd_onnx_export import SCRFDExportWrapper, export_scrfd_onnx  # noqa: F401
from .scrfd_onnx_import import (SCRFDOnnxMismatch, convert_scrfd_onnx, find_matching_configs,  # noqa: F401
                                load_scrfd_onnx_weights, read_onnx_model)
