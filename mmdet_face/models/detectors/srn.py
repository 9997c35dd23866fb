"""SRN: Selective Refinement Network for High Performance Face Detection (Chi et al., AAAI 2019).

Backbone (ResNet, C2-C5) -> :class:`SRNFPN` (C2-C7 and P2-P7) -> :class:`SRNHead`. AInnoFace (arXiv 1905.01585)
is the same detector with other head switches, configured in ``configs/ainnoface``.
"""
from mmdet_face.registry import MODELS

from .scrfd import SCRFD


@MODELS.register_module()
class SRN(SCRFD):
    """A single-stage detector; :class:`SCRFD` only adds building under the ``mmdet_face`` scope, which SRN
    needs too. Predictions carry no keypoints."""
