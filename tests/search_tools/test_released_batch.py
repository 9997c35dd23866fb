"""The released SCRFD rejection sampler on numpy batches (search_tools.scrfd_replay.ReleasedRulesBatch,
SearchSpace.sample_batch): every raw sample gets exactly scrfd_project's verdict and total_flops' count, and the
batch draws are distributed as RandomSuggester's."""
import os

import numpy as np
import pytest
from scipy import stats

from search_tools.arch import arch_from_config, arch_key
from search_tools.flops import total_flops
from search_tools.scrfd_replay import ReleasedRulesBatch, _mode2_depths, _mode2_planes, _RatioChain, scrfd_arch, \
    scrfd_project
from search_tools.space import InfeasibleBudget, RandomSuggester, load_space
from tests.helpers.space_files import edited_space

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRFD_25G = os.path.join(REPO, 'configs', 'scrfd', 'scrfd_2.5g_4xb8-640e_widerface.py')

# (step, GFLOPs, tolerance, template, input shape, raw samples): the defaults of `sample --space scrfd`, a wide
# tolerance that accepts hundreds in step 2, another template, budget and input size
CASES = [('backbone', 2.5, 0.02, None, (480, 640), 20000), ('full', 2.5, 0.02, None, (480, 640), 20000),
         ('full', 2.5, 0.1, SCRFD_25G, (481, 643), 3000), ('backbone', 0.5, 0.05, SCRFD_25G, (320, 320), 3000),
         ('full', 10.0, 0.15, None, (640, 640), 3000)]


@pytest.mark.parametrize('step,gflops,tolerance,template,shape,num', CASES,
                         ids=[f'{c[0]}-{c[1]:g}g-{c[2]:g}' for c in CASES])
def test_batch_verdict_is_scrfd_project_on_every_sample(step, gflops, tolerance, template, shape, num):
    space = load_space('scrfd')
    template = arch_from_config(template) if template else None
    judge = ReleasedRulesBatch(space, step, gflops, tolerance, shape, template)
    columns = space.sample_batch(np.random.default_rng(5), step, num)
    flops, met, accepted = judge(columns)
    assert flops.shape == met.shape == accepted.shape == (num,)
    kept = 0
    for row in range(num):
        raw = space.batch_row(columns, row, step)
        try:
            arch = scrfd_arch(space, raw, template)
        except InfeasibleBudget:  # a width rounds to 0: never in the band
            assert flops[row] == 0 and not met[row] and not accepted[row], raw
            continue
        assert flops[row] == total_flops(arch, shape), raw
        assert met[row] == ((1 - tolerance) * gflops * 1e9 <= flops[row] <= (1 + tolerance) * gflops * 1e9), raw
        try:
            _, counted = scrfd_project(space, raw, gflops, tolerance, shape, template)
            assert accepted[row] and counted == flops[row], raw
            kept += 1
        except InfeasibleBudget:
            assert not accepted[row], raw
    assert kept == accepted.sum() > 0  # the cases accept some: both verdicts are exercised
    if step == 'backbone':
        assert (met == accepted).all()  # step 1 has no lock
    else:
        assert (met & ~accepted).any()  # the lock rejects some samples inside the band


def test_ratio_chain_thresholds_are_the_first_floats_of_each_tuple():
    template = arch_from_config(SCRFD_25G)['backbone']  # depths (3, 5, 3, 2), planes (24, 48, 48, 80)
    for rule in (lambda r: _mode2_depths(template, r), lambda r: _mode2_planes(template, r)):
        chain = _RatioChain(rule, 0.5, 3.0)
        assert len(chain.thresholds) == len(chain.values) - 1 > 10
        for k, t in enumerate(chain.thresholds):
            before = np.nextafter(t, -np.inf)
            assert rule(t) == chain.values[k + 1].tolist() != rule(before) == chain.values[k].tolist()
        ratios = np.random.default_rng(0).uniform(0.5, 3.0, 20000)
        assert (chain.values[chain.index(ratios)] == rule(ratios)).all()
        # the bucket look-up at and just below every threshold, and at the ends: the binary search's segments
        edges = np.concatenate([chain.thresholds, np.nextafter(chain.thresholds, -np.inf), [0.5, 3.0]])
        assert chain.index(edges).tolist() == np.searchsorted(chain.thresholds, edges, side='right').tolist()
        assert (chain.values[chain.index(edges)] == rule(edges)).all()
    # by hand: round(3r) reaches 2 at r = 0.5 (1.5 -> 2, half to even), round(2r) reaches 2 past r = 0.75
    # (1.5 -> 2); the depths start at [2, 2, 2, 1] (r = 0.5: 1.5, 2.5, 1.5, 1.0)
    depths = _RatioChain(lambda r: _mode2_depths(template, r), 0.5, 3.0)
    assert depths.values[0].tolist() == [2, 2, 2, 1] and depths.values[-1].tolist() == [9, 15, 9, 6]
    assert depths.thresholds[0] == np.nextafter(0.5, 1)  # 2.5000000000000004 -> 3 in C3 (5 * r)


def test_sample_batch_draws_as_the_suggester():
    """Same dimensions, types and ranges as SearchSpace.sample, the same marginal distributions (two-sample
    Kolmogorov-Smirnov on 4,000 draws each, seeded), a fixed stream per seed."""
    space = load_space('scrfd')
    for step in ('backbone', 'full'):
        columns = space.sample_batch(np.random.default_rng(0), step, 4000)
        again = space.sample_batch(np.random.default_rng(0), step, 4000)
        assert all((columns[k] == again[k]).all() for k in columns)
        suggest = RandomSuggester(1)
        one_by_one = [space.sample(suggest, step) for _ in range(4000)]
        batch = [space.batch_row(columns, i, step) for i in range(4000)]
        for key in space.dims[step]:
            a = np.array([raw[key] for raw in one_by_one]).reshape(4000, -1)
            b = np.array([raw[key] for raw in batch]).reshape(4000, -1)
            assert type(batch[0][key]) is type(one_by_one[0][key]), key
            assert a.shape == b.shape, key
            for x, y in zip(a.T, b.T):
                if x.dtype.kind == 'f':
                    assert stats.ks_2samp(x, y).pvalue > 1e-3, (step, key)
                else:  # ints and the block choice: the same values, about equally often
                    values, counts = np.unique(x, return_counts=True)
                    assert values.tolist() == np.unique(y).tolist(), (step, key)
                    table = [counts, [np.sum(y == v) for v in values]]  # two samples, one distribution?
                    assert stats.chi2_contingency(table).pvalue > 1e-3, (step, key)
    dims = dict(space.dimensions('backbone'))
    columns = space.sample_batch(np.random.default_rng(2), 'backbone', 50000)
    assert columns['stage_blocks'].shape == (50000, 4) and columns['block'].shape == (50000,)
    assert columns['stage_blocks'].min() == 1 and columns['stage_blocks'].max() == 10
    assert columns['base_channels'].min() == dims['base_channels']['low'] == 8
    assert columns['base_channels'].max() == dims['base_channels']['high'] == 64
    assert 1.0 <= columns['stage_planes_ratio'].min() and columns['stage_planes_ratio'].max() < 4.0


def test_sample_batch_log_and_step_dimensions(tmp_path):
    """Log-uniform and stepped dimensions of a space file stay in their range and on their grid."""
    space = load_space(edited_space(tmp_path, 'scrfd', {
        "base_channels=dict(type='int', low=8, high=64)":
            "base_channels=dict(type='int', low=8, high=64, step=8, log=True)",
        "fpn_channel=dict(type='int', low=8, high=128)": "fpn_channel=dict(type='int', low=16, high=128, step=16)",
        "stage_blocks_ratio=dict(type='float', low=0.5, high=3.0)":
            "stage_blocks_ratio=dict(type='float', low=0.5, high=3.0, log=True)"}, 'logs.py'))
    backbone = space.sample_batch(np.random.default_rng(0), 'backbone', 20000)
    assert set(np.unique(backbone['base_channels']).tolist()) == set(range(8, 65, 8))
    full = space.sample_batch(np.random.default_rng(0), 'full', 20000)
    assert set(np.unique(full['fpn_channel']).tolist()) == set(range(16, 129, 16))
    ratio = full['stage_blocks_ratio']
    assert 0.5 <= ratio.min() and ratio.max() <= 3.0
    assert np.median(ratio) == pytest.approx(np.sqrt(0.5 * 3.0), rel=0.03)  # log-uniform: the geometric mean


def test_ratios_past_the_dimension_range_rebuild_the_chains():
    """A log-uniform or hand-made draw may step past a ratio's range: the chains are rebuilt over the wider range
    and the verdicts stay scrfd_project's."""
    space = load_space('scrfd')
    judge = ReleasedRulesBatch(space, 'full', 2.5, 0.1, (480, 640))
    columns = space.sample_batch(np.random.default_rng(0), 'full', 400)
    columns['stage_blocks_ratio'][:200] = np.linspace(0.05, 4.0, 200)
    columns['base_channels_ratio'][200:] = np.linspace(0.01, 3.5, 200)  # 0.01 rounds every width to 0
    flops, met, accepted = judge(columns)
    assert judge.depths.low == 0.05 and judge.depths.high == 4.0 and judge.planes.low == 0.01
    for row in range(400):
        raw = space.batch_row(columns, row, 'full')
        try:
            scrfd_project(space, raw, 2.5, 0.1, (480, 640), None)
            assert accepted[row], raw
        except InfeasibleBudget:
            assert not accepted[row], raw
        try:
            assert flops[row] == total_flops(scrfd_arch(space, raw), (480, 640)), raw
        except InfeasibleBudget:
            assert flops[row] == 0 and not met[row]
    assert flops[200] == 0 and accepted.any()


def test_released_rules_refuse_what_they_cannot_replay(tmp_path):
    path = edited_space(tmp_path, 'scrfd', {"head_channel=dict(type='int', low=8, high=256)":
                                            "head_channel=dict(type='float', low=8, high=256)"}, 'float_head.py')
    with pytest.raises(ValueError, match=r"float_head.py: full.head_channel: the released rules draw it as an int "
                                         r">= 0 \(at.Int\), got \{'type': 'float'"):
        ReleasedRulesBatch(load_space(str(path)), 'full', 2.5, 0.02, (480, 640))
    with pytest.raises(ValueError, match="space 'resnet': the released rules apply to a faithful space"):
        ReleasedRulesBatch(load_space('resnet'), 'backbone', 2.5, 0.02, (480, 640))
    template = arch_from_config(SCRFD_25G)
    template['head']['norm'] = 'BN'
    with pytest.raises(ValueError, match="the template head must use GN"):
        ReleasedRulesBatch(load_space('scrfd'), 'full', 2.5, 0.02, (480, 640), template)


def test_step2_at_2_5gf_has_109_architectures():
    """The figure search_tools/README.md gives: at 2.5 GF (VGA, +-2 %) exactly 109 (cell, neck, head, head depth)
    combinations pass the released step-2 rules; each, drawn from its segments' first ratios, is accepted by
    scrfd_project, and they are 109 distinct architectures."""
    space = load_space('scrfd')
    judge = ReleasedRulesBatch(space, 'full', 2.5, 0.02, (480, 640))
    depths, planes = len(judge.depths.values), len(judge.planes.values)
    judge.locked[:] = [judge._lock_verdict(cell) for cell in range(depths * planes)]
    (f0, nf), (h0, nh), (s0, ns) = (judge.grids[k] for k in ('fpn_channel', 'head_channel', 'head_stack'))
    flops = judge.backbone.reshape(depths, planes, 1, 1, 1) + judge.neck_head.reshape(1, planes, nf, nh, ns)
    kept = (judge.low <= flops) & (flops <= judge.high) & (judge.locked.reshape(depths, planes, 1, 1, 1) == 1)
    assert kept.sum() == 109
    keys = set()
    for d, w, f, h, s in zip(*np.nonzero(kept)):
        first = [np.concatenate([[chain.low], chain.thresholds])[i] for chain, i in ((judge.depths, d),
                                                                                    (judge.planes, w))]
        raw = dict(step='full', stage_blocks_ratio=float(first[0]), base_channels_ratio=float(first[1]),
                   fpn_channel=int((f + f0) * 8), head_channel=int((h + h0) * 8), head_stack=int(s + s0))
        arch, counted = scrfd_project(space, raw, 2.5, 0.02, (480, 640), None)
        assert counted == flops[d, w, f, h, s]
        keys.add(arch_key(arch))
    assert len(keys) == 109
