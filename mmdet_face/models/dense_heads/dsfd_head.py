"""DSFD head: per-level unshared conv towers, max-in-out scores, SSD box deltas on one 1.5-ratio prior per location.

Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019; the layout is the authors' release
(Tencent/FaceDetection-DSFD ``face_ssd.py``: ``DeepHeadModule``, ``pa_multibox``, ``mio_module``;
``layers/functions/detection.py`` for inference), which is the paper's *second shot* only.

Per level l (unshared weights), a box branch and a score branch, each three 3x3 convs (in -> 256 -> 256 -> 256, bias,
ReLU) and a 1x1 conv with bias: 4 box deltas and, with max-in-out, 4 score logits per prior. Max-in-out (inherited
from PyramidBox / S3FD): on level 0 the background logit is the max of the first three logits and the face logit is
the fourth ("max-out background": small anchors see mostly background); on levels >= 1 the face logit is the max
of the first three and the background is the fourth. The two remaining logits go through a softmax.

The released weights also carry PyramidBox head/body outputs (loc channels 4..11, conf channels 4..7) that its
inference never reads; the converter drops them (``mmdet_face/deployment/dsfd_pth_import.py``).

Priors: :class:`~mmdet_face.models.task_modules.DSFDPriorGenerator` (sizes 16..512, ratio 1.5, the release's
clamp of centre and size). Decoding: SSD with variances (0.1, 0.2) and no clamp on the size deltas
(:class:`RetinaFaceBoxCoder`, which follows the release's order of operations).
Inference as the release's ``Detection``: face probability > 0.01 over all levels together, the 5000 best, then the
shared tail of :class:`FaceHeadMixin` (NMS at IoU 0.3 with areas without +1, 750 per image as in the paper).

The class builds its branches with :meth:`DSFDHead.build_shot`, so a training head can add the paper's first shot
(the same branches, own weights, on the original features) without touching inference: ``forward`` and
``predict`` use the second shot (``cls_branches`` / ``reg_branches``) only.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.utils import unpack_gt_instances
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.models.dense_heads.face_head_mixin import SSDReleaseHeadMixin, flatten_levels, select_topk_flat
from mmdet_face.models.utils.ssd_multibox import multibox_loss
from mmdet_face.registry import MODELS, TASK_UTILS


class DSFDHeadBranch(nn.Module):
    """The release's ``DeepHeadModule``: ``num_convs`` 3x3 convs (bias, ReLU) then a 1x1 conv (bias).

    (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, feat_channels: int = 256, num_convs: int = 3) -> None:
        super().__init__()
        # the release's mid width is min(in_channels, 256)
        mid = min(in_channels, feat_channels)
        self.convs = nn.ModuleList([nn.Conv2d(in_channels if i == 0 else mid, mid, 3, padding=1)
                                    for i in range(num_convs)])
        self.out_conv = nn.Conv2d(mid, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.out_conv(x)


def apply_max_in_out(logits: Tensor, level: int, num_anchors: int = 1, num_maxout: int = 3) -> Tensor:
    """The release's max-in-out on one level's raw score logits.

    Args:
        logits: (B, A * (num_maxout + 1), H, W), per prior ``num_maxout + 1`` logits as the release's ``conf``
            conv orders them (its channels 0..3 of the face part).
        level: level index; level 0 takes the max over background candidates, the others over face candidates.

    Returns:
        (B, A * 2, H, W), per prior (face, background): mmdet's softmax convention (background last). The
        release keeps (background, face); the values are the same.
    """
    b, _, h, w = logits.shape
    per = logits.view(b, num_anchors, num_maxout + 1, h, w)
    pooled = per[:, :, :num_maxout].max(dim=2).values
    single = per[:, :, num_maxout]
    face, background = (single, pooled) if level == 0 else (pooled, single)
    return torch.stack([face, background], dim=2).view(b, num_anchors * 2, h, w)


@MODELS.register_module()
class DSFDHead(SSDReleaseHeadMixin, BaseDenseHead):
    """DSFD detection head (second shot, as released).

    Args:
        num_classes (int): foreground classes; one (face).
        in_channels (int): channels of every input level (512 after the release's FEM).
        feat_channels (int): width of the conv towers (256).
        num_convs (int): 3x3 convs per tower (3).
        max_in_out (bool): score branches predict ``num_maxout + 1`` logits per prior reduced by max-in-out
            (the release); otherwise 2 logits (face, background).
        num_maxout (int): logits pooled by max-in-out (3).
        prior_generator (dict): :class:`DSFDPriorGenerator` config (the release's second-shot priors by default).
        bbox_coder (dict): SSD coder with variances (0.1, 0.2), no size-delta clamp.
        first_shot (dict, optional): the paper's first shot, training only (None: the release's head). Keys:
            ``in_channels`` (per-level channels of the original features), ``prior_generator`` (the paper's
            half-size anchors, 8..256), ``max_in_out`` (default: as the second shot). Its branches
            (``first_shot_cls_branches`` / ``first_shot_reg_branches``: the second shot's structure, own weights)
            are used by :meth:`loss` only, never by ``forward`` / ``predict``; a test config without
            ``first_shot`` loads a training checkpoint after ``tools/model_converters/dsfd_publish.py`` drops them.
        neg_pos_ratio (float): hard negatives per positive, per image (3, the release's ``negpos_ratio``).
        loss_bbox (dict): box loss on SSD deltas (smooth-L1, beta 1: the release's ``F.smooth_l1_loss``).
        second_shot_weight (float): lambda of the Progressive Anchor Loss, ``L = L_first + lambda * L_second``
            (paper Eq. 4 in arXiv v3; v1 has no lambda, i.e. 1).
        train_cfg (dict): ``assigner`` (mmdet ``MaxIoUAssigner``, IoU 0.4, best prior forced).
        test_cfg (dict): ``score_thr``, ``nms_pre`` (over all levels together), ``nms``, ``max_per_img``.

    ``forward`` returns two lists over levels: scores (B, A * 2, H_l, W_l), per prior (face, background) logits
    after max-in-out, and box deltas (B, A * 4, H_l, W_l) as (dx, dy, dw, dh), A = 1.
    """

    def __init__(self,
                 num_classes: int = 1,
                 in_channels: int = 512,
                 feat_channels: int = 256,
                 num_convs: int = 3,
                 max_in_out: bool = True,
                 num_maxout: int = 3,
                 prior_generator: dict = dict(
                     type='DSFDPriorGenerator', strides=(4, 8, 16, 32, 64, 128),
                     base_sizes=(16, 32, 64, 128, 256, 512), ratio=1.5, clip=True),
                 bbox_coder: dict = dict(type='RetinaFaceBoxCoder', variances=(0.1, 0.2)),
                 first_shot: Optional[dict] = None,
                 neg_pos_ratio: float = 3,
                 loss_bbox: dict = dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
                 second_shot_weight: float = 1.0,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.init_priors_and_coder(num_classes, prior_generator, bbox_coder, train_cfg, test_cfg)
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.num_convs = num_convs
        self.max_in_out = max_in_out
        self.num_maxout = num_maxout
        self.cls_branches, self.reg_branches = self.build_shot(max_in_out)
        self.neg_pos_ratio = neg_pos_ratio
        self.loss_bbox = MODELS.build(loss_bbox)
        self.second_shot_weight = float(second_shot_weight)
        self.with_first_shot = first_shot is not None
        if self.with_first_shot:
            self._build_first_shot(**first_shot)

    # ------------------------------------------------------------------ layers
    def build_shot(self, max_in_out: bool, in_channels: Optional[Sequence[int]] = None
                   ) -> Tuple[nn.ModuleList, nn.ModuleList]:
        """One shot's per-level (score, box) branches on ``in_channels[l]`` input channels (default: the head's
        ``in_channels`` on every level); the second shot is ``cls_branches`` / ``reg_branches``."""
        if in_channels is None:
            in_channels = [self.in_channels] * self.num_levels
        cls_out = self.num_anchors * ((self.num_maxout + 1) if max_in_out else 2)
        cls = nn.ModuleList([DSFDHeadBranch(c, cls_out, self.feat_channels, self.num_convs) for c in in_channels])
        reg = nn.ModuleList([DSFDHeadBranch(c, self.num_anchors * 4, self.feat_channels, self.num_convs)
                             for c in in_channels])
        return cls, reg

    def _build_first_shot(self, in_channels: Sequence[int], prior_generator: dict,
                          max_in_out: Optional[bool] = None) -> None:
        """The first shot: per level a score and a box branch of the second shot's structure on ``in_channels[l]``
        original channels, with their own priors (the paper's half-size anchors)."""
        if len(in_channels) != self.num_levels:
            raise ValueError(f'first_shot.in_channels needs {self.num_levels} levels, got {list(in_channels)}')
        self.first_shot_max_in_out = self.max_in_out if max_in_out is None else max_in_out
        self.first_shot_prior_generator = TASK_UTILS.build(prior_generator)
        if self.first_shot_prior_generator.num_levels != self.num_levels:
            raise ValueError(f'first_shot.prior_generator has {self.first_shot_prior_generator.num_levels} levels, '
                             f'the head {self.num_levels}')
        self.first_shot_cls_branches, self.first_shot_reg_branches = self.build_shot(self.first_shot_max_in_out,
                                                                                     in_channels)

    def forward_first_shot(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """First shot on the original levels (training only): (scores, deltas) as :meth:`forward`."""
        if not self.with_first_shot:
            raise RuntimeError('this DSFDHead has no first shot (configure bbox_head.first_shot to train one)')
        return self.forward_shot(x, self.first_shot_cls_branches, self.first_shot_reg_branches,
                                 self.first_shot_max_in_out)

    def forward_shot(self, x: Sequence[Tensor], cls_branches: nn.ModuleList, reg_branches: nn.ModuleList,
                     max_in_out: bool) -> Tuple[List[Tensor], List[Tensor]]:
        """Run one shot's branches on levels ``x``; scores come back as (face, background) logits per prior."""
        if len(x) != self.num_levels:
            raise ValueError(f'DSFDHead expects {self.num_levels} levels, got {len(x)}')
        cls_scores, bbox_preds = [], []
        for level, (feat, cls_branch, reg_branch) in enumerate(zip(x, cls_branches, reg_branches)):
            logits = cls_branch(feat)
            if max_in_out:
                logits = apply_max_in_out(logits, level, self.num_anchors, self.num_maxout)
            cls_scores.append(logits)
            bbox_preds.append(reg_branch(feat))
        return cls_scores, bbox_preds

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor]]:
        """Second shot on the enhanced levels: (scores, deltas), each a list over levels (see the class doc)."""
        return self.forward_shot(x, self.cls_branches, self.reg_branches, self.max_in_out)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _flatten(preds: Sequence[Tensor], per_prior: int) -> Tensor:
        """List over levels of (B, A * per_prior, H, W) -> (B, P, per_prior), order level/row/column/anchor."""
        return torch.cat([p.permute(0, 2, 3, 1).reshape(p.shape[0], -1, per_prior) for p in preds], dim=1)

    def get_priors(self, preds: Sequence[Tensor], batch_img_metas: Optional[List[dict]] = None,
                   prior_generator=None) -> Tensor:
        """All priors (P, 4) x1y1x2y2 pixels for the maps of ``preds``.

        The clamp bounds are the size of the tensor the network saw (``batch_input_shape`` of the metas, as the
        release clamps to its input tensor), else ``img_shape``, else the stride times the first map's size.
        """
        prior_generator = self.prior_generator if prior_generator is None else prior_generator
        featmap_sizes = [tuple(p.shape[-2:]) for p in preds]
        meta = batch_img_metas[0] if batch_img_metas else {}
        input_shape = meta.get('batch_input_shape', meta.get('img_shape'))
        if input_shape is None:
            stride = prior_generator.strides[0]
            input_shape = (featmap_sizes[0][0] * stride, featmap_sizes[0][1] * stride)
        return torch.cat(prior_generator.grid_priors(featmap_sizes, input_shape[:2], dtype=preds[0].dtype,
                                                     device=preds[0].device), dim=0)

    # ------------------------------------------------------------------ training
    def loss(self, x: Tuple[Tensor, ...], batch_data_samples, original_feats: Optional[Sequence[Tensor]] = None
             ) -> dict:
        """Progressive Anchor Loss: the second shot on the enhanced levels ``x`` and, when configured, the first
        shot on ``original_feats`` (the :class:`DSFD` detector passes both)."""
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = unpack_gt_instances(batch_data_samples)
        first_shot_preds = None
        if self.with_first_shot:
            if original_feats is None:
                raise ValueError('DSFDHead has a first shot: loss() needs original_feats (the DSFD detector passes '
                                 'the backbone levels)')
            first_shot_preds = self.forward_first_shot(original_feats)
        cls_scores, bbox_preds = self(x)
        return self.loss_by_feat(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                                 batch_gt_instances_ignore, first_shot_preds=first_shot_preds)

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: Optional[List[InstanceData]] = None,
                     first_shot_preds: Optional[Tuple[List[Tensor], List[Tensor]]] = None) -> dict:
        """Per shot, :func:`~mmdet_face.models.utils.ssd_multibox.multibox_loss` (IoU-0.4 matching with the
        best prior forced, softmax CE on positives + 3:1 hard negatives, smooth-L1 on SSD deltas, both divided by
        the shot's positives).

        Returns:
            dict: ``loss_cls`` / ``loss_bbox`` (second shot, times ``second_shot_weight``) and, with
            ``first_shot_preds`` ((scores, deltas) lists over levels as :meth:`forward`), ``loss_cls_first`` /
            ``loss_bbox_first``.
        """
        if getattr(self, 'assigner', None) is None:
            raise ValueError('DSFDHead.loss needs train_cfg.assigner (a DSFD training config sets it)')
        shots = [('', cls_scores, bbox_preds, self.prior_generator, self.second_shot_weight)]
        if first_shot_preds is not None:
            shots.insert(0, ('_first', *first_shot_preds, self.first_shot_prior_generator, 1.0))
        losses = {}
        for suffix, scores, deltas, prior_generator, weight in shots:
            priors = self.get_priors(scores, batch_img_metas, prior_generator)
            loss_cls, loss_bbox, _ = multibox_loss(
                self._flatten(scores, 2), self._flatten(deltas, 4), priors, batch_gt_instances, self.assigner,
                self.bbox_coder, self.loss_bbox, self.neg_pos_ratio, background_index=1,
                batch_gt_instances_ignore=batch_gt_instances_ignore)
            losses['loss_cls' + suffix] = weight * loss_cls
            losses['loss_bbox' + suffix] = weight * loss_bbox
        return losses

    # ------------------------------------------------------------------ inference
    def decode(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
               batch_img_metas: Optional[List[dict]] = None) -> Tuple[Tensor, Tensor]:
        """All priors decoded, before any threshold: boxes (B, P, 4) x1y1x2y2 input pixels, face probability (B, P).

        What the release's ``SSD.forward`` returns (normalised there; multiply by (W, H) to compare).
        """
        priors, scores, deltas = self._flat_outputs(cls_scores, bbox_preds, batch_img_metas)
        return self.bbox_coder.decode(priors[None].expand_as(deltas), deltas), scores

    def _flat_outputs(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                      batch_img_metas: Optional[List[dict]]) -> Tuple[Tensor, Tensor, Tensor]:
        """Priors (P, 4), face probabilities (B, P) and deltas (B, P, 4) over all levels, in prior order."""
        priors = self.get_priors(cls_scores, batch_img_metas)
        return priors, self._flatten(cls_scores, 2).softmax(dim=-1)[..., 0], self._flatten(bbox_preds, 4)

    def predict_priors(self, outs: Tuple, batch_img_metas: List[dict]) -> Tensor:
        """All priors (P, 4) of the batch (clamped to its input size, see :meth:`get_priors`)."""
        return self.get_priors(outs[0], batch_img_metas)

    def decode_image(self, img_outs: Tuple, priors: Tensor, img_meta: dict, cfg: ConfigDict) -> InstanceData:
        """Face probability ``> score_thr`` over all levels together, the ``nms_pre`` best, decoded boxes (not
        clipped, as in the release), in input pixels."""
        cls_scores, bbox_preds = img_outs
        scores = flatten_levels(cls_scores, 2).softmax(dim=-1)[..., 0]
        scores, (priors, deltas) = select_topk_flat(scores, cfg, priors, flatten_levels(bbox_preds, 4))
        return InstanceData(bboxes=self.bbox_coder.decode(priors, deltas), scores=scores,
                            labels=scores.new_zeros(scores.shape, dtype=torch.long))
