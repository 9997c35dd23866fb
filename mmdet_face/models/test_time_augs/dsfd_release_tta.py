"""The DSFD release's merge of its test views (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019; authors'
release Tencent/FaceDetection-DSFD ``widerface_val.py``: ``detect_face``, ``flip_test``, the size filters of
``multi_scale_test`` / ``multi_scale_test_pyramid``, ``bbox_vote`` and ``write_to_txt``).

Each view (:class:`~mmdet_face.datasets.transforms.DSFDReleaseTTA`) is detected with the release's single-scale rule
(score > 0.01, the 5000 best, NMS 0.3) **without** a per-view cap: the release caps at 750 only after the merge.
Its boxes come back in original-image pixels (divided by the view's scale), flipped views are mirrored back
(``x1' = W - x2``, ``x2' = W - x1``), and the view's size filter drops boxes (+1 sides). All views are stacked in
the release's order and merged by :func:`~mmdet_face.models.test_time_augs.box_votes.release_bbox_vote`;
``release_rounding`` then rounds the boxes as the release writes them (``floor(x1)``, ``floor(y1)``,
``ceil(x2 - x1 + 1)``, ``ceil(y2 - y1 + 1)``) so that our ``x y (x2 - x1) (y2 - y1)`` submission lines carry the
release's numbers.

Not reproduced: when a view finds nothing, the release inserts a placeholder box ``[0, 0, 0, 0]`` with score 0.001;
it can only join a cluster with a box of at most 3 px^2, so it never changes the output of real images.
"""
from typing import List

import numpy as np
import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_face.models.test_time_augs.box_votes import release_bbox_vote
from mmdet_face.registry import MODELS

# the meta key DSFDReleaseTTA writes each view's size filter to: None or (side, comparison, pixels), side
# 'long_side' / 'short_side', comparison '>' / '<'
FILTER_KEY = 'dsfd_size_filter'

# per view: the release's Detect (conf > 0.01, top 5000, NMS 0.3 without +1) and no cap
VIEW_TEST_CFG = dict(score_thr=0.01, nms_pre=5000, nms=dict(type='nms', iou_threshold=0.3), max_per_img=-1)


def release_rounding(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1y1x2y2 -> the box the release's ``write_to_txt`` line describes, as x1y1x2y2 without +1:
    ``x1 = floor(x1)``, ``x2 = floor(x1) + ceil(x2 - x1 + 1)`` (and y alike)."""
    out = np.empty_like(boxes)
    out[:, :2] = np.floor(boxes[:, :2])
    out[:, 2:] = out[:, :2] + np.ceil(boxes[:, 2:] - boxes[:, :2] + 1)
    return out


def size_filter_mask(boxes: np.ndarray, size_filter) -> np.ndarray:
    """Boolean mask of the (N, 4) x1y1x2y2 boxes a view keeps. ``size_filter``: None (all) or ``(side, comparison,
    pixels)`` with side ``'long_side'`` / ``'short_side'`` (+1 sides, as the release measures) and comparison
    ``'>'`` / ``'<'``, e.g. ``('long_side', '>', 30)``."""
    if size_filter is None:
        return np.ones(len(boxes), dtype=bool)
    try:
        side, comparison, pixels = size_filter
        pixels = float(pixels)
    except (TypeError, ValueError):
        side, comparison = None, None
    if side not in ('long_side', 'short_side') or comparison not in ('>', '<'):
        raise ValueError(f"{FILTER_KEY} must be None or (side, comparison, pixels) with side 'long_side' / "
                         f"'short_side' and comparison '>' / '<', got {size_filter!r}")
    sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)
    measured = sides.max(axis=1) if side == 'long_side' else sides.min(axis=1)
    return measured > pixels if comparison == '>' else measured < pixels


@MODELS.register_module()
class DSFDReleaseTTAModel(DetTTAModel):
    """The release's multi-scale + flip test of DSFD (module doc); views from ``DSFDReleaseTTA``.

    Args:
        module (dict | nn.Module): the detector; its head's ``test_cfg`` is replaced by ``view_test_cfg`` (the
            release detects every view without a cap).
        tta_cfg (dict): ``iou_threshold`` (0.3), ``max_per_img`` (750), ``release_rounding`` (True),
            ``view_test_cfg`` (:data:`VIEW_TEST_CFG`).
    """

    def __init__(self, module, tta_cfg=None, **kwargs):
        tta_cfg = {**dict(iou_threshold=0.3, max_per_img=750, release_rounding=True, view_test_cfg=VIEW_TEST_CFG),
                   **(tta_cfg or {})}
        super().__init__(module=module, tta_cfg=tta_cfg, **kwargs)
        head = getattr(self.module, 'bbox_head', None)
        if head is None:
            raise TypeError(f'DSFDReleaseTTAModel: {type(self.module).__name__} has no bbox_head')
        head.test_cfg = dict(tta_cfg['view_test_cfg'])

    def _merge_single_sample(self, data_samples: List[DetDataSample]) -> DetDataSample:
        stacked = []
        for sample in data_samples:
            pred, meta = sample.pred_instances, sample.metainfo
            boxes = pred.bboxes.detach().cpu().double().numpy().reshape(-1, 4)
            scores = pred.scores.detach().cpu().double().numpy().reshape(-1)
            if meta.get('flip', False):
                if meta.get('flip_direction') != 'horizontal':
                    raise NotImplementedError('DSFDReleaseTTAModel: only horizontal flips')
                width = meta['ori_shape'][1]
                boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
            keep = size_filter_mask(boxes, meta.get(FILTER_KEY))
            stacked.append(np.concatenate([boxes[keep], scores[keep, None]], axis=1))
        cfg = self.tta_cfg
        dets = release_bbox_vote(np.concatenate(stacked), cfg['iou_threshold'], cfg['max_per_img'])
        boxes = release_rounding(dets[:, :4]) if cfg['release_rounding'] else dets[:, :4]
        device = data_samples[0].pred_instances.scores.device
        merged = data_samples[0]
        merged.pred_instances = InstanceData(
            bboxes=torch.as_tensor(boxes, dtype=torch.float32, device=device),
            scores=torch.as_tensor(dets[:, 4], dtype=torch.float32, device=device),
            labels=torch.zeros(len(dets), dtype=torch.long, device=device))
        return merged
