from .base_face_head import BaseFaceHead
from .retinaface_head import RetinaFaceHead
from .scrfd_head import SCRFDHead
from .srn_head import SRNHead
from .dsfd_head import DSFDHead

__all__ = ['DSFDHead', 'BaseFaceHead', 'RetinaFaceHead', 'SCRFDHead', 'SRNHead']
