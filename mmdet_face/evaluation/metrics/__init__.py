from .keypoint_metric import FaceKeypointMetric
from .widerface_metric import WiderFaceMetric

__all__ = ['WiderFaceMetric', 'FaceKeypointMetric']
