"""The ``labelv2.txt`` format of the RetinaFace / SCRFD release (Deng et al., "RetinaFace: Single-stage Dense Face
Localisation in the Wild", CVPR 2020)::

    # 0--Parade/0_Parade_marchingband_1_849.jpg 1024 1385
    449.0 330.0 571.0 479.0 488.9 391.0 0.0 541.1 393.4 0.0 509.8 426.5 0.0 491.1 446.4 0.0 534.6 449.1 0.0
    10 20 30 40                   <- box only (x1 y1 x2 y2)
    10 20 30 40 1                 <- box + ignore flag

A face line is ``x1 y1 x2 y2`` (pixels, no +1), optionally followed by 15 numbers (5 landmarks as ``x y flag``;
``flag == -1`` means "no landmark": weight 0, coordinates set to 0; flags ``0`` and ``1`` mean annotated:
weight 1) or by one number (ignore flag, ``0`` or ``1`` = ignore). The header may omit ``width height``; then
the size is read from the image.

Values are checked, not only the structure: coordinates finite, boxes not inverted, flags among the documented
values; every error names the file and line.
"""
from typing import List

import numpy as np

from mmdet_face.keypoints import NUM_KEYPOINTS

from .common import (check_box, content_lines, empty_landmarks, format_number, header_tokens, landmarks, numbers,
                     read_lines)


def parse_labelv2(path: str) -> List[dict]:
    """Parse a labelv2 file into ``[{'name', 'width', 'height', 'faces', 'lineno'}]``.

    Each face is ``(bbox (4,) x1y1x2y2, keypoints (5, 2), keypoints_weights (5,), ignore bool)``.
    ``width``/``height`` are ``None`` when the header omits them.
    """
    images: List[dict] = []
    for lineno, line in content_lines(read_lines(path)):
        if line.startswith('#'):
            tokens = header_tokens(line)
            if len(tokens) not in (1, 3):
                raise ValueError(f'{path}:{lineno}: expected a header "# <image path> <width> <height>", '
                                 f'got {len(tokens)} fields')
            width = height = None
            if len(tokens) == 3:
                width, height = numbers(tokens[1:], path, lineno, 'integer width and height')
                if not (width > 0 and height > 0 and width == int(width) and height == int(height)):
                    raise ValueError(f'{path}:{lineno}: expected positive integer width and height, got '
                                     f'{tokens[1]} {tokens[2]}')
                width, height = int(width), int(height)
            images.append(dict(name=tokens[0], width=width, height=height, faces=[], lineno=lineno))
            continue
        if not images:
            raise ValueError(f'{path}:{lineno}: expected a header line "# <image path> <width> <height>" '
                             'before the first face line')
        tokens = line.split()
        if len(tokens) not in (4, 5, 4 + 3 * NUM_KEYPOINTS):
            hint = (' (20 numbers is the retinaface_gt label.txt layout "x y w h" + landmarks + score: '
                    "ann_format='retinaface_gt')" if len(tokens) == 4 + 3 * NUM_KEYPOINTS + 1 else '')
            raise ValueError(f'{path}:{lineno}: expected 4 (box), 5 (box + ignore flag) or 19 (box + 5 '
                             f'landmarks as x y flag) numbers, got {len(tokens)}{hint}')
        values = numbers(tokens, path, lineno, 'numbers "x1 y1 x2 y2 [...]"')
        check_box(*values[:4], path, lineno)
        keypoints, weights = empty_landmarks()
        ignore = False
        if len(values) == 5:
            if values[4] not in (0, 1):
                raise ValueError(f'{path}:{lineno}: expected an ignore flag 0 or 1 after the box, got '
                                 f'{tokens[4]}')
            ignore = values[4] == 1
        elif len(values) > 5:
            keypoints, weights = landmarks(values[4:], path, lineno)
        images[-1]['faces'].append((np.asarray(values[:4], dtype=np.float32), keypoints, weights, ignore))
    return images


def write_labelv2(images: List[dict], out_file: str) -> None:
    """Write the records of :mod:`.formats` as a labelv2 file at ``out_file`` (the caller decides where it may write:
    :func:`mmdet_face.utils.output_file.atomic_output`). Headers carry the size when it is known. A face with
    landmarks is ``x1 y1 x2 y2`` + 5 x ``x y 0.0`` (``-1.0 -1.0 -1.0`` for a landmark of weight 0), one without is
    the box alone, an ignore box is the box + ``1`` (labelv2 has no landmarks on ignore boxes: they are left out).
    Numbers are the shortest decimals that read back as the same float32."""
    lines = []
    for image in images:
        size = '' if image['width'] is None else f' {int(image["width"])} {int(image["height"])}'
        lines.append(f'# {image["name"]}{size}')
        for bbox, keypoints, weights, ignore in image['faces']:
            line = ' '.join(map(format_number, bbox))
            if ignore:
                line += ' 1'
            elif weights.any():
                line += ''.join(f' {format_number(x)} {format_number(y)} 0.0' if w else ' -1.0 -1.0 -1.0'
                                for (x, y), w in zip(keypoints, weights))
            lines.append(line)
    with open(out_file, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
