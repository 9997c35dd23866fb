"""FDDBMetric: data samples in, the official protocol's numbers out (as evaluate_fddb computes them), the ROC and
detection files written, repeats from padded ranks counted once, foreign images and existing outputs refused."""
import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb import boxes_to_fddb, evaluate_fddb, tpr_at_fp
from mmdet_face.evaluation.metrics import FDDBMetric
from mmdet_face.utils.output_file import OutputExistsError
from tests.helpers.fddb_data import make_fddb_layout


def _samples(annotations, sizes):
    """One data sample per image: a box on each face's centre (a hit or a near miss) and one false positive."""
    samples = []
    for k, (name, ellipses) in enumerate(annotations.items()):
        boxes = [[cx - rb, cy - ra, cx + rb, cy + ra] for ra, rb, _, cx, cy in ellipses] + [[0, 0, 10, 10]]
        scores = np.linspace(0.9, 0.3, len(boxes)) - 0.01 * k
        samples.append(dict(img_id=name, ori_shape=sizes[name],
                            pred_instances=dict(bboxes=np.array(boxes), scores=scores)))
    return samples


def test_metric_equals_the_protocol_and_writes_the_official_files(tmp_path):
    import cv2
    annotations = make_fddb_layout(tmp_path, folds=(1, 2), images_per_fold=2)
    sizes = {name: cv2.imread(str(tmp_path / 'originalPics' / f'{name}.jpg')).shape[:2] for name in annotations}
    samples = _samples(annotations, sizes)
    metric = FDDBMetric(str(tmp_path / 'FDDB-folds'), folds=[1, 2], outfile_prefix=str(tmp_path / 'run_'))
    metric.process({}, samples + samples[:1])  # a padded rank repeats an image
    metrics = metric.compute_metrics(metric.results)
    detections = {s['img_id']: boxes_to_fddb(s['pred_instances']['bboxes'], s['pred_instances']['scores'])
                  for s in samples}
    expected = evaluate_fddb(annotations, detections, sizes, 'rectangle', list(annotations))
    assert metrics == dict(zip(('discrete_tpr', 'continuous_tpr'), tpr_at_fp(expected)))
    assert metrics['discrete_tpr'] > 0.5
    assert (tmp_path / 'run_DiscROC.txt').read_text().count('\n') == len(expected.thresholds)
    assert (tmp_path / 'run_Dets.txt').read_text().startswith(f'{list(annotations)[0]}\n')
    with pytest.raises(OutputExistsError, match='run_DiscROC.txt: already exists'):
        FDDBMetric(str(tmp_path / 'FDDB-folds'), folds=[1, 2], outfile_prefix=str(tmp_path / 'run_'))
    foreign = FDDBMetric(str(tmp_path / 'FDDB-folds'), folds=[1])
    foreign.process({}, samples[2:3])  # an image of fold 2
    with pytest.raises(ValueError, match=r'1 images are not in folds \[1\]'):
        foreign.compute_metrics(foreign.results)
