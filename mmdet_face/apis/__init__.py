from .checkpoint import CheckpointMismatchError, load_face_checkpoint
from .face_detector import FaceDetections, FaceDetector

__all__ = ['FaceDetector', 'FaceDetections', 'CheckpointMismatchError', 'load_face_checkpoint']
