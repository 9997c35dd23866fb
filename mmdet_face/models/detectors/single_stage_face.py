"""The single-stage face detector that SCRFD, RetinaFace and SRN share.

mmdet's ``SingleStageDetector`` already carries what faces need: keypoints travel in ``gt_instances``
(``keypoints`` (N, 5, 2), ``keypoints_weights`` (N, 5)) and ignore faces in ``ignored_instances`` to the head's loss,
and the head's predictions put ``keypoints`` into ``pred_instances``. What this class adds is the build scope.
"""
from mmdet.models.detectors import SingleStageDetector
from mmengine.registry import DefaultScope

from mmdet_face.registry import MODELS


@MODELS.register_module()
class SingleStageFaceDetector(SingleStageDetector):
    """mmdet's single-stage detector, built in the ``mmdet_face`` scope.

    Sub-modules are built through mmdet's registry, which resolves names in the current default scope; setting
    ours here makes ``MobileNetV1``, ``SCRFDHead`` ... resolve even where no runner set it (unit tests, tools,
    the API), while mmdet's own modules still resolve through the parent registry.
    """

    def __init__(self, *args, **kwargs):
        with DefaultScope.overwrite_default_scope('mmdet_face'):
            super().__init__(*args, **kwargs)
