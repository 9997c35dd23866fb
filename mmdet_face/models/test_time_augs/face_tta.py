"""Test-time augmentation for face detectors: merge the views of one image (scales x flips) with NMS
(:func:`~mmdet_face.models.utils.nms.sweep_batched_nms`, exactly mmcv's result) or with the box voting of the
S3FD / PyramidBox / SRN evaluation scripts (:func:`~mmdet_face.models.test_time_augs.box_votes.box_vote`), carrying
landmarks along."""
from typing import List

import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_flip
from mmengine.structures import InstanceData

from mmdet_face.keypoints import KEYPOINT_FLIP_ORDER
from mmdet_face.models.test_time_augs.box_votes import box_vote
from mmdet_face.models.utils.nms import sweep_batched_nms
from mmdet_face.registry import MODELS


def flip_keypoints_back(keypoints: torch.Tensor, width: float) -> torch.Tensor:
    """Undo a horizontal flip of (N, 5, 2) keypoints in an image of ``width`` pixels (x' = W - x, then the
    left/right swap ``KEYPOINT_FLIP_ORDER``)."""
    flipped = keypoints[:, list(KEYPOINT_FLIP_ORDER)].clone()
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


@MODELS.register_module()
class FaceTTAModel(DetTTAModel):
    """mmdet's ``DetTTAModel`` for faces: landmarks are flipped back and merged too, and the merge is NMS
    (``tta_cfg=dict(merge='nms', iou_threshold=0.4)``) or box voting (``merge='vote', iou_threshold=0.3``).
    ``max_per_img`` caps the merged detections (the reference scripts keep 750)."""

    def __init__(self, tta_cfg=None, **kwargs):
        tta_cfg = {**dict(merge='nms', iou_threshold=0.4, max_per_img=750), **(tta_cfg or {})}
        if tta_cfg['merge'] not in ('nms', 'vote'):
            raise ValueError(f"FaceTTAModel: tta_cfg.merge must be 'nms' or 'vote', got {tta_cfg['merge']!r}")
        super().__init__(tta_cfg=tta_cfg, **kwargs)

    def _merge_single_sample(self, data_samples: List[DetDataSample]) -> DetDataSample:
        bboxes, scores, keypoints = [], [], []
        with_kps = all('keypoints' in s.pred_instances for s in data_samples)
        for sample in data_samples:
            pred, meta = sample.pred_instances, sample.metainfo
            boxes, kps = pred.bboxes, pred.keypoints if with_kps else None
            if meta.get('flip', False):
                boxes = bbox_flip(boxes, meta['ori_shape'], meta['flip_direction'])
                if kps is not None:
                    if meta['flip_direction'] != 'horizontal':
                        raise NotImplementedError('FaceTTAModel: only horizontal flips carry landmarks')
                    kps = flip_keypoints_back(kps, meta['ori_shape'][1])
            bboxes.append(boxes)
            scores.append(pred.scores)
            keypoints.append(kps)
        bboxes, scores = torch.cat(bboxes), torch.cat(scores)
        keypoints = torch.cat(keypoints) if with_kps else None
        cfg = self.tta_cfg
        if cfg['merge'] == 'nms' and len(scores):
            labels = scores.new_zeros(scores.shape, dtype=torch.long)
            _, keep = sweep_batched_nms(bboxes, scores, labels, dict(type='nms', iou_threshold=cfg['iou_threshold']),
                                        class_agnostic=True)
            bboxes, scores = bboxes[keep], scores[keep]
            keypoints = keypoints[keep] if keypoints is not None else None
        elif cfg['merge'] == 'vote':
            bboxes, scores, keypoints = box_vote(bboxes, scores, keypoints, cfg['iou_threshold'])
        limit = cfg['max_per_img']
        results = InstanceData(bboxes=bboxes[:limit], scores=scores[:limit],
                               labels=torch.zeros(len(scores[:limit]), dtype=torch.long, device=scores.device))
        if keypoints is not None:
            results.keypoints = keypoints[:limit]
        merged = data_samples[0]
        merged.pred_instances = results
        return merged
