"""Data-anchor-sampling of PyramidBox (Tang et al., "PyramidBox: A Context-assisted Single Shot Face Detector",
ECCV 2018, arXiv 1803.07737, Sec. 3.3), used by AInnoFace ("revisit the data augmentation based on
data-anchor-sampling [32]", Zhang et al., arXiv 1905.01585, abstract).

The sampling, as the paper and the authors' PaddlePaddle release (PaddlePaddle/models, fluid/face_detection,
README_cn.md and reader.py, read for facts only) describe it:

1. pick one annotated face at random, size ``s_face = sqrt(w * h)`` (README_cn: ``val = sqrt(width * height)``);
2. anchor scales ``s_i = 2 ** (4 + i)``, ``i = 0..5`` (16..512); ``i_anchor = argmin_i |s_i - s_face|``;
3. ``i_target`` uniform in ``{0, 1, ..., min(5, i_anchor + 1)}``;
4. ``s_target`` uniform in ``[s_{i_target} / 2, 2 * s_{i_target}]``;
5. rescale the whole image by ``s* = s_target / s_face`` and crop a training-size patch (640 x 640 in PyramidBox)
   that contains the chosen face, at a random position.

Differences from the release, all deliberate: the release caps the upper end at ``min(2 s_{i_target}, 2 s_face)``
when ``i_target`` is the largest allowed index and buckets ``s_face`` between neighbouring scales instead of taking
the nearest one (its README example: 45 -> {16, 32, 64}, the same set as the paper's rule); it sizes the crop from
the face width, not ``sqrt(w h)``, and drops faces under 8 px. We follow the paper's formulas above and keep every
face whose centre stays inside the crop (like :class:`RandomSquareCrop`). The release applies the sampling with
probability 0.5 and an SSD-style crop otherwise (reader.py ``data_anchor_sampling_prob = 0.5``); here that mixing is
done in the config (mmcv ``RandomChoice``), ``prob`` below only skips the transform.

Geometry: the output pixel ``(u, v)`` is the rescaled-image pixel ``(u + ox, v + oy)``; a point ``p`` of the input
goes to ``p * s - (ox, oy)`` for boxes and keypoints alike (``s = (s_x, s_y)``). Upscaling is done in one inverse
affine warp of the crop window only (bilinear, the same half-pixel convention as ``cv2.resize``), so a large ``s*``
never materialises the whole rescaled image; downscaling resizes the whole image with ``INTER_AREA`` (less aliasing)
and then crops; its per-axis scales are the exact ``new_w / w``, ``new_h / h`` of the rounded size.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import BaseBoxes

from mmdet_face.registry import TRANSFORMS

from .geometric import PER_INSTANCE_KEYS, RandomSquareCrop, box_array
from .keypoint_geometry import record_keypoint_geometry


@TRANSFORMS.register_module()
class DataAnchorSampling(BaseTransform):
    """PyramidBox data-anchor-sampling: rescale so a random face matches a random (smaller or one-larger) anchor
    scale, then crop ``crop_size`` around it.

    Args:
        crop_size (int | tuple[int, int]): output size, an int for a square or ``(w, h)``.
        anchor_scales (sequence of float): ``s_i``; PyramidBox's 16..512.
        prob (float): probability to apply; otherwise the results pass through unchanged. Default 1.0: the 0.5 of
            PyramidBox is realised by the config choosing between this and another crop.
        pad_val (float | sequence): fill value where the crop leaves the rescaled image (the release pads 0).
        interpolation (str): ``'bilinear'`` (used for upscaling; downscaling always uses area interpolation).

    Faces chosen from: non-ignored boxes with positive width and height. An image with none passes through
    unchanged. A face is kept iff its rescaled centre is strictly inside the crop; kept boxes are clipped to the
    crop, keypoints are shifted and scaled, not clipped (see ``geometric``); ignore flags, labels and keypoint
    weights follow their boxes.

    Modified keys: img, img_shape, gt_bboxes, gt_bboxes_labels, gt_ignore_flags, gt_keypoints, gt_keypoints_weights.
    Added key: das_info (dict: face_index (input), kept_index (output, or None), s_face, i_anchor, i_target,
    s_target, scale (s_x, s_y), offset (ox, oy), keep (bool mask over the input boxes)).
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 640,
                 anchor_scales: Sequence[float] = (16, 32, 64, 128, 256, 512),
                 prob: float = 1.0,
                 pad_val: Union[float, Sequence[float]] = 0,
                 interpolation: str = 'bilinear') -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        if min(self.crop_size) <= 0:
            raise ValueError(f'crop_size must be positive, got {crop_size}')
        self.anchor_scales = np.asarray(anchor_scales, dtype=np.float64)
        if self.anchor_scales.ndim != 1 or len(self.anchor_scales) == 0 or (self.anchor_scales <= 0).any():
            raise ValueError(f'anchor_scales must be a non-empty sequence of positive numbers: {anchor_scales}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.pad_val = pad_val
        if interpolation not in ('bilinear', 'nearest', 'bicubic'):
            raise ValueError(f'unsupported interpolation {interpolation}')
        self.interpolation = interpolation

    # ----------------------------------------------------------------- sampling
    @staticmethod
    def valid_faces(boxes: np.ndarray, ignore: np.ndarray) -> np.ndarray:
        """Indices of the faces that may be chosen: not ignored, positive width and height."""
        wh = boxes[:, 2:] - boxes[:, :2]
        return np.nonzero(~ignore & (wh[:, 0] > 0) & (wh[:, 1] > 0))[0]

    def sample_target(self, s_face: float) -> Tuple[int, int, float]:
        """``(i_anchor, i_target, s_target)`` for a face of size ``s_face`` (PyramidBox Sec. 3.3)."""
        i_anchor = int(np.argmin(np.abs(self.anchor_scales - s_face)))
        i_max = min(len(self.anchor_scales) - 1, i_anchor + 1)
        i_target = int(np.random.randint(0, i_max + 1))
        s_i = float(self.anchor_scales[i_target])
        s_target = float(np.random.uniform(s_i / 2, s_i * 2))
        return i_anchor, i_target, s_target

    @staticmethod
    def _sample_offset(f1: float, f2: float, size: float, crop: int) -> int:
        """Integer offset ``o`` of a crop ``[o, o + crop)`` along one axis of the rescaled image ``[0, size)``.

        The crop holds the face ``[f1, f2]`` (or lies inside it when the face is larger than the crop) and, where
        that allows, stays inside the image (image larger than the crop) or covers it (image smaller).
        """
        face_lo, face_hi = min(f1, f2 - crop), max(f1, f2 - crop)
        img_lo, img_hi = (0.0, size - crop) if size >= crop else (size - crop, 0.0)
        lo, hi = max(face_lo, img_lo), min(face_hi, img_hi)
        if lo > hi:  # face partly outside the image: satisfy the face constraint only
            lo, hi = face_lo, face_hi
        lo_i, hi_i = math.ceil(lo), math.floor(hi)
        if lo_i > hi_i:
            return int(round((lo + hi) / 2))
        return int(np.random.randint(lo_i, hi_i + 1))

    # ----------------------------------------------------------------- geometry
    def _rescale_and_crop(self, img: np.ndarray, scale: float, offset: Tuple[int, int]):
        """Image rescaled by ``scale`` and cropped at ``offset`` (rescaled-image pixels); returns the crop and the
        exact per-axis scale ``(s_x, s_y)`` that boxes must use."""
        h, w = img.shape[:2]
        cw, ch = self.crop_size
        ox, oy = offset
        # cv2 reads a bare number as (v, 0, 0, 0): repeat it over the channels
        if isinstance(self.pad_val, (int, float)):
            border = (float(self.pad_val), ) * 4
        else:
            border = tuple(float(v) for v in self.pad_val)
        if scale < 1.0:
            nw, nh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
            small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            if small.ndim < img.ndim:
                small = small[..., None]
            out = np.empty((ch, cw) + img.shape[2:], dtype=img.dtype)
            out[...] = np.asarray(self.pad_val, dtype=np.float64).astype(img.dtype)
            sx1, sy1, sx2, sy2 = max(ox, 0), max(oy, 0), min(ox + cw, nw), min(oy + ch, nh)
            if sx2 > sx1 and sy2 > sy1:
                out[sy1 - oy:sy2 - oy, sx1 - ox:sx2 - ox] = small[sy1:sy2, sx1:sx2]
            return out, (nw / w, nh / h)
        # inverse map, half-pixel centres as cv2.resize: src = (dst + o + 0.5) / s - 0.5
        inv = 1.0 / scale
        m = np.array([[inv, 0.0, (ox + 0.5) * inv - 0.5], [0.0, inv, (oy + 0.5) * inv - 0.5]], dtype=np.float64)
        flags = dict(bilinear=cv2.INTER_LINEAR, nearest=cv2.INTER_NEAREST, bicubic=cv2.INTER_CUBIC)
        out = cv2.warpAffine(img, m, (cw, ch), flags=flags[self.interpolation] | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        if out.ndim < img.ndim:
            out = out[..., None]
        return out, (scale, scale)

    def apply(self, results: dict, scale: float, offset: Tuple[int, int]) -> dict:
        """Rescale by ``scale`` and crop ``crop_size`` at integer ``offset`` (top-left, rescaled-image pixels);
        deterministic, so tests can give hand-computed numbers."""
        img = results['img']
        out, (sx, sy) = self._rescale_and_crop(img, scale, offset)
        cw, ch = self.crop_size
        ox, oy = offset
        results['img'] = out
        results['img_shape'] = out.shape[:2]
        results['das_info'] = dict(scale=(sx, sy), offset=(ox, oy), keep=None)
        if results.get('gt_bboxes', None) is not None:
            gt = results['gt_bboxes']
            boxes = box_array(gt) * np.array([sx, sy, sx, sy], dtype=np.float32)
            boxes -= np.array([ox, oy, ox, oy], dtype=np.float32)
            keep = RandomSquareCrop.centres_inside(boxes, np.array([0, 0, cw, ch]))
            results['das_info']['keep'] = keep
            boxes = boxes[keep]
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, cw)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, ch)
            results['gt_bboxes'] = type(gt)(boxes) if isinstance(gt, BaseBoxes) else boxes
            for key in PER_INSTANCE_KEYS:
                if results.get(key, None) is not None:
                    results[key] = results[key][keep]
            if results.get('gt_keypoints', None) is not None:
                kps = results['gt_keypoints'] * np.array([sx, sy], dtype=np.float32)
                results['gt_keypoints'] = (kps - np.array([ox, oy], dtype=np.float32)).astype(np.float32)
        return record_keypoint_geometry(results)

    def transform(self, results: dict) -> dict:
        if self.prob < 1.0 and np.random.rand() >= self.prob:
            return results
        if results.get('gt_bboxes', None) is None:
            return results
        boxes = box_array(results['gt_bboxes'])
        ignore = results.get('gt_ignore_flags', None)
        ignore = np.zeros(len(boxes), dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool)
        candidates = self.valid_faces(boxes, ignore)
        if len(candidates) == 0:
            return results
        idx = int(candidates[np.random.randint(len(candidates))])
        x1, y1, x2, y2 = (float(v) for v in boxes[idx])
        s_face = math.sqrt((x2 - x1) * (y2 - y1))
        i_anchor, i_target, s_target = self.sample_target(s_face)
        scale = s_target / s_face
        h, w = results['img'].shape[:2]
        # the downscale path rounds the image size: place the crop with the scales that will really be used
        if scale < 1.0:
            sx = max(int(round(w * scale)), 1) / w
            sy = max(int(round(h * scale)), 1) / h
        else:
            sx = sy = scale
        cw, ch = self.crop_size
        ox = self._sample_offset(x1 * sx, x2 * sx, w * sx, cw)
        oy = self._sample_offset(y1 * sy, y2 * sy, h * sy, ch)
        results = self.apply(results, scale, (ox, oy))
        keep = results['das_info']['keep']
        # index of the chosen face among the output boxes (None if it was dropped: only a face more than twice
        # the crop size can lose its centre)
        kept_index = int(keep[:idx].sum()) if keep[idx] else None
        results['das_info'].update(face_index=idx, kept_index=kept_index, s_face=s_face, i_anchor=i_anchor,
                                   i_target=i_target, s_target=s_target)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, anchor_scales='
                f'{self.anchor_scales.tolist()}, prob={self.prob}, pad_val={self.pad_val}, '
                f'interpolation={self.interpolation})')
