"""The official ``wider_face_{train,val}_bbx_gt.txt``: an image path line, a face count line, then per face
``x y w h blur expression illumination invalid occlusion pose``; a count of 0 is followed by one line of zeros.
Faces flagged ``invalid`` become ignore boxes. There are no landmarks (keypoints zero, weights zero).

Values are checked, not only the structure; every error names the file and line.
"""
from typing import List

from .common import empty_landmarks, numbers, read_lines, xywh_to_xyxy


def parse_wider_gt(path: str) -> List[dict]:
    """Parse an official ``wider_face_*_bbx_gt.txt`` (see module docstring); same output as :func:`parse_labelv2`
    with ``width``/``height`` ``None``."""
    lines = [ln.strip() for ln in read_lines(path)]
    images: List[dict] = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i]:
            i += 1
            continue
        name, name_lineno = lines[i], i + 1
        if len(name.split()) != 1 or not name.lower().endswith(('.jpg', '.jpeg', '.png')):
            raise ValueError(f'{path}:{name_lineno}: expected an image path line (e.g. '
                             f'"0--Parade/0_Parade_marchingband_1_849.jpg"), got {name!r}')
        if i + 1 >= n or not lines[i + 1]:
            raise ValueError(f'{path}:{name_lineno + 1}: expected a face count after {name!r}, got '
                             + ('end of file' if i + 1 >= n else 'an empty line'))
        count_str = lines[i + 1]
        try:
            count = int(count_str)
        except ValueError:
            raise ValueError(f'{path}:{i + 2}: expected a face count (integer), got {count_str!r}') from None
        if count < 0:
            raise ValueError(f'{path}:{i + 2}: expected a non-negative face count, got {count}')
        num_lines = max(count, 1)  # a count of 0 is followed by one line of zeros
        faces = []
        for k in range(num_lines):
            lineno = i + 3 + k
            if i + 2 + k >= n or (not lines[i + 2 + k] and i + 3 + k >= n):
                raise ValueError(f'{path}:{lineno}: expected {num_lines} face line(s) for {name!r} (count on line '
                                 f'{i + 2}), got end of file after {k}')
            tokens = lines[i + 2 + k].split()
            if len(tokens) != 10:
                raise ValueError(f'{path}:{lineno}: expected 10 numbers "x y w h blur expression illumination '
                                 f'invalid occlusion pose" (face {k + 1} of {count} for {name!r}), got '
                                 f'{len(tokens)} fields')
            values = numbers(tokens, path, lineno, '10 numbers "x y w h blur expression illumination invalid '
                                                    'occlusion pose"')
            if count == 0:
                continue
            bbox = xywh_to_xyxy(*values[:4], path, lineno)
            invalid = values[7]
            if invalid not in (0, 1):
                raise ValueError(f'{path}:{lineno}: expected the invalid flag (8th number) 0 or 1, got {tokens[7]}')
            faces.append((bbox, *empty_landmarks(), invalid == 1))
        images.append(dict(name=name, width=None, height=None, faces=faces, lineno=name_lineno))
        i += 2 + num_lines
    return images
