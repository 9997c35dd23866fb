from .srn_fpn import SRNFPN
from .ssh import RetinaFaceFPN, RetinaFaceSSH

__all__ = ['RetinaFaceFPN', 'RetinaFaceSSH', 'SRNFPN']
