"""A tiny synthetic WIDER FACE in the real on-disk layout, learnable by a small detector trained on a CPU.

Each image (about ``size`` x ``size`` pixels) shows cluttered background (gradient, noise, random shapes, a few
face-coloured blobs without features) and several drawn faces: a skin-toned ellipse, two dark eyes, a nose, a mouth
and sometimes hair, with a mild rotation and colour jitter. The 5 landmarks are the drawn eye centres, nose tip and
mouth corners (order: image-left eye, image-right eye, nose, image-left mouth corner, image-right mouth corner).

Face widths are log-uniform in ``face_range`` (12..120 px by default); faces narrower than ``ignore_below`` px are
written as ignore boxes (train: ``x1 y1 x2 y2 1``; val: ``.mat`` boxes in no difficulty list). Faces narrower
than ``landmark_min`` px carry no landmarks (``-1 -1 -1``), as in the RetinaFace annotations.

Validation difficulty by face width (nested): Easy >= 32 px, Medium >= 16 px, Hard: every non-ignore face.

Layout written under ``out_dir``::

    train/images/<event>/<name>.jpg   train/labelv2.txt
    val/images/<event>/<name>.jpg     val/labelv2.txt
    val/gt/wider_face_val.mat  val/gt/wider_{easy,medium,hard}_val.mat
"""
import math
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from mmdet_face.keypoints import NUM_KEYPOINTS

# relative landmark positions (x as fraction of face width, y of face height) from the face centre, in the order
# of mmdet_face.keypoints.KEYPOINT_NAMES
_LANDMARKS = np.array([[-0.2, -0.1], [0.2, -0.1], [0.0, 0.1], [-0.16, 0.27], [0.16, 0.27]], dtype=np.float64)
assert len(_LANDMARKS) == NUM_KEYPOINTS
_SKIN_BGR = np.array([[190, 210, 245], [150, 180, 225], [115, 150, 205], [80, 110, 160], [55, 75, 115]],
                     dtype=np.float64)
DIFFICULTY_MIN_WIDTH = dict(easy=32, medium=16, hard=0)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if rng.random() < 0.5:
        t = np.linspace(0, 1, w)[None, :, None]
    else:
        t = np.linspace(0, 1, h)[:, None, None]
    img = ((c0 * (1 - t) + c1 * t) * np.ones((h, w, 1), np.float32)).astype(np.float32)
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(3, 15))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(4, 14)):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 4)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(8, max(9, min(h, w) // 3)))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + s, y + int(s * rng.uniform(0.3, 2))), color, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), s // 2, color, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), color,
                     int(rng.integers(1, 5)), cv2.LINE_AA)
        else:
            pts = rng.integers(-s, s, (3, 2)) + np.array([x, y])
            cv2.fillPoly(img, [pts.astype(np.int32)], color, cv2.LINE_AA)
    return img


def _skin(rng: np.random.Generator) -> Tuple[int, ...]:
    base = _SKIN_BGR[rng.integers(0, len(_SKIN_BGR))]
    return tuple(int(c) for c in np.clip(base + rng.normal(0, 10, 3), 0, 255))


def _distractors(rng: np.random.Generator, img: np.ndarray) -> None:
    """Face-coloured ellipses without features and lone dark dot pairs: the detector must look at the layout."""
    h, w = img.shape[:2]
    for _ in range(rng.integers(0, 4)):
        a = int(rng.uniform(6, 50))
        cv2.ellipse(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), (a, int(a * rng.uniform(0.5, 2.0))),
                    float(rng.uniform(0, 180)), 0, 360, _skin(rng), -1, cv2.LINE_AA)
    for _ in range(rng.integers(0, 2)):
        x, y, d = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.uniform(4, 20))
        r = max(1, d // 4)
        cv2.circle(img, (x, y), r, (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (x + d, y), r, (20, 20, 20), -1, cv2.LINE_AA)


def draw_face(rng: np.random.Generator, img: np.ndarray, box: np.ndarray, angle: float) -> np.ndarray:
    """Draw a face filling ``box`` (x1 y1 x2 y2) rotated by ``angle`` degrees; return its landmarks (5, 2)."""
    x1, y1, x2, y2 = box
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rad = math.radians(angle)
    rot = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    kps = (_LANDMARKS * np.array([fw, fh])) @ rot.T + np.array([cx, cy])

    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    S = 1 << shift

    def p(pt):
        return int(round(pt[0] * S)), int(round(pt[1] * S))

    def axes(a, b):
        return max(1, int(round(a * S))), max(1, int(round(b * S)))

    skin = _skin(rng)
    if rng.random() < 0.6:  # hair: a dark cap on the upper part of the head
        hair = tuple(int(c) for c in rng.integers(0, 70, 3))
        cv2.ellipse(img, p((cx, cy)), axes(fw * 0.54, fh * 0.54), angle, 180, 360, hair, -1, cv2.LINE_AA, shift)
    cv2.ellipse(img, p((cx, cy)), axes(fw / 2, fh / 2), angle, 0, 360, skin, -1, cv2.LINE_AA, shift)
    eye_dark = tuple(int(c) for c in rng.integers(0, 50, 3))
    for k in (0, 1):
        if fw >= 24:
            cv2.ellipse(img, p(kps[k]), axes(fw * 0.09, fh * 0.045), angle, 0, 360, (235, 235, 235), -1,
                        cv2.LINE_AA, shift)
        cv2.ellipse(img, p(kps[k]), axes(fw * 0.055, fh * 0.04), angle, 0, 360, eye_dark, -1, cv2.LINE_AA, shift)
    nose = tuple(int(c * 0.7) for c in skin)
    cv2.ellipse(img, p(kps[2]), axes(fw * 0.05, fh * 0.06), angle, 0, 360, nose, -1, cv2.LINE_AA, shift)
    mouth = (int(rng.integers(20, 60)), int(rng.integers(20, 60)), int(rng.integers(90, 170)))
    thick = max(1, int(round(fh * 0.045)))
    cv2.line(img, p(kps[3]), p(kps[4]), mouth, thick, cv2.LINE_AA, shift)
    return kps.astype(np.float32)


def _iou_any(box: np.ndarray, boxes: List[np.ndarray], margin: float) -> bool:
    for b in boxes:
        mx = margin * (box[2] - box[0] + b[2] - b[0]) / 2
        if (box[0] < b[2] + mx and b[0] < box[2] + mx and box[1] < b[3] + mx and b[1] < box[3] + mx):
            return True
    return False


def make_image(rng: np.random.Generator, size: int = 320, face_range=(12, 120), max_faces: int = 7,
               ignore_below: int = 10, landmark_min: int = 12) -> Tuple[np.ndarray, List[dict]]:
    """One synthetic image and its faces ``[{'box': (4,) int x1y1x2y2, 'keypoints': (5, 2) | None,
    'ignore': bool}]``."""
    h = int(size * rng.uniform(0.8, 1.0))
    w = int(size * rng.uniform(0.8, 1.0))
    img = _background(rng, h, w)
    _distractors(rng, img)
    widths = list(np.exp(rng.uniform(math.log(face_range[0]), math.log(face_range[1]),
                                     int(rng.integers(1, max_faces + 1)))))
    if rng.random() < 0.3:  # a few tiny faces: ignore boxes
        widths += list(rng.uniform(5, ignore_below - 0.01, int(rng.integers(1, 3))))
    boxes: List[np.ndarray] = []
    faces = []
    for fw in sorted(widths, reverse=True):
        fw = int(round(fw))
        fh = int(round(fw * rng.uniform(1.1, 1.35)))
        if fw >= w - 2 or fh >= h - 2:
            continue
        for _ in range(20):
            x1, y1 = int(rng.integers(1, w - fw)), int(rng.integers(1, h - fh))
            box = np.array([x1, y1, x1 + fw, y1 + fh])
            if not _iou_any(box, boxes, 0.1):
                break
        else:
            continue
        boxes.append(box)
        kps = draw_face(rng, img, box.astype(np.float64), float(rng.uniform(-15, 15)))
        faces.append(dict(box=box, keypoints=kps if fw >= landmark_min else None, ignore=fw < ignore_below))
    return img, faces


def _labelv2_face(face: dict, with_ignore_flag: bool) -> str:
    x1, y1, x2, y2 = (int(v) for v in face['box'])
    head = f'{x1} {y1} {x2} {y2}'
    if face['ignore'] and with_ignore_flag:
        return head + ' 1'
    if face['keypoints'] is None:
        return head + ' -1.0 -1.0 -1.0' * NUM_KEYPOINTS
    return head + ''.join(f' {x:.2f} {y:.2f} 0.0' for x, y in face['keypoints'])


_TOY_EVENT = re.compile(r'\d+--Toy')
_GT_MATS = ('wider_face_val.mat', 'wider_easy_val.mat', 'wider_medium_val.mat', 'wider_hard_val.mat')


def _is_toy_labelv2(path: str) -> bool:
    """Whether the labelv2 file ``path`` is empty or starts with a toy image (``# <n>--Toy/...``)."""
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.strip():
                event = line[1:].strip().split('/')[0] if line.startswith('#') else ''
                return bool(_TOY_EVENT.fullmatch(event))
    return True


def _is_toy_gt(path: str) -> bool:
    from mmdet_face.evaluation.functional.widerface_gt_mat import load_gt_boxes
    try:
        return all(_TOY_EVENT.fullmatch(event) for event in load_gt_boxes(path))
    except ValueError:  # not a readable ground-truth file: not ours
        return False


def find_non_toy(out_dir: str) -> Optional[str]:
    """The first path under ``out_dir`` that is no part of a toy set in the layout above (an earlier one, perhaps
    cut short), or None: the toy set may be written there without destroying anything but an earlier toy set."""
    if not osp.lexists(out_dir):
        return None
    if not osp.isdir(out_dir):
        return out_dir
    layout = {'train': ('images', 'labelv2.txt'), 'val': ('images', 'labelv2.txt', 'gt')}
    for split in sorted(os.listdir(out_dir)):
        split_dir = osp.join(out_dir, split)
        if split not in layout or not osp.isdir(split_dir):
            return split_dir
        for name in sorted(os.listdir(split_dir)):
            path = osp.join(split_dir, name)
            if name not in layout[split]:
                return path
            if name == 'labelv2.txt':
                if not (osp.isfile(path) and _is_toy_labelv2(path)):
                    return path
            elif not osp.isdir(path):
                return path
            elif name == 'images':
                for event in sorted(os.listdir(path)):
                    if not (_TOY_EVENT.fullmatch(event) and osp.isdir(osp.join(path, event))):
                        return osp.join(path, event)
            else:  # gt
                for mat in sorted(os.listdir(path)):
                    if mat not in _GT_MATS:
                        return osp.join(path, mat)
                all_mat = osp.join(path, _GT_MATS[0])
                if osp.exists(all_mat) and not _is_toy_gt(all_mat):
                    return all_mat
    return None


def make_toy_widerface(out_dir: str, num_train: int = 400, num_val: int = 100, size: int = 320, seed: int = 0,
                       num_events: int = 4, jpeg_quality: int = 90) -> Dict[str, int]:
    """Write the toy dataset under ``out_dir`` (see the module docstring); return counts of images and faces.

    ``out_dir`` must be new, empty or an earlier toy set (which is written over); a folder holding anything else
    (a real dataset, other files) raises ``FileExistsError`` naming what it holds, before anything is written.
    """
    foreign = find_non_toy(out_dir)
    if foreign is not None:
        what = 'is a file' if foreign == out_dir else f'holds {foreign}, which is no part of a toy WIDER FACE'
        raise FileExistsError(f'{out_dir}: {what}; the toy set is written only into a new or empty folder or over '
                              'an earlier toy set (nothing was written). Choose another output folder.')
    rng = np.random.default_rng(seed)
    events = [f'{i}--Toy' for i in range(num_events)]
    stats: Dict[str, int] = {}
    gt_boxes: Dict[str, Dict[str, np.ndarray]] = {e: {} for e in events}
    settings = {d: {e: {} for e in events} for d in DIFFICULTY_MIN_WIDTH}
    for split, num in (('train', num_train), ('val', num_val)):
        lines: List[str] = []
        num_faces = 0
        for idx in range(num):
            event = events[idx % num_events]
            event_id = event.split('--')[0]
            stem = f'{event_id}_Toy_toy_{event_id}_{idx}'
            rel = f'{event}/{stem}.jpg'
            img, faces = make_image(rng, size)
            path = osp.join(out_dir, split, 'images', rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            lines.append(f'# {rel} {img.shape[1]} {img.shape[0]}')
            lines.extend(_labelv2_face(f, with_ignore_flag=True) for f in faces)
            num_faces += len(faces)
            if split == 'val':
                xywh = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in (f['box'] for f in faces)],
                                dtype=np.int32).reshape(-1, 4)
                gt_boxes[event][stem] = xywh
                for diff, min_w in DIFFICULTY_MIN_WIDTH.items():
                    keep = [i for i, f in enumerate(faces) if not f['ignore'] and xywh[i, 2] >= min_w]
                    settings[diff][event][stem] = np.array(keep, dtype=np.int64)
        with open(osp.join(out_dir, split, 'labelv2.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        stats[f'{split}_images'] = num
        stats[f'{split}_faces'] = num_faces
    write_gt_mats = _get_write_gt_mats()
    write_gt_mats(osp.join(out_dir, 'val', 'gt'), gt_boxes, settings)
    return stats


def _get_write_gt_mats():
    from mmdet_face.evaluation.functional.widerface_gt_mat import write_gt_mats
    return write_gt_mats
