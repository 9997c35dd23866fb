from .retinaface_coder import RetinaFaceBoxCoder
from .scrfd_atss_assigner import SCRFDATSSAssigner, center_in_box
from .dsfd_prior_generator import DSFDPriorGenerator

__all__ = ['DSFDPriorGenerator', 'SCRFDATSSAssigner', 'center_in_box', 'RetinaFaceBoxCoder']
