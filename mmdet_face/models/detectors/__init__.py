from .retinaface import RetinaFace
from .scrfd import SCRFD
from .single_stage_face import SingleStageFaceDetector
from .srn import SRN
from .dsfd import DSFD

__all__ = ['DSFD', 'SingleStageFaceDetector', 'SCRFD', 'RetinaFace', 'SRN']
