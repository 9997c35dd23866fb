"""FDDB files: the fold lists ``FDDB-fold-XX.txt``, the ellipse ground truth ``FDDB-fold-XX-ellipseList.txt`` and
detection files in the layout the official ``evaluate`` program reads, each read strictly (errors name the file, the
line and what was expected).

Reference: V. Jain and E. Learned-Miller, "FDDB: A Benchmark for Face Detection in Unconstrained Settings", UMass
Amherst tech. report UM-CS-2010-009 (2010), and the benchmark's README (``FDDB-folds.tgz``).

- A fold list holds one image name per line, without extension (``2002/08/11/big/img_591``).
- An ellipse list (and a detection file) holds, per image: its name, the number of regions, then one region per
  line. An annotation is ``major_axis_radius minor_axis_radius angle center_x center_y 1`` (pixels, radians); a
  detection is ``left top width height score`` (rectangles) or ``major_axis_radius minor_axis_radius angle center_x
  center_y score`` (ellipses).

Blank lines are skipped. Each reader returns ``[{'name', 'lineno', 'regions'}]`` in file order, ``regions`` a
``(N, 5)`` (annotations, without the trailing ``1``; rectangles with their score) or ``(N, 6)`` (ellipse detections)
float64 array, ``lineno`` the line of the image name.
"""
import math
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

from mmdet_face.utils.text_file import content_lines, numbers, read_lines

__all__ = ['NUM_FOLDS', 'fold_list_name', 'ellipse_list_name', 'parse_fold_list', 'parse_ellipse_list',
           'parse_fddb_detections', 'read_fddb_folds', 'ellipse_bounding_boxes']

NUM_FOLDS = 10
_ELLIPSE = 'major_axis_radius minor_axis_radius angle center_x center_y'
_LAYOUTS = {
    'annotation': (6, f'{_ELLIPSE} 1'),
    'rectangle': (5, 'left top width height score'),
    'ellipse': (6, f'{_ELLIPSE} score'),
}


def fold_list_name(fold: int) -> str:
    return f'FDDB-fold-{fold:02d}.txt'


def ellipse_list_name(fold: int) -> str:
    return f'FDDB-fold-{fold:02d}-ellipseList.txt'


def _check_name(name: str, path: str, lineno: int, what: str) -> None:
    if len(name.split()) != 1:
        raise ValueError(f'{path}:{lineno}: expected {what} (one word, e.g. 2002/08/11/big/img_591), got {name!r}')


def parse_fold_list(path: str) -> List[Tuple[int, str]]:
    """``[(lineno, image_name)]`` of a fold list (or the pooled ``imList.txt``).

    Raises:
        ValueError: a line with more than one word, or an image listed twice (both lines named).
    """
    seen: Dict[str, int] = {}
    out = []
    for lineno, line in content_lines(read_lines(path)):
        _check_name(line, path, lineno, 'one image name per line')
        if line in seen:
            raise ValueError(f'{path}:{lineno}: image {line} is listed twice (first on line {seen[line]})')
        seen[line] = lineno
        out.append((lineno, line))
    return out


def _check_region(values, kind: str, path: str, lineno: int) -> None:
    names = _LAYOUTS[kind][1].split()
    for value, name in zip(values, names):
        if not math.isfinite(value):
            raise ValueError(f'{path}:{lineno}: expected a finite number for {name}, got {value}')
    if kind == 'annotation' and values[5] != 1:
        raise ValueError(f'{path}:{lineno}: expected 1 as the sixth number of an annotated ellipse '
                         f'("{_LAYOUTS[kind][1]}"), got {values[5]:g}')
    if kind in ('annotation', 'ellipse'):
        if values[0] < 0 or values[1] < 0:
            raise ValueError(f'{path}:{lineno}: expected non-negative radii, got major_axis_radius={values[0]:g} '
                             f'minor_axis_radius={values[1]:g}')
    elif values[2] < 0 or values[3] < 0:
        raise ValueError(f'{path}:{lineno}: expected a non-negative width and height, got width={values[2]:g} '
                         f'height={values[3]:g}')


def _parse_blocks(path: str, kind: str) -> List[dict]:
    columns, layout = _LAYOUTS[kind]
    lines = list(content_lines(read_lines(path)))
    images, seen, i = [], {}, 0
    while i < len(lines):
        lineno, name = lines[i]
        _check_name(name, path, lineno, 'an image name')
        if name in seen:
            raise ValueError(f'{path}:{lineno}: image {name} appears twice (first on line {seen[name]})')
        seen[name] = lineno
        if i + 1 >= len(lines):
            raise ValueError(f'{path}:{lineno}: expected the number of regions of {name} on the next line, got the '
                             'end of the file')
        count_lineno, count_text = lines[i + 1]
        try:
            count = int(count_text)
        except ValueError:
            raise ValueError(f'{path}:{count_lineno}: expected the number of regions of {name} (an integer >= 0), '
                             f'got {count_text!r}') from None
        if count < 0:
            raise ValueError(f'{path}:{count_lineno}: expected the number of regions of {name} (an integer >= 0), '
                             f'got {count}')
        regions = np.zeros((count, columns), np.float64)
        for r in range(count):
            if i + 2 + r >= len(lines):
                raise ValueError(f'{path}:{count_lineno}: {name} has {count} regions but the file ends after {r}')
            region_lineno, text = lines[i + 2 + r]
            tokens = text.split()
            if len(tokens) != columns:
                raise ValueError(f'{path}:{region_lineno}: expected {columns} numbers "{layout}" (region {r + 1} '
                                 f'of {count} of {name}), got {len(tokens)}: {text!r}')
            values = numbers(tokens, path, region_lineno, f'{columns} numbers "{layout}"')
            _check_region(values, kind, path, region_lineno)
            regions[r] = values
        if kind == 'annotation':
            regions = regions[:, :5]
        images.append(dict(name=name, lineno=lineno, regions=regions))
        i += 2 + count
    return images


def parse_ellipse_list(path: str) -> List[dict]:
    """The ellipse ground truth of ``path`` (an ``FDDB-fold-XX-ellipseList.txt`` or their concatenation):
    ``regions`` ``(K, 5)`` ``major_axis_radius minor_axis_radius angle center_x center_y``."""
    return _parse_blocks(path, 'annotation')


def parse_fddb_detections(path: str, det_format: str = 'rectangle') -> List[dict]:
    """A detection file in the official program's input layout: ``regions`` ``(D, 5)`` ``left top width height
    score`` (``det_format='rectangle'``) or ``(D, 6)`` ellipses with a score (``'ellipse'``)."""
    if det_format not in ('rectangle', 'ellipse'):
        raise ValueError(f"det_format must be 'rectangle' or 'ellipse', got {det_format!r}")
    return _parse_blocks(path, det_format)


def read_fddb_folds(fold_dir: str, folds=tuple(range(1, NUM_FOLDS + 1))) -> List[dict]:
    """The images of ``folds`` (1-based) of the folder ``fold_dir`` (the extracted ``FDDB-folds``), fold by fold in
    list order: ``[{'name', 'fold', 'lineno', 'regions' (K, 5), 'source'}]``; ``source`` is ``file:line`` of the
    image's ellipses.

    Raises:
        FileNotFoundError: a fold's list or ellipse list is missing.
        ValueError: a file is malformed, or a fold's list and its ellipse list do not hold the same images in the
            same order (the official program requires it), or an image is in two folds.
    """
    out, where = [], {}
    for fold in folds:
        if not 1 <= int(fold) <= NUM_FOLDS:
            raise ValueError(f'FDDB folds are 1..{NUM_FOLDS}, got {fold}')
        list_path = osp.join(fold_dir, fold_list_name(fold))
        ellipse_path = osp.join(fold_dir, ellipse_list_name(fold))
        for path in (list_path, ellipse_path):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{path}: expected fold {fold} of FDDB-folds.tgz there')
        names = parse_fold_list(list_path)
        ellipses = parse_ellipse_list(ellipse_path)
        for k in range(max(len(names), len(ellipses))):
            if k >= len(names):
                raise ValueError(f'{ellipse_path}:{ellipses[k]["lineno"]}: image {ellipses[k]["name"]} is not in '
                                 f'{list_path} ({len(names)} images)')
            if k >= len(ellipses):
                raise ValueError(f'{list_path}:{names[k][0]}: image {names[k][1]} has no ellipses in {ellipse_path} '
                                 f'({len(ellipses)} images)')
            if names[k][1] != ellipses[k]['name']:
                raise ValueError(f'{ellipse_path}:{ellipses[k]["lineno"]}: expected image {names[k][1]} (line '
                                 f'{names[k][0]} of {list_path}: the same images in the same order), got '
                                 f'{ellipses[k]["name"]}')
            entry = ellipses[k]
            if entry['name'] in where:
                raise ValueError(f'{ellipse_path}:{entry["lineno"]}: image {entry["name"]} is also in '
                                 f'{where[entry["name"]]}')
            where[entry['name']] = f'{ellipse_path}:{entry["lineno"]}'
            out.append(dict(name=entry['name'], fold=int(fold), lineno=entry['lineno'], regions=entry['regions'],
                            source=where[entry['name']]))
    return out


def ellipse_bounding_boxes(ellipses: np.ndarray) -> np.ndarray:
    """``(K, 4)`` x1y1x2y2 axis-aligned bounding boxes of ``(K, 5)`` FDDB ellipses (exact for the continuous
    ellipse: half-extents ``sqrt((a cos t)^2 + (b sin t)^2)`` and ``sqrt((a sin t)^2 + (b cos t)^2)``)."""
    ellipses = np.asarray(ellipses, np.float64).reshape(-1, 5)
    a, b, t, cx, cy = ellipses.T
    half_w = np.hypot(a * np.cos(t), b * np.sin(t))
    half_h = np.hypot(a * np.sin(t), b * np.cos(t))
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
