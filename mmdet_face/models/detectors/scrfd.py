"""SCRFD: Sample and Computation Redistribution for Efficient Face Detection (Guo et al., 2021).

A single-stage detector; faces' keypoints travel inside ``DetDataSample.gt_instances`` (``keypoints`` ``(N, 5, 2)``,
``keypoints_weights`` ``(N, 5)``) to the head's loss, and come back in ``pred_instances.keypoints``.
"""
from mmdet_face.registry import MODELS

from .single_stage_face import SingleStageFaceDetector


@MODELS.register_module()
class SCRFD(SingleStageFaceDetector):
    """Backbone -> neck -> :class:`SCRFDHead`.

    ``loss`` and ``predict`` are mmdet's: the head unpacks ``gt_instances`` (with keypoints) and
    ``ignored_instances`` itself, and its predictions carry ``keypoints`` into ``pred_instances``.
    ``_forward(batch_inputs)`` returns the raw head outputs ``(cls_scores, bbox_preds, kps_preds)``.
    """
