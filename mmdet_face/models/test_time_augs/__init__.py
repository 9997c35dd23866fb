from .dsfd_release_tta import DSFDReleaseTTAModel, release_bbox_vote
from .face_tta import FaceTTAModel, box_vote, flip_keypoints_back

__all__ = ['DSFDReleaseTTAModel', 'release_bbox_vote', 'FaceTTAModel', 'box_vote', 'flip_keypoints_back']
