"""The views of the DSFD release's WIDER FACE test (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019; authors'
release Tencent/FaceDetection-DSFD ``widerface_val.py``: ``test_widerface``, ``detect_face``, ``flip_test``,
``multi_scale_test``, ``multi_scale_test_pyramid``).

Per image of H x W pixels the release computes ``m = min(3, sqrt((2^31 - 1) / 200 / (H * W)))`` (a Caffe-era memory
bound; 3 for every WIDER image below ~4.8 Mpx) and runs the network on these views, in this order:

1. the image at ``min(m, 1)``, and its horizontal flip at the same scale (no size filter);
2. ``st`` = 0.5 (0.5 m when m < 0.75), plus 0.75 when m > 0.75: boxes whose longer side is > 30 px;
3. ``bt`` = min(2, m) when m > 1, else (st + m) / 2; plus 1.5 when m > 1.5; when m > 2, doublings of ``bt`` below
   m and then m itself. With the final ``bt`` (after the doublings) > 1 these views keep boxes whose shorter side
   is < 100 px, else boxes whose longer side is > 30 px;
4. 0.25 (longer side > 30 px), plus 1.25, 1.75 and 2.25 where <= m (shorter side < 100 px).

Sides are measured in original-image pixels with the release's +1 (``x2 - x1 + 1``). Every view resizes the image
with ``cv2.resize(fx=s, fy=s, INTER_LINEAR)`` (the flip is applied to the original image first, as the release
does) and maps boxes back by dividing by ``s`` itself (not by the rounded size ratio); ``scale_factor = (s, s)``
makes our heads' rescale do the same. :class:`~mmdet_face.models.test_time_augs.DSFDReleaseTTAModel` applies the
filters and merges the views.
"""
import copy
from typing import List, Optional, Tuple

import cv2
from mmcv.transforms import BaseTransform, Compose

from mmdet_face.registry import TRANSFORMS

# A view's size filter travels in the sample meta under FILTER_KEY as (side, comparison, pixels): keep the boxes
# whose longer / shorter side (+1) is > / < pixels; None keeps all. DSFDReleaseTTAModel reads it.
LONG_OVER_30 = ('long_side', '>', 30.0)
SHORT_UNDER_100 = ('short_side', '<', 100.0)
FILTER_KEY = 'dsfd_size_filter'


def release_max_shrink(height: int, width: int) -> float:
    """The release's ``max_im_shrink``: ``min(3, sqrt(0x7fffffff / 200 / (H * W)))``."""
    return min(3.0, (0x7fffffff / 200.0 / (height * width)) ** 0.5)


def dsfd_release_views(height: int, width: int) -> List[Tuple[float, bool, Optional[str]]]:
    """The release's views of an H x W image: ``(scale, flip, size_filter)`` in the release's order (module doc)."""
    m = release_max_shrink(height, width)
    shrink = m if m < 1 else 1.0
    views = [(shrink, False, None), (shrink, True, None)]
    st = 0.5 if m >= 0.75 else 0.5 * m
    views.append((st, False, LONG_OVER_30))
    if m > 0.75:
        views.append((0.75, False, LONG_OVER_30))
    bt = min(2.0, m) if m > 1 else (st + m) / 2
    enlarged = [bt]
    if m > 1.5:
        enlarged.append(1.5)
    if m > 2:
        bt *= 2
        while bt < m:
            enlarged.append(bt)
            bt *= 2
        enlarged.append(m)
    size_filter = SHORT_UNDER_100 if bt > 1 else LONG_OVER_30
    views += [(s, False, size_filter) for s in enlarged]
    views.append((0.25, False, LONG_OVER_30))
    views += [(s, False, SHORT_UNDER_100) for s in (1.25, 1.75, 2.25) if s <= m]
    return views


@TRANSFORMS.register_module()
class DSFDReleaseTTA(BaseTransform):
    """Turn one loaded image into the release's views (:func:`dsfd_release_views`).

    Args:
        transforms (list[dict]): steps applied to every view after its resize (e.g. ``LoadFaceAnnotations`` and a
            ``PackFaceInputs`` whose ``meta_keys`` include ``'dsfd_size_filter'``). Loading the annotations after
            the resize keeps the ground truth in original-image pixels.

    Output as mmcv's ``TestTimeAug``: a dict of per-view lists. The number of views depends on the image size, so
    the test dataloader needs batch size 1.
    """

    def __init__(self, transforms=()):
        self.after = Compose(list(transforms))

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        views = []
        for scale, flip, size_filter in dsfd_release_views(height, width):
            view = copy.deepcopy(results)
            image = cv2.flip(img, 1) if flip else img
            if scale != 1:
                image = cv2.resize(image, None, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            view['img'] = image
            view['img_shape'] = image.shape[:2]
            view['scale_factor'] = (scale, scale)
            view['flip'] = flip
            view['flip_direction'] = 'horizontal' if flip else None
            view[FILTER_KEY] = size_filter
            view = self.after(view)
            if view is None:
                raise ValueError(f'DSFDReleaseTTA: a test transform dropped the image {results.get("img_path", "")}')
            views.append(view)
        return {key: [view[key] for view in views] for key in views[0]}

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.after})'


__all__ = ['DSFDReleaseTTA', 'dsfd_release_views', 'release_max_shrink', 'LONG_OVER_30', 'SHORT_UNDER_100',
           'FILTER_KEY']
