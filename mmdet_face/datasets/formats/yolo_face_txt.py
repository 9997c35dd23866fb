"""YOLO-face text labels, the layout of yolov5-face (Qi et al., "YOLO5Face: Why Reinventing a Face Detector",
ECCVW 2022; its ``data/train2yolo.py`` writes them): one ``labels/<path>.txt`` per ``images/<path>.<ext>``, one
line per face::

    0 0.4966 0.3404 0.1191 0.1076 0.4774 0.2824 0.5284 0.2842 0.4979 0.3081 0.4796 0.3225 0.5221 0.3244

``class cx cy w h`` (box centre and size divided by the image width / height), optionally followed by the five
landmarks as normalised ``x y`` pairs in the package's landmark order. A landmark with a coordinate ``<= 0`` is
absent (weight 0), as yolov5-face's loader (``utils/face_datasets.py``) reads it: ``train2yolo.py`` writes
RetinaFace's ``-1`` divided by the image size, the writer here ``-1 -1``. Class 0
is a face; YOLO-face has no ignore boxes, so ``ignore_class`` (mmdet-face's convention, off by default) names a
class read as ignore boxes; any other class is an error. An image without a label file has no faces; a label file
without its image is an error. The image sizes come from the image headers. Every error names the file and line.
"""
import os
import os.path as osp
from typing import List, Optional

import numpy as np

from mmdet_face.keypoints import NUM_KEYPOINTS

from ..image_file import image_size
from .common import (annotation_files, check_finite, content_lines, empty_landmarks, format_derived, format_number,
                     numbers, output_files, read_lines)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
NUM_VALUES = (5, 5 + 2 * NUM_KEYPOINTS)


def image_files(folder: str) -> List[str]:
    """The image files (:data:`IMAGE_SUFFIXES`) under ``folder`` as paths relative to it, sorted."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: expected a folder of images')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(osp.relpath(osp.join(root, f), folder) for f in files
                     if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith('.'))
    return sorted(found)


def yolo_label_path(labels_dir: str, image_name: str) -> str:
    """The label file of ``image_name`` (relative to the image folder): its path under ``labels_dir`` with
    ``.txt``."""
    return osp.join(labels_dir, osp.splitext(image_name)[0] + '.txt')


def _parse_label_file(path: str, width: int, height: int, ignore_class: Optional[int]) -> list:
    faces = []
    for lineno, line in content_lines(read_lines(path)):
        tokens = line.split()
        if len(tokens) not in NUM_VALUES:
            raise ValueError(f'{path}:{lineno}: expected 5 (class cx cy w h) or 15 (+ 5 landmarks as x y) numbers, '
                             f'got {len(tokens)}')
        values = numbers(tokens, path, lineno, 'numbers "class cx cy w h [landmarks]"')
        cls = values[0]
        if cls == 0 or (ignore_class is not None and cls == ignore_class):
            ignore = cls != 0
        else:
            hint = '' if ignore_class is not None else '; to read a class as ignore boxes pass ignore_class'
            raise ValueError(f'{path}:{lineno}: expected class 0 (face)'
                             + (f' or {ignore_class} (ignore)' if ignore_class is not None else '')
                             + f', got {tokens[0]}{hint}')
        cx, cy, w, h = values[1:5]
        check_finite((cx, cy, w, h), ('box centre x', 'box centre y', 'box width', 'box height'), path, lineno)
        if w < 0 or h < 0:
            raise ValueError(f'{path}:{lineno}: expected non-negative box width and height, got w={w:g} h={h:g}')
        bbox = np.array([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                        dtype=np.float32)
        keypoints, weights = empty_landmarks()
        for k in range(NUM_KEYPOINTS if len(values) > 5 else 0):
            x, y = values[5 + 2 * k:7 + 2 * k]
            check_finite((x, y), (f'landmark {k + 1} x', f'landmark {k + 1} y'), path, lineno)
            if x > 0 and y > 0:
                keypoints[k] = (x * width, y * height)
                weights[k] = 1.0
        faces.append((bbox, keypoints, weights, ignore))
    return faces


def parse_yolo_face(labels_dir: str, images_dir: str, ignore_class: Optional[int] = None) -> List[dict]:
    """Parse the YOLO-face labels of the images under ``images_dir`` (see the module docstring) into the records of
    :mod:`.formats` (names relative to ``images_dir``, sorted; boxes ``x1 y1 x2 y2`` float32 pixels, keypoints
    ``(5, 2)``, weights ``(5,)``)."""
    if ignore_class is not None and (ignore_class != int(ignore_class) or ignore_class <= 0):
        raise ValueError(f'ignore_class: expected a positive integer class (0 is the face class), got {ignore_class}')
    names = image_files(images_dir)
    by_label = {}
    for name in names:
        label = yolo_label_path(labels_dir, name)
        if label in by_label:
            raise ValueError(f'{label}: expected one image per label file, got {by_label[label]} and {name} in '
                             f'{images_dir}')
        by_label[label] = name
    for label in annotation_files(labels_dir, '.txt'):
        if label not in by_label:
            raise ValueError(f'{label}: expected its image {osp.splitext(osp.relpath(label, labels_dir))[0]}'
                             f'{{{",".join(IMAGE_SUFFIXES)}}} in {images_dir}, found none')
    images = []
    for label, name in by_label.items():
        img_path = osp.join(images_dir, name)
        try:
            width, height = image_size(img_path)
        except Exception as e:
            raise ValueError(f'{img_path}: cannot read the image size, which the normalised YOLO coordinates of '
                             f'{label} need ({type(e).__name__}: {e})') from e
        faces = _parse_label_file(label, width, height, ignore_class) if osp.isfile(label) else []
        images.append(dict(name=name, width=width, height=height, faces=faces, lineno=None, where=label))
    return images


def write_yolo_face(images: List[dict], labels_dir: str, ignore_class: Optional[int] = None) -> int:
    """Write one YOLO-face label file per record of :mod:`.formats` (sizes known) under the existing ``labels_dir``
    (at :func:`yolo_label_path`; an image without faces gets an empty file). Every line has the 5 landmarks
    (``-1 -1`` for a landmark of weight 0), as yolov5-face writes them; a landmark at a coordinate ``<= 0`` reads
    back as absent. Ignore boxes are written with class
    ``ignore_class``, or left out when it is ``None``; returns how many were left out."""
    left_out = 0
    for image, out in zip(images, output_files(images, lambda name: yolo_label_path(labels_dir, name))):
        width, height = image['width'], image['height']
        if width is None:
            raise ValueError(f'{image["name"]}: the image size is needed for YOLO (read it from the image first)')
        lines = []
        for bbox, keypoints, weights, ignore in image['faces']:
            if ignore and ignore_class is None:
                left_out += 1
                continue
            x1, y1, x2, y2 = (float(format_number(v)) for v in bbox)
            values = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]
            for (x, y), weight in zip(keypoints, weights):
                values += [float(format_number(x)) / width, float(format_number(y)) / height] if weight else [-1, -1]
            lines.append(' '.join([str(int(ignore_class if ignore else 0))] + [
                format_derived(v) if v != -1 else '-1' for v in values]))
        os.makedirs(osp.dirname(out), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            f.write(''.join(line + '\n' for line in lines))
    return left_out
