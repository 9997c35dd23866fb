"""WiderFaceMetric: data samples in, Easy/Medium/Hard AP out; distributed collection counts each image once."""
import os

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet_face.evaluation import WiderFaceMetric
import mmdet_face.evaluation.functional as wf
from mmdet_face.registry import METRICS


def _sample(event, name, pred_xyxy, scores, gt_xyxy=None, ignore_xyxy=None):
    sample = {'img_path': f'/data/WIDER_val/images/{event}/{name}.jpg',
              'pred_instances': {'bboxes': torch.tensor(pred_xyxy, dtype=torch.float32).reshape(-1, 4),
                                 'scores': torch.tensor(scores, dtype=torch.float32)}}
    if gt_xyxy is not None:
        sample['gt_instances'] = {'bboxes': torch.tensor(gt_xyxy, dtype=torch.float32).reshape(-1, 4)}
        sample['ignored_instances'] = {'bboxes': torch.tensor(ignore_xyxy or [], dtype=torch.float32).reshape(-1, 4)}
    return sample


def _samples_from_gt(gt, seed):
    """Data samples whose predictions are jittered ground-truth boxes plus false positives (x1y1x2y2 pixels)."""
    rng = np.random.default_rng(seed)
    samples = []
    for event, images in gt['boxes'].items():
        for name, b in images.items():
            b = np.asarray(b, np.float64).reshape(-1, 4)
            p = b + rng.normal(0, 1.0, b.shape)
            p = np.concatenate([p, np.c_[rng.uniform(0, 900, (3, 2)), rng.uniform(5, 60, (3, 2))]])
            xyxy = np.c_[p[:, :2], p[:, :2] + p[:, 2:]]
            samples.append(_sample(event, name, xyxy, rng.random(len(p))))
    return samples


def test_registered_with_prefix():
    metric = METRICS.build(dict(type='WiderFaceMetric'))
    assert isinstance(metric, WiderFaceMetric) and metric.prefix == 'widerface'


def test_gt_from_data_samples_hand_checked():
    # image 1: face [0,0,10,10] found (score .9), an FP (score .5); image 2: face found (score .1),
    # an ignore face with a box on it (score .95, discarded). Normalised by min .1 / max .95.
    # Order: ignore-box (discarded), TP1, FP, TP2 -> P 1 R 1/2, then P 1/2 R 1/2, then P 2/3 R 1 -> AP 5/6.
    samples = [
        _sample('0--Parade', 'a', [[0, 0, 10, 10], [100, 100, 120, 120]], [0.9, 0.5], gt_xyxy=[[0, 0, 10, 10]]),
        _sample('1--Handshaking', 'b', [[50, 50, 70, 70], [0, 0, 10, 10]], [0.95, 0.1], gt_xyxy=[[0, 0, 10, 10]],
                ignore_xyxy=[[50, 50, 70, 70]]),
    ]
    metric = WiderFaceMetric()
    metric.process({}, samples)
    res = metric.evaluate(size=2)
    # no official difficulty lists: one AP over all faces, never a made-up easy/medium/hard
    assert set(res) == {'widerface/all'}
    assert res['widerface/all'] == pytest.approx(5 / 6, abs=1e-12)


def test_data_elements_and_outfile(tmp_path):
    from mmdet.structures import DetDataSample
    ds = DetDataSample(metainfo={'img_path': 'x/0--Parade/a.jpg'})
    ds.pred_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), scores=torch.tensor([0.5]))
    ds.gt_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.], [30., 30., 40., 40.]]))
    metric = WiderFaceMetric(outfile_prefix=str(tmp_path / 'sub'))
    metric.process({}, [ds])
    # one box, so its score is both min and max: the kit's 0/0 -> AP 0, with a warning
    with pytest.warns(UserWarning, match='every score is equal'):
        res = metric.evaluate(size=1)
    assert res['widerface/all'] == 0.0
    text = (tmp_path / 'sub' / '0--Parade' / 'a.txt').read_text().split('\n')
    assert text[:3] == ['a', '1', '0.0 0.0 10.0 10.0 0.5']
    assert os.path.isfile(str(tmp_path / 'sub_pr_curves.json'))


def _simulated_two_rank_results(metric_cls_kwargs, samples, size):
    """What mmengine's collect_results hands rank 0 for a 2-rank run with DefaultSampler(shuffle=False):
    rank r gets samples r, r + 2, ... (padded with the first samples to equal length), the parts are
    interleaved with zip and truncated to the dataset size."""
    from itertools import chain, zip_longest
    ranks = []
    padded = samples + samples[:len(samples) % 2]
    for r in range(2):
        m = WiderFaceMetric(**metric_cls_kwargs)
        for s in padded[r::2]:
            m.process({}, [s])
        ranks.append(m.results)
    ordered = [x for x in chain.from_iterable(zip_longest(*ranks)) if x is not None]
    return ordered[:size]


def test_two_rank_collection_equals_one_rank(widerface_gt_dir):
    gt = wf.load_ground_truth(str(widerface_gt_dir))
    gt = {'boxes': {e: gt['boxes'][e] for e in ['0--Parade', '1--Handshaking', '12--Group']},
          'settings': {s: {e: gt['settings'][s][e] for e in ['0--Parade', '1--Handshaking', '12--Group']}
                       for s in wf.SETTINGS}}
    samples = _samples_from_gt(gt, seed=0)
    assert len(samples) % 2 == 1  # so the sampler pads rank 1
    kwargs = dict(gt_dir=str(widerface_gt_dir))

    single = WiderFaceMetric(**kwargs)
    single.process({}, samples)
    # the official ground truth has 3226 images; ours cover three events -> the others count as undetected
    with pytest.warns(UserWarning, match='have no predictions'):
        one = single.compute_metrics(single.results)

    metric = WiderFaceMetric(**kwargs)
    merged = _simulated_two_rank_results(kwargs, samples, size=len(samples))
    assert len(merged) == len(samples)
    with pytest.warns(UserWarning, match='have no predictions'):
        two = metric.compute_metrics(merged)
    assert one == two

    # without truncation the padded repeat reaches compute_metrics: it is still counted once
    with pytest.warns(UserWarning, match='have no predictions'):
        padded = metric.compute_metrics(_simulated_two_rank_results(kwargs, samples, size=len(samples) + 1))
    assert padded == one
    # and the same as the functional evaluator on the submission
    preds = {}
    for s in samples:
        b = s['pred_instances']['bboxes'].numpy().astype(np.float64)
        e, n = s['img_path'].split('/')[-2], s['img_path'].split('/')[-1][:-4]
        preds.setdefault(e, {})[n] = np.c_[b[:, :2], b[:, 2:] - b[:, :2],
                                           s['pred_instances']['scores'].numpy().astype(np.float64)]
    with pytest.warns(UserWarning):
        direct = wf.evaluate_widerface(preds, str(widerface_gt_dir))
    assert all(direct[k] == one[k] for k in wf.SETTINGS)
    assert 0 < one['easy'] < 1


def test_through_mmengine_evaluator():
    """The Evaluator turns data elements into dicts before Metric.process: the path the Runner takes."""
    from mmdet.structures import DetDataSample
    from mmengine.evaluator import Evaluator
    samples = []
    for name, pred, score in [('a', [[0., 0., 10., 10.]], [0.9]), ('b', [[100., 100., 110., 110.]], [0.2])]:
        ds = DetDataSample(metainfo={'img_path': f'x/0--Parade/{name}.jpg'})
        ds.pred_instances = InstanceData(bboxes=torch.tensor(pred), scores=torch.tensor(score))
        ds.gt_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]))
        ds.ignored_instances = InstanceData(bboxes=torch.zeros((0, 4)))
        samples.append(ds)
    evaluator = Evaluator(WiderFaceMetric())  # the Runner builds it by name under default_scope mmdet_face
    evaluator.process(data_samples=samples, data_batch={})
    # a: TP at 1.0 (R 1/2, P 1); b: FP at 0.0 -> AP = 1/2
    assert evaluator.evaluate(2) == {'widerface/all': 0.5}


def _one_sample(name, score=0.5):
    from mmdet.structures import DetDataSample
    ds = DetDataSample(metainfo={'img_path': f'x/0--Parade/{name}.jpg'})
    ds.pred_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]]),
                                     scores=torch.tensor([score, score / 2]))
    ds.gt_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]))
    return ds


def test_outfile_never_mixes_two_runs(tmp_path):
    out = tmp_path / 'sub'
    first = WiderFaceMetric(outfile_prefix=str(out))
    first.process({}, [_one_sample('a')])
    first.evaluate(size=1)
    assert sorted(p.name for p in (out / '0--Parade').iterdir()) == ['a.txt']
    # a second run into the same folder is refused when the metric is built, before any inference
    with pytest.raises(FileExistsError, match='sub already holds a submission'):
        WiderFaceMetric(outfile_prefix=str(out))
    assert sorted(p.name for p in (out / '0--Parade').iterdir()) == ['a.txt']
    # overwrite=True replaces the folder whole: the old run's a.txt is gone, not left beside b.txt
    second = WiderFaceMetric(outfile_prefix=str(out) + '/', overwrite=True)
    second.process({}, [_one_sample('b')])
    second.evaluate(size=1)
    assert sorted(p.name for p in (out / '0--Parade').iterdir()) == ['b.txt']
    assert not list(tmp_path.glob('sub.writing-*'))
    # the same metric validating again (next epoch) replaces its own folder without overwrite=True
    third = WiderFaceMetric(outfile_prefix=str(tmp_path / 'val'))
    for name in ('c', 'd'):
        third.process({}, [_one_sample(name)])
        third.evaluate(size=1)
    assert sorted(p.name for p in (tmp_path / 'val' / '0--Parade').iterdir()) == ['d.txt']


def test_overwrite_refuses_a_folder_that_is_not_a_submission(tmp_path):
    """A folder holding anything but a submission is refused when the metric is built, with or without overwrite,
    naming what it holds (it used to pass with overwrite=True and fail only after the evaluation)."""
    precious = tmp_path / 'home'
    (precious / '0--Parade').mkdir(parents=True)
    (precious / 'thesis.tex').write_text('years of work')
    (precious / '0--Parade' / 'photo.jpg').write_bytes(b'jpeg')
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=r'home: holds files that are not a WIDER FACE submission '
                           r'\(<event>/<image>.txt\), e.g. 0--Parade/photo.jpg, thesis.tex; it is never replaced'):
            WiderFaceMetric(outfile_prefix=str(precious), overwrite=overwrite)
    assert (precious / 'thesis.tex').read_text() == 'years of work'
    assert (precious / '0--Parade' / 'photo.jpg').read_bytes() == b'jpeg'
    (tmp_path / 'empty').mkdir()
    WiderFaceMetric(outfile_prefix=str(tmp_path / 'empty'))  # an empty folder is fine


def test_outfile_that_is_a_file_is_refused_before_the_evaluation(tmp_path, monkeypatch):
    """A plain file as the submission folder is an error when the metric is built, also with overwrite (it used
    to pass then and fail after the evaluation with NotADirectoryError, leaving a .writing-<pid> folder)."""
    from mmdet_face.evaluation.metrics import widerface_metric
    user_file = tmp_path / 'notes'
    user_file.write_text('mine')
    for overwrite in (False, True):
        with pytest.raises(NotADirectoryError, match='notes: is a file, not a folder'):
            WiderFaceMetric(outfile_prefix=str(user_file), overwrite=overwrite)
    (tmp_path / 'linked').symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(NotADirectoryError, match='linked: is a symbolic link'):
        WiderFaceMetric(outfile_prefix=str(tmp_path / 'linked'), overwrite=True)
    (tmp_path / 'linked').unlink()
    # the file appears while the model runs: refused at the write, nothing left beside it
    late = tmp_path / 'late'
    metric = WiderFaceMetric(outfile_prefix=str(late), overwrite=True)
    metric.process({}, [_one_sample('a')])
    late.write_text('mine too')
    with pytest.raises(NotADirectoryError, match='late: is a file, not a folder'):
        metric.evaluate(size=1)
    assert user_file.read_text() == 'mine' and late.read_text() == 'mine too'
    # a write that fails half-way leaves no staging folder either
    def half_write(folder, predictions):
        os.makedirs(os.path.join(folder, '0--Parade'))
        raise OSError('disk full')

    monkeypatch.setattr(widerface_metric, 'write_submission', half_write)
    failing = WiderFaceMetric(outfile_prefix=str(tmp_path / 'sub'))
    failing.process({}, [_one_sample('a')])
    with pytest.raises(OSError, match='disk full'):
        failing.evaluate(size=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['late', 'notes']


def test_pr_curve_file_of_an_earlier_run_is_refused(tmp_path):
    (tmp_path / 'sub_pr_curves.json').write_text('{}')
    with pytest.raises(FileExistsError, match=r'sub_pr_curves.json: already exists \(the PR curves of an earlier '
                       'run'):
        WiderFaceMetric(outfile_prefix=str(tmp_path / 'sub'))
    (tmp_path / 'other_pr_curves.json').mkdir()
    with pytest.raises(FileExistsError, match='other_pr_curves.json: is a folder'):
        WiderFaceMetric(outfile_prefix=str(tmp_path / 'other'), overwrite=True)
