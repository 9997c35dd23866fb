"""SSD's random crop with a minimum-IoU constraint (Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016,
Sec. 2.2 "Data augmentation"), keypoint-aware.

DSFD's Improved Anchor Matching (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019, Sec. 3.4) uses PyramidBox
data-anchor-sampling with probability 2/5 and "SSD-style" augmentation otherwise; this is that SSD branch. SSD's
sampling, with the numbers of the common SSD ports (mmdet's ``MinIoURandomCrop``, ssd.pytorch), read for facts:

1. draw a mode from ``{1 (keep the whole image), *min_ious, 0 (no constraint)}``;
2. up to ``max_tries`` times: a patch of width ``U(min_crop_size * w, w)`` and height ``U(min_crop_size * h, h)``
   with ``0.5 <= h / w <= 2``, at a uniform position inside the image, corners truncated to integers;
3. accept it when every non-ignored face has IoU with the patch ``>= mode`` and at least one face centre is
   strictly inside it; otherwise draw a new mode (mmdet's loop).

A face is kept iff its centre is strictly inside the patch; kept boxes are clipped to the patch; keypoints are
shifted, not clipped (see :mod:`.geometric`); ignore flags, labels and keypoint weights follow their boxes. The crop
itself is :meth:`RandomSquareCrop.crop` (any rectangle), so the geometry is the one the other crops use.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet_face.registry import TRANSFORMS

from .geometric import RandomSquareCrop, box_array


def patch_ious(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """IoU of each box (N, 4) x1y1x2y2 pixels (no +1) with one patch (4,) x1y1x2y2; returns (N,) float64."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    patch = np.asarray(patch, dtype=np.float64)
    iw = np.clip(np.minimum(boxes[:, 2], patch[2]) - np.maximum(boxes[:, 0], patch[0]), 0, None)
    ih = np.clip(np.minimum(boxes[:, 3], patch[3]) - np.maximum(boxes[:, 1], patch[1]), 0, None)
    inter = iw * ih
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_p = (patch[2] - patch[0]) * (patch[3] - patch[1])
    return inter / np.maximum(area_b + area_p - inter, np.finfo(np.float64).eps)


@TRANSFORMS.register_module()
class FaceMinIoURandomCrop(BaseTransform):
    """SSD random crop (min-IoU constraint) that moves boxes, keypoints and ignore flags together.

    Args:
        min_ious (sequence of float): IoU thresholds of the constrained modes (SSD: 0.1, 0.3, 0.5, 0.7, 0.9).
        min_crop_size (float): smallest patch side as a fraction of the image side (SSD: 0.3).
        max_tries (int): patches tried per mode before a new mode is drawn (SSD ports: 50).
        max_modes (int): modes drawn before the image is left unchanged (a safety bound; with the default modes
            the "keep" or "no constraint" mode comes up long before).
        bbox_clip_border (bool): clip kept boxes to the patch.

    Modified keys: img, img_shape, gt_bboxes, gt_bboxes_labels, gt_ignore_flags, gt_keypoints, gt_keypoints_weights.
    Added key: crop_patch (np.int64 (4,) x1 y1 x2 y2 in input pixels; absent when the image is kept whole).
    """

    def __init__(self,
                 min_ious: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
                 min_crop_size: float = 0.3,
                 max_tries: int = 50,
                 max_modes: int = 100,
                 bbox_clip_border: bool = True) -> None:
        min_ious = tuple(float(v) for v in min_ious)
        if any(not 0.0 <= v <= 1.0 for v in min_ious):
            raise ValueError(f'min_ious must lie in [0, 1], got {min_ious}')
        if not 0.0 < min_crop_size <= 1.0:
            raise ValueError(f'min_crop_size must be in (0, 1], got {min_crop_size}')
        if max_tries <= 0 or max_modes <= 0:
            raise ValueError(f'max_tries and max_modes must be positive, got {max_tries}, {max_modes}')
        self.min_ious = min_ious
        self.sample_modes = (1.0, *min_ious, 0.0)  # 1: keep the whole image, 0: no IoU constraint
        self.min_crop_size = float(min_crop_size)
        self.max_tries = int(max_tries)
        self.max_modes = int(max_modes)
        # the crop is always inside the image, so RandomSquareCrop.crop never pads
        self._cropper = RandomSquareCrop(crop_choice=[1.0], bbox_clip_border=bbox_clip_border)

    @staticmethod
    def accepts(boxes: np.ndarray, patch: np.ndarray, min_iou: float) -> bool:
        """SSD's acceptance test for non-ignored faces ``boxes`` (N, 4): every IoU with the patch ``>= min_iou``
        and at least one centre strictly inside; an image without faces accepts any patch."""
        if len(boxes) == 0:
            return True
        if patch_ious(boxes, patch).min() < min_iou:
            return False
        return bool(RandomSquareCrop.centres_inside(boxes, patch).any())

    def choose_patch(self, img_h: int, img_w: int, boxes: np.ndarray) -> Tuple[Optional[np.ndarray], float]:
        """``(patch, mode)``: a patch (4,) int64 x1y1x2y2 for an image of ``img_h`` x ``img_w`` with non-ignored
        faces ``boxes`` and the IoU threshold it met, or ``(None, mode)`` to keep the image whole."""
        mode = 1.0
        for _ in range(self.max_modes):
            mode = self.sample_modes[np.random.randint(len(self.sample_modes))]
            if mode >= 1.0:
                return None, mode
            for _ in range(self.max_tries):
                new_w = np.random.uniform(self.min_crop_size * img_w, img_w)
                new_h = np.random.uniform(self.min_crop_size * img_h, img_h)
                if not 0.5 <= new_h / new_w <= 2.0:
                    continue
                left = np.random.uniform(0, img_w - new_w)
                top = np.random.uniform(0, img_h - new_h)
                patch = np.array([int(left), int(top), int(left + new_w), int(top + new_h)], dtype=np.int64)
                if patch[2] <= patch[0] or patch[3] <= patch[1]:
                    continue
                if self.accepts(boxes, patch, mode):
                    return patch, mode
        return None, mode

    def crop(self, results: dict, patch: np.ndarray) -> dict:
        """Apply a given patch (x1y1x2y2 inside the image); deterministic, for hand-checked tests."""
        return self._cropper.crop(results, patch)

    def transform(self, results: dict) -> dict:
        img_h, img_w = results['img'].shape[:2]
        boxes = (box_array(results['gt_bboxes']) if results.get('gt_bboxes', None) is not None
                 else np.zeros((0, 4), dtype=np.float32))
        ignore = results.get('gt_ignore_flags', None)
        ignore = np.zeros(len(boxes), dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool)
        patch, _ = self.choose_patch(img_h, img_w, boxes[~ignore])
        if patch is None:
            return results
        return self.crop(results, patch)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_ious={self.min_ious}, min_crop_size={self.min_crop_size}, '
                f'max_tries={self.max_tries}, max_modes={self.max_modes})')
