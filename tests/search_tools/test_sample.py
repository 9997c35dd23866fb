"""search_tools.candidates.sample_candidates / write_candidates: seeded, de-duplicated, and every sampled config builds
and is counted by tools/analysis/get_flops.py's counter inside the budget (0.5, 2.5 and 10 GF)."""
import csv
import json
import os

import pytest
from mmengine.config import Config

from mmdet_face.models.utils import get_model_complexity
from search_tools.arch import arch_from_config
from search_tools.candidates import sample_candidates, write_candidates
from search_tools.space import load_space
from tests.helpers.space_files import edited_space

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRFD_25G = os.path.join(REPO, 'configs', 'scrfd', 'scrfd_2.5g_4xb8-640e_widerface.py')
SCRFD_10G = os.path.join(REPO, 'configs', 'scrfd', 'scrfd_10g_bnkps_4xb8-640e_widerface.py')
TOY = os.path.join(REPO, 'configs', 'toy', 'scrfd_toy_kps.py')


def test_seeded_sampling_is_reproducible_and_distinct():
    space = load_space('resnet')
    kwargs = dict(gflops=2.5, tolerance=0.02, input_shape=(480, 640), step='backbone')
    first, stats = sample_candidates(space, 12, seed=7, **kwargs)
    again, _ = sample_candidates(space, 12, seed=7, **kwargs)
    other, _ = sample_candidates(space, 12, seed=8, **kwargs)
    assert [c.key() for c in first] == [c.key() for c in again]
    assert [c.arch for c in first] == [c.arch for c in again]
    assert len({c.key() for c in first}) == 12
    assert {c.key() for c in first} != {c.key() for c in other}
    assert stats['candidates'] == 12 and not stats['exhausted']
    assert stats['raw_samples'] == stats['accepted'] + stats['infeasible']
    assert stats['accepted'] == stats['candidates'] + stats['duplicates']
    assert 0 <= stats['met_budget_raw'] <= stats['raw_samples'] and stats['raw_per_s'] > 0


# sha1 of [[key, total FLOPs, total params], ...] of the candidates search_tools drew before the projection counted
# its width vectors in closed form (search_tools.flops.total_flops, commit 435329c's count_flops for every one):
# the faster path draws the same candidates with the same counts. The scrfd rows are pinned on the released
# sampler's numpy batches (candidates.RELEASED_BATCH raw samples per draw): another random stream than the
# one-at-a-time RandomSuggester it replaced, the same distribution and the same verdict on every raw sample
# (test_released_batch.py)
PINNED_CANDIDATES = [
    (('resnet', 'backbone', 2.5, 0, 40, (480, 640)), '9a5d4c2ddd365e29'),
    (('resnet', 'full', 2.5, 1, 40, (480, 640)), '7ded4efc4196f8d3'),
    (('resnet', 'backbone', 0.5, 2, 40, (480, 640)), '9d379d1d0c80d032'),
    (('mobilenet', 'backbone', 0.5, 0, 40, (480, 640)), '6aefd407b0439a7f'),
    (('mobilenet', 'full', 0.5, 3, 40, (480, 640)), '2d2805bdc4f5e599'),
    (('scrfd', 'backbone', 2.5, 0, 5, (480, 640)), '3f8c99ec4426f3c0'),
    (('scrfd', 'full', 2.5, 0, 5, (480, 640)), '966e1404aaac3559'),
    (('resnet', 'backbone', 1.0, 5, 30, (481, 643)), '1c0ed6af8521ec64'),
    (('mobilenet', 'backbone', 0.2, 0, 30, (320, 320)), '8df0c2fdc700bd19'),
    (('resnet', 'full', 10.0, 4, 30, (479, 641)), '1e88e1dc43c8e90c'),
]


@pytest.mark.parametrize('case,digest', PINNED_CANDIDATES,
                         ids=['-'.join(map(str, c[:4])) for c, _ in PINNED_CANDIDATES])
def test_same_seed_same_candidates_as_the_reference_count(case, digest):
    import hashlib
    name, step, gflops, seed, num, shape = case
    cands, _ = sample_candidates(load_space(name), num, seed=seed, gflops=gflops, step=step, input_shape=shape)
    listing = [[c.key(), c.breakdown['total']['flops'], c.breakdown['total']['params']] for c in cands]
    assert hashlib.sha1(json.dumps(listing).encode()).hexdigest()[:16] == digest


def test_released_sampler_stream_and_stats():
    """The scrfd space's batches: a seed gives one stream whatever num asks (a smaller num is a prefix), and the
    stats are those of drawing that stream one raw sample at a time up to the num-th candidate."""
    from search_tools.candidates import RELEASED_BATCH
    space = load_space('scrfd')
    kwargs = dict(gflops=2.5, tolerance=0.02, input_shape=(480, 640))
    few, few_stats = sample_candidates(space, 4, seed=3, **kwargs)
    many, stats = sample_candidates(space, 150, seed=3, **kwargs)  # about 20,000 raw samples: two batches
    assert [c.key() for c in many[:4]] == [c.key() for c in few]
    assert stats['raw_samples'] > RELEASED_BATCH and not stats['exhausted'] and stats['candidates'] == 150
    for s in (few_stats, stats):
        assert s['raw_samples'] == s['accepted'] + s['infeasible']
        assert s['accepted'] == s['candidates'] + s['duplicates']
        assert s['met_budget_raw'] == s['accepted']  # step 1: the band is the only rule
        assert 0.004 < s['accepted_share'] < 0.01  # the released acceptance at 2.5 GF: ~0.7 %
    assert few_stats['raw_samples'] < stats['raw_samples']
    # the last raw sample counted is the one that gave the last candidate: one sample fewer loses it
    shorter, short_stats = sample_candidates(space, 4, seed=3, max_draws=few_stats['raw_samples'] - 1, **kwargs)
    assert [c.key() for c in shorter] == [c.key() for c in few[:3]] and short_stats['exhausted']
    assert short_stats['raw_samples'] == few_stats['raw_samples'] - 1
    for cand in many:
        assert cand.info['space'] == 'scrfd' and cand.raw['step'] == 'backbone'
        assert abs(cand.breakdown['total']['gflops'] - 2.5) <= 0.05
    full, full_stats = sample_candidates(space, 3, seed=0, step='full', template=arch_from_config(SCRFD_25G),
                                         **kwargs)
    assert len(full) == 3 and full_stats['met_budget_raw'] > full_stats['accepted']  # the lock rejects more
    assert all(c.arch['backbone']['stage_blocks'] == [3, 5, 3, 2] for c in full)  # the lock keeps the depths


def test_duplicates_are_dropped(tmp_path):
    # a space whose every draw is the same architecture: one candidate, the rest counted as duplicates
    path = edited_space(tmp_path, 'resnet', {
        "block=dict(type='choice', choices=['BasicBlock', 'Bottleneck'])":
            "block=dict(type='choice', choices=['BasicBlock'])",
        "stem_channels=dict(type='int', low=8, high=64, step=8)": "stem_channels=dict(type='int', low=16, high=16)",
        "stage_blocks=dict(type='int', low=1, high=10, num=4)": "stage_blocks=dict(type='int', low=2, high=2, num=4)",
        "width_ratios=dict(type='float', low=1.0, high=3.0, num=3)":
            "width_ratios=dict(type='float', low=2.0, high=2.0, num=3)"}, 'single.py')
    cands, stats = sample_candidates(load_space(path), 3, seed=0, gflops=1.0, step='backbone', max_draws=25)
    assert len(cands) == 1 and stats['duplicates'] == 24 and stats['exhausted']


CASES = [('resnet', 'backbone', 0.5, SCRFD_25G), ('resnet', 'backbone', 2.5, SCRFD_25G),
         ('resnet', 'backbone', 10.0, SCRFD_25G), ('resnet', 'full', 2.5, SCRFD_25G),
         ('resnet', 'full', 10.0, SCRFD_10G), ('mobilenet', 'backbone', 0.5, TOY),
         ('mobilenet', 'backbone', 1.0, TOY), ('mobilenet', 'full', 0.5, TOY), ('mobilenet', 'full', 2.5, TOY),
         ('scrfd', 'backbone', 2.5, SCRFD_25G)]


@pytest.mark.parametrize('name,step,gflops,template', CASES,
                         ids=[f'{c[0]}-{c[1]}-{c[2]:g}g' for c in CASES])
def test_sampled_configs_build_and_meet_the_budget(name, step, gflops, template):
    tolerance = 0.02
    space = load_space(name)
    template_arch = arch_from_config(template) if step == 'full' else None
    cands, stats = sample_candidates(space, 3, seed=1, gflops=gflops, tolerance=tolerance, step=step,
                                     template=template_arch)
    assert len(cands) == 3
    template_cfg = Config.fromfile(template)
    for cand in cands:
        counted = get_model_complexity(cand.to_config(template_cfg), (480, 640))
        assert abs(counted['flops'] / 1e9 - gflops) <= tolerance * gflops
        assert counted['flops'] == cand.breakdown['total']['flops']
        assert counted['params'] == cand.breakdown['total']['params']


def test_sampled_config_counts_at_another_input_size():
    space = load_space('mobilenet')
    cands, _ = sample_candidates(space, 1, seed=3, gflops=0.2, tolerance=0.01, input_shape=(320, 320),
                                 step='full')
    counted = get_model_complexity(cands[0].to_config(TOY), (320, 320))
    assert abs(counted['gflops'] - 0.2) <= 0.002


def test_write_candidates(tmp_path):
    space = load_space('mobilenet')
    cands, _ = sample_candidates(space, 3, seed=0, gflops=0.5, step='backbone')
    out = tmp_path / 'cands'
    paths = write_candidates(out, cands, TOY)
    assert [os.path.basename(p) for p in paths] == [f'cand_{i:03d}_{c.key()}.py' for i, c in enumerate(cands)]
    assert sorted(os.listdir(out)) == sorted([os.path.basename(p) for p in paths] +
                                             ['candidates.csv', 'candidates.md', 'candidates.jsonl'])
    for path, cand in zip(paths, cands):
        assert arch_from_config(path) == cand.arch  # the written config is complete and reads back
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.type == Config.fromfile(TOY).train_dataloader.dataset.type
        assert cfg.to_dict() == cand.to_config(TOY).to_dict()  # the fast writer loses nothing
    with open(out / 'candidates.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['key'] for r in rows] == [c.key() for c in cands]
    for row, cand in zip(rows, cands):
        assert float(row['gflops']) == pytest.approx(cand.breakdown['total']['gflops'], abs=1e-4)
        parts = sum(float(row[f'{p}_gflops']) for p in ('stem', 'c2', 'c3', 'c4', 'c5', 'neck', 'head'))
        assert parts == pytest.approx(float(row['gflops']), abs=1e-3)
        assert sum(float(row[f'{p}_share']) for p in ('backbone', 'neck', 'head')) == pytest.approx(1, abs=1e-3)
    lines = (out / 'candidates.md').read_text().splitlines()
    assert len(lines) == 2 + len(cands) and all(line.count('|') == lines[0].count('|') for line in lines)
    records = [json.loads(line) for line in (out / 'candidates.jsonl').read_text().splitlines()]
    assert [r['arch'] for r in records] == [c.arch for c in cands]
    with pytest.raises(FileExistsError, match='already holds files: refusing to mix two runs in one folder. Pass'):
        write_candidates(out, cands[:1], TOY)
    assert len(os.listdir(out)) == 6  # nothing overwritten
    write_candidates(out, cands[:1], TOY, force=True)
    with open(out / 'candidates.csv') as f:
        assert len(list(csv.DictReader(f))) == 1


def _face(h=96, w=128):
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    ds = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
                                     pad_shape=(h, w)))
    ds.gt_instances = InstanceData(
        bboxes=torch.tensor([[30., 20., 70., 66.]]), labels=torch.tensor([0]),
        keypoints=torch.tensor([[[42., 38.], [58., 38.], [50., 46.], [44., 56.], [56., 56.]]]),
        keypoints_weights=torch.ones(1, 5))
    return ds


RAWS = [  # (space, raw, template): GN/BN, shared/per-stride, keypoints on/off, BasicBlock/Bottleneck/MobileNet
    ('resnet', dict(step='full', depth_scale=1.0, width_scale=1.0, neck_channels=32, head_channels=48,
                    head_convs=2, head_norm='BN', strides_share=False, use_kps=True), SCRFD_25G),
    ('resnet', dict(step='backbone', block='Bottleneck', stem_channels=16, stage_blocks=[2, 1, 1, 1],
                    width_ratios=[1.5, 2.0, 1.0]), SCRFD_25G),
    ('mobilenet', dict(step='full', depth_scale=0.6, width_scale=1.0, neck_channels=24, head_channels=40,
                       head_convs=1, head_norm='GN', strides_share=True, use_kps=False), TOY),
]


@pytest.mark.parametrize('name,raw,template', RAWS, ids=['resnet-bn-kps', 'resnet-bottleneck', 'mobilenet-gn'])
def test_materialised_configs_train(name, raw, template):
    """A candidate's config takes an optimiser step: losses finite, keypoint loss exactly when use_kps."""
    import torch
    from mmengine.optim import OptimWrapper

    from mmdet_face.apis.inference import init_face_detector
    from search_tools.projection import project
    space = load_space(name)
    cand = project(space, raw, 0.5, template=arch_from_config(template) if raw['step'] == 'full' else None)
    model = init_face_detector(cand.to_config(template)).train()
    model.init_weights()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8) for _ in range(2)],
                data_samples=[_face(), _face()])
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars['loss'])
    assert ('loss_kps' in log_vars) == cand.arch['head']['use_kps']
    assert model.bbox_head.strides_share == cand.arch['head']['strides_share']
