"""Test-time scales capped by a maximum size, as the WIDER FACE test protocols of SRN and its successors use.

The SRN release (ChiCheng123/SRN ``tools/test.py``: ``largest_input = max_size * max_size``) tests every scale of
a list whose view stays under ``max_size ** 2`` pixels, plus one view exactly at that cap: here ``max_area_side``.
``max_long_side`` caps the long side instead (what ``max_size`` means in :class:`~mmdet_face.apis.FaceDetector`).
The test tool's ``--max-size N [--max-size-mode area|side]`` puts these transforms into the test pipeline.
"""
import copy
import math
import warnings

from mmcv.transforms import BaseTransform, Compose

from mmdet_face.registry import TRANSFORMS

# The type names a test pipeline's resize step may have (keypoint-aware FaceResize, or mmdet's for box-only models),
# matched exactly (not by suffix: WiderFaceCappedResize is not one of them). The test tool and FaceDetector replace
# this step's scale.
RESIZE_TYPES = frozenset({'FaceResize', 'mmdet_face.FaceResize', 'Resize', 'mmdet.Resize'})


def resize_step_index(pipeline):
    """Index of the first step of ``pipeline`` (a list of transform dicts) whose type is in :data:`RESIZE_TYPES`,
    or None."""
    return next((i for i, step in enumerate(pipeline) if step.get('type') in RESIZE_TYPES), None)


def capped_scale_factor(height, width, scale, max_area_side=None, max_long_side=None):
    """The factor actually applied to an ``height`` x ``width`` image for test scale ``scale`` under a cap:
    ``min(scale, max_area_side / sqrt(height * width))`` for the area cap of the SRN release (at most
    ``max_area_side ** 2`` pixels), ``min(scale, max_long_side / max(height, width))`` for a cap of the long side
    (the meaning ``max_size`` has in :class:`~mmdet_face.apis.FaceDetector`). At most one cap; none: ``scale``."""
    scale = float(scale)
    if max_area_side and max_long_side:
        raise ValueError(f'give max_area_side or max_long_side, not both (got {max_area_side} and {max_long_side})')
    if max_area_side:
        return min(scale, max_area_side / math.sqrt(height * width))
    if max_long_side:
        return min(scale, max_long_side / max(height, width))
    return scale


def tta_scale_factors(height, width, scales, max_area_side=None, max_long_side=None):
    """The distinct capped factors of ``scales`` for one image, in the order given (clipped duplicates once)."""
    factors = []
    for scale in scales:
        factor = capped_scale_factor(height, width, scale, max_area_side, max_long_side)
        if not any(math.isclose(factor, f, rel_tol=1e-9) for f in factors):
            factors.append(factor)
    return factors


def cap_from_max_size(max_size, max_size_mode='area'):
    """``(max_area_side, max_long_side)`` for the test tool's ``--max-size N --max-size-mode area|side``."""
    if max_size_mode not in (None, 'area', 'side'):
        raise ValueError(f"max_size_mode must be 'area' or 'side', got {max_size_mode!r}")
    return (None, max_size) if max_size_mode == 'side' else (max_size, None)


def _caps(owner, max_area_side, max_long_side, max_size, max_size_mode):
    """The caps of a transform, from the explicit arguments or the deprecated ``max_size`` / ``max_size_mode``."""
    if max_size is None and max_size_mode is None:
        capped_scale_factor(1, 1, 1.0, max_area_side, max_long_side)  # refuses both caps at once
        return max_area_side, max_long_side
    if max_area_side or max_long_side:
        raise ValueError(f'{owner}: give max_area_side / max_long_side, not together with the deprecated max_size')
    warnings.warn(f'{owner}: max_size / max_size_mode are deprecated (max_size meant an area cap here but the long '
                  'side in FaceDetector); write max_area_side=N (mode area) or max_long_side=N (mode side)',
                  FutureWarning, stacklevel=3)
    return cap_from_max_size(max_size, max_size_mode)


def resized_shape(height, width, factor):
    """(height, width) after mmcv's ``Resize(scale_factor=factor, keep_ratio=True)``: the target size is rounded
    half up, then ``imrescale`` refits the image into it (so e.g. 768 x 1024 at 1.5787 gives 1212 x 1616)."""
    target_w, target_h = int(width * factor + 0.5), int(height * factor + 0.5)
    refit = min(max(target_w, target_h) / max(width, height), min(target_w, target_h) / min(width, height))
    return int(height * refit + 0.5), int(width * refit + 0.5)


def _resize(resize_type, factor):
    return TRANSFORMS.build(dict(type=resize_type, scale_factor=factor, keep_ratio=True))


@TRANSFORMS.register_module()
class WiderFaceCappedResize(BaseTransform):
    """``resize_type`` (a keypoint-aware resize, ``FaceResize`` by default) with ``scale_factor`` of the loaded
    image clipped by ``max_area_side`` or ``max_long_side`` (:func:`capped_scale_factor`). ``max_size`` /
    ``max_size_mode`` are the deprecated spelling of the two caps (see :func:`cap_from_max_size`)."""

    def __init__(self, scale_factor=1.0, max_area_side=None, max_long_side=None, resize_type='FaceResize',
                 max_size=None, max_size_mode=None):
        self.scale_factor, self.resize_type = scale_factor, resize_type
        self.max_area_side, self.max_long_side = _caps(type(self).__name__, max_area_side, max_long_side, max_size,
                                                       max_size_mode)

    def transform(self, results):
        h, w = results['img'].shape[:2]
        factor = capped_scale_factor(h, w, self.scale_factor, self.max_area_side, self.max_long_side)
        return _resize(self.resize_type, factor)(results)


@TRANSFORMS.register_module()
class WiderFaceCappedTTA(BaseTransform):
    """Multi-scale (+ horizontal flip) test-time augmentation whose scales are clipped per image by
    ``max_area_side`` or ``max_long_side`` (as :class:`WiderFaceCappedResize`);
    scales that clip to the same factor make one view. Output as mmcv's ``TestTimeAug`` (a dict of per-view lists);
    the number of views can differ between images, so the dataloader must use batch_size 1."""

    def __init__(self, scales, max_area_side=None, max_long_side=None, resize_type='FaceResize', flip=True,
                 flip_type='FaceRandomFlip', transforms=(), max_size=None, max_size_mode=None):
        self.scales, self.resize_type = list(scales), resize_type
        self.max_area_side, self.max_long_side = _caps(type(self).__name__, max_area_side, max_long_side, max_size,
                                                       max_size_mode)
        self.flips = [TRANSFORMS.build(dict(type=flip_type, prob=p)) for p in ((1., 0.) if flip else (0.,))]
        self.after = Compose(list(transforms))

    def transform(self, results):
        h, w = results['img'].shape[:2]
        views = []
        for factor in tta_scale_factors(h, w, self.scales, self.max_area_side, self.max_long_side):
            resize = _resize(self.resize_type, factor)
            for flip in self.flips:
                view = self.after(flip(resize(copy.deepcopy(results))))
                if view is None:
                    raise ValueError('WiderFaceCappedTTA: a test transform dropped the image '
                                     f'{results.get("img_path", "")}')
                views.append(view)
        return {key: [view[key] for view in views] for key in views[0]}
