from .checkpoint import CheckpointMismatchError, load_face_checkpoint
from .face_detector import FaceDetections, FaceDetector
from .inference import init_face_detector, load_config

__all__ = ['FaceDetector', 'FaceDetections', 'CheckpointMismatchError', 'load_face_checkpoint',
           'init_face_detector', 'load_config']
