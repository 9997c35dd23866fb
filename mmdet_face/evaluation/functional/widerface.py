"""The WIDER FACE validation protocol (Easy / Medium / Hard AP), in numpy only.

Reference: Yang, Luo, Loy, Tang, "WIDER FACE: A Face Detection Benchmark", CVPR 2016, and its official MATLAB
evaluation kit (``eval_tools/``: ``read_pred.m``, ``norm_score.m``, ``evaluation.m``, ``boxoverlap.m``,
``VOCap.m``), of which ``wondervictor/WiderFace-Evaluation`` is the widely used Python port.

This file imports neither torch nor mmengine: anyone can score any detector's submission folder with it.

What the kit does, and what this module reproduces exactly (results agree to the last bit in practice; the tests
check 1e-9 against a line-by-line re-implementation of the kit):

1. *Reading* (``read_pred.m``): each image's boxes are sorted by score, descending, with ties kept in file order
   (MATLAB's ``sort(..., 'descend')`` is stable). An image without a prediction file has no detections.
2. *Score normalisation* (``norm_score.m``): ``s' = (s - min) / (max - min)`` with ``min`` / ``max`` taken over
   the whole submission (all images, all events), starting from ``max = realmin('single')`` and
   ``min = realmax('single')``. When every score is equal this is ``0 / 0 = NaN``: no box passes any threshold and
   every AP is 0 - that is the official result, and we warn about it. (The Python port starts from ``max = 0,
   min = 1`` instead, which only differs when scores lie outside [0, 1]; we warn in that case.)
3. *Matching* (``evaluation.m: image_evaluation``), per image, boxes in score order: a box's IoU with every ground
   truth box uses the ``+1`` pixel convention of ``boxoverlap.m`` on ``x2 = x + w`` (so a ``w x h`` box has area
   ``(w + 1) (h + 1)``), and an IoU is 0 when the intersection's ``+1`` width or height is ``<= 0``. The box takes
   the first ground-truth box of maximal IoU; if that IoU is ``>= 0.5``: when it is an *ignore* face (not in the
   setting's ``gt_list``) the box is discarded (it is neither a true nor a false positive) and the face marked; else
   the face is recalled if it was not already (a second box on a recalled face stays a proposal: a false
   positive). ``pred_recall[h]`` is the number of faces recalled by boxes ``0..h``.
4. *PR curve* (``image_pr_info`` / ``dataset_pr_info``): for ``t = 1..1000``, ``thresh = 1 - t / 1000``; each image
   contributes, at its last box with score ``>= thresh``, the count of non-discarded boxes up to it and
   ``pred_recall`` there. Summed over images: ``precision = recalled / proposals`` (0/0 = NaN at thresholds no box
   passes), ``recall = recalled / number of faces in the setting``.
5. *AP* (``VOCap.m``): the area under the monotone precision envelope, sentinels ``rec = [0, ..., 1]``,
   ``prec = [0, ..., 0]``, summed where recall changes.

Because each image's boxes are sorted, "boxes up to the last one with score >= thresh" is exactly "boxes with
score >= thresh", so the whole curve is two weighted histograms over the 1000 thresholds: that is the vectorised
algorithm below (integer counts, hence bit-identical to the loop).

Formats:
- predictions: ``{event: {image_name: (N, 5) array [x, y, w, h, score]}}`` (``image_name`` without ``.jpg``) or a
  submission folder ``<event>/<image_name>.txt`` holding the image name, the box count, then ``x y w h score`` lines.
- ground truth: the four official ``.mat`` files (``wider_face_val.mat``, ``wider_{easy,medium,hard}_val.mat``),
  read by :func:`load_ground_truth` into ``{'boxes': {event: {image: (K, 4) int x y w h}},
  'settings': {'easy'|'medium'|'hard': {event: {image: 0-based index array}}}}``.
"""
import json
import os
import os.path as osp
import warnings

import numpy as np

__all__ = [
    'SETTINGS', 'THRESH_NUM', 'IOU_THRESH', 'load_gt_boxes', 'load_ground_truth', 'write_gt_mats', 'read_pred_file',
    'read_submission', 'write_submission', 'describe_unmatched_submission', 'evaluate_widerface', 'voc_ap',
    'dump_pr_curves', 'format_results'
]

SETTINGS = ('easy', 'medium', 'hard')
THRESH_NUM = 1000
IOU_THRESH = 0.5
GT_FILES = {'all': 'wider_face_val.mat', 'easy': 'wider_easy_val.mat', 'medium': 'wider_medium_val.mat',
            'hard': 'wider_hard_val.mat'}
LABEL_KEYS = ('blur_label_list', 'expression_label_list', 'illumination_label_list', 'invalid_label_list',
              'occlusion_label_list', 'pose_label_list')
# norm_score.m initial values: realmin('single') and realmax('single').
_MATLAB_REALMIN_SINGLE = float(np.finfo(np.float32).tiny)
_MATLAB_REALMAX_SINGLE = float(np.finfo(np.float32).max)


# ----------------------------------------------------------------------------------------------------------------
# Ground truth: the official .mat files
# ----------------------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------------------
# Predictions: the submission folder
# ----------------------------------------------------------------------------------------------------------------
def read_pred_file(path):
    """Read one submission file: image name line, box count line, then ``x y w h score`` lines.

    Extra columns after the fifth are ignored (as ``read_pred.m`` does); blank lines after the boxes are allowed.

    Returns:
        np.ndarray: ``(N, 5)`` float64 ``[x, y, w, h, score]`` in file order.

    Raises:
        ValueError: naming the file and the 1-based line when the file is not UTF-8 text, the count is not an
            integer, disagrees with the number of box lines, or a box line does not hold 5 numbers.
    """
    with open(path, 'rb') as f:
        data = f.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        line = data.count(b'\n', 0, err.start) + 1
        raise ValueError(f'{path}:{line}: byte 0x{data[err.start]:02x} (file offset {err.start}) is not UTF-8 text; '
                         'expected a text submission file: the image name, the box count, then "x y w h score" '
                         'lines') from None
    lines = text.splitlines()
    if len(lines) < 2:
        raise ValueError(f'{path}: expected an image name line and a box count line, found {len(lines)} line(s)')
    count_text = lines[1].strip()
    try:
        count = float(count_text)
        if count != int(count) or count < 0:
            raise ValueError
        count = int(count)
    except (ValueError, OverflowError):
        raise ValueError(f'{path}:2: expected the number of boxes (a non-negative integer), got {lines[1]!r}')
    box_lines = lines[2:]
    while box_lines and not box_lines[-1].strip():
        box_lines.pop()
    if len(box_lines) != count:
        raise ValueError(f'{path}:2: the file says {count} boxes but has {len(box_lines)} box line(s) '
                         f'(lines 3-{len(lines)})')
    if count == 0:
        return np.zeros((0, 5), np.float64)
    rows = [line.replace(',', ' ').split() for line in box_lines]
    for i, row in enumerate(rows):
        if len(row) < 5:
            raise ValueError(f'{path}:{i + 3}: expected "x y w h score", got {box_lines[i]!r}')
    try:
        return np.array([row[:5] for row in rows], dtype=np.float64)
    except ValueError:
        for i, row in enumerate(rows):
            try:
                [float(v) for v in row[:5]]
            except ValueError:
                raise ValueError(f'{path}:{i + 3}: expected 5 numbers "x y w h score", got {box_lines[i]!r}')
        raise


def read_submission(pred_dir):
    """Read a submission folder ``<event>/<image_name>.txt`` into ``{event: {image_name: (N, 5) array}}``.

    Like ``read_pred.m``, the image is identified by the file's path (event folder + file stem); the first line of
    each file is not used.
    """
    if not osp.isdir(pred_dir):
        raise FileNotFoundError(f'submission folder not found: {pred_dir}')
    preds = {}
    for event in sorted(os.listdir(pred_dir)):
        event_dir = osp.join(pred_dir, event)
        if not osp.isdir(event_dir):
            continue
        images = {}
        for fname in sorted(os.listdir(event_dir)):
            if fname.endswith('.txt'):
                images[fname[:-4]] = read_pred_file(osp.join(event_dir, fname))
        preds[event] = images
    return preds


def write_submission(out_dir, predictions):
    """Write ``{event: {image_name: (N, 5) [x, y, w, h, score]}}`` as a submission folder under ``out_dir``.

    Numbers are written with Python's shortest round-trip repr, so reading the folder back gives the same floats
    (and the same AP) as evaluating ``predictions`` directly.
    """
    for event, images in predictions.items():
        event_dir = osp.join(out_dir, event)
        os.makedirs(event_dir, exist_ok=True)
        for name, boxes in images.items():
            name = _strip_jpg(name)
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
            lines = [name, str(len(boxes))]
            lines += [' '.join(map(repr, row)) for row in boxes.tolist()]
            with open(osp.join(event_dir, name + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')


def _strip_jpg(name):
    name = osp.basename(str(name))
    return name[:-4] if name.lower().endswith('.jpg') else name


# ----------------------------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------------------------
class _FlatGT:
    """Ground truth flattened to arrays once (image order of the files), reused for every evaluation."""

    def __init__(self, gt):
        self.keys = []  # (event, image_name) in file order
        boxes, offsets = [], [0]
        for event, images in gt['boxes'].items():
            for name, b in images.items():
                self.keys.append((event, name))
                b = np.asarray(b, dtype=np.float64).reshape(-1, 4).copy()
                # evaluation.m: x2 = x + w, y2 = y + h (boxoverlap.m then adds the +1)
                b[:, 2] += b[:, 0]
                b[:, 3] += b[:, 1]
                boxes.append(b)
                offsets.append(offsets[-1] + len(b))
        self.boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.keep = {}
        self.count_face = {}
        for setting in SETTINGS:
            keep = np.zeros(len(self.boxes), bool)
            count = 0
            per_event = gt['settings'][setting]
            for i, (event, name) in enumerate(self.keys):
                idx = np.asarray(per_event.get(event, {}).get(name, ()), dtype=np.int64).reshape(-1)
                count += len(idx)  # evaluation.m: count_face += length(keep_index)
                keep[self.offsets[i] + idx] = True
            self.keep[setting] = keep
            self.count_face[setting] = count


def _as_flat_gt(gt):
    if isinstance(gt, _FlatGT):
        return gt
    if isinstance(gt, (str, os.PathLike)):
        gt = load_ground_truth(gt)
    return _FlatGT(gt)


def _count_files(entries):
    """``'12 .jpg files, 1 .json file'`` for a list of file names (by extension, most frequent first)."""
    counts = {}
    for name in entries:
        ext = osp.splitext(name)[1].lower() or '(no extension)'
        counts[ext] = counts.get(ext, 0) + 1
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ', '.join(f'{n} {ext} file{"s" if n > 1 else ""}' for ext, n in order)


def _folder_entries(path):
    """(sorted folder names, sorted file names) directly in ``path``; ([], []) when it cannot be listed."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return [], []
    folders = sorted(e.name for e in entries if e.is_dir())
    files = sorted(e.name for e in entries if not e.is_dir())
    return folders, files


def _submissions_below(pred_dir, gt_events, depth=3, max_folders=500, max_found=3):
    """Folders up to ``depth`` levels below ``pred_dir`` that hold a folder named after a ground-truth event
    (breadth first; at most ``max_folders`` folders are listed, so a wrong, large folder is not searched whole)."""
    found, level, listed = [], [pred_dir], 0
    for _ in range(depth):
        below = []
        for folder in level:
            for name in _folder_entries(folder)[0]:
                sub = osp.join(folder, name)
                listed += 1
                if listed > max_folders or len(found) >= max_found:
                    return found
                if any(inner in gt_events for inner in _folder_entries(sub)[0]):
                    found.append(sub)
                else:
                    below.append(sub)
        level = below
    return found


def describe_unmatched_submission(pred_dir, gt_keys):
    """Why the folder ``pred_dir`` scores no ground-truth image: what it holds, where a submission seems to be
    instead (one level down, or ``pred_dir`` being one event folder), and the layout expected.

    Args:
        pred_dir (str): the submission folder read.
        gt_keys (list): ``(event, image_name)`` of the ground-truth images.
    """
    gt_events = {event for event, _ in gt_keys}
    example = '{}/{}.txt'.format(*gt_keys[0]) if gt_keys else '<event>/<image>.txt'
    folders, files = _folder_entries(pred_dir)
    found = []
    if files:
        found.append(f'{_count_files(files)} directly in it')
    if folders:
        events = [f for f in folders if f in gt_events]
        inner = [name for folder in folders for name in _folder_entries(osp.join(pred_dir, folder))[1]]
        what = f'{len(folders)} folder{"s" if len(folders) > 1 else ""} ({", ".join(folders[:3])}' + \
            (', ...)' if len(folders) > 3 else ')')
        if events:
            what += f' ({len(events)} named like ground-truth events)'
        found.append(what + (f' holding {_count_files(inner)}' if inner else ' holding no files directly'))
        txt = [f'{folder}/{name[:-4]}' for folder in events for name in _folder_entries(osp.join(pred_dir, folder))[1]
               if name.endswith('.txt')]
        if not events and any(name.endswith('.txt') for name in inner):
            found.append(f'but no folder is named after a ground-truth event (e.g. found {folders[0]}, expected '
                         f'{example.split("/")[0]})')
        if txt:
            found.append(f'but no .txt file is named after a ground-truth image of its event (e.g. found {txt[0]}.txt, '
                         f'expected names like {example})')
    hints = []
    for sub in _submissions_below(pred_dir, gt_events):
        levels = len(osp.relpath(sub, pred_dir).split(os.sep))
        hints.append(f'Found event folders {"one level" if levels == 1 else f"{levels} levels"} down in {sub}: did '
                     f'you mean {sub}?')
    if osp.basename(osp.normpath(pred_dir)) in gt_events and any(f.endswith('.txt') for f in files):
        parent = osp.dirname(osp.normpath(pred_dir)) or '.'
        hints.append(f'{pred_dir} looks like one event folder of a submission: did you mean {parent}?')
    message = (f'{pred_dir}: no prediction file matches a ground-truth image ({len(gt_keys)} images); found '
               + ('; '.join(found) if found else 'an empty folder') + '.')
    if hints:
        message += ' ' + ' '.join(hints)
    return message + (f' Expected a submission folder <event>/<image>.txt, one file per ground-truth image '
                      f'(e.g. {example}).')


def _gather_predictions(predictions, flat_gt, pred_dir=None):
    """Predictions for the ground-truth images only, in ground-truth order: list of (N, 5) float64 arrays.

    Predictions that match no ground-truth image at all are an error (read from the folder ``pred_dir``, the
    message says what the folder holds), not an AP of 0; an empty ``predictions`` dict scores 0 with a warning."""
    per_image = [None] * len(flat_gt.keys)
    extra = 0
    for event, images in predictions.items():
        for name, boxes in images.items():
            i = flat_gt.index.get((event, _strip_jpg(name)))
            if i is None:
                extra += 1
                continue
            arr = np.asarray(boxes, dtype=np.float64)
            if arr.size == 0:
                arr = arr.reshape(0, 5)
            if arr.ndim != 2 or arr.shape[1] < 5:
                raise ValueError(f'predictions[{event!r}][{name!r}]: expected an (N, 5) array [x, y, w, h, score], '
                                 f'got shape {arr.shape}')
            arr = arr[:, :5]
            if not np.isfinite(arr).all():
                raise ValueError(f'predictions[{event!r}][{name!r}]: boxes and scores must be finite numbers')
            per_image[i] = arr
    missing = sum(p is None for p in per_image)
    if per_image and missing == len(per_image) and (pred_dir is not None or extra):
        if pred_dir is not None:
            raise ValueError(describe_unmatched_submission(pred_dir, flat_gt.keys))
        some = next((event, name) for event, images in predictions.items() for name in images)
        raise ValueError(f'WIDER FACE evaluation: none of the {extra} predicted image(s) is a ground-truth image '
                         f'(e.g. predicted {some[0]}/{some[1]}, ground truth {"/".join(flat_gt.keys[0])}): the '
                         'predictions and the ground truth are of different image sets')
    if missing:
        warnings.warn(f'WIDER FACE evaluation: {missing} of {len(per_image)} ground-truth images have no '
                      'predictions; they count as images with no detections.', stacklevel=3)
    if extra:
        warnings.warn(f'WIDER FACE evaluation: {extra} predicted image(s) are not in the ground truth and are '
                      'ignored (the official read_pred.m only reads the ground-truth images).', stacklevel=3)
    empty = np.zeros((0, 5), np.float64)
    return [empty if p is None else p for p in per_image]


def _normalise_scores(scores):
    """norm_score.m: min-max over the whole submission, from realmin/realmax('single') as the kit starts."""
    if len(scores) == 0:
        return scores
    max_score = max(_MATLAB_REALMIN_SINGLE, float(scores.max()))
    min_score = min(_MATLAB_REALMAX_SINGLE, float(scores.min()))
    if scores.min() < 0 or scores.max() > 1:
        warnings.warn('WIDER FACE evaluation: scores lie outside [0, 1]; they are min-max normalised as the official '
                      'MATLAB kit does (the Python port wondervictor/WiderFace-Evaluation would instead use '
                      'min(min, 1) and max(max, 0), so its numbers can differ).', stacklevel=3)
    if max_score == min_score:
        warnings.warn('WIDER FACE evaluation: every score is equal, so the official normalisation '
                      '(s - min) / (max - min) is 0 / 0 = NaN, no box passes any threshold, and all APs are 0 '
                      '(this is what the official kit reports too). Give the detections distinct scores.',
                      stacklevel=3)
    with np.errstate(invalid='ignore', divide='ignore'):
        return (scores - min_score) / (max_score - min_score)


def _match_image(pred, gt_boxes, iou_thresh, chunk=4096):
    """Per box (already in score order): matched gt index (image-local) or -1, from boxoverlap.m's IoU.

    Each box's match depends only on its own IoU row, so images with many boxes are done in chunks (memory).
    """
    if len(pred) > chunk:
        return np.concatenate([_match_image(pred[i:i + chunk], gt_boxes, iou_thresh, chunk)
                               for i in range(0, len(pred), chunk)])
    x1 = pred[:, 0]
    y1 = pred[:, 1]
    x2 = pred[:, 0] + pred[:, 2]
    y2 = pred[:, 1] + pred[:, 3]
    gx1, gy1, gx2, gy2 = gt_boxes.T
    iw = np.minimum(x2[:, None], gx2[None]) - np.maximum(x1[:, None], gx1[None]) + 1
    ih = np.minimum(y2[:, None], gy2[None]) - np.maximum(y1[:, None], gy1[None]) + 1
    inter = iw * ih
    union = ((x2 - x1 + 1) * (y2 - y1 + 1))[:, None] + ((gx2 - gx1 + 1) * (gy2 - gy1 + 1))[None] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        overlaps = np.where((iw > 0) & (ih > 0), inter / union, 0.0)
    best = overlaps.argmax(axis=1)
    best_overlap = overlaps[np.arange(len(best)), best]
    return np.where(best_overlap >= iou_thresh, best, -1)


def voc_ap(recall, precision):
    """VOCap.m: area under the monotone precision envelope, sentinels recall 0 / 1 and precision 0 / 0.

    NaN precisions (thresholds that no box passes) propagate through the envelope exactly as in the kit's numpy
    loop; they only ever sit at recall 0, where they do not contribute.
    """
    mrec = np.concatenate(([0.], recall, [1.]))
    mpre = np.concatenate(([0.], precision, [0.]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate_widerface(predictions, gt, iou_thresh=IOU_THRESH, thresh_num=THRESH_NUM):
    """Easy / Medium / Hard AP of a submission, exactly as the official WIDER FACE kit computes them.

    Args:
        predictions (dict | str): ``{event: {image_name: (N, 5) [x, y, w, h, score]}}`` (pixels, int or float; the
            input is not modified) or the path of a submission folder. Predictions that match no ground-truth
            image at all raise ``ValueError`` (for a folder, saying what it holds); an empty dict scores 0.
        gt (dict | str): :func:`load_ground_truth`'s output, or the folder of the four official ``.mat`` files.
        iou_thresh (float): 0.5 in the official protocol.
        thresh_num (int): 1000 score thresholds in the official protocol.

    Returns:
        dict: ``{'easy': ap, 'medium': ap, 'hard': ap, 'pr_curves': {setting: {'precision': (T,), 'recall': (T,),
        'thresholds': (T,)}}, 'num_images': int, 'num_predictions': int}``.
    """
    pred_dir = None
    if isinstance(predictions, (str, os.PathLike)):
        pred_dir = os.fspath(predictions)
        predictions = read_submission(pred_dir)
    flat_gt = _as_flat_gt(gt)
    per_image = _gather_predictions(predictions, flat_gt, pred_dir)

    # read_pred.m: each image's boxes sorted by score, descending, ties in file order (stable).
    num_boxes = np.array([len(p) for p in per_image], dtype=np.int64)
    all_preds = np.concatenate(per_image) if len(per_image) else np.zeros((0, 5))
    image_id = np.repeat(np.arange(len(per_image)), num_boxes)
    order = np.lexsort((-all_preds[:, 4], image_id))
    all_preds = all_preds[order]
    scores = _normalise_scores(all_preds[:, 4])

    # evaluation.m skips images with no ground-truth box or no prediction.
    gt_counts = np.diff(flat_gt.offsets)
    matched = np.full(len(all_preds), -1, dtype=np.int64)  # global gt index, or -1
    counted = np.zeros(len(all_preds), dtype=bool)
    starts = np.concatenate(([0], np.cumsum(num_boxes)))
    for i in np.nonzero((num_boxes > 0) & (gt_counts > 0))[0]:
        s, e = starts[i], starts[i + 1]
        g0, g1 = flat_gt.offsets[i], flat_gt.offsets[i + 1]
        local = _match_image(all_preds[s:e], flat_gt.boxes[g0:g1], iou_thresh)
        matched[s:e] = np.where(local >= 0, local + g0, -1)
        counted[s:e] = True

    # image_pr_info: with boxes sorted, "boxes up to the last one with score >= thresh" = "boxes with score >=
    # thresh". Box passes thresholds t >= first_t (0-based t, thresh_t = 1 - (t + 1) / thresh_num, decreasing).
    thresholds = np.array([1 - (t + 1) / thresh_num for t in range(thresh_num)])
    passed = np.searchsorted(thresholds[::-1], scores, side='right')  # number of thresholds <= score
    first_t = np.where(np.isnan(scores), thresh_num, thresh_num - passed)

    is_matched = matched >= 0
    results = {'pr_curves': {}, 'num_images': len(per_image), 'num_predictions': int(num_boxes.sum())}
    for setting in SETTINGS:
        keep = flat_gt.keep[setting]
        matched_keep = is_matched & keep[np.maximum(matched, 0)]
        # a box on an ignore face is discarded: proposal_list(h) = -1
        proposal = counted & ~(is_matched & ~matched_keep)
        # a counted face is recalled by the first box (in image score order) matched to it
        recalled = np.zeros(len(all_preds), dtype=bool)
        cand = np.nonzero(counted & matched_keep)[0]
        if len(cand):
            _, first = np.unique(matched[cand], return_index=True)
            recalled[cand[first]] = True
        num_prop = np.cumsum(np.bincount(first_t, weights=proposal, minlength=thresh_num + 1)[:thresh_num])
        num_rec = np.cumsum(np.bincount(first_t, weights=recalled, minlength=thresh_num + 1)[:thresh_num])
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = num_rec / num_prop
            recall = num_rec / flat_gt.count_face[setting]
        if flat_gt.count_face[setting] == 0:
            warnings.warn(f'WIDER FACE evaluation: no face counts in the {setting} setting; its AP is NaN '
                          '(recall is 0 / 0), as in the official kit.', stacklevel=2)
        results[setting] = voc_ap(recall, precision)
        results['pr_curves'][setting] = {'precision': precision, 'recall': recall, 'thresholds': thresholds}
    return results


def format_results(results):
    """Three lines ``Easy   Val AP: ...`` like the official scripts print."""
    return '\n'.join(f'{s.capitalize():<6} Val AP: {results[s]:.4f}' for s in SETTINGS)


def dump_pr_curves(results, path, name=None):
    """Write APs and PR curves as JSON (``tools/analysis/plot_widerface_pr.py`` reads it). NaN -> null."""

    def clean(values):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]

    data = {'name': name, **{s: clean([results[s]])[0] for s in SETTINGS}, 'pr_curves': {
        s: {k: clean(v) for k, v in results['pr_curves'][s].items()} for s in SETTINGS}}
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)
