from .retinaface_coder import RetinaFaceBoxCoder
from .scrfd_atss_assigner import SCRFDATSSAssigner, center_in_box

__all__ = ['SCRFDATSSAssigner', 'center_in_box', 'RetinaFaceBoxCoder']
