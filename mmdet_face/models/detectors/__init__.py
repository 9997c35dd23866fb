from .scrfd import SCRFD
from .retinaface import RetinaFace  # noqa: F401

__all__ = ['SCRFD']
from .srn import SRN  # noqa: F401
