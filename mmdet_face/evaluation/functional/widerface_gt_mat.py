"""The official WIDER FACE validation ground truth: the four ``.mat`` files of the kit's ``eval_tools/ground_truth/``
(``wider_face_val.mat``, ``wider_{easy,medium,hard}_val.mat``), read and written (scipy's ``loadmat`` / ``savemat``,
imported on use). numpy only otherwise, as the rest of :mod:`mmdet_face.evaluation.functional`.

:func:`load_ground_truth` gives ``{'boxes': {event: {image: (K, 4) int x y w h}}, 'settings': {'easy'|'medium'|'hard':
{event: {image: 0-based index array}}}}``, the ground truth :func:`mmdet_face.evaluation.functional.widerface.
evaluate_widerface` scores against.
"""
import os
import os.path as osp

import numpy as np

__all__ = ['SETTINGS', 'GT_FILES', 'load_gt_boxes', 'load_ground_truth', 'write_gt_mats']

SETTINGS = ('easy', 'medium', 'hard')
GT_FILES = {'all': 'wider_face_val.mat', 'easy': 'wider_easy_val.mat', 'medium': 'wider_medium_val.mat',
            'hard': 'wider_hard_val.mat'}
LABEL_KEYS = ('blur_label_list', 'expression_label_list', 'illumination_label_list', 'invalid_label_list',
              'occlusion_label_list', 'pose_label_list')


def _cells(arr):
    """MATLAB (n, 1) cell array as loaded by scipy -> list of its cell contents."""
    return [arr[i][0] for i in range(arr.shape[0])]


_EXPECTED_MAT = ('the official WIDER FACE validation ground truth (eval_tools/ground_truth/{name} of the official '
                 'kit: a MATLAB .mat file with the (E, 1) cell arrays {keys})')
_REQUIRED_KEYS = {'all': ('event_list', 'file_list', 'face_bbx_list'), 'easy': ('gt_list',),
                  'medium': ('gt_list',), 'hard': ('gt_list',)}


class _GTFormatError(ValueError):
    """Raised while walking a ground-truth file's cells; the caller adds the file's name."""


def _load_mat(path, key):
    """``loadmat(path)`` with errors naming the file and what was expected (truncated or corrupt files)."""
    from scipy.io import loadmat  # scipy is only needed for the ground truth

    name = GT_FILES[key]
    expected = _EXPECTED_MAT.format(name=name, keys=', '.join(_REQUIRED_KEYS[key]))
    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises ValueError / OSError / MatReadError / IndexError / zlib.error ...
        raise ValueError(f'{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err}); the file may be '
                         f'truncated or corrupt. Expected {expected}') from err
    missing = [k for k in _REQUIRED_KEYS[key] if k not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'{path}: has no variable(s) {missing} (found {found}); the file may be truncated or '
                         f'not the right one. Expected {expected}')
    for k in _REQUIRED_KEYS[key]:
        arr = mat[k]
        if not (isinstance(arr, np.ndarray) and arr.dtype == object and arr.ndim == 2 and arr.shape[1] == 1):
            raise ValueError(f'{path}: variable {k!r} is a {getattr(arr, "dtype", type(arr))} array of shape '
                             f'{getattr(arr, "shape", None)}, expected an (E, 1) cell array. Expected {expected}')
    return mat


def _cells_of(arr, what):
    """:func:`_cells` of a nested cell that must be an ``(n, 1)`` cell array itself."""
    if not (isinstance(arr, np.ndarray) and arr.dtype == object and arr.ndim == 2 and arr.shape[1] == 1) \
            and not (isinstance(arr, np.ndarray) and arr.dtype == object and arr.size == 0):
        raise _GTFormatError(f'{what} is a {getattr(arr, "dtype", type(arr))} array of shape '
                             f'{getattr(arr, "shape", None)}, expected an (n, 1) cell array')
    return _cells(arr.reshape(-1, 1))


def _cell_string(cell, what):
    value = np.asarray(cell).reshape(-1)
    if value.size != 1 or not isinstance(value[0], str):
        raise _GTFormatError(f'{what} is not a string')
    return str(value[0])


def load_gt_boxes(path):
    """The boxes of an official ``wider_face_val.mat``: ``{event: {image_name: (K, 4) int32 x y w h}}``, events
    and images in the file's order.

    Raises:
        ValueError: naming the file, when it is not a readable ``.mat`` file (truncated, corrupt), lacks the kit's
            variables, or has a different structure (cell counts that disagree, boxes that are not ``(K, 4)``).
    """
    ref = _load_mat(path, 'all')
    boxes = {}
    try:
        events, file_lists, bbx_lists = (_cells(ref[k]) for k in _REQUIRED_KEYS['all'])
        if not len(events) == len(file_lists) == len(bbx_lists):
            raise _GTFormatError(f'event_list has {len(events)} cells, file_list {len(file_lists)}, face_bbx_list '
                                 f'{len(bbx_lists)}; expected equal counts')
        for e, (event_cell, files, bbxs) in enumerate(zip(events, file_lists, bbx_lists)):
            event = _cell_string(event_cell, f'event_list{{{e + 1}}}')
            files = _cells_of(files, f'file_list{{{e + 1}}} (event {event})')
            bbxs = _cells_of(bbxs, f'face_bbx_list{{{e + 1}}} (event {event})')
            if len(files) != len(bbxs):
                raise _GTFormatError(f'event {event} has {len(files)} file_list cells and {len(bbxs)} face_bbx_list '
                                     'cells; expected one box array per image')
            images = {}
            for i, (file_cell, bbx) in enumerate(zip(files, bbxs)):
                image = _cell_string(file_cell, f'file_list{{{e + 1}}}{{{i + 1}}} (event {event})')
                bbx = np.asarray(bbx)
                if bbx.size and (bbx.ndim != 2 or bbx.shape[1] != 4 or not np.issubdtype(bbx.dtype, np.number)):
                    raise _GTFormatError(f'face_bbx_list of {event}/{image} is a {bbx.dtype} array of shape '
                                         f'{bbx.shape}; expected (K, 4) x y w h numbers')
                images[image] = bbx.astype(np.int32).reshape(-1, 4)
            boxes[event] = images
    except _GTFormatError as err:
        expected = _EXPECTED_MAT.format(name=GT_FILES['all'], keys=', '.join(_REQUIRED_KEYS['all']))
        raise ValueError(f'{path}: {err}; expected {expected}') from None
    return boxes


def load_ground_truth(gt_dir):
    """Read the four official WIDER FACE validation ``.mat`` files.

    Args:
        gt_dir (str): folder holding ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``.

    Returns:
        dict: ``{'boxes': {event: {image_name: (K, 4) int32 x y w h}},
        'settings': {'easy'|'medium'|'hard': {event: {image_name: (m,) int64 0-based indices into boxes}}}}``.
        Events and images keep the order of the files.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: naming the file, when it is not a readable ``.mat`` file (truncated, corrupt), lacks the kit's
            variables, has a different structure (cell counts that disagree, boxes that are not ``(K, 4)``), or a
            setting's ``gt_list`` indexes outside its image's boxes.
    """
    mats = {}
    for key, name in GT_FILES.items():
        path = osp.join(gt_dir, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'WIDER FACE ground truth file not found: {path} (expected the official '
                                    f'{", ".join(GT_FILES.values())})')
        if key == 'all':
            boxes = load_gt_boxes(path)
        else:
            mats[key] = _load_mat(path, key)
    order = [(event, list(images)) for event, images in boxes.items()]
    settings = {}
    for setting in SETTINGS:
        path = osp.join(gt_dir, GT_FILES[setting])
        gt_lists = _cells(mats[setting]['gt_list'])
        if len(gt_lists) != len(order):
            raise ValueError(f'{path}: gt_list has {len(gt_lists)} events, '
                             f'{GT_FILES["all"]} has {len(order)}')
        per_event = {}
        try:
            for (event, image_names), lists in zip(order, gt_lists):
                lists = _cells_of(lists, f'gt_list of event {event}')
                if len(lists) != len(image_names):
                    raise ValueError(f'{path}: event {event} has {len(lists)} '
                                     f'gt_list cells, expected {len(image_names)}')
                per_event[event] = {}
                for name, keep in zip(image_names, lists):
                    keep = np.asarray(keep)
                    if keep.size and not np.issubdtype(keep.dtype, np.number):
                        raise _GTFormatError(f'gt_list of {event}/{name} holds {keep.dtype}, expected 1-based box '
                                             'indices')
                    keep = keep.astype(np.int64).reshape(-1) - 1  # 1-based in the file
                    num = len(boxes[event][name])
                    if keep.size and (keep.min() < 0 or keep.max() >= num):
                        raise _GTFormatError(f'gt_list of {event}/{name} holds indices {(keep + 1).tolist()}, '
                                             f'expected 1..{num} (the image has {num} boxes in '
                                             f'{GT_FILES["all"]})')
                    per_event[event][name] = keep
        except _GTFormatError as err:
            raise ValueError(f'{path}: {err}') from None
        settings[setting] = per_event
    return {'boxes': boxes, 'settings': settings}


def _cell_column(items):
    """list -> (n, 1) object array, which scipy writes as a MATLAB cell column."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def write_gt_mats(gt_dir, boxes, settings):
    """Write ground truth in the official kit's ``.mat`` structure (what :func:`load_ground_truth` reads).

    Args:
        gt_dir (str): output folder (created if needed).
        boxes (dict): ``{event: {image_name: (K, 4) int array x y w h}}`` (integer-valued; stored as int32).
            Image order within an event is kept;
            events are written in lexicographic order, like the official files.
        settings (dict): ``{'easy'|'medium'|'hard': {event: {image_name: 0-based index array}}}``: the boxes that
            count in each setting; the others are ignore faces. A missing event/image means "no box counts".

    Writes ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``: ``(E, 1)`` cells ``event_list``,
    ``file_list``, ``face_bbx_list`` (``(K, 4) int32``), the six attribute label lists (``(K, 1) uint8`` zeros),
    and in the setting files ``gt_list`` (``(m, 1)`` 1-based, ``uint8``, or ``uint16`` when an image has more than
    255 boxes).
    """
    from scipy.io import savemat

    missing = [s for s in SETTINGS if s not in settings]
    if missing:
        raise KeyError(f'write_gt_mats: settings lacks {missing}; expected keys {SETTINGS}')
    os.makedirs(gt_dir, exist_ok=True)
    events = sorted(boxes)
    base = {'event_list': _cell_column([np.array([e]) for e in events])}
    file_cells, bbx_cells, label_cells = [], [], []
    for event in events:
        names = list(boxes[event])
        file_cells.append(_cell_column([np.array([n]) for n in names]))
        bbx = []
        for name in names:
            b = np.asarray(boxes[event][name])
            if b.size == 0:
                b = b.reshape(0, 4)
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f'write_gt_mats: boxes[{event!r}][{name!r}] has shape {b.shape}, expected (K, 4)')
            if b.size and not np.array_equal(b, np.round(b)):
                raise ValueError(f'write_gt_mats: boxes[{event!r}][{name!r}] has non-integer values; the official '
                                 'files store int32 pixels (round them first)')
            bbx.append(b.astype(np.int32))
        bbx_cells.append(_cell_column(bbx))
        label_cells.append(_cell_column([np.zeros((len(b), 1), np.uint8) for b in bbx]))
    base['file_list'] = _cell_column(file_cells)
    base['face_bbx_list'] = _cell_column(bbx_cells)
    for key in LABEL_KEYS:
        base[key] = _cell_column(label_cells)
    savemat(osp.join(gt_dir, GT_FILES['all']), base)
    for setting in SETTINGS:
        gt_cells = []
        for event, event_bbx in zip(events, bbx_cells):
            per_image = []
            for name, b in zip(boxes[event], event_bbx[:, 0]):
                keep = np.asarray(settings[setting].get(event, {}).get(name, []), dtype=np.int64).reshape(-1)
                if keep.size and (keep.min() < 0 or keep.max() >= len(b)):
                    raise ValueError(f'write_gt_mats: settings[{setting!r}][{event!r}][{name!r}] indexes '
                                     f'outside the image\'s {len(b)} boxes: {keep.tolist()}')
                dtype = np.uint8 if len(b) <= 255 else np.uint16
                per_image.append((keep + 1).astype(dtype).reshape(-1, 1))
            gt_cells.append(_cell_column(per_image))
        mat = dict(base)
        mat['gt_list'] = _cell_column(gt_cells)
        savemat(osp.join(gt_dir, GT_FILES[setting]), mat)
