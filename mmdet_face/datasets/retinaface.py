"""WIDER FACE annotations for face detectors with five landmarks.

Three text formats are read:

1. ``labelv2.txt`` (the RetinaFace / SCRFD release, Deng et al., "RetinaFace: Single-stage Dense Face Localisation in
   the Wild", CVPR 2020)::

       # 0--Parade/0_Parade_marchingband_1_849.jpg 1024 1385
       449.0 330.0 571.0 479.0 488.9 391.0 0.0 541.1 393.4 0.0 509.8 426.5 0.0 491.1 446.4 0.0 534.6 449.1 0.0
       10 20 30 40                   <- box only (x1 y1 x2 y2)
       10 20 30 40 1                 <- box + ignore flag

   A face line is ``x1 y1 x2 y2`` (pixels, no +1), optionally followed by 15 numbers (5 landmarks as ``x y flag``;
   ``flag == -1`` means "no landmark": weight 0, coordinates set to 0; flags ``0`` and ``1`` mean annotated:
   weight 1) or by one number (ignore flag, ``0`` or ``1`` = ignore). The header may omit ``width height``; then
   the size is read from the image.

2. RetinaFace's ``retinaface_gt_v1.1`` ``label.txt`` (``ann_format='retinaface_gt'``)::

       # 0--Parade/0_Parade_marchingband_1_849.jpg
       449 330 122 149 488.906 373.643 0.0 542.089 376.442 0.0 515.031 412.83 0.0 485.537 425.893 0.0 538.263 431.491 0.0 0.82
       84 92 84 112                  <- val / test files: box only

   A header holds only the image path (the size is read from the image). A face line is ``x y w h`` (top-left
   corner, width, height) followed either by nothing (val / test) or by 5 landmarks as ``x y flag`` (``-1 -1 -1``:
   no landmark, weight 0) and one trailing confidence value (read, checked finite, not used): 20 numbers.

3. The official ``wider_face_{train,val}_bbx_gt.txt``: an image path line, a face count line, then per face
   ``x y w h blur expression illumination invalid occlusion pose``; a count of 0 is followed by one line of zeros.
   Faces flagged ``invalid`` become ignore boxes. There are no landmarks (keypoints zero, weights zero).

The format is detected from the content (:func:`detect_format`) or forced with ``ann_format``. labelv2 and
``label.txt`` both use ``#`` headers but differ in their box convention (``x1 y1 x2 y2`` vs ``x y w h``): a header
with a size or a face line of 5 or 19 numbers means labelv2, a face line of 20 numbers means ``label.txt``. A file
with path-only headers whose face lines all have 4 numbers could be either, so it is an error unless
``ann_format`` says which.

Values are checked, not only the structure: coordinates must be finite, flags must be one of the documented values.
Files are read as UTF-8 (a leading byte-order mark is dropped); another encoding is an error naming the line.

:class:`RetinaFaceDataset` then fits the boxes to the image: a box partly outside the image is clipped to it, a box
of zero width or height (after clipping, so also one entirely outside) is dropped together with its landmarks;
one line per annotation file reports how many (``print_log``).
"""
import logging
import math
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from mmdet_face.keypoints import NUM_KEYPOINTS
from mmdet_face.registry import DATASETS

ANN_FORMATS = ('labelv2', 'retinaface_gt', 'wider_gt')
LANDMARK_FLAGS = (0.0, 1.0, -1.0)


class UnreadableImageError(ValueError):
    """An image listed in the annotations cannot be read or decoded (the message names its path)."""


def _read_lines(path: str) -> List[str]:
    """The file's lines as text (UTF-8; a leading byte-order mark is dropped, line ends removed)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data.startswith(b'\xef\xbb\xbf'):
        data = data[3:]
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        lineno = data.count(b'\n', 0, e.start) + 1
        column = e.start - (data.rfind(b'\n', 0, e.start) + 1) + 1
        raise ValueError(f'{path}:{lineno}: expected UTF-8 text, got the byte 0x{data[e.start]:02x} at column '
                         f'{column} ({e.reason}); re-save the file as UTF-8') from None
    return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def content_lines(lines: Sequence[str]) -> Iterator[Tuple[int, str]]:
    """``(1-based line number, stripped line)`` of the non-blank lines of :func:`_read_lines`' output."""
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if line:
            yield lineno, line


def _numbers(tokens: Sequence[str], path: str, lineno: int, expected: str) -> List[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f'{path}:{lineno}: expected {expected}, got non-numeric values {" ".join(tokens)!r}') \
            from None


def _check_finite(values: Sequence[float], names: Sequence[str], path: str, lineno: int) -> None:
    for value, name in zip(values, names):
        if not math.isfinite(value):
            raise ValueError(f'{path}:{lineno}: expected a finite number for {name}, got {value}')


def _check_box(x1, y1, x2, y2, path, lineno):
    _check_finite((x1, y1, x2, y2), ('box x1', 'box y1', 'box x2', 'box y2'), path, lineno)
    if x2 < x1 or y2 < y1:
        raise ValueError(f'{path}:{lineno}: expected a box with non-negative width and height, got '
                         f'x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g}')


def _xywh_to_xyxy(x, y, w, h, path, lineno) -> np.ndarray:
    _check_finite((x, y, w, h), ('box x', 'box y', 'box width', 'box height'), path, lineno)
    if w < 0 or h < 0:
        raise ValueError(f'{path}:{lineno}: expected non-negative box width and height, got w={w:g} h={h:g}')
    return np.array([x, y, x + w, y + h], dtype=np.float32)


def _landmarks(values: Sequence[float], path: str, lineno: int) -> Tuple[np.ndarray, np.ndarray]:
    """15 numbers ``x y flag`` x 5 -> keypoints (5, 2), weights (5,) (flag -1: weight 0, coordinates 0)."""
    keypoints = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32)
    weights = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
    for k in range(NUM_KEYPOINTS):
        x, y, flag = values[3 * k:3 * k + 3]
        _check_finite((x, y, flag), (f'landmark {k + 1} x', f'landmark {k + 1} y', f'landmark {k + 1} flag'),
                      path, lineno)
        if flag not in LANDMARK_FLAGS:
            raise ValueError(f'{path}:{lineno}: expected landmark {k + 1} flag 0, 1 (annotated) or -1 (no '
                             f'landmark), got {flag:g}')
        if flag != -1:
            keypoints[k] = (x, y)
            weights[k] = 1.0
    return keypoints, weights


def _empty_landmarks() -> Tuple[np.ndarray, np.ndarray]:
    return np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32), np.zeros(NUM_KEYPOINTS, dtype=np.float32)


def _image_size(img_path: str) -> Tuple[int, int]:
    """``(width, height)`` of the image as decoders return it: an EXIF orientation that turns the image by 90
    degrees (cv2 and mmcv apply it) swaps the stored size."""
    from PIL import Image  # reads the header only
    with Image.open(img_path) as img:
        width, height = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block: decoders ignore it too
            orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def image_problem(img_path: str, backend_args: Optional[dict] = None) -> Optional[str]:
    """Why ``img_path`` cannot be read or decoded as a colour image, or ``None`` if it can."""
    import mmcv
    from mmengine import fileio
    try:
        data = fileio.get(img_path, backend_args=backend_args)
    except Exception as e:
        return f'cannot be read ({type(e).__name__}: {e})'
    if len(data) == 0:
        return 'is empty (0 bytes)'
    try:
        img = mmcv.imfrombytes(data, flag='color')
    except Exception as e:
        return f'cannot be decoded as an image ({len(data)} bytes; {type(e).__name__}: {str(e).strip()})'
    if img is None:
        return f'cannot be decoded as an image ({len(data)} bytes, not a readable JPEG/PNG/...)'
    return None


def _header_tokens(line: str) -> List[str]:
    return line[1:].split()


def parse_labelv2(path: str) -> List[dict]:
    """Parse a labelv2 file into ``[{'name', 'width', 'height', 'faces', 'lineno'}]``.

    Each face is ``(bbox (4,) x1y1x2y2, keypoints (5, 2), keypoints_weights (5,), ignore bool)``.
    ``width``/``height`` are ``None`` when the header omits them.
    """
    images: List[dict] = []
    for lineno, line in content_lines(_read_lines(path)):
        if line.startswith('#'):
            tokens = _header_tokens(line)
            if len(tokens) not in (1, 3):
                raise ValueError(f'{path}:{lineno}: expected a header "# <image path> <width> <height>", '
                                 f'got {len(tokens)} fields')
            width = height = None
            if len(tokens) == 3:
                width, height = _numbers(tokens[1:], path, lineno, 'integer width and height')
                if not (width > 0 and height > 0 and width == int(width) and height == int(height)):
                    raise ValueError(f'{path}:{lineno}: expected positive integer width and height, got '
                                     f'{tokens[1]} {tokens[2]}')
                width, height = int(width), int(height)
            images.append(dict(name=tokens[0], width=width, height=height, faces=[], lineno=lineno))
            continue
        if not images:
            raise ValueError(f'{path}:{lineno}: expected a header line "# <image path> <width> <height>" '
                             'before the first face line')
        tokens = line.split()
        if len(tokens) not in (4, 5, 4 + 3 * NUM_KEYPOINTS):
            hint = (' (20 numbers is the retinaface_gt label.txt layout "x y w h" + landmarks + score: '
                    "ann_format='retinaface_gt')" if len(tokens) == 4 + 3 * NUM_KEYPOINTS + 1 else '')
            raise ValueError(f'{path}:{lineno}: expected 4 (box), 5 (box + ignore flag) or 19 (box + 5 '
                             f'landmarks as x y flag) numbers, got {len(tokens)}{hint}')
        values = _numbers(tokens, path, lineno, 'numbers "x1 y1 x2 y2 [...]"')
        _check_box(*values[:4], path, lineno)
        keypoints, weights = _empty_landmarks()
        ignore = False
        if len(values) == 5:
            if values[4] not in (0, 1):
                raise ValueError(f'{path}:{lineno}: expected an ignore flag 0 or 1 after the box, got '
                                 f'{tokens[4]}')
            ignore = values[4] == 1
        elif len(values) > 5:
            keypoints, weights = _landmarks(values[4:], path, lineno)
        images[-1]['faces'].append((np.asarray(values[:4], dtype=np.float32), keypoints, weights, ignore))
    return images


def parse_retinaface_gt(path: str) -> List[dict]:
    """Parse a RetinaFace ``retinaface_gt_v1.1`` ``label.txt`` (see module docstring); same output as
    :func:`parse_labelv2` (boxes converted to x1y1x2y2, ``width``/``height`` ``None``, no ignore faces)."""
    images: List[dict] = []
    for lineno, line in content_lines(_read_lines(path)):
        if line.startswith('#'):
            tokens = _header_tokens(line)
            if len(tokens) != 1:
                raise ValueError(f'{path}:{lineno}: expected a header "# <image path>" (RetinaFace label.txt), '
                                 f'got {len(tokens)} fields' +
                                 (" (a header with width and height is labelv2: ann_format='labelv2')"
                                  if len(tokens) == 3 else ''))
            images.append(dict(name=tokens[0], width=None, height=None, faces=[], lineno=lineno))
            continue
        if not images:
            raise ValueError(f'{path}:{lineno}: expected a header line "# <image path>" before the first face line')
        tokens = line.split()
        if len(tokens) not in (4, 4 + 3 * NUM_KEYPOINTS + 1):
            raise ValueError(f'{path}:{lineno}: expected 4 (x y w h) or 20 (x y w h, 5 landmarks as x y flag, '
                             f'score) numbers, got {len(tokens)}')
        values = _numbers(tokens, path, lineno, 'numbers "x y w h [...]"')
        bbox = _xywh_to_xyxy(*values[:4], path, lineno)
        keypoints, weights = _empty_landmarks()
        if len(values) > 4:
            keypoints, weights = _landmarks(values[4:19], path, lineno)
            _check_finite(values[19:], ('score (the last number)', ), path, lineno)
        images[-1]['faces'].append((bbox, keypoints, weights, False))
    return images


def parse_wider_gt(path: str) -> List[dict]:
    """Parse an official ``wider_face_*_bbx_gt.txt`` (see module docstring); same output as :func:`parse_labelv2`
    with ``width``/``height`` ``None``."""
    lines = [ln.strip() for ln in _read_lines(path)]
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
            values = _numbers(tokens, path, lineno, '10 numbers "x y w h blur expression illumination invalid '
                                                    'occlusion pose"')
            if count == 0:
                continue
            bbox = _xywh_to_xyxy(*values[:4], path, lineno)
            invalid = values[7]
            if invalid not in (0, 1):
                raise ValueError(f'{path}:{lineno}: expected the invalid flag (8th number) 0 or 1, got {tokens[7]}')
            faces.append((bbox, *_empty_landmarks(), invalid == 1))
        images.append(dict(name=name, width=None, height=None, faces=faces, lineno=name_lineno))
        i += 2 + num_lines
    return images


PARSERS = dict(labelv2=parse_labelv2, retinaface_gt=parse_retinaface_gt, wider_gt=parse_wider_gt)


def detect_format(path: str) -> str:
    """The annotation format of ``path``: ``'labelv2'``, ``'retinaface_gt'`` or ``'wider_gt'``.

    No ``#`` header on the first non-empty line: ``'wider_gt'``. With ``#`` headers: a header with width and height
    or a face line of 5 or 19 numbers means ``'labelv2'``; a face line of 20 numbers means ``'retinaface_gt'``.
    Path-only headers with only 4-number face lines are ambiguous (``x1 y1 x2 y2`` or ``x y w h``): ``ValueError``
    asking for ``ann_format``. A file without any face line (or an empty file) is ``'labelv2'``.
    """
    lines = _read_lines(path)
    first = next(content_lines(lines), None)
    if first is None:
        return 'labelv2'
    if not first[1].startswith('#'):
        return 'wider_gt'
    four_lineno = None
    for lineno, line in content_lines(lines):
        n = len(_header_tokens(line)) if line.startswith('#') else len(line.split())
        if line.startswith('#'):
            if n == 3:
                return 'labelv2'
        elif n in (5, 4 + 3 * NUM_KEYPOINTS):
            return 'labelv2'
        elif n == 4 + 3 * NUM_KEYPOINTS + 1:
            return 'retinaface_gt'
        elif n == 4 and four_lineno is None:
            four_lineno = lineno
    if four_lineno is None:
        return 'labelv2'  # no face line of a known length: the labelv2 parser reports the file's problems
    raise ValueError(f'{path}: cannot tell the format: the headers hold only an image path and every face line has '
                     f'4 numbers (e.g. line {four_lineno}), which is "x1 y1 x2 y2" in labelv2 but "x y w h" in '
                     "RetinaFace's label.txt; pass ann_format='labelv2' or ann_format='retinaface_gt'")


@DATASETS.register_module()
class RetinaFaceDataset(BaseDetDataset):
    """WIDER FACE with boxes, 5 landmarks and ignore boxes.

    ``data_list`` entries::

        dict(img_path, img_id='<event>/<stem>', width, height,
             instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=0|1,
                             keypoints=[[x, y]] * 5, keypoints_weights=[0|1] * 5)])

    Boxes partly outside the image are clipped to it; boxes of zero width or height after clipping are dropped with
    their landmarks (a count per annotation file is logged).

    Args:
        ann_file: ``labelv2.txt``, RetinaFace ``label.txt`` or ``wider_face_*_bbx_gt.txt`` (relative to
            ``data_root``).
        min_size: faces with ``min(w, h) < min_size`` become ignore boxes.
        filter_empty_gt: drop images without a non-ignore face (training only; ``filter_cfg=dict(
            filter_empty_gt=True)`` works too).
        ann_format: ``'labelv2'``, ``'retinaface_gt'``, ``'wider_gt'`` or ``None`` (detect from content, see
            :func:`detect_format`).
        check_images: raise ``FileNotFoundError`` for an image listed but missing (default True).
        skip_unreadable_images: in training, an image that cannot be read or decoded (empty or corrupt file) is
            skipped with a warning naming it, and mmengine's ``BaseDataset`` takes another random image. Default
            ``False``: :class:`UnreadableImageError` naming the image. Never skipped in ``test_mode`` (it would
            change the evaluation).
    """
    METAINFO = dict(classes=('face', ), palette=[(0, 255, 0)])

    def __init__(self,
                 *args,
                 min_size: Optional[float] = None,
                 filter_empty_gt: bool = False,
                 ann_format: Optional[str] = None,
                 check_images: bool = True,
                 skip_unreadable_images: bool = False,
                 data_prefix: dict = dict(img='images/'),
                 **kwargs) -> None:
        if ann_format not in (None, ) + ANN_FORMATS:
            raise ValueError(f'ann_format must be None or one of {ANN_FORMATS}, got {ann_format!r}')
        self.min_size = min_size
        self.filter_empty_gt = filter_empty_gt
        self.ann_format = ann_format
        self.check_images = check_images
        self.skip_unreadable_images = skip_unreadable_images
        self._warned_unreadable = set()
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _skip_unreadable(self) -> bool:
        return self.skip_unreadable_images and not self.test_mode

    def load_data_list(self) -> List[dict]:
        ann_format = self.ann_format or detect_format(self.ann_file)
        images = PARSERS[ann_format](self.ann_file)
        if not images:
            raise ValueError(f'{self.ann_file}: no images in {self.ann_file} (expected {ann_format} annotations: '
                             'an image header followed by its faces)')
        img_root = self.data_prefix.get('img', '')
        data_list = []
        num_clipped = num_dropped = 0
        for image in images:
            img_path = osp.join(img_root, image['name'])
            where = f'{self.ann_file}:{image["lineno"]}'
            if self.check_images and not osp.isfile(img_path):
                raise FileNotFoundError(f'{where}: expected the image file {img_path} to exist')
            width, height = image['width'], image['height']
            if width is None:
                try:
                    width, height = _image_size(img_path)
                except Exception as e:
                    if self._skip_unreadable():
                        print_log(f'{where}: cannot read the size of the image {img_path} ({type(e).__name__}: '
                                  f'{e}); skipped (skip_unreadable_images=True)', logger='current',
                                  level=logging.WARNING)
                        continue
                    raise UnreadableImageError(f'{where}: cannot read the size of the image {img_path} '
                                               f'({type(e).__name__}: {e})') from e
            instances = []
            for bbox, keypoints, weights, ignore in image['faces']:
                clipped = np.clip(bbox, 0, [width, height, width, height]).astype(np.float32)
                if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                    num_dropped += 1  # zero size, or entirely outside the image
                    continue
                if not np.array_equal(clipped, bbox):
                    num_clipped += 1
                if self.min_size is not None and min(clipped[2] - clipped[0], clipped[3] - clipped[1]) < \
                        self.min_size:
                    ignore = True
                instances.append(dict(bbox=clipped.tolist(), bbox_label=0, ignore_flag=int(ignore),
                                      keypoints=keypoints.tolist(), keypoints_weights=weights.tolist()))
            data_list.append(dict(img_path=img_path, img_id=osp.splitext(image['name'])[0], width=width,
                                  height=height, instances=instances))
        if num_clipped or num_dropped:
            print_log(f'{self.ann_file}: {num_clipped} boxes clipped to the image, {num_dropped} dropped (zero size '
                      'or outside the image)', logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no images in {self.ann_file} left after skipping unreadable ones')
        return data_list

    def filter_data(self) -> List[dict]:
        if self.test_mode:
            return self.data_list
        filter_cfg = self.filter_cfg or {}
        if not (self.filter_empty_gt or filter_cfg.get('filter_empty_gt', False)):
            return self.data_list
        kept = [d for d in self.data_list if any(not inst['ignore_flag'] for inst in d['instances'])]
        if not kept:
            raise ValueError(f'{self.ann_file}: no image with a non-ignore face among its {len(self.data_list)} '
                             'images; filter_empty_gt=True would leave an empty training set')
        return kept

    def prepare_data(self, idx: int):
        """Run the pipeline; an image that cannot be read or decoded raises :class:`UnreadableImageError` naming it
        (or, with ``skip_unreadable_images`` in training, is skipped with a warning: ``None`` makes mmengine's
        ``BaseDataset.__getitem__`` take another image)."""
        data_info = self.get_data_info(idx)
        img_path = data_info.get('img_path')
        try:
            return self.pipeline(data_info)
        except Exception as exc:
            # Only a failure whose cause is the image file itself is translated; any other error propagates.
            problem = image_problem(img_path, self.backend_args) if img_path else None
            if problem is None:
                raise
            if self._skip_unreadable():
                if img_path not in self._warned_unreadable:  # once per image and process
                    self._warned_unreadable.add(img_path)
                    print_log(f'{img_path}: the image {problem}; skipped (skip_unreadable_images=True), another '
                              'image is used', logger='current', level=logging.WARNING)
                return None
            raise UnreadableImageError(
                f'{img_path}: the image {problem} (listed in {self.ann_file}; pass skip_unreadable_images=True '
                'to skip such images in training)') from exc
