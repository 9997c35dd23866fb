from .box_votes import box_vote, release_bbox_vote
from .dsfd_release_tta import DSFDReleaseTTAModel
from .face_tta import FaceTTAModel, flip_keypoints_back

__all__ = ['DSFDReleaseTTAModel', 'release_bbox_vote', 'FaceTTAModel', 'box_vote', 'flip_keypoints_back']
