"""The facial landmarks of every face model, transform, metric and API in this package (the RetinaFace
annotation convention; image-left / image-right as annotated, not the person's left / right).

Pure Python on purpose: importing it pulls in nothing.
"""
NUM_KEYPOINTS = 5
KEYPOINT_NAMES = ('left_eye', 'right_eye', 'nose', 'left_mouth', 'right_mouth')
# index i of a horizontally flipped face holds landmark KEYPOINT_FLIP_ORDER[i] of the original
KEYPOINT_FLIP_ORDER = (1, 0, 2, 4, 3)

__all__ = ['NUM_KEYPOINTS', 'KEYPOINT_NAMES', 'KEYPOINT_FLIP_ORDER']
