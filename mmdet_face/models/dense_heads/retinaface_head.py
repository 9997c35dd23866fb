"""RetinaFace head: per-level 1x1 convs for a 2-way softmax face score, box deltas and 5-landmark deltas.

Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild", 2019 (training recipe and inference
as in the widely used PyTorch release).

Priors: 2 square anchors per location, sizes 16/32, 64/128, 256/512 at strides 8/16/32, centred at
((x + 0.5) * s, (y + 0.5) * s) on a ceil(H / s) x ceil(W / s) grid; order level -> row -> column -> anchor.
Loss: priors are matched to faces with IoU >= 0.35 (plus each face's best prior when its IoU >= 0.2); softmax
cross-entropy on the positives and the hardest negatives (3 per positive, per image), smooth-L1 on box deltas
(weight 2) and on landmark deltas; all divided by the number of positives. The landmark loss is masked per point
(``keypoints_weights`` > 0: annotated; a face without landmarks contributes nothing, see
:mod:`mmdet_face.models.utils.keypoint_targets`) and divided by the number of positives whose face has at least
one annotated landmark, so that faces without landmarks neither train nor dilute it (the release's ``N1``).
Prediction: softmax score > ``score_thr`` over all levels together, the ``nms_pre`` best, greedy NMS (the release
uses the +1-pixel area convention: ``nms=dict(type='nms', iou_threshold=0.4, offset=1)``), ``max_per_img``.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.structures.bbox import get_box_tensor
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.models.dense_heads.face_head_mixin import SSDReleaseHeadMixin, flatten_levels, select_topk_flat
from mmdet_face.models.utils.keypoint_targets import masked_gt_keypoints
from mmdet_face.models.utils.ssd_multibox import hard_negative_mining
from mmdet_face.registry import MODELS


@MODELS.register_module()
class RetinaFaceHead(SSDReleaseHeadMixin, BaseDenseHead):
    """RetinaFace detection head.

    Prediction follows the release: boxes are not clipped to the image, the kept boxes keep their own scores after
    NMS, an image meta without ``scale_factor`` is not rescaled and a test config without ``nms`` runs none.

    Args:
        num_classes (int): foreground classes; RetinaFace has one (face). The score branch predicts
            ``num_classes + 1`` logits per anchor, background first (the release's layout).
        in_channels (int): channels of every input level.
        num_keypoints (int): landmarks per face (5).
        prior_generator (dict): mmdet ``AnchorGenerator`` config; the default gives the release's priors.
        bbox_coder (dict): :class:`RetinaFaceBoxCoder` config (variances 0.1 / 0.2).
        loss_cls_weight (float): weight of the hard-negative-mined cross-entropy.
        neg_pos_ratio (int): hard negatives per positive, per image (3).
        loss_bbox (dict): box regression loss (smooth-L1, weight 2 in the release).
        loss_kps (dict): landmark regression loss (smooth-L1, weight 1).
        train_cfg (dict): ``assigner`` (mmdet ``MaxIoUAssigner`` with the release's thresholds).
        test_cfg (dict): ``score_thr``, ``nms_pre`` (over all levels together), ``nms``, ``max_per_img``.

    ``forward`` returns three lists over levels: scores (B, A * (num_classes + 1), H, W), box deltas
    (B, A * 4, H, W), landmark deltas (B, A * 2 * num_keypoints, H, W), where A = anchors per location.
    """

    def __init__(self,
                 num_classes: int = 1,
                 in_channels: int = 64,
                 num_keypoints: int = 5,
                 prior_generator: dict = dict(
                     type='AnchorGenerator', strides=[8, 16, 32], ratios=[1.0], scales=[1.0, 2.0],
                     base_sizes=[16, 64, 256], centers=[(4, 4), (8, 8), (16, 16)]),
                 bbox_coder: dict = dict(type='RetinaFaceBoxCoder', variances=(0.1, 0.2)),
                 loss_cls_weight: float = 1.0,
                 neg_pos_ratio: int = 3,
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=1.0, loss_weight=2.0),
                 loss_kps: dict = dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if train_cfg is not None and 'assigner' not in train_cfg:
            raise ValueError('RetinaFaceHead: train_cfg needs an assigner (the release matches priors by IoU)')
        self.init_priors_and_coder(num_classes, prior_generator, bbox_coder, train_cfg, test_cfg)
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.loss_cls_weight = loss_cls_weight
        self.neg_pos_ratio = neg_pos_ratio
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_kps = MODELS.build(loss_kps)

        def level_convs(out_per_anchor):
            return nn.ModuleList([nn.Conv2d(in_channels, self.num_anchors * out_per_anchor, 1)
                                  for _ in range(self.num_levels)])

        self.cls_convs = level_convs(num_classes + 1)
        self.reg_convs = level_convs(4)
        self.kps_convs = level_convs(2 * num_keypoints)

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        assert len(x) == self.num_levels
        return ([conv(f) for conv, f in zip(self.cls_convs, x)],
                [conv(f) for conv, f in zip(self.reg_convs, x)],
                [conv(f) for conv, f in zip(self.kps_convs, x)])

    # ------------------------------------------------------------------ helpers
    def _flatten(self, preds: Sequence[Tensor], per_anchor: int) -> Tensor:
        """List over levels of (B, A * per_anchor, H, W) -> (B, P, per_anchor), prior order level/row/col/anchor."""
        return torch.cat([p.permute(0, 2, 3, 1).reshape(p.shape[0], -1, per_anchor) for p in preds], dim=1)

    def _priors(self, preds: Sequence[Tensor]) -> Tensor:
        """All priors (P, 4) x1y1x2y2 pixels for the feature maps of ``preds``."""
        featmap_sizes = [p.shape[-2:] for p in preds]
        return torch.cat(self.prior_generator.grid_priors(featmap_sizes, dtype=preds[0].dtype,
                                                          device=preds[0].device), dim=0)

    # ------------------------------------------------------------------ training
    def get_targets(self, priors: Tensor, gt_instances: InstanceData,
                    gt_instances_ignore: Optional[InstanceData] = None):
        """Match priors (P, 4) to one image's faces.

        Returns:
            labels (P,) int64: 1 face, 0 background, -1 ignored (neither positive nor negative);
            bbox_targets (P, 4), kps_targets (P, 2K), kps_weights (P, 2K): zero except on positives.
        """
        num_priors = priors.shape[0]
        gt_bboxes = get_box_tensor(gt_instances.bboxes).to(priors)
        num_gts = gt_bboxes.shape[0]
        gt_kps, gt_kps_w = masked_gt_keypoints(gt_instances, num_gts, self.num_keypoints, priors)

        labels = priors.new_zeros(num_priors, dtype=torch.long)
        bbox_targets = priors.new_zeros(num_priors, 4)
        kps_targets = priors.new_zeros(num_priors, 2 * self.num_keypoints)
        kps_weights = priors.new_zeros(num_priors, 2 * self.num_keypoints)
        if num_gts == 0:
            return labels, bbox_targets, kps_targets, kps_weights
        gt_for_assign = InstanceData(bboxes=gt_bboxes, labels=gt_instances.labels)
        ignore_for_assign = None
        if gt_instances_ignore is not None and len(gt_instances_ignore) > 0:
            ignore_for_assign = InstanceData(bboxes=get_box_tensor(gt_instances_ignore.bboxes).to(priors))
        assign = self.assigner.assign(InstanceData(priors=priors), gt_for_assign, ignore_for_assign)
        inds = assign.gt_inds
        labels[inds < 0] = -1
        pos = inds > 0
        labels[pos] = 1
        matched = inds[pos] - 1
        bbox_targets[pos] = self.bbox_coder.encode(priors[pos], gt_bboxes[matched])
        kps_targets[pos] = self.bbox_coder.encode_keypoints(priors[pos], gt_kps[matched])
        kps_weights[pos] = (gt_kps_w[matched] > 0).to(priors).repeat_interleave(2, dim=1)
        return labels, bbox_targets, kps_targets, kps_weights

    def hard_negative_mining(self, cls_loss: Tensor, labels: Tensor) -> Tensor:
        """Pick the positives and the hardest negatives of one image.

        Args:
            cls_loss (P,): per-prior cross-entropy (detached is fine).
            labels (P,): 1 face, 0 background, -1 ignored.

        Returns:
            (P,) bool: positives plus the ``min(neg_pos_ratio * num_pos, P - 1, num_background)`` background priors
            with the largest loss.
        """
        return hard_negative_mining(cls_loss, labels, self.neg_pos_ratio)

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     kps_preds: List[Tensor],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None) -> dict:
        """Multi-task loss; returns ``loss_cls``, ``loss_bbox`` and ``loss_kps`` (scalars). ``loss_kps`` is exactly
        0, with a zero gradient, when no positive's face has an annotated landmark."""
        priors = self._priors(cls_scores)
        cls_flat = self._flatten(cls_scores, self.num_classes + 1)
        bbox_flat = self._flatten(bbox_preds, 4)
        kps_flat = self._flatten(kps_preds, 2 * self.num_keypoints)
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * len(batch_gt_instances)

        cls_losses, pos_bbox_preds, pos_bbox_targets = [], [], []
        pos_kps_preds, pos_kps_targets, pos_kps_weights = [], [], []
        num_pos = 0
        num_pos_kps = 0
        for img_id, gt_instances in enumerate(batch_gt_instances):
            labels, bbox_t, kps_t, kps_w = self.get_targets(priors, gt_instances,
                                                            batch_gt_instances_ignore[img_id])
            ce = F.cross_entropy(cls_flat[img_id], labels.clamp(min=0), reduction='none')
            selected = self.hard_negative_mining(ce, labels)
            cls_losses.append(ce[selected].sum())
            pos = labels > 0
            num_pos += int(pos.sum())
            num_pos_kps += int((kps_w[pos].sum(dim=1) > 0).sum())
            pos_bbox_preds.append(bbox_flat[img_id][pos])
            pos_bbox_targets.append(bbox_t[pos])
            pos_kps_preds.append(kps_flat[img_id][pos])
            pos_kps_targets.append(kps_t[pos])
            pos_kps_weights.append(kps_w[pos])

        avg = max(float(num_pos), 1.0)
        loss_cls = self.loss_cls_weight * torch.stack(cls_losses).sum() / avg
        bbox_p, bbox_t = torch.cat(pos_bbox_preds), torch.cat(pos_bbox_targets)
        kps_p, kps_t, kps_w = torch.cat(pos_kps_preds), torch.cat(pos_kps_targets), torch.cat(pos_kps_weights)
        if bbox_p.numel() == 0:  # no positives anywhere: keep the graph, contribute zero
            loss_bbox = bbox_flat.sum() * 0
            loss_kps = kps_flat.sum() * 0
        else:
            loss_bbox = self.loss_bbox(bbox_p, bbox_t, avg_factor=avg)
            loss_kps = self.loss_kps(kps_p, kps_t, weight=kps_w, avg_factor=max(float(num_pos_kps), 1.0))
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_kps=loss_kps)

    # ------------------------------------------------------------------ inference
    def predict_priors(self, outs: Tuple, batch_img_metas: List[dict]) -> Tensor:
        """All priors (P, 4) of the batch's feature maps."""
        return self._priors(outs[0])

    def decode_image(self, img_outs: Tuple, priors: Tensor, img_meta: dict, cfg: ConfigDict) -> InstanceData:
        """Face probability (softmax) ``> score_thr`` over all levels together, the ``nms_pre`` best, decoded boxes
        (not clipped, as in the release) and landmarks, in input pixels."""
        cls_scores, bbox_preds, kps_preds = img_outs
        scores = flatten_levels(cls_scores, self.num_classes + 1).softmax(dim=-1)[..., 1]
        scores, (priors, deltas, kps_deltas) = select_topk_flat(
            scores, cfg, priors, flatten_levels(bbox_preds, 4), flatten_levels(kps_preds, 2 * self.num_keypoints))
        return InstanceData(bboxes=self.bbox_coder.decode(priors, deltas), scores=scores,
                            labels=scores.new_zeros(scores.shape, dtype=torch.long),
                            keypoints=self.bbox_coder.decode_keypoints(priors, kps_deltas))
