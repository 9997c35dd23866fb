"""Test-time scales capped by a maximum size, as the WIDER FACE test protocols of SRN and its successors use.

The SRN release (ChiCheng123/SRN ``tools/test.py``: ``largest_input = max_size * max_size``) tests every scale of
a list whose view stays under ``max_size ** 2`` pixels, plus one view exactly at that cap; ``--max-size-mode side``
caps the long side instead. ``tools/test_widerface.py --max-size`` puts these transforms into the test pipeline.
"""
import copy
import math

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


def capped_scale_factor(height, width, scale, max_size=None, mode='area'):
    """The factor actually applied to an ``height`` x ``width`` image for test scale ``scale`` under ``max_size``:
    ``min(scale, max_size / sqrt(height * width))`` for the area cap of the SRN release (at most max_size^2
    pixels), ``min(scale, max_size / max(height, width))`` for ``mode='side'``."""
    scale = float(scale)
    if not max_size:
        return scale
    if mode == 'area':
        cap = max_size / math.sqrt(height * width)
    elif mode == 'side':
        cap = max_size / max(height, width)
    else:
        raise ValueError(f"max_size mode must be 'area' or 'side', got {mode!r}")
    return min(scale, cap)


def tta_scale_factors(height, width, scales, max_size=None, mode='area'):
    """The distinct capped factors of ``scales`` for one image, in the order given (clipped duplicates once)."""
    factors = []
    for scale in scales:
        factor = capped_scale_factor(height, width, scale, max_size, mode)
        if not any(math.isclose(factor, f, rel_tol=1e-9) for f in factors):
            factors.append(factor)
    return factors


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
    image clipped by ``max_size`` (:func:`capped_scale_factor`)."""

    def __init__(self, scale_factor=1.0, max_size=None, max_size_mode='area', resize_type='FaceResize'):
        self.scale_factor, self.max_size = scale_factor, max_size
        self.max_size_mode, self.resize_type = max_size_mode, resize_type

    def transform(self, results):
        h, w = results['img'].shape[:2]
        factor = capped_scale_factor(h, w, self.scale_factor, self.max_size, self.max_size_mode)
        return _resize(self.resize_type, factor)(results)


@TRANSFORMS.register_module()
class WiderFaceCappedTTA(BaseTransform):
    """Multi-scale (+ horizontal flip) test-time augmentation whose scales are clipped by ``max_size`` per image;
    scales that clip to the same factor make one view. Output as mmcv's ``TestTimeAug`` (a dict of per-view lists);
    the number of views can differ between images, so the dataloader must use batch_size 1."""

    def __init__(self, scales, max_size, max_size_mode='area', resize_type='FaceResize', flip=True,
                 flip_type='FaceRandomFlip', transforms=()):
        self.scales, self.max_size, self.max_size_mode = list(scales), max_size, max_size_mode
        self.resize_type = resize_type
        self.flips = [TRANSFORMS.build(dict(type=flip_type, prob=p)) for p in ((1., 0.) if flip else (0.,))]
        self.after = Compose(list(transforms))

    def transform(self, results):
        h, w = results['img'].shape[:2]
        views = []
        for factor in tta_scale_factors(h, w, self.scales, self.max_size, self.max_size_mode):
            resize = _resize(self.resize_type, factor)
            for flip in self.flips:
                view = self.after(flip(resize(copy.deepcopy(results))))
                if view is None:
                    raise ValueError('WiderFaceCappedTTA: a test transform dropped the image '
                                     f'{results.get("img_path", "")}')
                views.append(view)
        return {key: [view[key] for view in views] for key in views[0]}
