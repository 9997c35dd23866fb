from .retinaface import RetinaFace
from .scrfd import SCRFD
from .single_stage_face import SingleStageFaceDetector
from .srn import SRN
from .dsfd import DSFD
from .onnx_face_detector import OnnxFaceDetector

__all__ = ['DSFD', 'SingleStageFaceDetector', 'SCRFD', 'RetinaFace', 'SRN', 'OnnxFaceDetector']
