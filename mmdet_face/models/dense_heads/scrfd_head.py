"""SCRFD head: shared (optionally depthwise) conv towers, boxes and 5 keypoints as offsets from anchor centres.

Sample and Computation Redistribution for Efficient Face Detection (Guo et al., 2021). Training follows
Generalized Focal Loss (Li et al., 2020): QualityFocalLoss with the IoU of the decoded box as the soft target,
a DIoU box loss weighted by the detached classification score, and a SmoothL1 loss on keypoint offsets.

The keypoint loss is masked per face and per point: a point of ``keypoints_weights`` 0 (not annotated) adds nothing
to the loss or its gradient (:mod:`mmdet_face.models.utils.keypoint_targets`), so faces without landmarks train the
boxes and scores only. SCRFD's training code weights a face's 10 offsets by the mean of its point weights, which
for its all-or-none annotations is the same; for a face with some points missing it would pull the missing ones
towards placeholder targets, so here each point carries its own weight. The keypoint loss is divided by the score
sum of all positives, as in SCRFD (``kps_avg_factor='positives'``), or of the positives whose face has an
annotated landmark (``'keypoint_positives'``): with the first, faces without landmarks dilute the keypoint loss by
their share of the positives; with the second, the keypoint loss keeps its scale whatever that share.

Conventions: boxes are x1y1x2y2 pixels; box regression is ``(left, top, right, bottom)`` distances from the anchor
centre and keypoint regression ``(dx, dy)`` offsets from it, both in units of the level's stride. Anchor centres
lie on ``(i * stride, j * stride)`` (mmdet's ``AnchorGenerator`` with ``center_offset=0``).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule, Scale
from mmdet.models.dense_heads import AnchorHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.models.utils import images_to_levels, multi_apply, unmap
from mmdet.structures.bbox import bbox_overlaps, distance2bbox
from mmdet.utils import reduce_mean
from mmengine.model import normal_init
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.models.dense_heads.face_head_mixin import FaceHeadMixin, select_topk_level
from mmdet_face.models.utils.keypoint_targets import masked_gt_keypoints
from mmdet_face.registry import MODELS, TASK_UTILS

# SCRFD initialises the classification bias to -4.595 = log(0.01 / 0.99): every anchor starts at p = 0.01.
CLS_BIAS_INIT = -4.595
KPS_AVG_FACTORS = ('positives', 'keypoint_positives')


@MODELS.register_module()
class SCRFDHead(FaceHeadMixin, AnchorHead):
    """The SCRFD detection head.

    Args:
        num_classes (int): Foreground classes (1 for faces).
        in_channels (int): Channels of every neck output.
        feat_channels (int): Channels of the tower convs.
        stacked_convs (int | Sequence[int]): Tower depth (per stride when ``strides_share=False``).
        feat_mults (Sequence[float], optional): Per-stride multiplier of ``feat_channels``.
        conv_cfg, norm_cfg (dict): Tower convs and norms (GN in the plain models, BN in the ``_bnkps`` ones).
        cls_reg_share (bool): One tower for classification and regression (all released models).
        strides_share (bool): One tower and one set of predictors shared by all strides.
        scale_mode (int): SCRFD's switch for the learnable per-level ``Scale`` on the box regression: used when
            ``scale_mode > 0 and (strides_share or scale_mode == 2)``.
        dw_conv (bool): Depthwise-separable tower convs (the 0.5GF/1GF models).
        use_kps (bool): Predict ``num_keypoints`` landmarks per anchor.
        num_keypoints (int): Landmarks per face (5).
        anchor_generator (dict): mmdet ``AnchorGenerator`` config.
        loss_cls (dict): ``QualityFocalLoss`` (sigmoid).
        loss_bbox (dict): Box loss on decoded boxes in stride units (``DIoULoss``, weight 2).
        loss_kps (dict): Keypoint loss on offsets in stride units (``SmoothL1Loss``, beta 1/9, weight 0.1).
        kps_avg_factor (str): What the keypoint loss is divided by: ``'positives'`` (SCRFD's: the detached score
            sum of all positives, the box loss's normaliser) or ``'keypoint_positives'`` (the score sum of the
            positives whose face has at least one annotated landmark). See the module docstring.
        loss_dfl (dict | bool, optional): Distribution focal loss; not used by any released SCRFD model and not
            supported here (must be falsy).
        reg_max (int): Kept for config compatibility with ``loss_dfl``.
        train_cfg (dict): ``assigner`` (``SCRFDATSSAssigner``), ``allowed_border``, ``pos_weight``.
        test_cfg (dict): ``nms_pre`` (per level, <= 0: all), ``score_thr``, ``nms``, ``max_per_img`` (<= 0: all).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 256,
                 stacked_convs=4,
                 feat_mults: Optional[Sequence[float]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='GN', num_groups=32, requires_grad=True),
                 cls_reg_share: bool = False,
                 strides_share: bool = True,
                 scale_mode: int = 1,
                 dw_conv: bool = False,
                 use_kps: bool = False,
                 num_keypoints: int = 5,
                 anchor_generator: dict = dict(type='AnchorGenerator', ratios=[1.0], scales=[1, 2],
                                               base_sizes=[16, 64, 256], strides=[8, 16, 32]),
                 loss_cls: dict = dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
                 loss_bbox: dict = dict(type='DIoULoss', loss_weight=2.0),
                 loss_kps: dict = dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=0.1),
                 kps_avg_factor: str = 'positives',
                 loss_dfl=None,
                 reg_max: int = 8,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None,
                 **kwargs):
        if loss_dfl:
            raise NotImplementedError('SCRFDHead: loss_dfl (distribution focal loss) is not implemented; no '
                                      'released SCRFD model uses it')
        if kps_avg_factor not in KPS_AVG_FACTORS:
            raise ValueError(f'SCRFDHead: kps_avg_factor must be one of {KPS_AVG_FACTORS}, got {kps_avg_factor!r}')
        self.kps_avg_factor = kps_avg_factor
        self.stacked_convs = stacked_convs
        self.feat_mults = feat_mults
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.cls_reg_share = cls_reg_share
        self.strides_share = strides_share
        self.scale_mode = scale_mode
        self.use_scale = scale_mode > 0 and (strides_share or scale_mode == 2)
        self.dw_conv = dw_conv
        self.use_kps = use_kps
        self.num_keypoints = num_keypoints
        self.reg_max = reg_max
        # The assigner lives in our registry, which mmdet's AnchorHead does not search without a default scope,
        # so it is built here rather than by the parent.
        super().__init__(num_classes=num_classes, in_channels=in_channels, feat_channels=feat_channels,
                         anchor_generator=anchor_generator, loss_cls=loss_cls, loss_bbox=loss_bbox,
                         reg_decoded_bbox=True, train_cfg=None, test_cfg=test_cfg, init_cfg=init_cfg, **kwargs)
        self.train_cfg = train_cfg
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = PseudoSampler(context=self)
        self.loss_kps = MODELS.build(loss_kps)
        if not self.use_sigmoid_cls:
            raise ValueError('SCRFDHead needs a sigmoid classification loss (QualityFocalLoss)')

    # ------------------------------------------------------------------ layers
    def _conv(self, in_channels: int, out_channels: int) -> nn.Module:
        if self.dw_conv:
            return DepthwiseSeparableConvModule(in_channels, out_channels, 3, stride=1, padding=1,
                                                dw_norm_cfg=self.norm_cfg, pw_norm_cfg=self.norm_cfg)
        return ConvModule(in_channels, out_channels, 3, stride=1, padding=1, conv_cfg=self.conv_cfg,
                          norm_cfg=self.norm_cfg)

    def _stride_keys(self) -> List[str]:
        # Keys of the ModuleDicts: '0' when shared, else str((s, s)) as in SCRFD's checkpoints.
        return ['0'] if self.strides_share else [str(tuple(s)) for s in self.prior_generator.strides]

    def _init_layers(self) -> None:
        self.cls_stride_convs = nn.ModuleDict()
        self.reg_stride_convs = nn.ModuleDict()
        self.stride_cls = nn.ModuleDict()
        self.stride_reg = nn.ModuleDict()
        if self.use_kps:
            self.stride_kps = nn.ModuleDict()
        for idx, key in enumerate(self._stride_keys()):
            depth = (self.stacked_convs[idx] if isinstance(self.stacked_convs, (list, tuple))
                     else self.stacked_convs)
            channels = int(self.feat_channels * (self.feat_mults[idx] if self.feat_mults is not None else 1))
            cls_convs, reg_convs = nn.ModuleList(), nn.ModuleList()
            last = self.in_channels
            for _ in range(depth):
                cls_convs.append(self._conv(last, channels))
                if not self.cls_reg_share:
                    reg_convs.append(self._conv(last, channels))
                last = channels
            self.cls_stride_convs[key] = cls_convs
            self.reg_stride_convs[key] = reg_convs
            self.stride_cls[key] = nn.Conv2d(last, self.cls_out_channels * self.num_base_priors, 3, padding=1)
            self.stride_reg[key] = nn.Conv2d(last, 4 * self.num_base_priors, 3, padding=1)
            if self.use_kps:
                self.stride_kps[key] = nn.Conv2d(last, self.num_keypoints * 2 * self.num_base_priors, 3, padding=1)
        if self.use_scale:
            self.scales = nn.ModuleList([Scale(1.0) for _ in self.prior_generator.strides])
        else:
            self.scales = [None for _ in self.prior_generator.strides]

    def init_weights(self) -> None:
        super().init_weights()
        for convs in list(self.cls_stride_convs.values()) + list(self.reg_stride_convs.values()):
            for m in convs:
                for conv in ([m.depthwise_conv.conv, m.pointwise_conv.conv] if self.dw_conv else [m.conv]):
                    normal_init(conv, std=0.01)
        for conv in self.stride_cls.values():
            normal_init(conv, std=0.01, bias=CLS_BIAS_INIT)
        for conv in self.stride_reg.values():
            normal_init(conv, std=0.01)
        if self.use_kps:
            for conv in self.stride_kps.values():
                normal_init(conv, std=0.01)

    # ----------------------------------------------------------------- forward
    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor], List[Optional[Tensor]]]:
        """Returns per level: ``cls_scores`` ``(B, A*C, H, W)`` logits, ``bbox_preds`` ``(B, A*4, H, W)`` and
        ``kps_preds`` ``(B, A*2K, H, W)`` (``None`` without a keypoint branch), regressions in stride units."""
        keys = self._stride_keys()
        keys = keys * len(x) if self.strides_share else keys
        return multi_apply(self.forward_single, x, self.scales, keys)

    def forward_single(self, x: Tensor, scale: Optional[Scale], key: str):
        cls_feat = x
        for conv in self.cls_stride_convs[key]:
            cls_feat = conv(cls_feat)
        if self.cls_reg_share:
            reg_feat = cls_feat
        else:
            reg_feat = x
            for conv in self.reg_stride_convs[key]:
                reg_feat = conv(reg_feat)
        cls_score = self.stride_cls[key](cls_feat)
        bbox_pred = self.stride_reg[key](reg_feat)
        if self.use_scale:
            bbox_pred = scale(bbox_pred)
        kps_pred = self.stride_kps[key](reg_feat) if self.use_kps else None
        return cls_score, bbox_pred, kps_pred

    @staticmethod
    def anchor_center(anchors: Tensor) -> Tensor:
        """``(N, 4)`` x1y1x2y2 -> ``(N, 2)`` centres."""
        return torch.stack([(anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2], dim=-1)

    # ------------------------------------------------------------------ losses
    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     kps_preds: List[Optional[Tensor]],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None) -> dict:
        """Losses of a batch.

        ``batch_gt_instances[i]`` holds ``bboxes`` ``(N, 4)``, ``labels`` ``(N,)`` and, for the keypoint loss,
        ``keypoints`` ``(N, K, 2)`` with ``keypoints_weights`` ``(N, K)`` (0 = no landmark, per point).
        ``batch_gt_instances_ignore[i].bboxes`` are ignore faces.

        Returns:
            dict: ``loss_cls``, ``loss_bbox`` (and ``loss_kps``), each a list over levels. The box loss is
            normalised by the sum of the positives' detached scores, the keypoint loss by the same sum or by that of
            the positives with landmarks (``kps_avg_factor``), both averaged across GPUs; the classification loss by
            the number of positives, averaged across GPUs. ``loss_kps`` is exactly 0, with a zero gradient, when no
            positive's face has an annotated landmark.
        """
        featmap_sizes = [f.shape[-2:] for f in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, batch_img_metas, device=device)
        (anchors_list, labels_list, label_weights_list, bbox_targets_list, kps_targets_list,
         kps_weights_list, num_total_pos) = self.get_targets(anchor_list, valid_flag_list, batch_gt_instances,
                                                             batch_img_metas, batch_gt_instances_ignore)
        num_total_samples = max(reduce_mean(torch.tensor(num_total_pos, dtype=torch.float,
                                                         device=device)).item(), 1.0)
        if kps_preds is None:
            kps_preds = [None] * len(cls_scores)
        losses_cls, losses_bbox, losses_kps, weight_sums, kps_weight_sums = multi_apply(
            self.loss_by_feat_single, anchors_list, cls_scores, bbox_preds, kps_preds, labels_list,
            label_weights_list, bbox_targets_list, kps_targets_list, kps_weights_list,
            self.prior_generator.strides, num_total_samples=num_total_samples)
        # Guard only against "no positive anywhere" (the losses are then exact zeros): SCRFD divides by the raw
        # score sum, which starts near 0.01 per positive, so a clamp at 1 would change the loss scale.
        eps = torch.finfo(torch.float32).eps
        avg_factor = reduce_mean(sum(weight_sums)).clamp_(min=eps).item()
        losses = dict(loss_cls=losses_cls, loss_bbox=[loss / avg_factor for loss in losses_bbox])
        if self.use_kps:
            kps_avg_factor = avg_factor
            if self.kps_avg_factor == 'keypoint_positives':  # no positive with landmarks: the losses are exact 0s
                kps_avg_factor = reduce_mean(sum(kps_weight_sums)).clamp_(min=eps).item()
            losses['loss_kps'] = [loss / kps_avg_factor for loss in losses_kps]
        return losses

    def loss_by_feat_single(self, anchors: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                            kps_pred: Optional[Tensor], labels: Tensor, label_weights: Tensor,
                            bbox_targets: Tensor, kps_targets: Tensor, kps_weights: Tensor, stride: tuple,
                            num_total_samples: float):
        """Losses of one level (all images flattened); see :meth:`loss_by_feat`."""
        if stride[0] != stride[1]:
            raise ValueError(f'SCRFDHead needs square strides, got {stride}')
        stride = stride[0]
        anchors = anchors.reshape(-1, 4)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        bbox_targets = bbox_targets.reshape(-1, 4)
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        if self.use_kps:
            kps_pred = kps_pred.permute(0, 2, 3, 1).reshape(-1, self.num_keypoints * 2)
            kps_targets = kps_targets.reshape(-1, self.num_keypoints, 2)
            kps_weights = kps_weights.reshape(-1, self.num_keypoints)

        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        score = label_weights.new_zeros(labels.shape)
        if len(pos_inds) > 0:
            pos_centers = self.anchor_center(anchors[pos_inds]) / stride
            weight_targets = cls_score.detach().sigmoid().max(dim=1)[0][pos_inds]
            pos_bbox_targets = bbox_targets[pos_inds] / stride
            pos_bbox_decoded = distance2bbox(pos_centers, bbox_pred[pos_inds])
            score[pos_inds] = bbox_overlaps(pos_bbox_decoded.detach(), pos_bbox_targets, is_aligned=True)
            loss_bbox = self.loss_bbox(pos_bbox_decoded, pos_bbox_targets, weight=weight_targets,
                                       avg_factor=1.0)
            if self.use_kps:
                pos_kps_targets = (kps_targets[pos_inds] / stride - pos_centers[:, None, :]).reshape(
                    -1, self.num_keypoints * 2)
                # one weight per point, the same for its x and y offsets (the (dx_0, dy_0, dx_1, ...) layout)
                pos_kps_weights = (kps_weights[pos_inds] * weight_targets[:, None]).repeat_interleave(2, dim=1)
                loss_kps = self.loss_kps(kps_pred[pos_inds], pos_kps_targets, weight=pos_kps_weights,
                                         avg_factor=1.0)
                kps_weight_sum = (weight_targets * (kps_weights[pos_inds] > 0).any(dim=1)).sum()
            else:
                loss_kps = bbox_pred.sum() * 0
                kps_weight_sum = bbox_pred.new_tensor(0.)
            weight_sum = weight_targets.sum()
        else:
            loss_bbox = bbox_pred.sum() * 0
            loss_kps = kps_pred.sum() * 0 if self.use_kps else bbox_pred.sum() * 0
            weight_sum = kps_weight_sum = bbox_pred.new_tensor(0.)
        loss_cls = self.loss_cls(cls_score, (labels, score), weight=label_weights, avg_factor=num_total_samples)
        return loss_cls, loss_bbox, loss_kps, weight_sum, kps_weight_sum

    def get_targets(self, anchor_list: List[List[Tensor]], valid_flag_list: List[List[Tensor]],
                    batch_gt_instances: List[InstanceData], batch_img_metas: List[dict],
                    batch_gt_instances_ignore: Optional[List[InstanceData]] = None):
        """Targets of a batch, split back into levels.

        Returns:
            tuple: per level ``anchors`` ``(B, A_l, 4)``, ``labels`` ``(B, A_l)`` (background = num_classes),
            ``label_weights`` ``(B, A_l)`` (0 for ignored anchors), ``bbox_targets`` ``(B, A_l, 4)`` pixels,
            ``kps_targets`` ``(B, A_l, K, 2)`` pixels, ``kps_weights`` ``(B, A_l, K)``; then the number of
            positives in the batch (at least 1 per image, as SCRFD counts them).
        """
        num_imgs = len(batch_img_metas)
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        flat_anchors = [torch.cat(a) for a in anchor_list]
        flat_valid = [torch.cat(v) for v in valid_flag_list]
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * num_imgs
        (all_labels, all_label_weights, all_bbox_targets, all_kps_targets, all_kps_weights,
         pos_inds_list) = multi_apply(self._get_targets_single, flat_anchors, flat_valid, batch_gt_instances,
                                      batch_img_metas, batch_gt_instances_ignore,
                                      num_level_anchors=num_level_anchors)
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds_list)
        return (images_to_levels(flat_anchors, num_level_anchors),
                images_to_levels(all_labels, num_level_anchors),
                images_to_levels(all_label_weights, num_level_anchors),
                images_to_levels(all_bbox_targets, num_level_anchors),
                images_to_levels(all_kps_targets, num_level_anchors),
                images_to_levels(all_kps_weights, num_level_anchors),
                num_total_pos)

    def _get_targets_single(self, flat_anchors: Tensor, valid_flags: Tensor, gt_instances: InstanceData,
                            img_meta: dict, gt_instances_ignore: Optional[InstanceData] = None,
                            num_level_anchors: Sequence[int] = ()):
        """Targets of one image over all its anchors ``(A, 4)``; see :meth:`get_targets`."""
        num_anchors = flat_anchors.size(0)
        inside = anchor_inside_flags(flat_anchors, valid_flags, img_meta['img_shape'][:2],
                                     self.train_cfg.get('allowed_border', -1))
        anchors = flat_anchors[inside]
        num_level_inside = [int(f.sum()) for f in torch.split(inside, list(num_level_anchors))]
        pred_instances = InstanceData(priors=anchors)
        assign_result = self.assigner.assign(pred_instances, num_level_inside, gt_instances, gt_instances_ignore)
        sampling_result = self.sampler.sample(assign_result, pred_instances, gt_instances)

        n = anchors.size(0)
        labels = anchors.new_full((n,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(n)
        bbox_targets = torch.zeros_like(anchors)
        kps_targets = anchors.new_zeros((n, self.num_keypoints, 2))
        kps_weights = anchors.new_zeros((n, self.num_keypoints))
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) > 0:
            gt_inds = sampling_result.pos_assigned_gt_inds
            bbox_targets[pos_inds] = sampling_result.pos_gt_bboxes
            labels[pos_inds] = gt_instances.labels[gt_inds]
            pos_weight = self.train_cfg.get('pos_weight', -1)
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
            if self.use_kps:
                gt_kps, gt_kps_w = masked_gt_keypoints(gt_instances, len(gt_instances.labels), self.num_keypoints,
                                                       anchors)
                kps_targets[pos_inds] = gt_kps[gt_inds]
                kps_weights[pos_inds] = gt_kps_w[gt_inds]
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0

        labels = unmap(labels, num_anchors, inside, fill=self.num_classes)
        label_weights = unmap(label_weights, num_anchors, inside)
        bbox_targets = unmap(bbox_targets, num_anchors, inside)
        kps_targets = unmap(kps_targets.reshape(n, -1), num_anchors, inside).reshape(
            num_anchors, self.num_keypoints, 2)
        kps_weights = unmap(kps_weights, num_anchors, inside)  # (A, K)
        return labels, label_weights, bbox_targets, kps_targets, kps_weights, pos_inds

    # ------------------------------------------------------------- prediction
    def predict_priors(self, outs: Tuple, batch_img_metas: List[dict]) -> List[Tensor]:
        """Anchor centres ``(H * W * A, 2)`` per level for the batch's feature maps."""
        cls_scores = outs[0]
        return self._prior_centers([c.shape[-2:] for c in cls_scores], cls_scores[0].dtype, cls_scores[0].device)

    def _prior_centers(self, featmap_sizes, dtype, device) -> List[Tensor]:
        """Anchor centres ``(H * W * A, 2)`` per level, cached by feature-map size (inference calls repeat them)."""
        key = (tuple(tuple(int(v) for v in size) for size in featmap_sizes), dtype, str(device))
        cache = self.__dict__.setdefault('_center_cache', {})
        if key not in cache:
            if len(cache) > 16:
                cache.clear()
            priors = self.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)
            cache[key] = [self.anchor_center(p) for p in priors]
        return cache[key]

    def decode_image(self, img_outs: Tuple, mlvl_centers: List[Tensor], img_meta: dict, cfg) -> InstanceData:
        """Per level the ``nms_pre`` best candidates above ``score_thr``, boxes and keypoints decoded from the anchor
        centres, in input pixels (the tail clips the boxes to ``img_shape``; keypoints are not clipped).

        ``img_outs``: scores, box and keypoint maps as :meth:`forward` returns them for one image; the keypoint
        maps may be missing or None (a model without landmarks)."""
        cls_scores, bbox_preds, kps_preds = (tuple(img_outs) + (None,))[:3]
        if not (self.use_kps and kps_preds is not None and kps_preds[0] is not None):
            kps_preds = None
        nms_pre = cfg.get('nms_pre', -1)
        score_thr = cfg.get('score_thr', 0.0)
        # sigmoid(x) > thr  <=>  x > logit(thr): threshold the logits, take the sigmoid of the survivors only
        logit_thr = math.log(score_thr / (1 - score_thr)) if 0 < score_thr < 1 else None
        mlvl_bboxes, mlvl_scores, mlvl_labels, mlvl_kps = [], [], [], []
        for level, (cls_score, bbox_pred, centers) in enumerate(zip(cls_scores, bbox_preds, mlvl_centers)):
            stride = self.prior_generator.strides[level][0]
            num_anchors = cls_score.shape[0] // self.cls_out_channels
            if 0 < nms_pre < cls_score.numel() or logit_thr is None or self.cls_out_channels != 1:
                logits = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels)
                scores, labels, keep, _ = select_topk_level(logits.sigmoid(), cfg)
                anchor, loc = keep % num_anchors, keep // num_anchors
            else:  # no top-k: every candidate above the threshold, gathered without permuting whole maps
                anchor, loc = torch.nonzero(cls_score.reshape(num_anchors, -1) > logit_thr, as_tuple=True)
                scores = cls_score.reshape(num_anchors, -1)[anchor, loc].sigmoid()
                labels = anchor.new_zeros(anchor.shape)
                keep = loc * num_anchors + anchor  # row of (location, anchor) in the priors
            # channel a * 4 + k of the map holds coordinate k of anchor a
            distances = bbox_pred.reshape(num_anchors, 4, -1)[anchor, :, loc]
            offsets = (None if kps_preds is None else
                       kps_preds[level].reshape(num_anchors, self.num_keypoints * 2, -1)[anchor, :, loc])
            bboxes, kps = self.decode_rows(centers[keep], distances, offsets, stride)
            mlvl_bboxes.append(bboxes)
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
            mlvl_kps.append(kps)
        return self.gather_candidates(mlvl_bboxes, mlvl_scores, mlvl_labels, mlvl_kps if kps_preds is not None
                                      else None)

    def decode_rows(self, centers: Tensor, distances: Tensor, offsets: Optional[Tensor],
                    stride) -> Tuple[Tensor, Optional[Tensor]]:
        """Boxes and keypoints of ``N`` candidates of one level, in input pixels.

        Args:
            centers: ``(N, 2)`` anchor centres (x, y) in pixels.
            distances: ``(N, 4)`` (left, top, right, bottom) distances from the centre in stride units.
            offsets: ``(N, 2 * K)`` keypoint offsets (x, y per point) in stride units, or None.
            stride: the level's stride, or an ``(N, 1)`` tensor of each candidate's (several levels at once).

        Returns:
            ``(N, 4)`` x1y1x2y2 boxes (not clipped) and ``(N, K, 2)`` keypoints (None without ``offsets``).
        """
        bboxes = distance2bbox(centers, distances * stride)
        if offsets is None:
            return bboxes, None
        return bboxes, centers[:, None, :] + (offsets * stride).reshape(-1, self.num_keypoints, 2)

    @staticmethod
    def gather_candidates(mlvl_bboxes: List[Tensor], mlvl_scores: List[Tensor], mlvl_labels: List[Tensor],
                          mlvl_kps: Optional[List[Tensor]]) -> InstanceData:
        """The per-level candidates as one :class:`InstanceData` (``keypoints`` only when ``mlvl_kps`` is given)."""
        results = InstanceData()
        results.bboxes = torch.cat(mlvl_bboxes)
        results.scores = torch.cat(mlvl_scores)
        results.labels = torch.cat(mlvl_labels)
        if mlvl_kps is not None:
            results.keypoints = torch.cat(mlvl_kps)
        return results
