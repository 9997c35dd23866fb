from .ssh import RetinaFaceFPN, RetinaFaceSSH  # noqa: F401
from .srn_fpn import SRNFPN  # noqa: F401
