"""RetinaFace: Single-stage Dense Face Localisation in the Wild (Deng et al., 2019).

Backbone -> [``RetinaFaceFPN``, ``RetinaFaceSSH``] -> :class:`RetinaFaceHead`. ``loss`` and ``predict`` are mmdet's
``SingleStageDetector``'s: keypoints travel in ``gt_instances`` to the head and come back in
``pred_instances.keypoints`` (N, 5, 2).
"""
from mmdet_face.registry import MODELS

from .single_stage_face import SingleStageFaceDetector


@MODELS.register_module()
class RetinaFace(SingleStageFaceDetector):
    """``neck`` may be a list of configs (built as ``nn.Sequential``, as mmdet allows)."""
