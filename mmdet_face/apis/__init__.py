from . import cpu_runtime
from .checkpoint import CheckpointMismatchError, load_face_checkpoint
from .cpu_runtime import optimize_for_inference, tune_cpu_allocator
from .face_detector import FaceDetections, FaceDetector, RandomWeightsWarning
from .inference import init_face_detector, load_config

__all__ = ['FaceDetector', 'FaceDetections', 'RandomWeightsWarning', 'CheckpointMismatchError',
           'load_face_checkpoint', 'init_face_detector', 'load_config', 'cpu_runtime', 'optimize_for_inference',
           'tune_cpu_allocator']
