"""COCO-style AP of face detections (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014), computed by
pycocotools' ``COCOeval`` on a COCO dataset built in memory, so that face detectors can be compared with general
detectors on the numbers those report: AP averaged over IoU 0.50:0.05:0.95, AP at IoU 0.5 and 0.75, AP by object
size, and AR at a few numbers of detections per image.

Faces are one category (``face``, id 1). Ignore boxes become ``iscrowd=1`` annotations: pycocotools never counts a
detection matched to one as a false positive, and scores that match by the intersection over the *detection's*
area (not the union), as it does for COCO's crowd regions. Boxes are ``x1 y1 x2 y2`` float pixels here, ``x y w h``
in the COCO dictionaries (area = w * h, no +1).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = ['COCO_MAX_DETS', 'coco_face_dicts', 'coco_face_ap']

COCO_MAX_DETS = (1, 10, 100)  # COCO's detections per image; crowded face images can hold more than 100 faces


def _xywh(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] -= boxes[:, :2]
    return boxes


def coco_face_dicts(ground_truth: Sequence[dict], detections: Sequence) -> Tuple[dict, List[dict]]:
    """The COCO ground-truth dataset and the COCO result list of face boxes.

    Args:
        ground_truth: per image ``dict(boxes=(N, 4), ignore=(M, 4))``, ``x1 y1 x2 y2`` pixels (``ignore``
            optional); image ``i`` gets the COCO id ``i + 1``.
        detections: per image (same order) an ``(K, 5)`` array ``x1 y1 x2 y2 score``.

    Returns:
        ``(dataset, results)``: what ``COCO.dataset`` and ``COCO.loadRes`` take (annotation ids from 1).
    """
    if len(ground_truth) != len(detections):
        raise ValueError(f'expected detections for each of the {len(ground_truth)} images, got {len(detections)}')
    images, annotations, results = [], [], []
    for index, (gt, dets) in enumerate(zip(ground_truth, detections)):
        image_id = index + 1
        images.append(dict(id=image_id))
        for crowd, boxes in ((0, gt['boxes']), (1, gt.get('ignore', np.zeros((0, 4))))):
            for x, y, w, h in _xywh(boxes).tolist():
                annotations.append(dict(id=len(annotations) + 1, image_id=image_id, category_id=1, bbox=[x, y, w, h],
                                        area=w * h, iscrowd=crowd))
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        for (x, y, w, h), score in zip(_xywh(dets[:, :4]).tolist(), dets[:, 4].tolist()):
            results.append(dict(image_id=image_id, category_id=1, bbox=[x, y, w, h], score=score))
    dataset = dict(images=images, annotations=annotations, categories=[dict(id=1, name='face')])
    return dataset, results


def _mean_valid(values: np.ndarray) -> float:
    """The mean over the entries pycocotools filled (-1 marks an empty cell); -1 when there is none."""
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else -1.0


def coco_face_ap(ground_truth: Sequence[dict], detections: Sequence,
                 max_dets: Sequence[int] = COCO_MAX_DETS) -> Dict[str, float]:
    """COCO-style AP and AR of face ``detections`` against ``ground_truth`` (see :func:`coco_face_dicts`).

    Args:
        max_dets: three increasing numbers of detections per image; AP uses the largest, AR is given at each.

    Returns:
        ``bbox_mAP`` (IoU 0.50:0.95), ``bbox_mAP_50``, ``bbox_mAP_75``, ``bbox_mAP_s`` / ``_m`` / ``_l`` (area
        < 32^2, 32^2..96^2, > 96^2 px), ``bbox_AR@<n>`` for each ``n`` of ``max_dets``: the numbers of
        ``COCOeval.summarize`` (with ``max_dets=(1, 10, 100)``, ``stats[0:9]``); -1 where a size has no face.

    Raises:
        ValueError: no image holds a (non-ignore) face, so AP is undefined.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    max_dets = [int(n) for n in max_dets]
    if len(max_dets) != 3 or sorted(max_dets) != max_dets or max_dets[0] < 1:
        raise ValueError(f'max_dets: expected three increasing positive numbers (COCO: 1 10 100), got {max_dets}')
    dataset, results = coco_face_dicts(ground_truth, detections)
    if not any(ann['iscrowd'] == 0 for ann in dataset['annotations']):
        raise ValueError(f'no face to find in the {len(ground_truth)} images (only ignore boxes or none): COCO-style '
                         'AP is undefined')
    coco_gt = COCO()
    coco_gt.dataset = dataset
    coco_gt.createIndex()
    if results:
        coco_dt = coco_gt.loadRes(results)
    else:  # loadRes refuses an empty list; no detection at all gives AP 0
        coco_dt = COCO()
        coco_dt.dataset = dict(images=dataset['images'], annotations=[], categories=dataset['categories'])
        coco_dt.createIndex()
    coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
    coco_eval.params.maxDets = max_dets
    coco_eval.evaluate()
    coco_eval.accumulate()
    params = coco_eval.params
    precision = coco_eval.eval['precision']  # [IoU thresholds, recall thresholds, categories, areas, max dets]
    recall = coco_eval.eval['recall']  # [IoU thresholds, categories, areas, max dets]
    area = {label: i for i, label in enumerate(params.areaRngLbl)}
    iou = {threshold: np.where(np.isclose(params.iouThrs, threshold))[0] for threshold in (0.5, 0.75)}
    out = {'bbox_mAP': _mean_valid(precision[:, :, :, area['all'], -1]),
           'bbox_mAP_50': _mean_valid(precision[iou[0.5], :, :, area['all'], -1]),
           'bbox_mAP_75': _mean_valid(precision[iou[0.75], :, :, area['all'], -1])}
    for size, label in (('s', 'small'), ('m', 'medium'), ('l', 'large')):
        out[f'bbox_mAP_{size}'] = _mean_valid(precision[:, :, :, area[label], -1])
    for i, n in enumerate(max_dets):
        out[f'bbox_AR@{n}'] = _mean_valid(recall[:, :, area['all'], i])
    return out
