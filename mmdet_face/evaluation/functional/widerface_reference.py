"""The official WIDER FACE evaluation kit, loop for loop: a slow reference to check a fast evaluator against.

It follows the kit's MATLAB files (``read_pred.m``'s per-image descending sort, ``norm_score.m``, ``evaluation.m``'s
``image_evaluation`` / ``image_pr_info`` / ``dataset_pr_info`` loops, ``boxoverlap.m``'s ``+1`` IoU, ``VOCap.m``)
and the structure of their Python port (wondervictor/WiderFace-Evaluation). Only the IoU of one image is computed
with numpy at once, where the Python port calls a compiled routine; the per-box matching and the per-threshold
PR loops are the kit's. :func:`mmdet_face.evaluation.functional.widerface.evaluate_widerface` must agree with
:func:`kit_evaluation` (the tests check 1e-9; ``tools/analysis/benchmark_widerface_eval.py`` times both).

numpy only (scipy to read the ``.mat`` files); nothing in the package imports this module.
"""
import os.path as osp

import numpy as np

__all__ = ['kit_ground_truth', 'kit_evaluation']

SETTINGS = ('easy', 'medium', 'hard')


def kit_bbox_overlaps(boxes, query_boxes):
    """IoU of ``(N, 4)`` against ``(K, 4)`` x1 y1 x2 y2 boxes with ``boxoverlap.m``'s ``+1`` pixel convention."""
    iw = np.minimum(boxes[:, None, 2], query_boxes[None, :, 2]) - np.maximum(boxes[:, None, 0],
                                                                           query_boxes[None, :, 0]) + 1
    ih = np.minimum(boxes[:, None, 3], query_boxes[None, :, 3]) - np.maximum(boxes[:, None, 1],
                                                                           query_boxes[None, :, 1]) + 1
    ua = ((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1))[:, None] + \
        ((query_boxes[:, 2] - query_boxes[:, 0] + 1) * (query_boxes[:, 3] - query_boxes[:, 1] + 1))[None] - iw * ih
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where((iw > 0) & (ih > 0), iw * ih / ua, 0.0)


def kit_image_eval(pred, gt, ignore, iou_thresh):
    """``image_evaluation``: ``pred`` ``(N, 5)`` x y w h score in score order, ``gt`` ``(K, 4)`` x y w h,
    ``ignore[k] == 0`` for a face outside the setting. Returns ``(pred_recall, proposal_list)``."""
    pred, gt = pred.copy(), gt.copy()
    pred_recall = np.zeros(len(pred))
    recall_list = np.zeros(len(gt))
    proposal_list = np.ones(len(pred))
    pred[:, 2] += pred[:, 0]
    pred[:, 3] += pred[:, 1]
    gt[:, 2] += gt[:, 0]
    gt[:, 3] += gt[:, 1]
    overlaps = kit_bbox_overlaps(pred[:, :4], gt)
    for h in range(len(pred)):
        max_overlap, max_idx = overlaps[h].max(), overlaps[h].argmax()
        if max_overlap >= iou_thresh:
            if ignore[max_idx] == 0:
                recall_list[max_idx] = -1
                proposal_list[h] = -1
            elif recall_list[max_idx] == 0:
                recall_list[max_idx] = 1
        pred_recall[h] = len(np.where(recall_list == 1)[0])
    return pred_recall, proposal_list


def kit_img_pr_info(thresh_num, pred, proposal_list, pred_recall):
    """``image_pr_info``: ``(thresh_num, 2)`` proposals and recalled faces at each threshold."""
    pr_info = np.zeros((thresh_num, 2))
    for t in range(thresh_num):
        thresh = 1 - (t + 1) / thresh_num
        r_index = np.where(pred[:, 4] >= thresh)[0]
        if len(r_index):
            r_index = r_index[-1]
            pr_info[t, 0] = len(np.where(proposal_list[:r_index + 1] == 1)[0])
            pr_info[t, 1] = pred_recall[r_index]
    return pr_info


def kit_voc_ap(rec, prec):
    """``VOCap.m``."""
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def kit_ground_truth(gt_dir):
    """The four official ``.mat`` files read as the kit's Python port reads them (``scipy.io.loadmat``), in the
    structure of :func:`~mmdet_face.evaluation.functional.widerface.load_ground_truth`: ``{'boxes': {event:
    {image: (K, 4)}}, 'settings': {setting: {event: {image: 0-based indices}}}}``."""
    from scipy.io import loadmat
    gt_mat = loadmat(osp.join(gt_dir, 'wider_face_val.mat'))
    facebox_list, event_list, file_list = gt_mat['face_bbx_list'], gt_mat['event_list'], gt_mat['file_list']
    boxes = {}
    for i in range(len(event_list)):
        event = str(event_list[i][0][0])
        boxes[event] = {str(name[0][0]): facebox_list[i][0][j][0]
                        for j, name in enumerate(file_list[i][0])}
    settings = {}
    for setting in SETTINGS:
        gt_list = loadmat(osp.join(gt_dir, f'wider_{setting}_val.mat'))['gt_list']
        settings[setting] = {
            event: {name: np.asarray(gt_list[i][0][j][0]).reshape(-1).astype(np.int64) - 1
                    for j, name in enumerate(images)}
            for i, (event, images) in enumerate(boxes.items())}
    return {'boxes': boxes, 'settings': settings}


def kit_evaluation(predictions, gt, iou_thresh=0.5, thresh_num=1000):
    """Easy / Medium / Hard AP as the kit computes them.

    Args:
        predictions (dict): ``{event: {image: (N, 5) x y w h score}}``; not modified.
        gt (dict | str): ground truth as :func:`kit_ground_truth` returns it, or the folder to read it from.

    Returns:
        dict: ``{'easy': ap, 'medium': ap, 'hard': ap}``.
    """
    if isinstance(gt, str):
        gt = kit_ground_truth(gt)
    # read_pred.m: ground-truth images only, each sorted by score descending (stable, as MATLAB's sort)
    pred = {}
    for event, images in gt['boxes'].items():
        pred[event] = {}
        for name in images:
            p = np.asarray(predictions.get(event, {}).get(name, np.zeros((0, 5))), dtype=np.float64).reshape(-1, 5)
            pred[event][name] = p[np.argsort(-p[:, 4], kind='stable')].copy()
    # norm_score.m, from realmin('single') / realmax('single')
    max_score, min_score = np.finfo(np.float32).tiny, np.finfo(np.float32).max
    for images in pred.values():
        for v in images.values():
            if len(v):
                max_score = max(max_score, v[:, 4].max())
                min_score = min(min_score, v[:, 4].min())
    with np.errstate(invalid='ignore', divide='ignore'):
        for images in pred.values():
            for v in images.values():
                if len(v):
                    v[:, 4] = (v[:, 4] - min_score) / (max_score - min_score)
    aps = {}
    for setting in SETTINGS:
        count_face = 0
        pr_curve = np.zeros((thresh_num, 2))
        for event, images in gt['boxes'].items():
            for name, gt_boxes in images.items():
                pred_info = pred[event][name]
                gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
                keep_index = np.asarray(gt['settings'][setting][event][name]) + 1  # 1-based, as in the .mat
                count_face += len(keep_index)
                if len(gt_boxes) == 0 or len(pred_info) == 0:
                    continue
                ignore = np.zeros(len(gt_boxes))
                if len(keep_index):
                    ignore[keep_index - 1] = 1
                pred_recall, proposal_list = kit_image_eval(pred_info, gt_boxes, ignore, iou_thresh)
                pr_curve += kit_img_pr_info(thresh_num, pred_info, proposal_list, pred_recall)
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = pr_curve[:, 1] / pr_curve[:, 0]
            recall = pr_curve[:, 1] / count_face
        aps[setting] = kit_voc_ap(recall, precision)
    return aps
