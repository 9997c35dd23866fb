"""RetinaFace: Single-stage Dense Face Localisation in the Wild (Deng et al., 2019).

Backbone -> [``RetinaFaceFPN``, ``RetinaFaceSSH``] -> :class:`RetinaFaceHead`. ``loss`` and ``predict`` are mmdet's
``SingleStageDetector``'s: keypoints travel in ``gt_instances`` to the head and come back in
``pred_instances.keypoints`` (N, 5, 2).
"""
from mmdet.models.detectors import SingleStageDetector
from mmengine.registry import DefaultScope

from mmdet_face.registry import MODELS


@MODELS.register_module()
class RetinaFace(SingleStageDetector):
    """mmdet's single-stage detector, built in the ``mmdet_face`` scope.

    ``neck`` may be a list of configs (built as ``nn.Sequential``, as mmdet allows). Sub-modules are built through
    mmdet's registry; the scope is set here so our names resolve even when no runner set it (tests, tools, API).
    """

    def __init__(self, *args, **kwargs):
        scope = DefaultScope.get_current_instance()
        if scope is None or scope.scope_name != 'mmdet_face':
            with DefaultScope.overwrite_default_scope('mmdet_face'):
                super().__init__(*args, **kwargs)
        else:
            super().__init__(*args, **kwargs)
