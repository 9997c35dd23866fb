"""ATSS assignment with SCRFD's scale-normalised centre-in-box test.

Bridging the Gap Between Anchor-based and Anchor-free Detection via Adaptive Training Sample Selection
(Zhang et al., 2020), as modified in "Sample and Computation Redistribution for Efficient Face Detection"
(Guo et al., 2021): the distance from a candidate's centre to the nearest side of its face box is divided by
``sqrt(w * h)`` of the box before it is compared with a threshold, so the test means the same for tiny and large
faces.
"""
from typing import List, Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.registry import TASK_UTILS

INF = 100000000

# ``center_mode`` -> test on d = min(l, t, r, b) / sqrt(area) of a candidate centre (SCRFD's ``mode``).
# 0 is what every released SCRFD model was trained with: the centre must lie strictly inside the box.
CENTER_MODES = (0, 1, 2, 3, 4, 5)


def center_in_box(dist_min: Tensor, sqrt_area: Tensor, mode: int = 0) -> Tensor:
    """The centre-in-box test of SCRFD on the area-normalised distance.

    Args:
        dist_min (Tensor): ``(K, G)`` min over (left, top, right, bottom) of the distances from each candidate
            centre to the sides of each gt box, in pixels (negative when outside).
        sqrt_area (Tensor): ``(G,)`` ``sqrt(clamp(w * h, min=1e-4))`` of each gt box.
        mode (int): 0: ``d > 0.001`` (inside); 1: ``d > -0.25``; 2: ``d > -0.15``; 3/4: ``d * clamp(sqrt_area /
            16, 1|0.5, 6) > -0.2``; 5: ``d / clamp(sqrt_area / 16, 0.5, 3) > -0.2``.

    Returns:
        Tensor: ``(K, G)`` bool.
    """
    d = dist_min / sqrt_area[None, :]
    if mode == 0:
        return d > 0.001
    if mode == 1:
        return d > -0.25
    if mode == 2:
        return d > -0.15
    if mode == 3:
        return d * torch.clamp(sqrt_area / 16.0, min=1.0, max=6.0)[None, :] > -0.2
    if mode == 4:
        return d * torch.clamp(sqrt_area / 16.0, min=0.5, max=6.0)[None, :] > -0.2
    if mode == 5:
        return d / torch.clamp(sqrt_area / 16.0, min=0.5, max=3.0)[None, :] > -0.2
    raise ValueError(f'center_mode must be one of {CENTER_MODES}, got {mode}')


@TASK_UTILS.register_module()
class SCRFDATSSAssigner(BaseAssigner):
    """ATSS with SCRFD's area-normalised centre test; priors matched to ignore faces get ``-1``.

    Steps for each gt: on every pyramid level take the ``topk`` priors whose centres are closest to the gt
    centre; their IoUs with the gt give a threshold ``mean + std``; a candidate is positive if its IoU reaches the
    threshold and it passes :func:`center_in_box`; a prior positive for several gts goes to the one it overlaps
    most. Priors whose intersection-over-foreground with an ignore box exceeds ``ignore_iof_thr`` are set to
    ``-1`` (neither positive nor negative) and are never candidates.

    Args:
        topk (int): Candidates per level per gt (9 in SCRFD).
        center_mode (int): See :func:`center_in_box` (SCRFD's ``mode``; 0 for every released model).
        iou_calculator (dict): IoU calculator config (mmdet's ``BboxOverlaps2D``).
        ignore_iof_thr (float): IoF threshold for ignore boxes; <= 0 disables them (SCRFD's default -1).
    """

    def __init__(self, topk: int = 9, center_mode: int = 0,
                 iou_calculator: dict = dict(type='BboxOverlaps2D'), ignore_iof_thr: float = -1):
        if center_mode not in CENTER_MODES:
            raise ValueError(f'center_mode must be one of {CENTER_MODES}, got {center_mode}')
        self.topk = topk
        self.center_mode = center_mode
        self.iou_calculator = TASK_UTILS.build(iou_calculator)
        self.ignore_iof_thr = ignore_iof_thr

    def assign(self, pred_instances: InstanceData, num_level_priors: List[int], gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None) -> AssignResult:
        """Assign gts to priors.

        Args:
            pred_instances (InstanceData): ``priors`` ``(N, 4)`` x1y1x2y2 pixels, all levels concatenated.
            num_level_priors (list[int]): Priors on each level, in order.
            gt_instances (InstanceData): ``bboxes`` ``(G, 4)`` and ``labels`` ``(G,)``.
            gt_instances_ignore (InstanceData, optional): ``bboxes`` ``(I, 4)`` of ignore faces.

        Returns:
            AssignResult: ``gt_inds`` ``(N,)``: 0 negative, -1 ignored, i > 0 positive for gt ``i - 1``.
        """
        priors = pred_instances.priors[:, :4]
        gt_bboxes = gt_instances.bboxes
        gt_labels = gt_instances.labels
        num_gt, num_priors = gt_bboxes.size(0), priors.size(0)

        overlaps = self.iou_calculator(priors, gt_bboxes)
        assigned_gt_inds = overlaps.new_full((num_priors,), 0, dtype=torch.long)

        ignore_mask = None
        if (self.ignore_iof_thr > 0 and gt_instances_ignore is not None
                and len(gt_instances_ignore) > 0 and num_priors > 0):
            ignore_overlaps = self.iou_calculator(priors, gt_instances_ignore.bboxes, mode='iof')
            ignore_mask = ignore_overlaps.max(dim=1).values > self.ignore_iof_thr
            assigned_gt_inds[ignore_mask] = -1

        if num_gt == 0 or num_priors == 0:
            max_overlaps = overlaps.new_zeros((num_priors,))
            assigned_labels = overlaps.new_full((num_priors,), -1, dtype=torch.long)
            return AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)

        gt_cx = (gt_bboxes[:, 0] + gt_bboxes[:, 2]) / 2.0
        gt_cy = (gt_bboxes[:, 1] + gt_bboxes[:, 3]) / 2.0
        gt_sqrt_area = torch.sqrt(torch.clamp(
            (gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1]), min=1e-4))
        priors_cx = (priors[:, 0] + priors[:, 2]) / 2.0
        priors_cy = (priors[:, 1] + priors[:, 3]) / 2.0
        distances = ((priors_cx[:, None] - gt_cx[None, :]).pow(2) +
                     (priors_cy[:, None] - gt_cy[None, :]).pow(2)).sqrt()
        if ignore_mask is not None:
            distances[ignore_mask, :] = INF

        # topk closest priors per level and gt -> (K, G) candidate indices into all priors
        candidate_idxs = []
        start = 0
        for num in num_level_priors:
            end = start + num
            k = min(self.topk, num)
            _, idxs = distances[start:end].topk(k, dim=0, largest=False)
            candidate_idxs.append(idxs + start)
            start = end
        candidate_idxs = torch.cat(candidate_idxs, dim=0)

        gt_arange = torch.arange(num_gt, device=priors.device)
        candidate_overlaps = overlaps[candidate_idxs, gt_arange]
        overlaps_thr = candidate_overlaps.mean(0) + candidate_overlaps.std(0)
        is_pos = candidate_overlaps >= overlaps_thr[None, :]

        cand_cx = priors_cx[candidate_idxs]
        cand_cy = priors_cy[candidate_idxs]
        dist_min = torch.stack([cand_cx - gt_bboxes[:, 0], cand_cy - gt_bboxes[:, 1],
                                gt_bboxes[:, 2] - cand_cx, gt_bboxes[:, 3] - cand_cy], dim=0).min(dim=0).values
        is_pos = is_pos & center_in_box(dist_min, gt_sqrt_area, self.center_mode)
        if ignore_mask is not None:  # only possible when a level has fewer priors than topk
            is_pos = is_pos & ~ignore_mask[candidate_idxs]

        # a prior positive for several gts goes to the gt it overlaps most
        overlaps_inf = torch.full_like(overlaps, -INF)
        pos_prior = candidate_idxs[is_pos]
        pos_gt = gt_arange[None, :].expand_as(candidate_idxs)[is_pos]
        overlaps_inf[pos_prior, pos_gt] = overlaps[pos_prior, pos_gt]
        max_overlaps, argmax_overlaps = overlaps_inf.max(dim=1)
        matched = max_overlaps != -INF
        assigned_gt_inds[matched] = argmax_overlaps[matched] + 1

        assigned_labels = assigned_gt_inds.new_full((num_priors,), -1)
        pos_inds = torch.nonzero(assigned_gt_inds > 0, as_tuple=False).squeeze(-1)
        if pos_inds.numel() > 0:
            assigned_labels[pos_inds] = gt_labels[assigned_gt_inds[pos_inds] - 1]
        return AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)
