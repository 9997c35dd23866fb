from .face_coco_metric import FaceCocoMetric
from .afw_pascal_metric import AFWPascalMetric
from .keypoint_metric import FaceKeypointMetric
from .widerface_metric import WiderFaceMetric
from .fddb_metric import FDDBMetric
from .widerface_submission_metric import WiderFaceSubmissionMetric

__all__ = ['WiderFaceMetric', 'FaceKeypointMetric', 'WiderFaceSubmissionMetric', 'FaceCocoMetric', 'AFWPascalMetric',
           'FDDBMetric']
