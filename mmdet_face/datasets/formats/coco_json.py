"""COCO-style JSON face annotations (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; the
object-detection and keypoint layout as pycocotools reads it)::

    {"images": [{"id": 1, "file_name": "0--Parade/a.jpg", "width": 1024, "height": 768}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [449, 330, 122, 149], "iscrowd": 0,
                      "keypoints": [488.9, 391.0, 2, 541.1, 393.4, 2, 509.8, 426.5, 2, 491.1, 446.4, 2,
                                    534.6, 449.1, 2]}],
     "categories": [{"id": 1, "name": "face", "keypoints": ["left_eye", "right_eye", "nose", "left_mouth",
                                                            "right_mouth"]}]}

``bbox`` is ``x y w h`` in pixels (no +1), as in COCO. ``keypoints`` (optional; absent or empty means no
landmarks) holds the five landmarks in the package's order (:mod:`mmdet_face.keypoints`) as ``x y v``: ``v`` 0 is
"not labelled" (weight 0, coordinates 0), 1 ("labelled, not visible") and 2 ("visible") are annotated (weight 1).
``iscrowd: 1`` or ``ignore: 1`` (mmdet's extension) makes an ignore box.

The faces are the annotations of one category: ``category`` by name, else the file's only category, else the one
named ``face``; annotations of other categories are not faces and are left out. ``file_name`` is relative to the
image folder (``data_prefix['img']`` of the dataset). Every error names the file and the object
(``ann.json:annotations[3] (id 17)``).
"""
import json
from typing import Dict, List, Optional

import numpy as np

from mmdet_face.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

from .common import (check_finite, empty_landmarks, expect_numbers, expect_type, format_derived, format_number,
                     read_json, xywh_to_xyxy)

KEYPOINT_VISIBILITY = (0, 1, 2)


def _face_category(categories: list, path: str, category: Optional[str]) -> int:
    names: Dict[str, int] = {}
    for i, cat in enumerate(categories):
        expect_type(cat, dict, path, f'categories[{i}]', 'a category object {"id": ..., "name": ...}')
        names[expect_type(cat.get('name'), str, path, f'categories[{i}].name', 'a category name')] = \
            expect_type(cat.get('id'), int, path, f'categories[{i}].id', 'an integer category id')
    if category is not None:
        if category not in names:
            raise ValueError(f'{path}: expected a category named {category!r}, got the categories {sorted(names)}')
        return names[category]
    if len(names) == 1:
        return next(iter(names.values()))
    if 'face' in names:
        return names['face']
    raise ValueError(f'{path}: cannot tell which of the categories {sorted(names)} holds the faces (none is named '
                     "'face'); pass the category name (category= in Python, --category on the command line)")


def _coco_landmarks(values, path: str, where: str):
    keypoints, weights = empty_landmarks()
    values = expect_numbers(values, 3 * NUM_KEYPOINTS, path, where,
                            f'{3 * NUM_KEYPOINTS} numbers (5 landmarks as x y v) or an empty list')
    for k in range(NUM_KEYPOINTS):
        x, y, v = values[3 * k:3 * k + 3]
        check_finite((x, y), (f'landmark {k + 1} x', f'landmark {k + 1} y'), path, where)
        if v not in KEYPOINT_VISIBILITY:
            raise ValueError(f'{path}:{where}: expected landmark {k + 1} visibility 0 (not labelled), 1 or 2 '
                             f'(labelled), got {v:g}')
        if v > 0:
            keypoints[k] = (x, y)
            weights[k] = 1.0
    return keypoints, weights


def parse_coco_json(path: str, category: Optional[str] = None) -> List[dict]:
    """Parse a COCO-style JSON file (see the module docstring) into the records of :mod:`.formats`
    (``[{'name', 'width', 'height', 'faces', 'lineno', 'where'}]``, boxes ``x1 y1 x2 y2`` float32 pixels,
    keypoints ``(5, 2)``, weights ``(5,)``), images in the file's order, faces in the annotations' order."""
    data = read_json(path)
    expect_type(data, dict, path, '1', 'a JSON object with "images", "annotations" and "categories"')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{path}: expected a list "{key}" in the top-level object, got '
                             + (f'{type(data[key]).__name__}' if key in data else 'none'))
    face_id = _face_category(data['categories'], path, category)
    images, by_id = [], {}
    for i, img in enumerate(data['images']):
        where = f'images[{i}]'
        expect_type(img, dict, path, where, 'an image object {"id", "file_name", "width", "height"}')
        image_id = expect_type(img.get('id'), int, path, f'{where}.id', 'an integer image id')
        where = f'images[{i}] (id {image_id})'
        if image_id in by_id:
            raise ValueError(f'{path}:{where}: expected unique image ids, got id {image_id} a second time')
        name = expect_type(img.get('file_name'), str, path, f'{where}.file_name', 'an image file name')
        size = [expect_type(img.get(key), int, path, f'{where}.{key}', f'a positive integer image {key}')
                for key in ('width', 'height')]
        if min(size) <= 0:
            raise ValueError(f'{path}:{where}: expected a positive integer image width and height, got '
                             f'{size[0]} x {size[1]}')
        record = dict(name=name, width=size[0], height=size[1], faces=[], lineno=None, where=f'{path}:{where}')
        images.append(record)
        by_id[image_id] = record
    for i, ann in enumerate(data['annotations']):
        where = f'annotations[{i}]'
        expect_type(ann, dict, path, where, 'an annotation object {"id", "image_id", "category_id", "bbox"}')
        if 'id' in ann:
            where = f'annotations[{i}] (id {ann["id"]})'
        if ann.get('category_id') != face_id:
            continue
        image_id = ann.get('image_id')
        if image_id not in by_id:
            raise ValueError(f'{path}:{where}: expected the image_id of an image in "images", got {image_id!r}')
        x, y, w, h = expect_numbers(ann.get('bbox'), 4, path, f'{where}.bbox', 'a box [x, y, width, height]')
        bbox = xywh_to_xyxy(x, y, w, h, path, where)
        flags = []
        for key in ('iscrowd', 'ignore'):
            flag = ann.get(key, 0)
            if flag not in (0, 1):
                raise ValueError(f'{path}:{where}: expected "{key}" 0 or 1 (or false / true), got {flag!r}')
            flags.append(bool(flag))
        keypoints, weights = empty_landmarks()
        if ann.get('keypoints'):
            keypoints, weights = _coco_landmarks(ann['keypoints'], path, f'{where}.keypoints')
        by_id[image_id]['faces'].append((bbox, keypoints, weights, any(flags)))
    return images


def write_coco_json(images: List[dict], out_file: str) -> None:
    """Write the records of :mod:`.formats` (sizes known) as a COCO-style JSON file at ``out_file`` (the caller
    decides where it may write: :func:`mmdet_face.utils.output_file.atomic_output`). Images get ids 1..N in order,
    faces ids 1..M; ignore boxes are ``iscrowd: 1``; landmarks with weight 1 get visibility 2, the others
    ``0 0 0``; a face without landmarks gets no ``keypoints``."""
    out_images, annotations = [], []
    for image_id, image in enumerate(images, 1):
        if image['width'] is None:
            raise ValueError(f'{image["name"]}: the image size is needed for COCO (read it from the image first)')
        out_images.append(dict(id=image_id, file_name=image['name'], width=int(image['width']),
                               height=int(image['height'])))
        for bbox, keypoints, weights, ignore in image['faces']:
            x1, y1, x2, y2 = (float(format_number(v)) for v in bbox)
            w, h = float(format_derived(x2 - x1)), float(format_derived(y2 - y1))
            ann = dict(id=len(annotations) + 1, image_id=image_id, category_id=1, bbox=[x1, y1, w, h],
                       area=float(format_derived(w * h)), iscrowd=int(ignore))
            if weights.any():
                ann['keypoints'] = [v for (x, y), wt in zip(keypoints, weights)
                                    for v in ((float(format_number(x)), float(format_number(y)), 2) if wt
                                              else (0, 0, 0))]
                ann['num_keypoints'] = int(np.count_nonzero(weights))
            annotations.append(ann)
    categories = [dict(id=1, name='face', supercategory='face', keypoints=list(KEYPOINT_NAMES), skeleton=[])]
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(dict(images=out_images, annotations=annotations, categories=categories), f)
        f.write('\n')
