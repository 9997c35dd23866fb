from .base_face_head import BaseFaceHead
from .retinaface_head import RetinaFaceHead
from .scrfd_head import SCRFDHead
from .srn_head import SRNHead

__all__ = ['BaseFaceHead', 'RetinaFaceHead', 'SCRFDHead', 'SRNHead']
