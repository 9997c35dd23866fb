from .build import build_face_detector
from .complexity import get_model_complexity
from .keypoint_targets import masked_gt_keypoints
from .nms import sweep_batched_nms
from .ssd_multibox import hard_negative_mining, match_priors, multibox_loss

__all__ = ['build_face_detector', 'get_model_complexity', 'hard_negative_mining', 'match_priors', 'multibox_loss',
           'sweep_batched_nms', 'masked_gt_keypoints']
