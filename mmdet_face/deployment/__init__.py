from .output_file import OutputExistsError, atomic_output, check_output_path  # noqa: F401
from .scrfd_onnx import (SCRFDExportWrapper, SCRFDOnnxMismatch, convert_scrfd_onnx, export_scrfd_onnx,  # noqa: F401
                         find_matching_configs, load_scrfd_onnx_weights, read_onnx_model)
