from .retinaface import RetinaFace
from .scrfd import SCRFD
from .single_stage_face import SingleStageFaceDetector
from .srn import SRN

__all__ = ['SingleStageFaceDetector', 'SCRFD', 'RetinaFace', 'SRN']
