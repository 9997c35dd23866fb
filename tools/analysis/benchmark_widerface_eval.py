"""Time the WIDER FACE evaluator against a straightforward single-process port of the official kit.

    python tools/analysis/benchmark_widerface_eval.py [--gt-dir ../shared/widerface_gt] [--per-image 31]

Predictions (~100k on the 3226 val images by default) are made from the real ground truth: jittered copies of most
faces, a few duplicates and random false positives, scores in [0, 1], each image sorted by score (as detectors
write them, so the kit's Python port, which does not sort, sees the same order as the MATLAB reader). The kit port
below follows wondervictor/WiderFace-Evaluation loop for loop; its IoU is vectorised per image (numpy) where the
original calls a compiled Cython routine, so the comparison does not penalise it for pure-Python IoU.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmdet_face.engine.cli import non_negative_float  # noqa: E402  (light: no torch)


def load_functional():
    """The numpy-only evaluator, loaded the way ``tools/test_widerface.py --pred-dir`` loads it (no torch)."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from test_widerface import load_functional as load
    return load()


# --- the kit's Python port, for comparison only ---------------------------------------------------------------
def kit_bbox_overlaps(boxes, query_boxes):
    iw = np.minimum(boxes[:, None, 2], query_boxes[None, :, 2]) - np.maximum(boxes[:, None, 0],
                                                                           query_boxes[None, :, 0]) + 1
    ih = np.minimum(boxes[:, None, 3], query_boxes[None, :, 3]) - np.maximum(boxes[:, None, 1],
                                                                           query_boxes[None, :, 1]) + 1
    ua = ((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1))[:, None] + \
        ((query_boxes[:, 2] - query_boxes[:, 0] + 1) * (query_boxes[:, 3] - query_boxes[:, 1] + 1))[None] - iw * ih
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where((iw > 0) & (ih > 0), iw * ih / ua, 0.0)


def kit_norm_score(pred):
    max_score, min_score = 0, 1
    for k in pred.values():
        for v in k.values():
            if len(v) == 0:
                continue
            max_score = max(np.max(v[:, -1]), max_score)
            min_score = min(np.min(v[:, -1]), min_score)
    diff = max_score - min_score
    for k in pred.values():
        for v in k.values():
            if len(v):
                v[:, -1] = (v[:, -1] - min_score) / diff


def kit_image_eval(pred, gt, ignore, iou_thresh):
    _pred, _gt = pred.copy(), gt.copy()
    pred_recall = np.zeros(_pred.shape[0])
    recall_list = np.zeros(_gt.shape[0])
    proposal_list = np.ones(_pred.shape[0])
    _pred[:, 2] += _pred[:, 0]
    _pred[:, 3] += _pred[:, 1]
    _gt[:, 2] += _gt[:, 0]
    _gt[:, 3] += _gt[:, 1]
    overlaps = kit_bbox_overlaps(_pred[:, :4], _gt)
    for h in range(_pred.shape[0]):
        gt_overlap = overlaps[h]
        max_overlap, max_idx = gt_overlap.max(), gt_overlap.argmax()
        if max_overlap >= iou_thresh:
            if ignore[max_idx] == 0:
                recall_list[max_idx] = -1
                proposal_list[h] = -1
            elif recall_list[max_idx] == 0:
                recall_list[max_idx] = 1
        pred_recall[h] = len(np.where(recall_list == 1)[0])
    return pred_recall, proposal_list


def kit_img_pr_info(thresh_num, pred_info, proposal_list, pred_recall):
    pr_info = np.zeros((thresh_num, 2))
    for t in range(thresh_num):
        thresh = 1 - (t + 1) / thresh_num
        r_index = np.where(pred_info[:, 4] >= thresh)[0]
        if len(r_index):
            r_index = r_index[-1]
            pr_info[t, 0] = len(np.where(proposal_list[:r_index + 1] == 1)[0])
            pr_info[t, 1] = pred_recall[r_index]
    return pr_info


def kit_voc_ap(rec, prec):
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def kit_evaluation(pred, gt_dir, iou_thresh=0.5):
    from scipy.io import loadmat
    kit_norm_score(pred)
    gt_mat = loadmat(osp.join(gt_dir, 'wider_face_val.mat'))
    facebox_list, event_list, file_list = gt_mat['face_bbx_list'], gt_mat['event_list'], gt_mat['file_list']
    setting_gts = [loadmat(osp.join(gt_dir, f'wider_{s}_val.mat'))['gt_list'] for s in ('easy', 'medium', 'hard')]
    thresh_num = 1000
    aps = []
    for gt_list in setting_gts:
        count_face = 0
        pr_curve = np.zeros((thresh_num, 2))
        for i in range(len(event_list)):
            event_name = str(event_list[i][0][0])
            img_list = file_list[i][0]
            pred_list = pred[event_name]
            sub_gt_list = gt_list[i][0]
            gt_bbx_list = facebox_list[i][0]
            for j in range(len(img_list)):
                pred_info = pred_list[str(img_list[j][0][0])]
                gt_boxes = gt_bbx_list[j][0].astype('float')
                keep_index = sub_gt_list[j][0]
                count_face += len(keep_index)
                if len(gt_boxes) == 0 or len(pred_info) == 0:
                    continue
                ignore = np.zeros(gt_boxes.shape[0])
                if len(keep_index) != 0:
                    ignore[keep_index - 1] = 1
                pred_recall, proposal_list = kit_image_eval(pred_info, gt_boxes, ignore, iou_thresh)
                pr_curve += kit_img_pr_info(thresh_num, pred_info, proposal_list, pred_recall)
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = pr_curve[:, 1] / pr_curve[:, 0]
            recall = pr_curve[:, 1] / count_face
        aps.append(kit_voc_ap(recall, precision))
    return dict(zip(('easy', 'medium', 'hard'), aps))


# --- synthetic predictions --------------------------------------------------------------------------------------
def make_predictions(gt, fp_per_image, seed=0):
    rng = np.random.default_rng(seed)
    preds = {}
    for event, images in gt['boxes'].items():
        preds[event] = {}
        for name, boxes in images.items():
            b = np.asarray(boxes, np.float64).reshape(-1, 4)
            b = b[rng.random(len(b)) < 0.9]
            size = np.maximum(b[:, 2:4], 1)
            b = np.c_[b[:, :2] + rng.normal(0, 0.1, (len(b), 2)) * size, size * np.exp(rng.normal(0, 0.1, (len(b), 2)))]
            dup = b[rng.random(len(b)) < 0.05]
            n_fp = rng.poisson(fp_per_image)
            fp = np.c_[rng.uniform(0, 1000, (n_fp, 2)), rng.uniform(4, 120, (n_fp, 2))]
            boxes = np.concatenate([b, dup, fp])
            scores = np.concatenate([rng.beta(4, 1, len(b)), rng.beta(2, 2, len(dup)), rng.beta(1, 3, n_fp)])
            p = np.c_[boxes, scores]
            preds[event][name] = p[np.argsort(-p[:, 4], kind='stable')]
    return preds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt-dir', default=osp.join(osp.dirname(ROOT), 'shared', 'widerface_gt'))
    parser.add_argument('--fp-per-image', type=non_negative_float, default=20.0,
                        help='mean random false positives per image')
    parser.add_argument('--skip-kit', action='store_true', help='time only our evaluator')
    args = parser.parse_args(argv)

    wf = load_functional()
    t0 = time.perf_counter()
    gt = wf.load_ground_truth(args.gt_dir)
    t_load = time.perf_counter() - t0
    preds = make_predictions(gt, args.fp_per_image)
    n = sum(len(p) for e in preds.values() for p in e.values())
    print(f'{n} predictions on {sum(len(e) for e in preds.values())} images')

    t0 = time.perf_counter()
    ours = wf.evaluate_widerface(preds, gt)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_dir = wf.evaluate_widerface(preds, args.gt_dir)
    t_ours_dir = time.perf_counter() - t0
    assert all(ours[s] == ours_dir[s] for s in wf.SETTINGS)
    print(f'ours:     {t_ours:7.2f} s with the ground truth already loaded ({t_load:.2f} s to load it), '
          f'{t_ours_dir:.2f} s from the .mat folder   ' + '  '.join(f'{s} {ours[s]:.6f}' for s in wf.SETTINGS))
    if args.skip_kit:
        return
    kit_preds = {e: {k: v.copy() for k, v in images.items()} for e, images in preds.items()}
    t0 = time.perf_counter()
    kit = kit_evaluation(kit_preds, args.gt_dir)
    t_kit = time.perf_counter() - t0
    print(f'kit port: {t_kit:7.2f} s (from the .mat folder)   ' + '  '.join(f'{s} {kit[s]:.6f}' for s in wf.SETTINGS))
    print('max |AP difference|: %.3g' % max(abs(ours[s] - kit[s]) for s in wf.SETTINGS))
    print(f'speedup: {t_kit / t_ours_dir:.1f}x (both from the .mat folder), {t_kit / t_ours:.1f}x with loaded GT')


if __name__ == '__main__':
    main()
