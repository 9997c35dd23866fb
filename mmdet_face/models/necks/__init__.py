from .srn_fpn import SRNFPN
from .ssh import RetinaFaceFPN, RetinaFaceSSH
from .fem import DSFDFEM

__all__ = ['DSFDFEM', 'RetinaFaceFPN', 'RetinaFaceSSH', 'SRNFPN']
