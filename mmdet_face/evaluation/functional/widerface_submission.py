"""WIDER FACE submission folders: ``<event>/<image_name>.txt``, each holding the image name, the box count, then
``x y w h score`` lines (the layout the official kit's ``read_pred.m`` reads, and the one the WIDER FACE test
server takes, http://shuoyang1213.me/WIDERFACE/); reading, writing, checking a folder against the image list it
answers (:func:`check_submission`), zipping it for the server (:func:`zip_submission`), and saying why a folder
matches no ground-truth image. numpy only.

The first line holds the image's file name without ``.jpg`` (as the RetinaFace and SCRFD releases write it; the
kit does not read it, and whether the server reads it is unverified: the WIDER FACE site's submission page).
"""
import math
import os
import os.path as osp
import zipfile

import numpy as np

from mmdet_face.utils.output_file import atomic_output

__all__ = ['read_pred_file', 'read_submission', 'write_submission', 'describe_unmatched_submission', 'strip_jpg',
           'read_image_list', 'check_submission', 'zip_submission', 'SCORE_RANGE']

# Scores of every detector of this package are probabilities (sigmoid or softmax outputs).
SCORE_RANGE = (0.0, 1.0)


def _utf8_text(path, expected, encoding='utf-8'):
    """The file's text; ``ValueError`` naming the file, the line and the byte when it is not UTF-8."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b'\n', 0, err.start) + 1
        raise ValueError(f'{path}:{line}: byte 0x{data[err.start]:02x} (file offset {err.start}) is not UTF-8 text; '
                         f'expected {expected}') from None


def read_pred_file(path):
    """Read one submission file: image name line, box count line, then ``x y w h score`` lines.

    Extra columns after the fifth are ignored (as ``read_pred.m`` does); blank lines after the boxes are allowed.

    Returns:
        np.ndarray: ``(N, 5)`` float64 ``[x, y, w, h, score]`` in file order.

    Raises:
        ValueError: naming the file and the 1-based line when the file is not UTF-8 text, the count is not an
            integer, disagrees with the number of box lines, or a box line does not hold 5 numbers.
    """
    lines = _utf8_text(path, 'a text submission file: the image name, the box count, then "x y w h score" '
                       'lines').splitlines()
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
            name = strip_jpg(name)
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
            lines = [name, str(len(boxes))]
            lines += [' '.join(map(repr, row)) for row in boxes.tolist()]
            with open(osp.join(event_dir, name + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')


def strip_jpg(name):
    name = osp.basename(str(name))
    return name[:-4] if name.lower().endswith('.jpg') else name


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


IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def read_image_list(path):
    """Read an official image list without annotations, ``wider_face_split/wider_face_test_filelist.txt``: one
    image path ``<event>/<name>.jpg`` per line (e.g. ``0--Parade/0_Parade_marchingband_1_737.jpg``), relative to the
    split's ``images/`` folder; blank lines are skipped, a leading byte-order mark is dropped.

    Returns:
        tuple: ``(names, line numbers)``, two lists in file order (line numbers 1-based).

    Raises:
        ValueError: naming ``file:line`` for text that is not UTF-8, a line that is not one ``<event>/<name>.jpg``
            path (spaces, no event folder, another extension, a count or box line of a ``*_bbx_gt.txt``), or an image
            listed twice.
    """
    names, linenos, first_line = [], [], {}
    text = _utf8_text(path, 'an image list, one "<event>/<name>.jpg" per line', 'utf-8-sig')
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split('/')
        if len(line.split()) != 1 or len(parts) != 2 or not all(parts) or \
                not line.lower().endswith(IMAGE_EXTENSIONS):
            raise ValueError(f'{path}:{lineno}: expected one image path "<event>/<name>.jpg" per line (e.g. '
                             f'"0--Parade/0_Parade_marchingband_1_737.jpg"), got {line!r}')
        if line in first_line:
            raise ValueError(f'{path}:{lineno}: the image {line} is listed a second time (first on line '
                             f'{first_line[line]})')
        first_line[line] = lineno
        names.append(line)
        linenos.append(lineno)
    return names, linenos


def _box_problems(path, boxes, score_range):
    """``file:line: ...`` for each box row of ``boxes`` ``(N, 5)`` (line = row + 3) with a non-finite value, a width
    or height that is not positive, or a score outside ``score_range`` (inclusive)."""
    problems = []
    low, high = score_range
    for row, (x, y, w, h, score) in enumerate(boxes.tolist()):
        where = f'{path}:{row + 3}'
        bad = [name for name, value in (('x', x), ('y', y), ('w', w), ('h', h), ('score', score))
               if not math.isfinite(value)]
        if bad:
            problems.append(f'{where}: {", ".join(bad)} not a finite number (got "{x!r} {y!r} {w!r} {h!r} '
                            f'{score!r}")')
            continue
        if w <= 0 or h <= 0:
            problems.append(f'{where}: expected a box with width and height > 0, got w={w!r} h={h!r}')
        if not low <= score <= high:
            problems.append(f'{where}: expected a score in [{low:g}, {high:g}], got {score!r}')
    return problems


def check_submission(pred_dir, image_names, list_name=None, linenos=None, score_range=SCORE_RANGE):
    """Everything that keeps the folder ``pred_dir`` from being the submission for ``image_names``.

    Args:
        pred_dir (str): the submission folder ``<event>/<name>.txt``.
        image_names (Sequence[str]): the listed images, ``<event>/<name>.jpg`` (the lines of
            ``wider_face_test_filelist.txt``).
        list_name (str, optional): the list's file, named in the messages with ``linenos`` (1-based, one per image).
        score_range (tuple): the inclusive range of valid scores; ``(0, 1)`` for the probabilities this package's
            detectors give.

    Returns:
        list[str]: one message per problem, each naming the file (and line): a listed image without its file, a file
        that cannot be read (not text, a count that disagrees with its box lines, a line that is not five numbers),
        a first line that is not the image's name, a box with a non-finite value or a width or height <= 0, a score
        out of range, and a file or folder that answers no listed image. Empty when the folder is complete and
        valid.
    """
    if not osp.isdir(pred_dir):
        return [f'{pred_dir}: the submission folder does not exist']
    problems = []
    expected = {}
    for i, name in enumerate(image_names):
        event, fname = osp.split(str(name))
        where = f' ({list_name}:{linenos[i]})' if list_name and linenos is not None else \
            (f' (in {list_name})' if list_name else '')
        expected[(event, strip_jpg(fname))] = where
    for (event, stem), where in expected.items():
        path = osp.join(pred_dir, event, stem + '.txt')
        if not osp.isfile(path):
            problems.append(f'{path}: missing: the listed image {event}/{stem}.jpg{where} has no prediction file')
            continue
        try:
            boxes = read_pred_file(path)
        except ValueError as err:
            problems.append(str(err))
            continue
        with open(path, encoding='utf-8') as f:
            first = f.readline().strip()
        if first != stem:
            problems.append(f'{path}:1: expected the image name {stem!r}, got {first!r}')
        problems.extend(_box_problems(path, boxes, score_range))
    for entry in sorted(os.scandir(pred_dir), key=lambda e: e.name):
        if not entry.is_dir():
            problems.append(f'{entry.path}: not part of a submission (expected only <event>/<name>.txt folders)')
            continue
        for sub in sorted(os.scandir(entry.path), key=lambda e: e.name):
            stem = sub.name[:-4] if sub.name.endswith('.txt') else None
            if sub.is_dir() or stem is None:
                problems.append(f'{sub.path}: not part of a submission (expected <event>/<name>.txt files only)')
            elif (entry.name, stem) not in expected:
                problems.append(f'{sub.path}: answers no listed image ({entry.name}/{stem}.jpg is not in '
                                f'{list_name or "the image list"})')
    return problems


def zip_submission(pred_dir, zip_path, overwrite=False):
    """Zip the submission folder ``pred_dir`` into ``zip_path``, members ``<event>/<name>.txt`` (sorted, deflated),
    written under a temporary name and renamed into place when complete. Returns the number of files zipped.

    Raises:
        OutputExistsError: ``zip_path`` exists and ``overwrite`` is False (it is left untouched); see
            :func:`mmdet_face.utils.output_file.atomic_output`.
    """
    members = sorted(osp.relpath(osp.join(root, f), pred_dir).replace(os.sep, '/')
                     for root, _, files in os.walk(pred_dir) for f in files)
    with atomic_output(zip_path, overwrite) as tmp:
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
            for member in members:
                archive.write(osp.join(pred_dir, member), member)
    return len(members)
