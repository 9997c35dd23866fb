"""SCRFD: Sample and Computation Redistribution for Efficient Face Detection (Guo et al., 2021).

A single-stage detector; faces' keypoints travel inside ``DetDataSample.gt_instances`` (``keypoints`` ``(N, 5, 2)``,
``keypoints_weights`` ``(N, 5)``) to the head's loss, and come back in ``pred_instances.keypoints``.
"""
from mmdet.models.detectors import SingleStageDetector
from mmengine.registry import DefaultScope

from mmdet_face.registry import MODELS


@MODELS.register_module()
class SCRFD(SingleStageDetector):
    """Backbone -> neck -> :class:`SCRFDHead`.

    ``loss`` and ``predict`` are mmdet's: the head unpacks ``gt_instances`` (with keypoints) and
    ``ignored_instances`` itself, and its predictions carry ``keypoints`` into ``pred_instances``.
    ``_forward(batch_inputs)`` returns the raw head outputs ``(cls_scores, bbox_preds, kps_preds)``.
    """

    def __init__(self, *args, **kwargs):
        # Sub-modules are built through mmdet's registry; make it resolve our names (MobileNetV1, SCRFDHead ...)
        # even when no runner has set the default scope (unit tests, tools, the API).
        scope = DefaultScope.get_current_instance()
        if scope is None or scope.scope_name != 'mmdet_face':
            with DefaultScope.overwrite_default_scope('mmdet_face'):
                super().__init__(*args, **kwargs)
        else:
            super().__init__(*args, **kwargs)
