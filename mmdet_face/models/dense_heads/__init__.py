from .face_head_mixin import FaceHeadMixin, SSDReleaseHeadMixin
from .retinaface_head import RetinaFaceHead
from .scrfd_head import SCRFDHead
from .srn_head import SRNHead
from .dsfd_head import DSFDHead

__all__ = ['DSFDHead', 'FaceHeadMixin', 'RetinaFaceHead', 'SCRFDHead', 'SRNHead', 'SSDReleaseHeadMixin']
