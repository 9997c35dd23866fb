from .afw_pascal_metric import AFWPascalMetric
from .keypoint_metric import FaceKeypointMetric
from .widerface_metric import WiderFaceMetric

__all__ = ['WiderFaceMetric', 'FaceKeypointMetric']
__all__ += ['AFWPascalMetric']
