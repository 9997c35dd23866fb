"""What the annotation readers and writers share: the file as UTF-8 lines (a leading byte-order mark is dropped;
another encoding is an error naming the line) or as JSON, numbers and value checks that name the file and the line
or object of a bad value, the five-landmark ``x y flag`` triplets, the number formats of the writers, the fitting of
boxes to the image, and the listing of a folder of annotation files."""
import math
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np

from mmdet_face.keypoints import NUM_KEYPOINTS
from mmdet_face.utils.text_file import content_lines, numbers, read_lines  # noqa: F401 (the readers' names)

LANDMARK_FLAGS = (0.0, 1.0, -1.0)


def check_finite(values: Sequence[float], names: Sequence[str], path: str, lineno: int) -> None:
    for value, name in zip(values, names):
        if not math.isfinite(value):
            raise ValueError(f'{path}:{lineno}: expected a finite number for {name}, got {value}')


def check_box(x1, y1, x2, y2, path, lineno):
    check_finite((x1, y1, x2, y2), ('box x1', 'box y1', 'box x2', 'box y2'), path, lineno)
    if x2 < x1 or y2 < y1:
        raise ValueError(f'{path}:{lineno}: expected a box with non-negative width and height, got '
                         f'x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g}')


def xywh_to_xyxy(x, y, w, h, path, lineno) -> np.ndarray:
    check_finite((x, y, w, h), ('box x', 'box y', 'box width', 'box height'), path, lineno)
    if w < 0 or h < 0:
        raise ValueError(f'{path}:{lineno}: expected non-negative box width and height, got w={w:g} h={h:g}')
    return np.array([x, y, x + w, y + h], dtype=np.float32)


def landmarks(values: Sequence[float], path: str, lineno: int) -> Tuple[np.ndarray, np.ndarray]:
    """15 numbers ``x y flag`` x 5 -> keypoints (5, 2), weights (5,) (flag -1: weight 0, coordinates 0)."""
    keypoints = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32)
    weights = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
    for k in range(NUM_KEYPOINTS):
        x, y, flag = values[3 * k:3 * k + 3]
        check_finite((x, y, flag), (f'landmark {k + 1} x', f'landmark {k + 1} y', f'landmark {k + 1} flag'),
                      path, lineno)
        if flag not in LANDMARK_FLAGS:
            raise ValueError(f'{path}:{lineno}: expected landmark {k + 1} flag 0, 1 (annotated) or -1 (no '
                             f'landmark), got {flag:g}')
        if flag != -1:
            keypoints[k] = (x, y)
            weights[k] = 1.0
    return keypoints, weights


def empty_landmarks() -> Tuple[np.ndarray, np.ndarray]:
    return np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32), np.zeros(NUM_KEYPOINTS, dtype=np.float32)


def header_tokens(line: str) -> List[str]:
    return line[1:].split()


def read_json(path: str):
    """The JSON document in ``path`` (UTF-8, a leading byte-order mark dropped); malformed JSON is an error naming
    the file, line and column."""
    import json
    text = '\n'.join(read_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}') from None


def expect_type(value, types, path: str, where: str, expected: str):
    """``value`` when it is an instance of ``types`` (``bool`` is never a number here), else an error naming the
    file and the object (``ann.json:annotations[3].bbox``)."""
    types = types if isinstance(types, tuple) else (types, )
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return value
    raise ValueError(f'{path}:{where}: expected {expected}, got {value!r}')


def expect_numbers(values, count: int, path: str, where: str, expected: str) -> List[float]:
    """A JSON list of ``count`` numbers as floats (finite checked by the caller), else an error naming the object."""
    if not isinstance(values, list) or len(values) != count or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f'{path}:{where}: expected {expected}, got {values!r}')
    return [float(v) for v in values]


def format_number(value) -> str:
    """The shortest decimal that reads back as the same ``float32`` (``449.0``, ``488.9``): what the writers write
    for coordinates the package holds as ``float32``."""
    return str(np.float32(value))


def format_derived(value: float) -> str:
    """A value computed from ``float32`` coordinates (a width, a normalised centre) with 12 significant digits:
    reading it back and undoing the computation gives the same ``float32``."""
    return f'{float(value):.12g}'


def fit_faces(faces, width: int, height: int):
    """Fit the faces of one image to its ``width`` x ``height`` pixels: a box partly outside is clipped to the image
    (its landmarks are kept); a box of zero width or height after clipping (so also one entirely outside) is
    dropped with its landmarks. Returns ``(kept faces, number clipped, number dropped)``."""
    kept, num_clipped, num_dropped = [], 0, 0
    for bbox, keypoints, weights, ignore in faces:
        clipped = np.clip(bbox, 0, [width, height, width, height]).astype(np.float32)
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            num_dropped += 1
            continue
        if not np.array_equal(clipped, bbox):
            num_clipped += 1
        kept.append((clipped, keypoints, weights, ignore))
    return kept, num_clipped, num_dropped


def record_location(image: dict, ann_file: str) -> str:
    """Where the record ``image`` of a reader comes from, for messages: ``file:line`` or the reader's ``where``."""
    return image.get('where') or f'{ann_file}:{image["lineno"]}'


def annotation_files(folder: str, suffix: str) -> List[str]:
    """The files ending in ``suffix`` under ``folder`` (any depth), sorted by their path relative to it."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: expected a folder of {suffix} annotation files')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(osp.join(root, f) for f in sorted(files) if f.lower().endswith(suffix) and not f.startswith('.'))
    return sorted(found, key=lambda p: osp.relpath(p, folder))


def output_files(images: List[dict], path_of) -> List[str]:
    """``path_of(name)`` for each record, the output file a folder writer gives it; two images that would share
    one file (``a.jpg`` and ``a.png``) are an error naming both, not a silently overwritten annotation."""
    paths, seen = [], {}
    for image in images:
        path = path_of(image['name'])
        if path in seen:
            raise ValueError(f'{path}: the annotations of {seen[path]} and {image["name"]} would both be written '
                             'here; rename one of the images')
        seen[path] = image['name']
        paths.append(path)
    return paths
