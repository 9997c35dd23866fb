"""COCO-style face AP (coco_face_ap, FaceCocoMetric): hand-checked cases, and pycocotools run directly on the same
COCO json files."""
import json

import numpy as np
import pytest

from mmdet_face.evaluation.functional import coco_face_ap, coco_face_dicts
from mmdet_face.evaluation.metrics import FaceCocoMetric

FACE_A, FACE_B = [10, 10, 50, 60], [100, 20, 140, 70]


def _gt(*boxes, ignore=()):
    return dict(boxes=np.array(boxes, np.float64).reshape(-1, 4), ignore=np.array(ignore, np.float64).reshape(-1, 4))


def _dets(*rows):
    return np.array(rows, np.float64).reshape(-1, 5)


def test_perfect_detections_score_one():
    out = coco_face_ap([_gt(FACE_A, FACE_B), _gt([5, 5, 25, 35])],
                       [_dets(FACE_A + [0.9], FACE_B + [0.8]), _dets([5, 5, 25, 35, 0.7])])
    # pycocotools divides by tp + fp + eps (np.spacing(1)), so "1" may be 1 - 1e-16
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_AR@10', 'bbox_AR@100'):
        assert out[key] == pytest.approx(1, abs=1e-12)
    assert out['bbox_AR@1'] == pytest.approx(2 / 3)  # one detection per image finds 2 of the 3 faces
    # 20x30 < 32^2 <= 40x50 < 96^2 px
    assert out['bbox_mAP_s'] == pytest.approx(1, abs=1e-12) and out['bbox_mAP_m'] == pytest.approx(1, abs=1e-12)
    assert out['bbox_mAP_l'] == -1.0  # no face over 96^2 px


def test_one_of_two_faces_found_after_a_false_positive():
    """Face A found at 0.9, a false positive at 0.8, face B missed: precision 1 up to recall 1/2, then nothing, so
    the 101-point interpolated AP is 51/101 (recall thresholds 0.00 .. 0.50) at every IoU threshold; AR = 1/2."""
    out = coco_face_ap([_gt(FACE_A, FACE_B)], [_dets(FACE_A + [0.9], [300, 300, 340, 350, 0.8])])
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert out[key] == pytest.approx(51 / 101, abs=1e-12)
    assert out['bbox_AR@100'] == 0.5


def test_a_loose_box_counts_at_the_low_iou_thresholds_only():
    """IoU 0.62 with the face: matched at 0.50, 0.55, 0.60, missed at 0.65 .. 0.95 (3 of 10 thresholds)."""
    out = coco_face_ap([_gt([0, 0, 100, 100])], [_dets([0, 0, 100, 62, 0.9])])
    assert out['bbox_mAP_50'] == pytest.approx(1, abs=1e-12) and out['bbox_mAP_75'] == 0.0
    assert out['bbox_mAP'] == pytest.approx(0.3) and out['bbox_AR@100'] == pytest.approx(0.3)


def test_a_detection_on_an_ignore_box_is_no_false_positive():
    dets = [_dets([200, 200, 220, 220, 0.95], FACE_A + [0.9])]
    assert coco_face_ap([_gt(FACE_A, ignore=[[200, 200, 220, 220]])], dets)['bbox_mAP_50'] == pytest.approx(1)
    # the same detection without the ignore box: precision 1/2 at recall 1 -> AP 1/2
    assert coco_face_ap([_gt(FACE_A)], dets)['bbox_mAP_50'] == pytest.approx(0.5)


def test_no_detection_scores_zero_and_no_face_is_an_error():
    out = coco_face_ap([_gt(FACE_A), _gt()], [_dets(), _dets()])
    assert out['bbox_mAP'] == 0.0 and out['bbox_AR@100'] == 0.0
    with pytest.raises(ValueError, match=r'no face to find in the 2 images \(only ignore boxes or none\)'):
        coco_face_ap([_gt(ignore=[FACE_A]), _gt()], [_dets(FACE_A + [0.5]), _dets()])
    with pytest.raises(ValueError, match='max_dets: expected three increasing positive numbers'):
        coco_face_ap([_gt(FACE_A)], [_dets()], max_dets=(100, 10, 1))


def test_same_numbers_as_pycocotools_on_the_json_files(tmp_path):
    """Random faces, ignore boxes and jittered detections; pycocotools loads the dumped json files itself and its
    summarize() stats[0:9] equal ours."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    rng = np.random.default_rng(0)
    gts, dets = [], []
    for _ in range(6):
        xy = rng.uniform(0, 400, (rng.integers(0, 8), 2))
        boxes = np.concatenate([xy, xy + rng.uniform(8, 150, (len(xy), 2))], axis=1)
        ignore_xy = rng.uniform(0, 400, (rng.integers(0, 2), 2))
        gts.append(dict(boxes=boxes, ignore=np.concatenate([ignore_xy, ignore_xy + 10], axis=1)))
        found = boxes[rng.random(len(boxes)) < 0.7]
        found = found + rng.normal(0, 3, found.shape)  # about 70 % of the faces, a few pixels off
        false_xy = rng.uniform(0, 400, (3, 2))
        predicted = np.concatenate([found, np.concatenate([false_xy, false_xy + 30], axis=1)])
        dets.append(np.concatenate([predicted, rng.random((len(predicted), 1))], axis=1))
    dataset, results = coco_face_dicts(gts, dets)
    (tmp_path / 'gt.json').write_text(json.dumps(dataset))
    (tmp_path / 'dt.json').write_text(json.dumps(results))
    coco_gt = COCO(str(tmp_path / 'gt.json'))
    coco_eval = COCOeval(coco_gt, coco_gt.loadRes(str(tmp_path / 'dt.json')), 'bbox')
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    ours = coco_face_ap(gts, dets)
    keys = ['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l', 'bbox_AR@1',
            'bbox_AR@10', 'bbox_AR@100']
    assert [ours[k] for k in keys] == pytest.approx(coco_eval.stats[:9].tolist(), abs=1e-12)
    assert 0 < ours['bbox_mAP'] < ours['bbox_mAP_50'] < 1  # a case that tells the thresholds apart
    assert sum(a['iscrowd'] for a in dataset['annotations']) == sum(len(g['ignore']) for g in gts) > 0


def test_the_metric_reads_the_data_samples_and_counts_each_image_once():
    def sample(path, gt, ignore, boxes, scores):
        return dict(img_path=path, gt_instances=dict(bboxes=np.array(gt, np.float32).reshape(-1, 4)),
                    ignored_instances=dict(bboxes=np.array(ignore, np.float32).reshape(-1, 4)),
                    pred_instances=dict(bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                                        scores=np.array(scores, np.float32)))

    metric = FaceCocoMetric()
    metric.process({}, [sample('e/a.jpg', [FACE_A, FACE_B], [], [FACE_A, [300, 300, 340, 350]], [0.9, 0.8]),
                        sample('e/b.jpg', [], [[0, 0, 30, 30]], [[0, 0, 30, 30]], [0.99]),
                        sample('e/b.jpg', [], [[0, 0, 30, 30]], [[0, 0, 30, 30]], [0.99])])  # a padded repeat
    out = metric.compute_metrics(metric.results)
    assert out['bbox_mAP_50'] == pytest.approx(51 / 101) and out['bbox_AR@100'] == 0.5
    assert FaceCocoMetric(max_dets=[10, 100, 1000]).max_dets == (10, 100, 1000)


def test_both_evaluators_through_the_test_tool(toy_data, tmp_path):
    """The README's snippet: WiderFaceMetric (widerface/all without the .mat files) and FaceCocoMetric side by side
    in test_evaluator, run by tools/test.py on random weights."""
    from tests.helpers.paths import REPO_ROOT
    from tests.helpers.tools import load_tool, random_checkpoint
    config = tmp_path / 'cfg.py'
    config.write_text(f"_base_ = [r'{REPO_ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py'}']\n"
                      "test_evaluator = [dict(type='WiderFaceMetric'), dict(type='FaceCocoMetric')]\n")
    ckpt = random_checkpoint(config, tmp_path / 'random.pth')
    metrics = load_tool('tools/test.py').main([
        str(config), str(ckpt), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={toy_data}/', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'])
    assert set(metrics) == {'widerface/all', 'face_coco/bbox_mAP', 'face_coco/bbox_mAP_50', 'face_coco/bbox_mAP_75',
                            'face_coco/bbox_mAP_s', 'face_coco/bbox_mAP_m', 'face_coco/bbox_mAP_l',
                            'face_coco/bbox_AR@1', 'face_coco/bbox_AR@10', 'face_coco/bbox_AR@100'}
    assert 0 <= metrics['face_coco/bbox_mAP'] <= metrics['face_coco/bbox_mAP_50'] <= 1
