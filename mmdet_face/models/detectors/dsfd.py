"""DSFD: Dual Shot Face Detector (Li et al., CVPR 2019).

:class:`DSFDBackbone` (the original features of_1..of_6) -> :class:`DSFDFEM` (the enhanced features ef_1..ef_6)
-> :class:`DSFDHead`. Inference, export and the released weights use the second shot only (on the enhanced
features); the paper's first shot (on the original features) exists only in training, which is why
:meth:`DSFD.extract_original_and_enhanced` keeps both sets reachable.
"""
from typing import Tuple

from torch import Tensor

from mmdet_face.registry import MODELS

from .single_stage_face import SingleStageFaceDetector


@MODELS.register_module()
class DSFD(SingleStageFaceDetector):
    """``extract_feat`` returns the enhanced levels (what the second shot and every test graph see)."""

    def extract_original_and_enhanced(self, batch_inputs: Tensor) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """(B, 3, H, W) -> (original levels, enhanced levels), each a tuple of (B, C_l, H_l, W_l), finest first."""
        original = self.backbone(batch_inputs)
        enhanced = self.neck(original) if self.with_neck else original
        return original, enhanced

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        return self.extract_original_and_enhanced(batch_inputs)[1]

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        """Progressive Anchor Loss: the head's second shot on the enhanced levels and, when the head has a first
        shot (training configs), its first shot on the original levels."""
        original, enhanced = self.extract_original_and_enhanced(batch_inputs)
        return self.bbox_head.loss(enhanced, batch_data_samples, original_feats=original)
