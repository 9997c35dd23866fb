"""mmengine metric for COCO-style AP of face boxes (AP at IoU 0.5:0.95, 0.5, 0.75, by size, and AR), the numbers
general detectors report. The evaluation itself is :func:`mmdet_face.evaluation.functional.coco_face_ap`
(pycocotools on a COCO dataset built in memory from the data samples); no COCO json file is needed.
"""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.registry import METRICS
from ..functional.coco_face import COCO_MAX_DETS, coco_face_ap
from .sample_fields import predicted_boxes, sample_field, to_numpy


@METRICS.register_module()
class FaceCocoMetric(BaseMetric):
    """COCO-style AP / AR of the faces of any dataset the test loop reads (WIDER FACE val, the toy set, a user's own
    data), next to ``WiderFaceMetric``'s ``widerface/all`` or Easy / Medium / Hard AP.

    Args:
        max_dets (Sequence[int]): three increasing numbers of detections per image (COCO: ``(1, 10, 100)``). AP is
            computed with the largest; images with more faces than it (WIDER FACE crowds hold up to ~1,900) cannot
            reach full recall, so ``(10, 100, 1000)`` suits such data (and is then not COCO's protocol).
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.

    Each data sample must carry ``img_path``, ``pred_instances.bboxes`` / ``.scores`` and the ground truth
    ``gt_instances.bboxes`` (faces) and ``ignored_instances.bboxes`` (ignore boxes, pycocotools' ``iscrowd``), all
    x1y1x2y2 float pixels of the original image (``LoadFaceAnnotations`` after the resize step, as in this package's
    test pipelines). Returns ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``, ``bbox_mAP_s`` / ``_m`` / ``_l`` and
    ``bbox_AR@<n>``, logged as ``face_coco/bbox_mAP`` etc.
    """
    default_prefix: Optional[str] = 'face_coco'

    def __init__(self, max_dets: Sequence[int] = COCO_MAX_DETS, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.max_dets = tuple(int(n) for n in max_dets)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            img_path = sample_field(sample, 'img_path')
            if img_path is None:
                raise KeyError('FaceCocoMetric needs img_path in each data sample (to count each image once)')
            pred_boxes, scores = predicted_boxes(sample)
            self.results.append(dict(
                img_path=img_path,
                boxes=to_numpy(sample_field(sample_field(sample, 'gt_instances'), 'bboxes'), 4),
                ignore=to_numpy(sample_field(sample_field(sample, 'ignored_instances'), 'bboxes'), 4),
                dets=np.concatenate([pred_boxes, scores[:, None]], axis=1)))

    def compute_metrics(self, results: list) -> dict:
        images = {}
        for res in results:  # a sampler may pad ranks with repeats; each image counts once
            images.setdefault(res['img_path'], res)
        images = list(images.values())
        metrics = coco_face_ap([dict(boxes=r['boxes'], ignore=r['ignore']) for r in images],
                               [r['dets'] for r in images], self.max_dets)
        MMLogger.get_current_instance().info(
            'COCO-style face AP: ' + ', '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
        return metrics
