"""What every face head shares at inference: the per-image loop of ``predict_by_feat``, the test config, the
selection of candidates and the one post-processing tail (clip, rescale boxes and keypoints, ``min_bbox_size``,
NMS, ``max_per_img``).

A face head mixes in :class:`FaceHeadMixin` before mmdet's head class and writes one method for prediction,
:meth:`FaceHeadMixin.decode_image`: the candidates of one image (``bboxes``, ``scores``, ``labels`` and, with a
landmark branch, ``keypoints``) in network-input pixels. Its release conventions are class attributes
(``clips_boxes``, ``scores_from_nms``, ``optional_scale_factor``, ``optional_nms``), read by the tail here and by
:class:`~mmdet_face.apis.FaceDetector`; ``docs/adding_a_head.md`` walks through a complete small head.

The heads ported from SSD-style releases (RetinaFace, DSFD) mix in :class:`SSDReleaseHeadMixin`, which states
those releases' conventions once and builds their own priors. Two selections cover the heads:
:func:`select_topk_flat` (score threshold and ``nms_pre`` over all levels together: RetinaFace, DSFD) and
:func:`select_topk_level` (the same per level: SCRFD, SRN, mmdet's dense heads).

NMS is :func:`mmdet_face.models.utils.nms.sweep_batched_nms`: it returns exactly what ``mmcv.ops.batched_nms``
returns (same kept indices in the same order, same scores); on the CPU with numba it finds them with a sweep over
the boxes sorted by ``x1`` instead of mmcv's O(n x kept) loop, and it hands over to mmcv itself on CUDA, without
numba, for soft-NMS, ``offset != 0`` or few boxes.
"""
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import torch
from mmdet.models.utils import filter_scores_and_topk
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_face.models.utils.nms import sweep_batched_nms
from mmdet_face.registry import TASK_UTILS


def flatten_levels(maps: Sequence[Tensor], per_prior: int) -> Tensor:
    """One image's maps, a list over levels of ``(A * per_prior, H, W)``, as ``(P, per_prior)`` in prior order
    level -> row -> column -> anchor (mmdet's ``AnchorGenerator`` order)."""
    return torch.cat([m.permute(1, 2, 0).reshape(-1, per_prior) for m in maps], dim=0)


def select_topk_flat(scores: Tensor, cfg: Mapping, *per_prior: Tensor) -> Tuple[Tensor, List[Tensor]]:
    """Candidates over all levels together: ``scores > score_thr``, then the ``nms_pre`` best (``<= 0`` or absent:
    all), in decreasing score order when the top-k applies and in prior order otherwise.

    Args:
        scores (Tensor): ``(P,)`` one score per prior (one class).
        cfg (Mapping): ``score_thr`` (default 0) and ``nms_pre`` (default -1).
        *per_prior (Tensor): ``(P, ...)`` tensors that follow the scores (priors, deltas ...).

    Returns:
        tuple: the kept scores ``(N,)`` and the list of ``per_prior`` tensors at the same rows.
    """
    keep = scores > cfg.get('score_thr', 0.0)
    scores = scores[keep]
    per_prior = [t[keep] for t in per_prior]
    nms_pre = cfg.get('nms_pre', -1)
    if 0 < nms_pre < scores.numel():
        scores, order = scores.topk(nms_pre)
        per_prior = [t[order] for t in per_prior]
    return scores, per_prior


def select_topk_level(scores: Tensor, cfg: Mapping, results: Optional[dict] = None):
    """Candidates of one level: mmdet's ``filter_scores_and_topk`` with ``score_thr`` and ``nms_pre`` (``<= 0`` or
    absent: all).

    Args:
        scores (Tensor): ``(P, C)`` per-class scores of the level's priors.
        cfg (Mapping): ``score_thr`` (default 0) and ``nms_pre`` (default -1).
        results (dict, optional): ``(P, ...)`` tensors that follow the scores.

    Returns:
        tuple: ``scores`` ``(N,)``, ``labels`` ``(N,)``, ``keep`` ``(N,)`` row indices into the level's priors and
        the filtered ``results`` (None without them), by decreasing score.
    """
    nms_pre = cfg.get('nms_pre', -1)
    return filter_scores_and_topk(scores, cfg.get('score_thr', 0.0), nms_pre if nms_pre > 0 else scores.numel(),
                                  results)


class FaceHeadMixin:
    """Prediction of a face head (put it before mmdet's head class: ``class SCRFDHead(FaceHeadMixin, AnchorHead)``).

    It adds no layers and no state. :meth:`predict_by_feat` computes the priors once per batch
    (:meth:`predict_priors`), decodes each image (:meth:`decode_image`, written by the head) and runs the tail
    (:meth:`_face_post_process`).

    Release conventions (class attributes; the defaults are mmdet's):

    * ``clips_boxes``: boxes are clipped to the network input ``img_shape`` before rescaling (mmdet, SCRFD, SRN).
      False: boxes stay as decoded, possibly outside the image (the RetinaFace and DSFD releases).
    * ``scores_from_nms``: after NMS the scores are the NMS output's (mmdet's convention; they differ from the
      boxes' own scores only for score-changing NMS types such as soft-NMS); False keeps the kept boxes' scores.
    * ``optional_scale_factor``: with ``rescale``, an image whose meta has no ``scale_factor`` stays in input
      pixels; False (default): a missing ``scale_factor`` is an error.
    * ``optional_nms``: a test config without ``nms`` gives the candidates without NMS; False (default): ``nms``
      is required when ``with_nms``.
    """

    clips_boxes: bool = True
    scores_from_nms: bool = True
    optional_scale_factor: bool = False
    optional_nms: bool = False

    def predict_by_feat(self,
                        *outs,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[Mapping] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> List[InstanceData]:
        """Decode the outputs of ``forward`` image by image, then post-process each.

        Args:
            *outs: what the head's ``forward`` returns, each a list over levels of ``(B, C, H, W)`` maps (a branch
                the model lacks may be None).
            batch_img_metas (list[dict], optional): per image ``img_shape`` (network-input size, used to clip),
                ``scale_factor`` (for ``rescale``) and whatever the head's priors read; None: empty metas.
            cfg (Mapping, optional): test config (default ``self.test_cfg``): ``score_thr``, ``nms_pre`` and the
                tail's ``min_bbox_size``, ``nms``, ``max_per_img``.
            rescale (bool): map boxes and keypoints to original-image pixels (divide by ``scale_factor``).
            with_nms (bool): run NMS and ``max_per_img``.

        Returns:
            list[InstanceData]: per image ``bboxes`` ``(N, 4)`` x1y1x2y2, ``scores`` ``(N,)``, ``labels`` ``(N,)``
            and, with a landmark branch, ``keypoints`` ``(N, K, 2)``; sorted by decreasing score after NMS.
        """
        cfg = ConfigDict((self.test_cfg if cfg is None else cfg) or {})
        num_imgs = outs[0][0].shape[0]
        if batch_img_metas is None:
            batch_img_metas = [{}] * num_imgs
        priors = self.predict_priors(outs, batch_img_metas)
        results = []
        for img_id, img_meta in enumerate(batch_img_metas):
            img_outs = tuple(None if out is None else [None if level is None else level[img_id].detach()
                                                       for level in out]
                             for out in outs)
            candidates = self.decode_image(img_outs, priors, img_meta, cfg)
            results.append(self._face_post_process(candidates, img_meta, cfg, rescale=rescale, with_nms=with_nms))
        return results

    def predict_priors(self, outs: Tuple, batch_img_metas: List[dict]) -> Any:
        """What :meth:`decode_image` needs of the priors, computed once per batch; default: mmdet's
        ``prior_generator.grid_priors`` for the sizes of the first output's maps (a list over levels)."""
        maps = outs[0]
        return self.prior_generator.grid_priors([m.shape[-2:] for m in maps], dtype=maps[0].dtype,
                                                device=maps[0].device)

    def decode_image(self, img_outs: Tuple, priors: Any, img_meta: Mapping, cfg: Mapping) -> InstanceData:
        """The candidates of one image in network-input pixels, before the tail.

        Args:
            img_outs (tuple): ``forward``'s outputs of this image: each a list over levels of ``(C, H, W)`` maps
                (detached), or None.
            priors: what :meth:`predict_priors` returned.
            img_meta (Mapping): the image's meta.
            cfg (Mapping): the test config (``score_thr``, ``nms_pre`` ...).

        Returns:
            InstanceData: ``bboxes`` ``(N, 4)`` x1y1x2y2, ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64 and
            optionally ``keypoints`` ``(N, K, 2)``.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement decode_image (see docs/adding_a_head.md)')

    def _face_post_process(self,
                           results: InstanceData,
                           img_meta: Mapping,
                           cfg: Mapping,
                           rescale: bool = False,
                           with_nms: bool = True) -> InstanceData:
        """Clip, rescale, filter small boxes, NMS and cap the detections of one image.

        Args:
            results (InstanceData): decoded candidates of one image, in network-input pixels: ``bboxes``
                ``(N, 4)`` x1y1x2y2 float (no +1 convention), ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64 and
                optionally ``keypoints`` ``(N, K, 2)`` xy.
            img_meta (Mapping): the image's meta; ``img_shape`` ``(h, w)`` is read when ``clips_boxes``,
                ``scale_factor`` ``(w_scale, h_scale)`` (input / original size) when ``rescale``.
            cfg (Mapping): test config: ``min_bbox_size`` (boxes with width or height ``<=`` it are dropped;
                default -1: none), ``nms`` (an ``mmcv.ops.batched_nms`` config; read only when ``with_nms``) and
                ``max_per_img`` (detections kept after NMS; ``<= 0`` or absent: all).
            rescale (bool): divide box x by ``w_scale`` and y by ``h_scale`` (keypoints likewise), mapping them to
                original-image pixels.
            with_nms (bool): run NMS (class-aware over ``labels``) and ``max_per_img``; without it the candidates
                come back in their input order.

        Returns:
            InstanceData: the same fields; after NMS sorted by decreasing score. Keypoints are never clipped.
        """
        if self.clips_boxes:
            if 'img_shape' not in img_meta:
                raise KeyError(f'{type(self).__name__} clips boxes to the network input: the image meta needs '
                               f'img_shape (h, w), got keys {sorted(img_meta)}')
            h, w = img_meta['img_shape'][:2]
            results.bboxes[:, 0::2].clamp_(min=0, max=w)
            results.bboxes[:, 1::2].clamp_(min=0, max=h)
        if rescale and (not self.optional_scale_factor or 'scale_factor' in img_meta):
            if 'scale_factor' not in img_meta:
                raise KeyError(f'{type(self).__name__}: rescale needs scale_factor (w_scale, h_scale) in the image '
                               f'meta, got keys {sorted(img_meta)}')
            scale_factor = results.bboxes.new_tensor(img_meta['scale_factor'][:2])  # (w_scale, h_scale)
            results.bboxes = results.bboxes / scale_factor.repeat(2)
            if 'keypoints' in results:
                results.keypoints = results.keypoints / scale_factor
        min_size = cfg.get('min_bbox_size', -1)
        if min_size > 0:
            w = results.bboxes[:, 2] - results.bboxes[:, 0]
            h = results.bboxes[:, 3] - results.bboxes[:, 1]
            results = results[(w > min_size) & (h > min_size)]
        with_nms = with_nms and (not self.optional_nms or cfg.get('nms') is not None)
        if with_nms and 'nms' not in cfg:  # (nms=None is mmcv's "sort by score, no suppression")
            raise KeyError(f'{type(self).__name__}: with_nms needs an nms entry in the test config, got keys '
                           f'{sorted(cfg)}')
        if with_nms and results.bboxes.numel() > 0:
            dets, keep = sweep_batched_nms(results.bboxes, results.scores, results.labels, cfg['nms'])
            results = results[keep]
            if self.scores_from_nms:
                results.scores = dets[:, -1]
            max_per_img = cfg.get('max_per_img', -1)
            if max_per_img > 0:
                results = results[:max_per_img]
        return results


class SSDReleaseHeadMixin(FaceHeadMixin):
    """:class:`FaceHeadMixin` for the heads ported from SSD-style releases (RetinaFace, DSFD): they generate their
    own priors on mmdet's ``BaseDenseHead`` (not ``AnchorHead``) and keep the releases' conventions: boxes not
    clipped, the kept boxes' own scores after NMS, no rescale for a meta without ``scale_factor``, no NMS for a test
    config without ``nms``."""

    clips_boxes = False
    scores_from_nms = False
    optional_scale_factor = True
    optional_nms = True

    def init_priors_and_coder(self, num_classes: int, prior_generator: dict, bbox_coder: dict,
                              train_cfg: Optional[dict], test_cfg: Optional[dict]) -> None:
        """The part of ``__init__`` shared by the heads that generate their own priors (built on mmdet's
        ``BaseDenseHead``, not ``AnchorHead``): one class (face), the prior generator and its level / anchor
        counts, the box coder, the configs, and the assigner when ``train_cfg`` names one."""
        if num_classes != 1:
            raise ValueError(f'{type(self).__name__} detects one class (face), got num_classes={num_classes}')
        self.num_classes = num_classes
        self.prior_generator = TASK_UTILS.build(prior_generator)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.num_levels = self.prior_generator.num_levels
        self.num_anchors = self.prior_generator.num_base_priors[0]
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if train_cfg is not None and 'assigner' in train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
