"""SSD's MultiBox loss as DSFD trains each shot (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019, Eq. 2-4;
Liu et al., "SSD", ECCV 2016, Sec. 2.2).

Per shot, with priors (anchors) ``(P, 4)`` and per-image faces:

1. **Matching** (the DSFD release's ``match``, ``overlap_thresh`` 0.4): a prior is a positive of the face it
   overlaps most when that IoU ``>= 0.4``, background below; each face's best prior is forced positive for that
   face whatever its IoU (a later face wins a prior two faces both chose as best). This is mmdet's
   ``MaxIoUAssigner(pos_iou_thr=0.4, neg_iou_thr=0.4, min_pos_iou=0.0, gt_max_assign_all=False)``; with
   ``ignore_iof_thr`` set, priors inside ignore boxes are neither positive nor negative.
2. **Classification**: 2-way softmax cross-entropy over the positives and, per image, the ``neg_pos_ratio``
   (3) x positives background priors with the largest loss (hard-negative mining; never more than ``P - 1``,
   the release's cap, nor more than the background priors there are).
3. **Regression**: smooth-L1 on SSD deltas (variances 0.1 / 0.2, the box coder's job) of the positives.
4. Both terms are summed and divided by the number of positives in the batch (the release's
   ``multibox_loss.py``: ``loss_l /= N; loss_c /= N``; the paper's Eq. 2 writes the classification term over
   positives plus negatives, the release's normalisation is what was trained). A batch without positives gives
   zero losses that still reach every prediction (so distributed training sees the same graph everywhere).

These are plain functions of tensors and the assigner / coder objects (not registered loss modules), so each step
can be checked by hand; the DSFD head uses all three, the RetinaFace head the hard-negative mining.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor


def match_priors(priors: Tensor,
                 gt_instances: InstanceData,
                 assigner,
                 bbox_coder,
                 gt_instances_ignore: Optional[InstanceData] = None) -> Tuple[Tensor, Tensor]:
    """Match one image's faces to the priors.

    Args:
        priors (Tensor): (P, 4) x1y1x2y2 pixels.
        gt_instances (InstanceData): ``bboxes`` (N, 4) x1y1x2y2 pixels (tensor or ``HorizontalBoxes``), ``labels``.
        assigner: an mmdet assigner (``assign(pred_instances, gt_instances, gt_instances_ignore)``).
        bbox_coder: encodes ``(priors, gt_bboxes) -> (M, 4)`` deltas (``RetinaFaceBoxCoder``: SSD variances).
        gt_instances_ignore (InstanceData, optional): ignore faces (``bboxes``).

    Returns:
        labels (P,) int64: 1 face, 0 background, -1 ignored; bbox_targets (P, 4): deltas on positives, else 0.
    """
    num_priors = priors.shape[0]
    labels = priors.new_zeros(num_priors, dtype=torch.long)
    bbox_targets = priors.new_zeros(num_priors, 4)
    gt_bboxes = get_box_tensor(gt_instances.bboxes).to(priors)
    if gt_bboxes.shape[0] == 0:
        return labels, bbox_targets
    gt = InstanceData(bboxes=gt_bboxes, labels=gt_instances.labels.to(priors.device))
    ignore = None
    if gt_instances_ignore is not None and len(gt_instances_ignore) > 0:
        ignore = InstanceData(bboxes=get_box_tensor(gt_instances_ignore.bboxes).to(priors))
    inds = assigner.assign(InstanceData(priors=priors), gt, ignore).gt_inds
    labels[inds < 0] = -1
    pos = inds > 0
    labels[pos] = 1
    bbox_targets[pos] = bbox_coder.encode(priors[pos], gt_bboxes[inds[pos] - 1])
    return labels, bbox_targets


def hard_negative_mining(cls_loss: Tensor, labels: Tensor, neg_pos_ratio: float = 3) -> Tensor:
    """Positives plus the hardest negatives of one image.

    Args:
        cls_loss (Tensor): (P,) per-prior cross-entropy (only its order is used).
        labels (Tensor): (P,) 1 face, 0 background, -1 ignored (never selected).
        neg_pos_ratio (float): negatives per positive.

    Returns:
        (P,) bool: the positives and the ``min(int(neg_pos_ratio * num_pos), P - 1, num_background)`` background
        priors with the largest loss (ties: ``topk``'s order).
    """
    pos = labels > 0
    background = labels == 0
    num_neg = min(int(neg_pos_ratio * int(pos.sum())), cls_loss.numel() - 1, int(background.sum()))
    selected = pos.clone()
    if num_neg > 0:
        ranking = cls_loss.detach().masked_fill(~background, float('-inf'))
        selected[ranking.topk(num_neg).indices] = True
    return selected


def multibox_loss(cls_logits: Tensor,
                  bbox_deltas: Tensor,
                  priors: Tensor,
                  batch_gt_instances: Sequence[InstanceData],
                  assigner,
                  bbox_coder,
                  loss_bbox,
                  neg_pos_ratio: float = 3,
                  background_index: int = 1,
                  batch_gt_instances_ignore: Optional[Sequence[Optional[InstanceData]]] = None
                  ) -> Tuple[Tensor, Tensor, int]:
    """One shot's loss over a batch.

    Args:
        cls_logits (Tensor): (B, P, 2) face / background logits (before the softmax).
        bbox_deltas (Tensor): (B, P, 4) predicted deltas, prior order as ``priors``.
        priors (Tensor): (P, 4) x1y1x2y2 pixels, shared by the batch (images padded to one size).
        batch_gt_instances (sequence of InstanceData): per image ``bboxes`` (N, 4), ``labels`` (N,).
        assigner, bbox_coder: see :func:`match_priors`.
        loss_bbox: an mmdet regression loss module called as ``loss_bbox(pred, target, avg_factor=...)``
            (``SmoothL1Loss(beta=1.0)``: the release's ``F.smooth_l1_loss``).
        neg_pos_ratio (float): hard negatives per positive (3).
        background_index (int): the logit index of background: 1 in mmdet's convention (``[face, bg]``), 0 in
            the release's.
        batch_gt_instances_ignore (sequence, optional): per image ignore faces or None.

    Returns:
        ``(loss_cls, loss_bbox, num_pos)``: the two scalars (each divided by ``max(num_pos, 1)``; ``loss_bbox``
        through ``avg_factor``, so its ``loss_weight`` applies) and the number of positives in the batch.
    """
    if cls_logits.shape[-1] != 2:
        raise ValueError(f'multibox_loss expects 2 logits per prior (face, background), got {cls_logits.shape}')
    if cls_logits.shape[:2] != bbox_deltas.shape[:2] or cls_logits.shape[1] != priors.shape[0]:
        raise ValueError(f'prior counts differ: logits {tuple(cls_logits.shape)}, deltas {tuple(bbox_deltas.shape)}, '
                         f'priors {tuple(priors.shape)}')
    face_index = 1 - background_index
    if batch_gt_instances_ignore is None:
        batch_gt_instances_ignore = [None] * len(batch_gt_instances)
    cls_terms: List[Tensor] = []
    pos_preds: List[Tensor] = []
    pos_targets: List[Tensor] = []
    num_pos = 0
    for img_id, gt_instances in enumerate(batch_gt_instances):
        labels, targets = match_priors(priors, gt_instances, assigner, bbox_coder, batch_gt_instances_ignore[img_id])
        # class index in the logits: face -> face_index, background (and ignored, never selected) -> background
        target_cls = torch.where(labels > 0, face_index, background_index)
        ce = F.cross_entropy(cls_logits[img_id], target_cls, reduction='none')
        selected = hard_negative_mining(ce, labels, neg_pos_ratio)
        cls_terms.append(ce[selected].sum())
        pos = labels > 0
        num_pos += int(pos.sum())
        pos_preds.append(bbox_deltas[img_id][pos])
        pos_targets.append(targets[pos])
    avg = float(max(num_pos, 1))
    loss_cls = torch.stack(cls_terms).sum() / avg
    preds, targets = torch.cat(pos_preds), torch.cat(pos_targets)
    if preds.numel() == 0:
        loss_box = bbox_deltas.sum() * 0
    else:
        loss_box = loss_bbox(preds, targets, avg_factor=avg)
    return loss_cls, loss_box, num_pos
