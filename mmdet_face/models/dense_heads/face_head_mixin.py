"""The one post-processing path of the face heads: rescale boxes and keypoints, ``min_bbox_size``, NMS, ``max_per_img``.

A face head decodes its outputs into one :class:`InstanceData` per image (``bboxes``, ``scores``, ``labels`` and,
with a landmark branch, ``keypoints``) and hands it to :meth:`FaceHeadMixin._face_post_process`, which does what
mmdet's ``BaseDenseHead._bbox_post_process`` does for boxes, with the keypoints carried along.

NMS is :func:`mmdet_face.models.utils.nms.sweep_batched_nms`: it returns exactly what ``mmcv.ops.batched_nms``
returns (same kept indices in the same order, same scores); on the CPU with numba it finds them with a sweep over
the boxes sorted by ``x1`` instead of mmcv's O(n x kept) loop, and it hands over to mmcv itself on CUDA, without
numba, for soft-NMS, ``offset != 0`` or few boxes.
"""
from typing import Mapping

from mmengine.structures import InstanceData

from mmdet_face.models.utils.nms import sweep_batched_nms


class FaceHeadMixin:
    """Mixin for face heads (put it before mmdet's head class: ``class SCRFDHead(FaceHeadMixin, AnchorHead)``).

    It adds no layers and no state; a head's ``predict_by_feat`` decodes and then calls :meth:`_face_post_process`
    once per image.
    """

    def _face_post_process(self,
                           results: InstanceData,
                           img_meta: Mapping,
                           cfg: Mapping,
                           rescale: bool = False,
                           with_nms: bool = True,
                           scores_from_nms: bool = True) -> InstanceData:
        """Rescale, filter small boxes, NMS and cap the detections of one image.

        Args:
            results (InstanceData): decoded candidates of one image, in network-input pixels: ``bboxes``
                ``(N, 4)`` x1y1x2y2 float (no +1 convention; a head that clips to ``img_shape`` has done so),
                ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64 and optionally ``keypoints`` ``(N, K, 2)`` xy.
            img_meta (Mapping): the image's meta; ``scale_factor`` ``(w_scale, h_scale)`` (input / original size)
                is read when ``rescale``.
            cfg (Mapping): test config: ``min_bbox_size`` (boxes with width or height ``<=`` it are dropped;
                default -1: none), ``nms`` (an ``mmcv.ops.batched_nms`` config; read only when ``with_nms``) and
                ``max_per_img`` (detections kept after NMS; ``<= 0`` or absent: all).
            rescale (bool): divide box x by ``w_scale`` and y by ``h_scale`` (keypoints likewise), mapping them to
                original-image pixels.
            with_nms (bool): run NMS (class-aware over ``labels``) and ``max_per_img``; without it the candidates
                come back in their input order.
            scores_from_nms (bool): take ``scores`` from the NMS output (mmdet's convention; differs from the
                input scores only for score-changing NMS types such as soft-NMS), or keep the input scores of
                the kept boxes.

        Returns:
            InstanceData: the same fields; after NMS sorted by decreasing score.
        """
        if rescale:
            scale_factor = results.bboxes.new_tensor(img_meta['scale_factor'][:2])  # (w_scale, h_scale)
            results.bboxes = results.bboxes / scale_factor.repeat(2)
            if 'keypoints' in results:
                results.keypoints = results.keypoints / scale_factor
        min_size = cfg.get('min_bbox_size', -1)
        if min_size > 0:
            w = results.bboxes[:, 2] - results.bboxes[:, 0]
            h = results.bboxes[:, 3] - results.bboxes[:, 1]
            results = results[(w > min_size) & (h > min_size)]
        if with_nms and results.bboxes.numel() > 0:
            dets, keep = sweep_batched_nms(results.bboxes, results.scores, results.labels, cfg['nms'])
            results = results[keep]
            if scores_from_nms:
                results.scores = dets[:, -1]
            max_per_img = cfg.get('max_per_img', -1)
            if max_per_img > 0:
                results = results[:max_per_img]
        return results
