"""RetinaFace's ``retinaface_gt_v1.1`` ``label.txt`` (``ann_format='retinaface_gt'``)::

    # 0--Parade/0_Parade_marchingband_1_849.jpg
    449 330 122 149 488.906 373.643 0.0 542.089 376.442 0.0 515.031 412.83 0.0 485.537 425.893 0.0 538.263 431.491 0.0 0.82
    84 92 84 112                  <- val / test files: box only

A header holds only the image path (the size is read from the image). A face line is ``x y w h`` (top-left
corner, width, height) followed either by nothing (val / test) or by 5 landmarks as ``x y flag`` (``-1 -1 -1``:
no landmark, weight 0) and one trailing confidence value (read, checked finite, not used): 20 numbers.

Values are checked, not only the structure; every error names the file and line.
"""
from typing import List

from mmdet_face.keypoints import NUM_KEYPOINTS

from .common import (check_finite, content_lines, empty_landmarks, header_tokens, landmarks, numbers, read_lines,
                     xywh_to_xyxy)


def parse_retinaface_gt(path: str) -> List[dict]:
    """Parse a RetinaFace ``retinaface_gt_v1.1`` ``label.txt`` (see module docstring); same output as
    :func:`parse_labelv2` (boxes converted to x1y1x2y2, ``width``/``height`` ``None``, no ignore faces)."""
    images: List[dict] = []
    for lineno, line in content_lines(read_lines(path)):
        if line.startswith('#'):
            tokens = header_tokens(line)
            if len(tokens) != 1:
                raise ValueError(f'{path}:{lineno}: expected a header "# <image path>" (RetinaFace label.txt), '
                                 f'got {len(tokens)} fields' +
                                 (" (a header with width and height is labelv2: ann_format='labelv2')"
                                  if len(tokens) == 3 else ''))
            images.append(dict(name=tokens[0], width=None, height=None, faces=[], lineno=lineno))
            continue
        if not images:
            raise ValueError(f'{path}:{lineno}: expected a header line "# <image path>" before the first face line')
        tokens = line.split()
        if len(tokens) not in (4, 4 + 3 * NUM_KEYPOINTS + 1):
            raise ValueError(f'{path}:{lineno}: expected 4 (x y w h) or 20 (x y w h, 5 landmarks as x y flag, '
                             f'score) numbers, got {len(tokens)}')
        values = numbers(tokens, path, lineno, 'numbers "x y w h [...]"')
        bbox = xywh_to_xyxy(*values[:4], path, lineno)
        keypoints, weights = empty_landmarks()
        if len(values) > 4:
            keypoints, weights = landmarks(values[4:19], path, lineno)
            check_finite(values[19:], ('score (the last number)', ), path, lineno)
        images[-1]['faces'].append((bbox, keypoints, weights, False))
    return images
