from .scrfd_head import SCRFDHead
from .retinaface_head import RetinaFaceHead  # noqa: F401

__all__ = ['SCRFDHead']
from .srn_head import SRNHead  # noqa: F401
