from .face_tta import FaceTTAModel, box_vote, flip_keypoints_back

__all__ = ['FaceTTAModel', 'box_vote', 'flip_keypoints_back']
