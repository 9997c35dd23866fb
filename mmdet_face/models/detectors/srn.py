"""SRN: Selective Refinement Network for High Performance Face Detection (Chi et al., AAAI 2019).

Backbone (ResNet, C2-C5) -> :class:`SRNFPN` (C2-C7 and P2-P7) -> :class:`SRNHead`. AInnoFace (arXiv 1905.01585)
is the same detector with other head switches, configured in ``configs/ainnoface``.
"""
from mmdet_face.registry import MODELS

from .single_stage_face import SingleStageFaceDetector


@MODELS.register_module()
class SRN(SingleStageFaceDetector):
    """Predictions carry no keypoints (SRN has no landmark branch)."""
