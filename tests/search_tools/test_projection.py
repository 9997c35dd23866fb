"""search_tools.projection.project: every raw sample lands inside the band with the space's tie rules kept, the widths
keep the sampled proportions, and an impossible budget raises InfeasibleBudget with the reason."""
import os

import pytest

from search_tools.arch import arch_from_config
from search_tools.flops import count_flops
from search_tools.projection import project
from search_tools.space import SPACES_DIR, InfeasibleBudget, RandomSuggester, load_space

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRFD_25G = os.path.join(REPO, 'configs', 'scrfd', 'scrfd_2.5g_4xb8-640e_widerface.py')


def _check_ties(space, arch):
    bb, head = arch['backbone'], arch['head']
    widths = bb['stage_planes'] + ([bb['stem_channels']] if 'stem_channels' in bb else [])
    widths += [arch['neck']['out_channels'], head['feat_channels']]
    assert all(w % 8 == 0 and 8 <= w <= 1024 for w in widths), widths
    if space.family == 'ResNetV1e':
        assert bb['stem_channels'] == bb['stage_planes'][0]
    assert bb['stage_planes'] == sorted(bb['stage_planes'])
    if head['norm'] == 'GN':
        assert head['feat_channels'] % head['num_groups'] == 0
        assert not head['dw_conv'] or arch['neck']['out_channels'] % head['num_groups'] == 0


@pytest.mark.parametrize('name,step,gflops', [('resnet', 'backbone', 0.5), ('resnet', 'backbone', 2.5),
                                              ('resnet', 'backbone', 10.0), ('resnet', 'full', 2.5),
                                              ('resnet', 'full', 34.0), ('mobilenet', 'backbone', 0.5),
                                              ('mobilenet', 'backbone', 1.0), ('mobilenet', 'full', 0.5)])
def test_every_raw_sample_is_projected_into_the_band(name, step, gflops):
    space = load_space(name)
    suggest = RandomSuggester(11)
    for _ in range(40):
        raw = space.sample(suggest, step)
        cand = project(space, raw, gflops, tolerance=0.02)
        total = count_flops(cand.arch)['total']['flops']
        assert abs(total / 1e9 - gflops) <= 0.02 * gflops
        assert cand.breakdown['total']['flops'] == total
        _check_ties(space, cand.arch)
        if step == 'backbone':
            assert cand.info['depth_factor'] < 1 or cand.arch['backbone']['stage_blocks'] == raw['stage_blocks']


def test_a_tight_tolerance_is_still_met():
    space = load_space('resnet')
    suggest = RandomSuggester(2)
    met = 0
    for _ in range(30):
        try:
            cand = project(space, space.sample(suggest, 'backbone'), 2.5, tolerance=0.005)
        except InfeasibleBudget:
            continue
        assert abs(cand.breakdown['total']['gflops'] - 2.5) <= 0.0125
        met += 1
    assert met >= 27  # rounding to multiples of 8 rarely makes a +-0.5 % band unreachable


def test_projection_keeps_the_sampled_proportions():
    space = load_space('resnet')
    raw = dict(step='backbone', block='BasicBlock', stem_channels=16, stage_blocks=[2, 2, 2, 2],
               width_ratios=[2.0, 2.0, 2.0])
    cand = project(space, raw, 10.0)
    planes = cand.arch['backbone']['stage_planes']
    m = cand.info['multiplier']
    for width, ideal in zip(planes, [16 * m, 32 * m, 64 * m, 128 * m]):
        assert abs(width - ideal) <= 16  # rounding, and at most one fix-up step
    assert all(1.6 <= b / a <= 2.5 for a, b in zip(planes, planes[1:]))  # sampled ratios 2.0
    assert planes[0] > 16  # scaled up to spend 10 GF
    small = project(space, raw, 0.5).arch['backbone']['stage_planes']
    assert small[-1] < planes[-1]


def test_step1_template_neck_and_head_are_kept():
    space = load_space('resnet')
    template = arch_from_config(SCRFD_25G)
    raw = space.sample(RandomSuggester(4), 'backbone')
    cand = project(space, raw, 2.5, template=template)
    assert cand.arch['neck'] == template['neck'] and cand.arch['head'] == template['head']
    # without a template the space's neck/head (PAFPN 48, 2 x 96) are scaled to ~41 % of the budget
    for gflops in (0.5, 2.5, 10.0):
        b = project(space, raw, gflops).breakdown
        share = (b['neck']['flops'] + b['head']['flops']) / b['total']['flops']
        assert 0.3 < share < 0.55, (gflops, share)


def test_infeasible_budgets_raise_with_the_reason():
    space = load_space('resnet')
    template = arch_from_config(SCRFD_25G)  # its neck + head alone cost ~0.41 GF
    raw = space.sample(RandomSuggester(0), 'backbone')
    with pytest.raises(InfeasibleBudget, match=r'at the narrowest widths \(8\) already exceed 0.2 GF'):
        project(space, raw, 0.2, template=template)
    with pytest.raises(InfeasibleBudget, match=r'at the widest widths \(1024\) stay below 5000 GF'):
        project(space, raw, 5000.0)
    assert issubclass(InfeasibleBudget, ValueError)
    with pytest.raises(ValueError, match='0 < tolerance < 1'):
        project(space, raw, 2.5, tolerance=0.0)
    with pytest.raises(ValueError, match="the template's backbone is ResNetV1e"):
        project(load_space('mobilenet'), load_space('mobilenet').sample(RandomSuggester(0), 'full'), 0.5,
                template=template)


def test_depth_fallback_makes_deep_samples_fit_small_budgets():
    space = load_space('resnet')
    raw = dict(step='backbone', block='Bottleneck', stem_channels=40, stage_blocks=[10, 8, 7, 6],
               width_ratios=[3.8, 3.4, 1.0])
    cand = project(space, raw, 0.5)
    assert cand.info['depth_factor'] < 1
    assert all(d <= r for d, r in zip(cand.arch['backbone']['stage_blocks'], raw['stage_blocks']))
    assert abs(cand.breakdown['total']['gflops'] - 0.5) <= 0.01


def test_a_raw_sample_missing_a_value_is_named():
    space = load_space('resnet')
    raw = space.sample(RandomSuggester(0), 'full')
    del raw['head_norm']
    with pytest.raises(ValueError, match=r"raw sample for step 'full' of space 'resnet': missing \['head_norm'\]"):
        project(space, raw, 2.5)


def test_an_unreachable_band_and_a_disabled_fallback_raise(tmp_path):
    space = load_space('resnet')
    raw = dict(step='backbone', block='BasicBlock', stem_channels=16, stage_blocks=[3, 3, 3, 3],
               width_ratios=[2.0, 2.0, 2.0])
    # +-1e-7 of 2.5 GF is 250 FLOPs wide: no width on the grid of 8 lands there, at any depth
    with pytest.raises(InfeasibleBudget, match=r'rounding to multiples of 8 cannot reach 2.5 GF \+- 0.0%: closest'):
        project(space, raw, 2.5, tolerance=1e-7)
    deep = dict(raw, block='Bottleneck', stage_blocks=[10, 10, 10, 10])
    assert project(space, deep, 0.5).info['depth_factor'] < 1
    text = (SPACES_DIR / 'resnet.py').read_text().replace('depth_fallback = True', 'depth_fallback = False')
    assert 'depth_fallback = False' in text
    (tmp_path / 'strict.py').write_text(text)
    with pytest.raises(InfeasibleBudget, match='already exceed 0.5 GF'):
        project(load_space(str(tmp_path / 'strict.py')), deep, 0.5)


@pytest.mark.parametrize('name', ['resnet', 'mobilenet'])
def test_the_projections_count_equals_the_count_of_the_arch_it_builds(name):
    """The projection counts width vectors without building them (a plan's ``count``); the count equals
    ``count_flops`` of the architecture ``build`` makes of the same widths, and is None exactly where ``build``
    refuses (no GN group count divides the head width: odd widths, a group choice of 16 only)."""
    import numpy as np

    from search_tools.projection import projection_plan
    space = load_space(name)
    space.ties['gn_groups'] = (16,)
    rng = np.random.default_rng(0)
    suggest = RandomSuggester(1)
    refused = 0
    for step in ('backbone', 'full'):
        for _ in range(40):
            raw = space.sample(suggest, step)
            plan = projection_plan(space, raw, 1.0, (481, 643), space.reference, depth_factor=float(rng.choice([1.0, 0.8])))
            for _ in range(5):
                widths = [int(w) for w in rng.integers(1, 300, len(plan.base))]
                try:
                    arch = plan.build(list(widths))
                except InfeasibleBudget:
                    refused += 1
                    assert plan.count(widths) is None
                    continue
                assert plan.count(widths) == count_flops(arch, (481, 643))['total']['flops']
    assert refused > 10  # the refusal path was checked
