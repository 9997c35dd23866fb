"""WIDER FACE annotations for face detectors with five landmarks.

Two text formats are read:

1. ``labelv2.txt`` (the RetinaFace / SCRFD release, Deng et al., "RetinaFace: Single-stage Dense Face Localisation in
   the Wild", CVPR 2020)::

       # 0--Parade/0_Parade_marchingband_1_849.jpg 1024 1385
       449.0 330.0 571.0 479.0 488.9 391.0 0.0 541.1 393.4 0.0 509.8 426.5 0.0 491.1 446.4 0.0 534.6 449.1 0.0
       10 20 30 40                   <- box only (x1 y1 x2 y2)
       10 20 30 40 1                 <- box + ignore flag

   A face line is ``x1 y1 x2 y2`` (pixels, no +1), optionally followed by 15 numbers (5 landmarks as ``x y flag``;
   ``flag == -1`` means "no landmark": weight 0, coordinates set to 0; any other flag: weight 1) or by one number
   (ignore flag, 1 = ignore). The header may omit ``width height``; then the size is read from the image.

2. The official ``wider_face_{train,val}_bbx_gt.txt``: an image path line, a face count line, then per face
   ``x y w h blur expression illumination invalid occlusion pose``; a count of 0 is followed by one line of zeros.
   Faces flagged ``invalid`` become ignore boxes. There are no landmarks (keypoints zero, weights zero).

The format is detected from the content (a ``#`` header line means labelv2) or forced with ``ann_format``.
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset

from mmdet_face.registry import DATASETS

NUM_KEYPOINTS = 5


def _numbers(tokens: Sequence[str], path: str, lineno: int, expected: str) -> List[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f'{path}:{lineno}: expected {expected}, got non-numeric values {" ".join(tokens)!r}') \
            from None


def _check_box(x1, y1, x2, y2, path, lineno):
    if x2 < x1 or y2 < y1:
        raise ValueError(f'{path}:{lineno}: expected a box with non-negative width and height, got '
                         f'x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g}')


def _image_size(img_path: str) -> Tuple[int, int]:
    from PIL import Image  # reads the header only
    with Image.open(img_path) as img:
        return img.size


def parse_labelv2(path: str) -> List[dict]:
    """Parse a labelv2 file into ``[{'name', 'width', 'height', 'faces', 'lineno'}]``.

    Each face is ``(bbox (4,) x1y1x2y2, keypoints (5, 2), keypoints_weights (5,), ignore bool)``.
    ``width``/``height`` are ``None`` when the header omits them.
    """
    images: List[dict] = []
    with open(path, 'r') as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith('#'):
                tokens = line[1:].split()
                if len(tokens) not in (1, 3):
                    raise ValueError(f'{path}:{lineno}: expected a header "# <image path> <width> <height>", '
                                     f'got {len(tokens)} fields')
                width = height = None
                if len(tokens) == 3:
                    width, height = _numbers(tokens[1:], path, lineno, 'integer width and height')
                    if width <= 0 or height <= 0 or width != int(width) or height != int(height):
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
                raise ValueError(f'{path}:{lineno}: expected 4 (box), 5 (box + ignore flag) or 19 (box + 5 '
                                 f'landmarks as x y flag) numbers, got {len(tokens)}')
            values = _numbers(tokens, path, lineno, 'numbers "x1 y1 x2 y2 [...]"')
            _check_box(*values[:4], path, lineno)
            keypoints = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32)
            weights = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
            ignore = False
            if len(values) == 5:
                ignore = values[4] == 1
            elif len(values) > 5:
                kps = np.asarray(values[4:], dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
                present = kps[:, 2] != -1
                keypoints[present] = kps[present, :2]
                weights[present] = 1.0
            images[-1]['faces'].append((np.asarray(values[:4], dtype=np.float32), keypoints, weights, ignore))
    return images


def parse_wider_gt(path: str) -> List[dict]:
    """Parse an official ``wider_face_*_bbx_gt.txt`` (see module docstring); same output as :func:`parse_labelv2`
    with ``width``/``height`` ``None``."""
    with open(path, 'r') as f:
        lines = [ln.strip() for ln in f]
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
        if i + 1 >= n:
            raise ValueError(f'{path}:{name_lineno + 1}: expected a face count after {name!r}, got end of file')
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
            if i + 2 + k >= n:
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
            x, y, w, h = values[:4]
            if w < 0 or h < 0:
                raise ValueError(f'{path}:{lineno}: expected non-negative box width and height, got w={w:g} '
                                 f'h={h:g}')
            faces.append((np.array([x, y, x + w, y + h], dtype=np.float32),
                          np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32),
                          np.zeros(NUM_KEYPOINTS, dtype=np.float32), values[7] == 1))
        images.append(dict(name=name, width=None, height=None, faces=faces, lineno=name_lineno))
        i += 2 + num_lines
    return images


def detect_format(path: str) -> str:
    """``'labelv2'`` if the first non-empty line starts with ``#``, else ``'wider_gt'``."""
    with open(path, 'r') as f:
        for line in f:
            if line.strip():
                return 'labelv2' if line.lstrip().startswith('#') else 'wider_gt'
    return 'labelv2'


@DATASETS.register_module()
class RetinaFaceDataset(BaseDetDataset):
    """WIDER FACE with boxes, 5 landmarks and ignore boxes.

    ``data_list`` entries::

        dict(img_path, img_id='<event>/<stem>', width, height,
             instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=0|1,
                             keypoints=[[x, y]] * 5, keypoints_weights=[0|1] * 5)])

    Args:
        ann_file: ``labelv2.txt`` or ``wider_face_*_bbx_gt.txt`` (relative to ``data_root``).
        min_size: faces with ``min(w, h) < min_size`` become ignore boxes.
        filter_empty_gt: drop images without a non-ignore face (training only; ``filter_cfg=dict(
            filter_empty_gt=True)`` works too).
        ann_format: ``'labelv2'``, ``'wider_gt'`` or ``None`` (detect from content).
        check_images: raise ``FileNotFoundError`` for an image listed but missing (default True).
    """
    METAINFO = dict(classes=('face', ), palette=[(0, 255, 0)])

    def __init__(self,
                 *args,
                 min_size: Optional[float] = None,
                 filter_empty_gt: bool = False,
                 ann_format: Optional[str] = None,
                 check_images: bool = True,
                 data_prefix: dict = dict(img='images/'),
                 **kwargs) -> None:
        if ann_format not in (None, 'labelv2', 'wider_gt'):
            raise ValueError(f"ann_format must be None, 'labelv2' or 'wider_gt', got {ann_format!r}")
        self.min_size = min_size
        self.filter_empty_gt = filter_empty_gt
        self.ann_format = ann_format
        self.check_images = check_images
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        ann_format = self.ann_format or detect_format(self.ann_file)
        parse = parse_labelv2 if ann_format == 'labelv2' else parse_wider_gt
        images = parse(self.ann_file)
        img_root = self.data_prefix.get('img', '')
        data_list = []
        for image in images:
            img_path = osp.join(img_root, image['name'])
            if self.check_images and not osp.isfile(img_path):
                raise FileNotFoundError(f'{self.ann_file}:{image["lineno"]}: expected the image file {img_path} '
                                        'to exist')
            width, height = image['width'], image['height']
            if width is None:
                width, height = _image_size(img_path)
            instances = []
            for bbox, keypoints, weights, ignore in image['faces']:
                if self.min_size is not None and min(bbox[2] - bbox[0], bbox[3] - bbox[1]) < self.min_size:
                    ignore = True
                instances.append(dict(bbox=bbox.tolist(), bbox_label=0, ignore_flag=int(ignore),
                                      keypoints=keypoints.tolist(), keypoints_weights=weights.tolist()))
            data_list.append(dict(img_path=img_path, img_id=osp.splitext(image['name'])[0], width=width,
                                  height=height, instances=instances))
        return data_list

    def filter_data(self) -> List[dict]:
        if self.test_mode:
            return self.data_list
        filter_cfg = self.filter_cfg or {}
        if not (self.filter_empty_gt or filter_cfg.get('filter_empty_gt', False)):
            return self.data_list
        return [d for d in self.data_list if any(not inst['ignore_flag'] for inst in d['instances'])]
