"""The files of the AFW / PASCAL Face evaluation (Mathias et al., ECCV 2014, toolbox ``marcopede/face-eval``): the
re-annotations (``new_annotations_AFW.mat``, ``Annotations_Face_PASCALLayout_large_fixed.mat``), detection files in
the toolbox's text format, and the result as JSON. scipy's ``loadmat`` / ``savemat`` are imported on use; numpy only
otherwise, as the rest of :mod:`mmdet_face.evaluation.functional`.

The annotation file holds one MATLAB variable ``Annotations``, an ``(N, 1)`` struct array read as the toolbox's
``database.py`` does (``AFW`` / ``PASCALfaces`` classes): per image ``imgname`` (the image file name, a string) and
``objects``, a ``(K, C)`` matrix with one face per row, ``x1 y1 x2 y2`` in columns 1-4 (pixels) and, when ``C >= 6``,
column 6 a flag (non-zero: the face is ignored, neither a miss nor a detection target). With fewer than 6 columns
no face is flagged. Column 5 is not used by the toolbox. (The toolbox's ``--oldAnn``, Zhu & Ramanan's original AFW
``anno.mat``, is not read: the benchmark figures use the re-annotations.)

A detection file has one detection per line, ``image_id score x1 y1 x2 y2`` (``loadDetectionsPascalFormat``); the
image id is the image file name, with or without its extension (the toolbox cuts it at the first dot).
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mmdet_face.utils.output_file import atomic_output

from .face_pr import image_key

__all__ = ['ANNOTATION_FILES', 'dump_face_pr', 'ground_truth_by_key', 'load_face_eval_annotations',
           'read_detections', 'write_detections', 'write_face_eval_annotations']

# the re-annotation files of the two benchmarks (names as the toolbox's database.py loads them)
ANNOTATION_FILES = {'afw': 'new_annotations_AFW.mat', 'pascal': 'Annotations_Face_PASCALLayout_large_fixed.mat'}

_EXPECTED = ('expected the AFW / PASCAL Face re-annotations of Mathias et al. (new_annotations_AFW.mat or '
             'Annotations_Face_PASCALLayout_large_fixed.mat): a MATLAB .mat file whose variable "Annotations" is an '
             '(N, 1) struct array with the fields imgname (a string) and objects (a K x 4+ matrix, one face '
             'x1 y1 x2 y2 [unused flag] per row)')


def _entry_string(value, where: str) -> str:
    value = np.asarray(value).reshape(-1)  # a MATLAB char array loads as a (1,) array of str
    if value.size != 1 or not isinstance(value[0], str) or not value[0]:
        raise ValueError(f'{where}: expected the image file name (a non-empty string), got {value!r}')
    return str(value[0])


def _entry_faces(value, where: str) -> Tuple[np.ndarray, np.ndarray]:
    matrix = value
    if isinstance(matrix, np.ndarray) and matrix.dtype == object and matrix.size == 1:
        matrix = matrix.reshape(-1)[0]
    matrix = np.asarray(matrix)
    if matrix.size == 0:
        return np.zeros((0, 4)), np.zeros(0, bool)
    if matrix.dtype.kind not in 'biuf' or matrix.ndim != 2 or matrix.shape[1] < 4:
        raise ValueError(f'{where}: expected a numeric K x C matrix with C >= 4 (x1 y1 x2 y2 per face), got a '
                         f'{matrix.dtype} array of shape {matrix.shape}')
    matrix = matrix.astype(np.float64)
    for k, row in enumerate(matrix):
        face = f'{where}, face {k + 1}'
        if not np.isfinite(row[:6]).all():
            raise ValueError(f'{face}: expected finite numbers, got {row.tolist()}')
        if row[2] < row[0] or row[3] < row[1]:
            raise ValueError(f'{face}: expected x1 y1 x2 y2 with x2 >= x1 and y2 >= y1, got {row[:4].tolist()}')
    ignored = matrix[:, 5] != 0 if matrix.shape[1] >= 6 else np.zeros(len(matrix), bool)
    return matrix[:, :4].copy(), ignored


def load_face_eval_annotations(path: str) -> List[dict]:
    """The images of an AFW / PASCAL Face annotation file, in the file's order: ``[{'name': image file name,
    'faces': (K, 4) float64 x1y1x2y2, 'ignored': (K,) bool (the file's flags), 'entry': 1-based index}]``.

    Raises:
        ValueError: the file cannot be read, or a value is not what the format holds; the message names the file,
            the entry (1-based, with its image name once known) and the field.
    """
    from scipy.io import loadmat  # scipy is only needed for the ground truth
    try:
        mat = loadmat(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # scipy raises ValueError / OSError / MatReadError / zlib.error ...
        raise ValueError(f'{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err}); the file may be '
                         f'truncated or corrupt. {_EXPECTED}') from err
    if 'Annotations' not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'{path}: has no variable "Annotations" (found {found}); {_EXPECTED}')
    ann = mat['Annotations']
    fields = ann.dtype.names or ()
    if not isinstance(ann, np.ndarray) or 'imgname' not in fields or 'objects' not in fields:
        raise ValueError(f'{path}: "Annotations" is a {getattr(ann, "dtype", type(ann))} array with the fields '
                         f'{list(fields)}, not a struct array with imgname and objects; {_EXPECTED}')
    if ann.ndim != 2 or min(ann.shape) > 1:
        raise ValueError(f'{path}: "Annotations" has the shape {ann.shape}; {_EXPECTED}')
    images = []
    for i, record in enumerate(ann.reshape(-1)):
        where = f'{path}: Annotations({i + 1})'
        name = _entry_string(record['imgname'], f'{where}.imgname')
        faces, ignored = _entry_faces(record['objects'], f'{where}.objects (image {name})')
        images.append(dict(name=name, faces=faces, ignored=ignored, entry=i + 1))
    return images


def ground_truth_by_key(images: Sequence[dict], path: str = 'the annotations') -> Dict[str, Tuple[np.ndarray,
                                                                                                  np.ndarray]]:
    """``{image key: (faces, ignored)}`` of :func:`load_face_eval_annotations`' images, what
    :func:`~mmdet_face.evaluation.functional.face_pr.evaluate_face_pr` takes. Two images with one key (the file
    name up to its first dot) are a ``ValueError`` naming both: the toolbox would silently keep only the second."""
    gt, entries = {}, {}
    for image in images:
        key = image_key(image['name'])
        if key in gt:
            raise ValueError(f'{path}: entries {entries[key]} and {image["entry"]} have the same image key {key!r} '
                             '(the file name up to its first dot); expected each image once')
        gt[key] = (image['faces'], image['ignored'])
        entries[key] = image['entry']
    return gt


def write_face_eval_annotations(path: str, images: Sequence[dict], overwrite: bool = False) -> None:
    """Write ``images`` (``name``, ``faces`` (K, 4) x1y1x2y2, optional ``ignored`` (K,) bool) as an annotation file
    of the re-annotations' structure (``objects`` rows ``x1 y1 x2 y2 0 flag``), e.g. for a data set of one's own or
    tests. An existing ``path`` is kept unless ``overwrite``."""
    from scipy.io import savemat
    ann = np.zeros((len(images), 1), dtype=[('imgname', object), ('objects', object)])
    for i, image in enumerate(images):
        faces = np.asarray(image['faces'], dtype=np.float64).reshape(-1, 4)
        flags = np.asarray(image.get('ignored', np.zeros(len(faces))), dtype=np.float64).reshape(-1, 1)
        ann[i, 0]['imgname'] = str(image['name'])
        ann[i, 0]['objects'] = np.concatenate([faces, np.zeros((len(faces), 1)), flags], axis=1)
    with atomic_output(path, overwrite) as tmp:
        savemat(tmp, {'Annotations': ann})


def read_detections(path: str) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """A detection file (``image_id score x1 y1 x2 y2`` per line; blank lines skipped) as ``(image keys (N,),
    scores (N,) float64, boxes (N, 4) float64 x1y1x2y2)`` in the file's order; the keys are the ids cut at their
    first dot, as the toolbox does.

    Raises:
        ValueError: a line without exactly 6 fields, a non-numeric or non-finite value, or a box with x2 < x1 or
            y2 < y1 (e.g. ``x y w h`` written instead of corners); the message names the file and line.
    """
    keys, values = [], []
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f'{path}: expected UTF-8 text ({err})') from None
    for lineno, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens:
            continue
        where = f'{path}:{lineno}'
        if len(tokens) != 6:
            raise ValueError(f'{where}: expected 6 fields "image_id score x1 y1 x2 y2", got {len(tokens)}: {line!r}')
        try:
            numbers = [float(t) for t in tokens[1:]]
        except ValueError:
            raise ValueError(f'{where}: expected numbers for score x1 y1 x2 y2, got {" ".join(tokens[1:])!r}') \
                from None
        for name, value in zip(('score', 'x1', 'y1', 'x2', 'y2'), numbers):
            if not math.isfinite(value):
                raise ValueError(f'{where}: expected a finite {name}, got {value}')
        score, x1, y1, x2, y2 = numbers
        if x2 < x1 or y2 < y1:
            raise ValueError(f'{where}: expected corners x1 y1 x2 y2 with x2 >= x1 and y2 >= y1, got '
                             f'x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} (is it x y w h?)')
        keys.append(tokens[0].split('.')[0])
        values.append(numbers)
    values = np.asarray(values, dtype=np.float64).reshape(-1, 5)
    return keys, values[:, 0].copy(), values[:, 1:].copy()


def write_detections(path: str, image_ids: Sequence[str], scores: np.ndarray, boxes: np.ndarray,
                     overwrite: bool = False) -> None:
    """Write detections in the toolbox's format (``image_id score x1 y1 x2 y2``, numbers written exactly), so the
    official ``plot_AP.py`` can score them too. An existing ``path`` is kept unless ``overwrite``."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(image_ids) == len(scores) == len(boxes):
        raise ValueError(f'write_detections: {len(image_ids)} image ids, {len(scores)} scores, {len(boxes)} boxes')
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, 'w') as f:
            for image_id, score, box in zip(image_ids, scores, boxes):
                if not image_id or any(c.isspace() for c in image_id):
                    raise ValueError(f'write_detections: image id {image_id!r} is empty or holds white space')
                f.write(' '.join([image_id] + [repr(float(v)) for v in (score, *box)]) + '\n')


def dump_face_pr(result: dict, path: str, name: str = None, overwrite: bool = False) -> None:
    """Write an :func:`~mmdet_face.evaluation.functional.face_pr.evaluate_face_pr` result as JSON: ``ap``,
    ``num_gt``, ``num_dropped``, ``adjustment`` and the curve (``recall``, ``precision``, ``scores``; NaN -> null).
    An existing ``path`` is kept unless ``overwrite``."""
    def clean(values):
        return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).reshape(-1)]

    data = dict(name=name, ap=result['ap'], num_gt=int(result['num_gt']), num_dropped=int(result['num_dropped']),
                adjustment=clean(result['adjustment']), recall=clean(result['recall']),
                precision=clean(result['precision']), scores=clean(result['scores']))
    parent = osp.dirname(osp.abspath(path))
    if not osp.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, 'w') as f:
            json.dump(data, f)
