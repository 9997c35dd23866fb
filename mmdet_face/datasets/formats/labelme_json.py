"""labelme JSON annotations, one file per image (Wada, labelme: "Image Polygonal Annotation with Python",
github.com/wkentaro/labelme; the file its ``LabelFile`` saves)::

    {"imagePath": "a.jpg", "imageWidth": 1024, "imageHeight": 768,
     "shapes": [{"label": "face", "shape_type": "rectangle", "points": [[449, 330], [571, 479]], "group_id": 1},
                {"label": "left_eye", "shape_type": "point", "points": [[488.9, 391.0]], "group_id": 1}, ...]}

A ``rectangle`` (two opposite corners, in either order) is a box whose label ``box_labels`` maps to a face, an
ignore box or nothing (:mod:`.labels`). A ``point`` whose label ``keypoint_labels`` names (label -> landmark index
0..4, by default the names of :data:`mmdet_face.keypoints.KEYPOINT_NAMES`) is a landmark of the box with the same
``group_id``; in a file with a single face box, points without a ``group_id`` belong to it. A landmark not drawn has
weight 0. Other shapes or labels are errors unless ``box_labels`` maps the label to ``'skip'``.

``imagePath`` is relative to the JSON file's folder; the record's name is the image path relative to the folder
that was parsed, so the images are found with ``data_prefix=dict(img=<that folder>)``. ``imageWidth`` /
``imageHeight`` give the size (checked against the image header by the converter and against the decoded image
when the dataset loads it: a wrong size is an error). Every error names the file and the shape
(``a.json:shapes[2]``).
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from mmdet_face.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

from .common import (annotation_files, check_box, check_finite, empty_landmarks, expect_numbers, expect_type,
                     read_json)
from .labels import box_role, check_box_labels

DEFAULT_KEYPOINT_LABELS = {name: k for k, name in enumerate(KEYPOINT_NAMES)}


def _check_keypoint_labels(keypoint_labels: Optional[Dict[str, int]]) -> Dict[str, int]:
    keypoint_labels = dict(DEFAULT_KEYPOINT_LABELS if keypoint_labels is None else keypoint_labels)
    for label, index in keypoint_labels.items():
        if index not in range(NUM_KEYPOINTS) or isinstance(index, bool):
            raise ValueError(f'keypoint_labels: expected a landmark index 0..{NUM_KEYPOINTS - 1} for {label!r}, '
                             f'got {index!r}')
    return keypoint_labels


def _points(shape, count: int, path: str, where: str) -> List[List[float]]:
    points = shape.get('points')
    if not isinstance(points, list) or len(points) != count:
        raise ValueError(f'{path}:{where}: expected "points" with {count} [x, y] pair(s), got {points!r}')
    pairs = [expect_numbers(p, 2, path, f'{where}.points[{i}]', 'a point [x, y]') for i, p in enumerate(points)]
    for i, (x, y) in enumerate(pairs):
        check_finite((x, y), (f'point {i + 1} x', f'point {i + 1} y'), path, where)
    return pairs


def _parse_file(path: str, folder: str, box_labels: dict, keypoint_labels: dict) -> dict:
    data = read_json(path)
    expect_type(data, dict, path, '1', 'a labelme JSON object with "shapes", "imagePath", "imageWidth", '
                'and "imageHeight"')
    image_path = expect_type(data.get('imagePath'), str, path, 'imagePath', 'the image path')
    size = [expect_type(data.get(key), int, path, key, f'a positive integer {key}')
            for key in ('imageWidth', 'imageHeight')]
    if min(size) <= 0:
        raise ValueError(f'{path}:imageWidth: expected a positive integer image width and height, got '
                         f'{size[0]} x {size[1]}')
    shapes = expect_type(data.get('shapes'), list, path, 'shapes', 'a list of shapes')
    boxes, points = [], []  # (where, group_id, bbox, ignore), (where, group_id, index, x, y)
    for i, shape in enumerate(shapes):
        where = f'shapes[{i}]'
        expect_type(shape, dict, path, where, 'a shape object {"label", "shape_type", "points"}')
        label = expect_type(shape.get('label'), str, path, f'{where}.label', 'a label')
        kind = shape.get('shape_type') or 'polygon'  # labelme leaves it out for polygons in old files
        group_id = shape.get('group_id')
        if kind == 'point' and label in keypoint_labels:
            ((x, y), ) = _points(shape, 1, path, where)
            points.append((where, group_id, keypoint_labels[label], x, y))
            continue
        if label in box_labels and box_labels[label] == 'skip':
            continue
        if kind != 'rectangle':
            raise ValueError(f'{path}:{where}: expected a rectangle (a face box) or a point labelled as a landmark '
                             f'({sorted(keypoint_labels)}), got a {kind} labelled {label!r}')
        role = box_role(label, box_labels, path, where)
        (ax, ay), (bx, by) = _points(shape, 2, path, where)
        bbox = [min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]
        check_box(*bbox, path, where)
        boxes.append((where, group_id, np.asarray(bbox, dtype=np.float32), role == 'ignore'))
    landmarks = [empty_landmarks() for _ in boxes]
    for where, group_id, index, x, y in points:
        if group_id is None:
            owners = list(range(len(boxes))) if len(boxes) == 1 else []
            if not owners:
                raise ValueError(f'{path}:{where}: expected a group_id linking the landmark to its face box (the '
                                 f'file has {len(boxes)} boxes)')
        else:
            owners = [b for b, box in enumerate(boxes) if box[1] == group_id]
            if len(owners) != 1:
                raise ValueError(f'{path}:{where}: expected one box with group_id {group_id} for this landmark, '
                                 f'got {len(owners)}')
        keypoints, weights = landmarks[owners[0]]
        if weights[index]:
            raise ValueError(f'{path}:{where}: expected one landmark {index + 1} ({KEYPOINT_NAMES[index]}) per '
                             f'face, got a second one for the box at {boxes[owners[0]][0]}')
        keypoints[index] = (x, y)
        weights[index] = 1.0
    name = osp.normpath(osp.join(osp.relpath(osp.dirname(path), folder), image_path.replace('\\', '/')))
    faces = [(bbox, keypoints, weights, ignore) for (_, _, bbox, ignore), (keypoints, weights) in zip(boxes, landmarks)]
    return dict(name=name, width=size[0], height=size[1], faces=faces, lineno=None, where=path)


def parse_labelme_json(folder: str, box_labels: Optional[Dict[str, str]] = None,
                       keypoint_labels: Optional[Dict[str, int]] = None) -> List[dict]:
    """Parse the labelme ``*.json`` files under ``folder`` (see the module docstring) into the records of
    :mod:`.formats` (boxes ``x1 y1 x2 y2`` float32 pixels, keypoints ``(5, 2)``, weights ``(5,)``), one per file,
    sorted by path."""
    box_labels = check_box_labels(box_labels)
    keypoint_labels = _check_keypoint_labels(keypoint_labels)
    return [_parse_file(path, folder, box_labels, keypoint_labels) for path in annotation_files(folder, '.json')]
