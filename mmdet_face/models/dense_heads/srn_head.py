"""SRN head: Selective Two-step Classification (STC) and Selective Two-step Regression (STR).

Selective Refinement Network for High Performance Face Detection (Chi et al., AAAI 2019, arXiv 1809.02693).
AInnoFace (Zhang et al., 2019, arXiv 1905.01585) reuses it with an IoU-family box loss and a max-out background
label on the small-anchor levels; both are switches here (``loss_bbox`` with ``reg_decoded_bbox``,
``maxout_levels``).

The head reads 12 maps from :class:`SRNFPN`: backbone levels ``C2..C7`` (first step) then pyramid levels
``P2..P7`` (second step), strides 4..128. Level ``l`` is both ``C_{l+2}`` and ``P_{l+2}``.

* STC (``stc_levels``, the three lower levels): a first-step classifier on C; anchors whose first-step background
  probability exceeds ``stc_threshold`` (0.99) are dropped from the second step's classification loss and from
  the predictions.
* STR (``str_levels``, the three higher levels): a first-step regressor on C refines the anchors; the second step
  is assigned against and regresses from the refined anchors (gradients do not flow into the refinement through
  the second step).

Boxes are x1y1x2y2 pixels; regressions are ``DeltaXYWHBBoxCoder`` deltas (or decoded boxes for IoU losses).
Predictions carry ``bboxes``, ``scores`` and ``labels`` (no keypoints: SRN has no landmark branch).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import AnchorHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.utils import reduce_mean
from mmengine.model import normal_init
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.models.dense_heads.face_head_mixin import FaceHeadMixin, flatten_levels, select_topk_level
from mmdet_face.models.layers import RFE
from mmdet_face.registry import MODELS, TASK_UTILS

CLS_BIAS_INIT = -4.595  # log(0.01 / 0.99): every anchor starts at p = 0.01 (RetinaNet's prior)


@MODELS.register_module()
class SRNHead(FaceHeadMixin, AnchorHead):
    """Two-step SRN head over ``num_levels`` levels.

    Args:
        num_classes (int): Foreground classes (1 for faces).
        in_channels (int): Channels of every input map.
        feat_channels (int): Channels of the towers.
        tower (Sequence[str]): Layers of the classification and of the regression tower, each ``'conv'``
            (3x3 conv + ReLU) or ``'rfe'`` (:class:`RFE`); the release: ``('conv', 'rfe', 'conv')``. The towers
            are shared by all levels and both steps.
        share_step_predictors (bool): One classifier and one regressor for both steps (the release applies the
            same head to C and P levels); ``False`` gives each step its own predictors.
        pred_kernel_size (int): Kernel of the predictor convs (release: 1).
        stc_levels (Sequence[int]): Levels with two-step classification.
        str_levels (Sequence[int]): Levels with two-step regression.
        stc_threshold (float): First-step background probability above which an anchor is dropped (0.99).
        maxout_levels (Sequence[int]): Levels whose second-step classifier predicts ``maxout_channels``
            background logits per anchor and keeps the most confident one (AInnoFace / S3FD max-out label).
        maxout_channels (int): Background logits per anchor on ``maxout_levels``.
        loss_cls (dict): Sigmoid focal loss of both steps.
        loss_bbox (dict): Second-step box loss (``SmoothL1Loss`` on deltas, or an IoU loss with
            ``reg_decoded_bbox=True``).
        loss_bbox_first (dict, optional): First-step (STR) box loss on deltas; default ``loss_bbox`` when it
            works on deltas, else ``SmoothL1Loss``.
        train_cfg (dict): ``assigner_first``, ``assigner_second`` (``MaxIoUAssigner``), ``allowed_border``.
        test_cfg (dict): ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 256,
                 tower: Sequence[str] = ('conv', 'rfe', 'conv'),
                 share_step_predictors: bool = True,
                 pred_kernel_size: int = 1,
                 num_levels: int = 6,
                 stc_levels: Sequence[int] = (0, 1, 2),
                 str_levels: Sequence[int] = (3, 4, 5),
                 stc_threshold: float = 0.99,
                 maxout_levels: Sequence[int] = (),
                 maxout_channels: int = 1,
                 norm_cfg: Optional[dict] = None,
                 anchor_generator: dict = dict(type='AnchorGenerator', octave_base_scale=2, scales_per_octave=2,
                                               ratios=[1.25], strides=[4, 8, 16, 32, 64, 128]),
                 bbox_coder: dict = dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                         target_stds=[0.1, 0.1, 0.2, 0.2]),
                 loss_cls: dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
                 loss_bbox_first: Optional[dict] = None,
                 reg_decoded_bbox: bool = False,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None):
        self.tower = tuple(tower)
        self.share_step_predictors = share_step_predictors
        self.pred_kernel_size = pred_kernel_size
        self.num_levels = num_levels
        self.stc_levels = tuple(stc_levels)
        self.str_levels = tuple(str_levels)
        self.stc_threshold = stc_threshold
        self.maxout_levels = tuple(maxout_levels)
        self.maxout_channels = maxout_channels
        self.norm_cfg = norm_cfg
        if self.maxout_levels and num_classes != 1:
            raise ValueError('SRNHead: max-out background labels need num_classes=1')
        super().__init__(num_classes=num_classes, in_channels=in_channels, feat_channels=feat_channels,
                         anchor_generator=anchor_generator, bbox_coder=bbox_coder, loss_cls=loss_cls,
                         loss_bbox=loss_bbox, reg_decoded_bbox=reg_decoded_bbox, train_cfg=None,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if not self.use_sigmoid_cls:
            raise ValueError('SRNHead needs a sigmoid classification loss (FocalLoss with use_sigmoid=True)')
        if self.prior_generator.num_levels != num_levels:
            raise ValueError(f'SRNHead: anchor_generator has {self.prior_generator.num_levels} levels, '
                             f'expected num_levels={num_levels}')
        if loss_bbox_first is None:
            loss_bbox_first = (loss_bbox if not reg_decoded_bbox
                               else dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0))
        self.loss_bbox_first = MODELS.build(loss_bbox_first)
        # Our assigners live in our registry, which AnchorHead's builder does not search without a scope.
        self.train_cfg = train_cfg
        if train_cfg:
            self.assigner_first = TASK_UTILS.build(train_cfg['assigner_first'])
            self.assigner_second = TASK_UTILS.build(train_cfg['assigner_second'])

    # ------------------------------------------------------------------ layers
    def _tower(self) -> nn.Sequential:
        layers, last = [], self.in_channels
        for kind in self.tower:
            if kind == 'rfe':
                layers.append(RFE(last, self.feat_channels, norm_cfg=self.norm_cfg))
            elif kind == 'conv':
                layers.append(ConvModule(last, self.feat_channels, 3, padding=1, norm_cfg=self.norm_cfg))
            else:
                raise ValueError(f"SRNHead: tower layers are 'conv' or 'rfe', got {kind!r}")
            last = self.feat_channels
        return nn.Sequential(*layers)

    def _init_layers(self) -> None:
        a = self.num_base_priors
        self.cls_tower = self._tower()
        self.reg_tower = self._tower()
        c = self.feat_channels if self.tower else self.in_channels
        k, pad = self.pred_kernel_size, self.pred_kernel_size // 2
        self.cls_first = nn.Conv2d(c, a * self.cls_out_channels, k, padding=pad)
        self.reg_first = nn.Conv2d(c, a * 4, k, padding=pad)
        if self.share_step_predictors:
            self.cls_second, self.reg_second = self.cls_first, self.reg_first
        else:
            self.cls_second = nn.Conv2d(c, a * self.cls_out_channels, k, padding=pad)
            self.reg_second = nn.Conv2d(c, a * 4, k, padding=pad)
        self.cls_second_maxout = (nn.Conv2d(c, a * self.maxout_channels, k, padding=pad)
                                  if self.maxout_levels else None)

    def init_weights(self) -> None:
        super().init_weights()
        for conv in (self.cls_first, self.cls_second, self.cls_second_maxout):
            if conv is not None:
                normal_init(conv, std=0.01, bias=CLS_BIAS_INIT)
        for conv in (self.reg_first, self.reg_second):
            normal_init(conv, std=0.01)

    # ----------------------------------------------------------------- forward
    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """``x``: ``num_levels`` backbone maps then ``num_levels`` pyramid maps.

        Returns per level ``cls_first`` ``(B, A*C, H, W)``, ``reg_first`` ``(B, A*4, H, W)``, ``cls_second``
        ``(B, A*C, H, W)`` (max-out already reduced) and ``reg_second`` ``(B, A*4, H, W)``.
        """
        n = self.num_levels
        if len(x) != 2 * n:
            raise ValueError(f'SRNHead expects {2 * n} maps (C2..C7 then P2..P7), got {len(x)}')
        cls_first, reg_first, cls_second, reg_second = [], [], [], []
        for level in range(n):
            c, p = x[level], x[n + level]
            cls_first.append(self.cls_first(self.cls_tower(c)))
            reg_first.append(self.reg_first(self.reg_tower(c)))
            cls_feat = self.cls_tower(p)
            if level in self.maxout_levels:
                logits = self.cls_second_maxout(cls_feat)
                b, _, h, w = logits.shape
                # background = -logit under a sigmoid: the most confident background is the smallest logit
                logits = logits.view(b, self.num_base_priors, self.maxout_channels, h, w).min(dim=2).values
                cls_second.append(logits)
            else:
                cls_second.append(self.cls_second(cls_feat))
            reg_second.append(self.reg_second(self.reg_tower(p)))
        return cls_first, reg_first, cls_second, reg_second

    # ------------------------------------------------------------- helpers
    def _flatten(self, maps: List[Tensor], channels: int) -> Tensor:
        """Per-level ``(B, A*ch, H, W)`` -> ``(B, sum_l H*W*A, ch)`` in the anchor generator's order."""
        return torch.cat([m.permute(0, 2, 3, 1).reshape(m.size(0), -1, channels) for m in maps], dim=1)

    def _level_masks(self, num_level_anchors: Sequence[int], device) -> Tuple[Tensor, Tensor]:
        level_ids = torch.cat([torch.full((n,), i, dtype=torch.long, device=device)
                               for i, n in enumerate(num_level_anchors)])
        stc = torch.zeros_like(level_ids, dtype=torch.bool)
        str_ = torch.zeros_like(stc)
        for lvl in self.stc_levels:
            stc |= level_ids == lvl
        for lvl in self.str_levels:
            str_ |= level_ids == lvl
        return stc, str_

    def refine_anchors(self, anchors: Tensor, reg_first: Tensor, str_mask: Tensor) -> Tensor:
        """Anchors ``(A, 4)`` with the STR levels replaced by the first step's (detached) decoded boxes."""
        refined = anchors.clone()
        if str_mask.any():
            refined[str_mask] = self.bbox_coder.decode(anchors[str_mask], reg_first[str_mask].detach())
        return refined

    def stc_keep(self, cls_first: Tensor, stc_mask: Tensor) -> Tensor:
        """``(A,)`` bool: False for STC-level anchors whose first-step background probability (1 - max
        foreground sigmoid) exceeds ``stc_threshold``."""
        bg_prob = 1 - cls_first.detach().sigmoid().max(dim=-1).values
        return ~(stc_mask & (bg_prob > self.stc_threshold))

    def _assign(self, assigner, anchors: Tensor, inside: Tensor, gt: InstanceData,
                gt_ignore: Optional[InstanceData]):
        """Labels ``(A,)`` (background = num_classes), label weights ``(A,)`` and matched gt boxes ``(A, 4)``
        (valid where positive) for anchors ``(A, 4)``; anchors outside the image are weight 0."""
        num = anchors.size(0)
        labels = anchors.new_full((num,), self.num_classes, dtype=torch.long)
        weights = anchors.new_zeros(num)
        targets = anchors.new_zeros((num, 4))
        result = assigner.assign(InstanceData(priors=anchors[inside]), gt, gt_ignore)
        gt_inds = anchors.new_zeros(num, dtype=torch.long)
        gt_inds[inside] = result.gt_inds
        pos = gt_inds > 0
        neg = (gt_inds == 0) & inside
        if pos.any():
            labels[pos] = gt.labels[gt_inds[pos] - 1].long()
            targets[pos] = gt.bboxes[gt_inds[pos] - 1].to(anchors)
        weights[pos | neg] = 1.0
        return labels, weights, targets

    # ------------------------------------------------------------------ losses
    def loss_by_feat(self,
                     cls_first: List[Tensor],
                     reg_first: List[Tensor],
                     cls_second: List[Tensor],
                     reg_second: List[Tensor],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None) -> dict:
        """Losses of a batch.

        Returns:
            dict: ``loss_stc_cls`` (first-step focal loss on the STC levels), ``loss_str_bbox`` (first-step box
            loss on the STR levels' positives), ``loss_cls`` (second-step focal loss on every level, STC-dropped
            anchors excluded) and ``loss_bbox`` (second-step box loss against refined anchors on every level).
            Classification losses are normalised by their step's positives, box losses likewise.
        """
        featmap_sizes = [f.shape[-2:] for f in cls_second]
        device = cls_second[0].device
        anchor_list, valid_list = self.get_anchors(featmap_sizes, batch_img_metas, device=device)
        num_level_anchors = [a.size(0) for a in anchor_list[0]]
        stc_mask, str_mask = self._level_masks(num_level_anchors, device)
        c = self.cls_out_channels
        cls1, reg1 = self._flatten(cls_first, c), self._flatten(reg_first, 4)
        cls2, reg2 = self._flatten(cls_second, c), self._flatten(reg_second, 4)
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * len(batch_img_metas)

        rows = dict(cls1=[], lab1=[], w1=[], reg1=[], tgt1=[], cls2=[], lab2=[], w2=[], reg2=[], tgt2=[], anc2=[])
        for i, meta in enumerate(batch_img_metas):
            anchors = torch.cat(anchor_list[i])
            inside = anchor_inside_flags(anchors, torch.cat(valid_list[i]), meta['img_shape'][:2],
                                         self.train_cfg.get('allowed_border', -1))
            gt, gt_ignore = batch_gt_instances[i], batch_gt_instances_ignore[i]
            if gt_ignore is not None and len(gt_ignore) == 0:
                gt_ignore = None
            # first step, on the original anchors
            lab1, w1, tgt1 = self._assign(self.assigner_first, anchors, inside, gt, gt_ignore)
            rows['cls1'].append(cls1[i][stc_mask])
            rows['lab1'].append(lab1[stc_mask])
            rows['w1'].append(w1[stc_mask])
            pos1 = str_mask & (lab1 < self.num_classes) & (w1 > 0)
            rows['reg1'].append(reg1[i][pos1])
            rows['tgt1'].append(self.bbox_coder.encode(anchors[pos1], tgt1[pos1]) if pos1.any()
                                else reg1.new_zeros((0, 4)))
            # second step, on the refined anchors, without STC's confident negatives
            refined = self.refine_anchors(anchors, reg1[i], str_mask)
            lab2, w2, tgt2 = self._assign(self.assigner_second, refined, inside, gt, gt_ignore)
            keep = self.stc_keep(cls1[i], stc_mask)
            w2 = w2 * keep
            rows['cls2'].append(cls2[i])
            rows['lab2'].append(lab2)
            rows['w2'].append(w2)
            pos2 = (lab2 < self.num_classes) & (w2 > 0)
            rows['reg2'].append(reg2[i][pos2])
            rows['anc2'].append(refined[pos2])
            rows['tgt2'].append(tgt2[pos2])
        cat = {k: torch.cat(v) for k, v in rows.items()}

        def _avg(n: int) -> float:
            return max(reduce_mean(torch.tensor(float(n), device=device)).item(), 1.0)

        num_pos1_cls = int(((cat['lab1'] < self.num_classes) & (cat['w1'] > 0)).sum())
        num_pos1_reg = cat['reg1'].size(0)
        num_pos2 = cat['reg2'].size(0)
        losses = dict(
            loss_stc_cls=self.loss_cls(cat['cls1'], cat['lab1'], cat['w1'], avg_factor=_avg(num_pos1_cls)),
            loss_cls=self.loss_cls(cat['cls2'], cat['lab2'], cat['w2'], avg_factor=_avg(num_pos2)))
        if num_pos1_reg > 0:
            losses['loss_str_bbox'] = self.loss_bbox_first(cat['reg1'], cat['tgt1'], avg_factor=_avg(num_pos1_reg))
        else:
            losses['loss_str_bbox'] = reg1.sum() * 0
        if num_pos2 > 0:
            if self.reg_decoded_bbox:
                pred = self.bbox_coder.decode(cat['anc2'], cat['reg2'])
                losses['loss_bbox'] = self.loss_bbox(pred, cat['tgt2'], avg_factor=_avg(num_pos2))
            else:
                target = self.bbox_coder.encode(cat['anc2'], cat['tgt2'])
                losses['loss_bbox'] = self.loss_bbox(cat['reg2'], target, avg_factor=_avg(num_pos2))
        else:
            losses['loss_bbox'] = reg2.sum() * 0
        return losses

    # ------------------------------------------------------------- prediction
    def predict_priors(self, outs: Tuple, batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """For the batch's maps: all anchors ``(A, 4)``, the STC and STR masks ``(A,)`` and each anchor's level
        ``(A,)``."""
        cls_second = outs[2]
        featmap_sizes = [f.shape[-2:] for f in cls_second]
        device = cls_second[0].device
        mlvl_anchors = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_second[0].dtype, device=device)
        num_level_anchors = [a.size(0) for a in mlvl_anchors]
        stc_mask, str_mask = self._level_masks(num_level_anchors, device)
        level_ids = torch.cat([torch.full((n,), i, device=device) for i, n in enumerate(num_level_anchors)])
        return torch.cat(mlvl_anchors), stc_mask, str_mask, level_ids

    def decode_image(self, img_outs: Tuple, priors: Tuple, img_meta: dict, cfg) -> InstanceData:
        """The second step of one image: per level, the ``nms_pre`` best scores above ``score_thr`` among the
        anchors STC keeps, decoded from the (STR-refined) anchors, in input pixels (the tail clips them to
        ``img_shape``); no keypoints."""
        anchors, stc_mask, str_mask, level_ids = priors
        cls_first, reg_first, cls_second, reg_second = img_outs
        c = self.cls_out_channels
        refined = self.refine_anchors(anchors, flatten_levels(reg_first, 4), str_mask)
        keep = self.stc_keep(flatten_levels(cls_first, c), stc_mask)
        scores_all = flatten_levels(cls_second, c).sigmoid()
        reg = flatten_levels(reg_second, 4)
        bboxes, scores, labels = [], [], []
        for lvl in range(len(cls_second)):
            sel = (level_ids == lvl) & keep
            s, lab, _, filt = select_topk_level(scores_all[sel], cfg, dict(priors=refined[sel], reg=reg[sel]))
            bboxes.append(self.bbox_coder.decode(filt['priors'], filt['reg']))
            scores.append(s)
            labels.append(lab)
        return InstanceData(bboxes=torch.cat(bboxes), scores=torch.cat(scores), labels=torch.cat(labels))
