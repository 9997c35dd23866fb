from .scrfd_atss_assigner import SCRFDATSSAssigner, center_in_box
from .retinaface_coder import RetinaFaceBoxCoder  # noqa: F401

__all__ = ['SCRFDATSSAssigner', 'center_in_box']
