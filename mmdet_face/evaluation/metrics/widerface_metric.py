"""mmengine metric for the WIDER FACE validation protocol (Easy / Medium / Hard AP).

The protocol itself lives in :mod:`mmdet_face.evaluation.functional.widerface` (numpy only); this class only
collects each image's detections (and, without official ``.mat`` files, its ground truth) across ranks.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.registry import METRICS
from ..functional.widerface import (SETTINGS, _FlatGT, dump_pr_curves, evaluate_widerface, load_ground_truth,
                                    write_submission)


def _field(obj, key, default=None):
    """``obj[key]`` for dicts (what ``Evaluator.process`` passes) and ``obj.key`` for data elements."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _to_numpy(x, cols):
    if x is None:
        return np.zeros((0, cols), np.float64)
    if hasattr(x, 'tensor'):  # mmdet BaseBoxes
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1, cols) if cols else np.asarray(x, np.float64).reshape(-1)


def _xyxy_to_xywh(boxes):
    boxes = boxes.copy()
    boxes[:, 2:4] -= boxes[:, 0:2]
    return boxes


@METRICS.register_module()
class WiderFaceMetric(BaseMetric):
    """WIDER FACE Easy / Medium / Hard AP, computed exactly as the official evaluation kit does.

    Args:
        gt_dir (str, optional): folder with the official ``wider_face_val.mat`` and
            ``wider_{easy,medium,hard}_val.mat``. When None, the ground truth comes from the data samples:
            ``gt_instances.bboxes`` count in all three settings and ``ignored_instances.bboxes`` are ignore faces
            (both x1y1x2y2 pixels of the original image, which holds when ``LoadAnnotations`` runs after
            ``Resize`` as in mmdet's test pipelines). As in the official kit, detections in an image without any
            ground-truth box (counted or ignored) are skipped, not counted as false positives.
        outfile_prefix (str, optional): write the submission folder (``<event>/<image>.txt``) there, and the PR
            curves to ``<outfile_prefix>_pr_curves.json``.
        iou_thresh (float): 0.5 in the official protocol.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.

    Each data sample must carry ``img_path`` (event = parent folder name, image name = file stem) and
    ``pred_instances.bboxes`` (x1y1x2y2 float pixels in the original image) with ``pred_instances.scores``.
    Returns ``{'easy': ap, 'medium': ap, 'hard': ap}``, logged as ``widerface/easy`` etc.
    """
    default_prefix: Optional[str] = 'widerface'

    def __init__(self,
                 gt_dir: Optional[str] = None,
                 outfile_prefix: Optional[str] = None,
                 iou_thresh: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gt_dir = gt_dir
        self.outfile_prefix = outfile_prefix
        self.iou_thresh = iou_thresh
        self._flat_gt = None
        if gt_dir is not None and not osp.isdir(gt_dir):
            raise FileNotFoundError(f'WiderFaceMetric: gt_dir {gt_dir} does not exist')

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            img_path = _field(sample, 'img_path')
            if img_path is None:
                raise KeyError('WiderFaceMetric needs img_path in each data sample (event = parent folder name)')
            pred = _field(sample, 'pred_instances')
            boxes = _to_numpy(_field(pred, 'bboxes'), 4)
            scores = _to_numpy(_field(pred, 'scores'), 0)
            result = {
                'event': osp.basename(osp.dirname(img_path)),
                'name': osp.splitext(osp.basename(img_path))[0],
                'pred': np.concatenate([_xyxy_to_xywh(boxes), scores[:, None]], axis=1),
            }
            if self.gt_dir is None:
                result['gt'] = _xyxy_to_xywh(_to_numpy(_field(_field(sample, 'gt_instances'), 'bboxes'), 4))
                result['ignore'] = _xyxy_to_xywh(
                    _to_numpy(_field(_field(sample, 'ignored_instances'), 'bboxes'), 4))
            self.results.append(result)

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        predictions, seen, ground_truth = {}, set(), {'boxes': {}, 'settings': {s: {} for s in SETTINGS}}
        for res in results:
            key = (res['event'], res['name'])
            if key in seen:  # a sampler may pad ranks with repeats; each image counts once
                continue
            seen.add(key)
            predictions.setdefault(res['event'], {})[res['name']] = res['pred']
            if self.gt_dir is None:
                boxes = np.concatenate([res['gt'], res['ignore']])
                ground_truth['boxes'].setdefault(res['event'], {})[res['name']] = boxes
                keep = np.arange(len(res['gt']))
                for s in SETTINGS:
                    ground_truth['settings'][s].setdefault(res['event'], {})[res['name']] = keep
        if self.gt_dir is not None:
            if self._flat_gt is None:
                self._flat_gt = _FlatGT(load_ground_truth(self.gt_dir))
            gt = self._flat_gt
        else:
            gt = ground_truth
        out = evaluate_widerface(predictions, gt, iou_thresh=self.iou_thresh)
        if self.outfile_prefix is not None:
            write_submission(self.outfile_prefix, predictions)
            dump_pr_curves(out, self.outfile_prefix.rstrip('/\\') + '_pr_curves.json')
            logger.info(f'WIDER FACE submission written to {self.outfile_prefix}')
        metrics = {s: out[s] for s in SETTINGS}
        logger.info('WIDER FACE AP: ' + ', '.join(f'{s} {v:.4f}' for s, v in metrics.items()))
        return metrics
