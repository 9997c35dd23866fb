"""Keypoint-aware geometry: boxes, 5 landmarks (+ weights) and ignore flags move together with the image.

``RandomSquareCrop`` is the sample redistribution of SCRFD (Guo et al., "Sample and Computation Redistribution for
Efficient Face Detection", ICLR 2022): square crops of side ``scale * short side`` with scales up to 2.0, so large
training crops shrink faces and move training samples towards the small-face strides.

Landmarks that end up outside the image (a face cut by the crop border, a landmark outside its own box) keep their
coordinates and their weights: clipping would move them to wrong places and the keypoint loss is computed relative
to anchor centres, so an off-image target is still a correct target. Boxes are clipped to the image as in mmdet.

Each transform here registers under its own name only (``FaceResize``, ``FaceRandomFlip``) and records that the
keypoints follow the image (:mod:`.keypoint_geometry`), so ``PackFaceInputs`` can refuse a sample that mmdet's
``Resize`` / ``RandomFlip`` moved without its landmarks. The bare names ``Resize`` / ``RandomFlip`` are mmdet's
(the registry falls back to mmdet): in a training pipeline they are refused by that check, which names the face
transform to write.
"""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import RandomFlip as MMDetRandomFlip
from mmdet.datasets.transforms import Resize as MMDetResize
from mmdet.structures.bbox import BaseBoxes

from mmdet_face.keypoints import KEYPOINT_FLIP_ORDER
from mmdet_face.registry import TRANSFORMS

from .keypoint_geometry import record_keypoint_geometry

# The per-face arrays a crop keeps or drops together with the boxes (the crops of this package share them).
PER_INSTANCE_KEYS = ('gt_bboxes_labels', 'gt_ignore_flags', 'gt_keypoints', 'gt_keypoints_weights')


def box_array(boxes) -> np.ndarray:
    """``(N, 4)`` float32 x1y1x2y2 of mmdet boxes (``BaseBoxes``) or an array-like."""
    if isinstance(boxes, BaseBoxes):
        return boxes.tensor.numpy().astype(np.float32).reshape(-1, 4)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


@TRANSFORMS.register_module()
class RandomSquareCrop(BaseTransform):
    """Random square crop of side ``int(scale * min(h, w))`` (SCRFD sample redistribution).

    ``scale`` is drawn from ``crop_choice`` (or uniformly from ``crop_ratio_range``). The crop's top-left corner is
    drawn so the crop lies inside the image when it is smaller, or covers it when it is larger; the area outside
    the image is filled with ``pad_val`` (128). A face is kept iff its box centre is strictly inside the crop; kept
    boxes are clipped to the crop and shifted, keypoints are shifted (not clipped, see the module docstring).

    Retry logic as in the reference: up to 250 positions per scale; if no non-ignore face centre falls inside, a new
    scale is drawn (when every scale is <= 1.0, the scale grows by 1.2 instead). An image without non-ignore faces
    accepts the first crop. After ``max_scale_retries`` scales the image is left unchanged.

    Modified keys: img, img_shape, gt_bboxes, gt_bboxes_labels, gt_ignore_flags, gt_keypoints, gt_keypoints_weights.
    Added key: crop_patch (np.int64 (4,) x1 y1 x2 y2 of the crop in input-image pixels).
    """

    def __init__(self,
                 crop_choice: Optional[Sequence[float]] = None,
                 crop_ratio_range: Optional[Sequence[float]] = None,
                 pad_val: float = 128,
                 bbox_clip_border: bool = True,
                 max_tries_per_scale: int = 250,
                 max_scale_retries: int = 50) -> None:
        if (crop_choice is None) == (crop_ratio_range is None):
            raise ValueError('give exactly one of crop_choice and crop_ratio_range')
        self.crop_choice = list(crop_choice) if crop_choice is not None else None
        self.crop_ratio_range = tuple(crop_ratio_range) if crop_ratio_range is not None else None
        self.pad_val = pad_val
        self.bbox_clip_border = bbox_clip_border
        self.max_tries_per_scale = max_tries_per_scale
        self.max_scale_retries = max_scale_retries
        self.max_scale = max(self.crop_choice) if self.crop_choice is not None else self.crop_ratio_range[1]

    def _sample_scale(self) -> float:
        if self.crop_choice is not None:
            return float(np.random.choice(self.crop_choice))
        return float(np.random.uniform(*self.crop_ratio_range))

    @staticmethod
    def _sample_offset(size: int, crop: int) -> int:
        # Both ends inclusive (the reference drew from [0, size - crop), never touching the far border).
        if size >= crop:
            return int(np.random.randint(0, size - crop + 1))
        return int(np.random.randint(size - crop, 1))

    @staticmethod
    def centres_inside(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        return ((centre[:, 0] > patch[0]) & (centre[:, 1] > patch[1]) & (centre[:, 0] < patch[2]) &
                (centre[:, 1] < patch[3]))

    def _choose_patch(self, img_h: int, img_w: int, boxes: np.ndarray, ignore: np.ndarray):
        valid = boxes[~ignore]
        scale = None
        for retry in range(self.max_scale_retries):
            if retry == 0 or self.max_scale > 1.0:
                scale = self._sample_scale()
            else:
                scale = scale * 1.2
            side = int(scale * min(img_h, img_w))
            if side <= 0:
                continue
            for _ in range(self.max_tries_per_scale):
                left = self._sample_offset(img_w, side)
                top = self._sample_offset(img_h, side)
                patch = np.array([left, top, left + side, top + side], dtype=np.int64)
                if len(valid) == 0 or self.centres_inside(valid, patch).any():
                    return patch
        return None

    def crop(self, results: dict, patch: np.ndarray) -> dict:
        """Apply a given crop ``patch`` (x1 y1 x2 y2, may extend beyond the image) to image and annotations."""
        img = results['img']
        img_h, img_w = img.shape[:2]
        x1, y1, x2, y2 = (int(v) for v in patch)
        out = np.full((y2 - y1, x2 - x1) + img.shape[2:], self.pad_val, dtype=img.dtype)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, img_w), min(y2, img_h)
        if sx2 > sx1 and sy2 > sy1:
            out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
        results['img'] = out
        results['img_shape'] = out.shape[:2]
        results['crop_patch'] = np.asarray(patch, dtype=np.int64)

        if results.get('gt_bboxes', None) is not None:
            gt = results['gt_bboxes']
            boxes = box_array(gt)
            keep = self.centres_inside(boxes, patch)
            boxes = boxes[keep]
            if self.bbox_clip_border:
                boxes[:, 0::2] = boxes[:, 0::2].clip(x1, x2)
                boxes[:, 1::2] = boxes[:, 1::2].clip(y1, y2)
            boxes -= np.array([x1, y1, x1, y1], dtype=np.float32)
            results['gt_bboxes'] = type(gt)(boxes) if isinstance(gt, BaseBoxes) else boxes
            for key in PER_INSTANCE_KEYS:
                if results.get(key, None) is not None:
                    results[key] = results[key][keep]
            if results.get('gt_keypoints', None) is not None:
                results['gt_keypoints'] = results['gt_keypoints'] - np.array([x1, y1], dtype=np.float32)
        return record_keypoint_geometry(results)

    def transform(self, results: dict) -> dict:
        img_h, img_w = results['img'].shape[:2]
        if results.get('gt_bboxes', None) is not None:
            boxes = box_array(results['gt_bboxes'])
        else:
            boxes = np.zeros((0, 4), dtype=np.float32)
        ignore = results.get('gt_ignore_flags', None)
        ignore = np.zeros(len(boxes), dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool)
        patch = self._choose_patch(img_h, img_w, boxes, ignore)
        if patch is None:
            return results
        return self.crop(results, patch)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_choice={self.crop_choice}, crop_ratio_range='
                f'{self.crop_ratio_range}, pad_val={self.pad_val}, bbox_clip_border={self.bbox_clip_border})')


@TRANSFORMS.register_module()
class FaceResize(MMDetResize):
    """mmdet ``Resize`` that also scales ``gt_keypoints`` by ``scale_factor`` ``(w_scale, h_scale)``.

    Keypoints are not clipped (see the module docstring).
    """

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if results.get('gt_keypoints', None) is not None:
            w_scale, h_scale = results['scale_factor']
            results['gt_keypoints'] = (results['gt_keypoints'] *
                                       np.array([w_scale, h_scale], dtype=np.float32)).astype(np.float32)
        return record_keypoint_geometry(results)


@TRANSFORMS.register_module()
class FaceRandomFlip(MMDetRandomFlip):
    """mmdet ``RandomFlip`` that also flips ``gt_keypoints``: horizontally ``x' = W - x`` and the landmark order
    becomes ``KEYPOINT_FLIP_ORDER`` (``(1, 0, 2, 4, 3)``, for keypoints and weights); vertically ``y' = H - y`` with
    no swap; diagonally both.
    """

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        return record_keypoint_geometry(results)

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if results.get('gt_keypoints', None) is None:
            return
        h, w = results['img'].shape[:2]
        direction = results['flip_direction']
        kps = results['gt_keypoints'].copy()
        order = list(KEYPOINT_FLIP_ORDER)
        if direction in ('horizontal', 'diagonal'):
            kps[..., 0] = w - kps[..., 0]
            kps = kps[:, order]
            if results.get('gt_keypoints_weights', None) is not None:
                results['gt_keypoints_weights'] = results['gt_keypoints_weights'][:, order]
        if direction in ('vertical', 'diagonal'):
            kps[..., 1] = h - kps[..., 1]
        results['gt_keypoints'] = kps.astype(np.float32)

