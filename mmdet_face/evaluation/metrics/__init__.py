from .keypoint_metric import FaceKeypointMetric
from .widerface_metric import WiderFaceMetric
from .fddb_metric import FDDBMetric

__all__ = ['WiderFaceMetric', 'FaceKeypointMetric']
__all__ += ['FDDBMetric']
