"""search_tools.space, .projection and .scrfd_replay: spaces as data, the seeded suggester, arch <-> config round
trips, and the faithful `scrfd` mode's ranges and rounding written out by hand from the released
generate_configs_2.5g.py."""
import os

import numpy as np
import pytest
from mmengine.config import Config

from search_tools.arch import arch_from_config, arch_key
from search_tools.projection import project, raw_arch
from search_tools.scrfd_replay import scrfd_arch
from search_tools.space import SPACES_DIR, InfeasibleBudget, RandomSuggester, load_space
from search_tools.flops import count_flops
from tests.helpers.space_files import edited_space

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRFD_25G = os.path.join(REPO, 'configs', 'scrfd', 'scrfd_2.5g_4xb8-640e_widerface.py')


def test_builtin_spaces_load():
    for name, family, faithful in [('resnet', 'ResNetV1e', False), ('mobilenet', 'MobileNetV1', False),
                                   ('scrfd', 'ResNetV1e', True)]:
        space = load_space(name)
        assert (space.name, space.family, space.faithful) == (name, family, faithful)
    assert load_space(str(SPACES_DIR / 'resnet.py')).dimensions('full') == load_space('resnet').dimensions('full')


def test_space_file_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(ValueError, match="unknown search space 'resnt'.*'mobilenet'"):
        load_space('resnt')
    with pytest.raises(FileNotFoundError, match='absent.py'):
        load_space(str(tmp_path / 'absent.py'))
    text = (SPACES_DIR / 'resnet.py').read_text()
    bad = tmp_path / 'bad.py'
    bad.write_text(text.replace("stage_blocks=dict(type='int', low=1, high=10, num=4)",
                                "stage_blocks=dict(type='int', low=10, high=1, num=4)"))
    with pytest.raises(ValueError, match=r'bad.py: backbone: stage_blocks: needs low <= high'):
        load_space(str(bad))
    bad.write_text(text.replace("width_ratios=dict(type='float', low=1.0, high=3.0, num=3)",
                                "width_ratios=dict(type='float', low=1.0, high=3.0, num=2)"))
    with pytest.raises(ValueError, match=r'bad.py: backbone.width_ratios: 4 widths need 3 ratios, got 2'):
        load_space(str(bad))
    bad.write_text(text.replace("head_norm=dict(type='choice', choices=['GN', 'BN'])",
                                "head_norm=dict(type='choose', choices=['GN', 'BN'])"))
    with pytest.raises(ValueError, match=r'bad.py: full: head_norm: a dimension is dict'):
        load_space(str(bad))
    # a syntax error names the file and its line (mmengine's own says 'File "<unknown>", line 2')
    bad.write_text("family = 'ResNetV1e'\nbackbone = dict(\n")
    with pytest.raises(ValueError, match=r"bad.py, line 2: SyntaxError: '\(' was never closed"):
        load_space(str(bad))
    bad.write_text("family = 'ResNetV1e'\nbackbone = undefined_name\n")
    with pytest.raises(ValueError, match=r"bad.py, line 2: NameError: name 'undefined_name' is not defined"):
        load_space(str(bad))


def test_random_suggester_is_seeded_and_respects_ranges():
    a, b = RandomSuggester(3), RandomSuggester(np.random.default_rng(3))
    draws_a = [(a.suggest_int('i', 8, 64, step=8), a.suggest_float('f', 1.0, 4.0),
                a.suggest_categorical('c', ['x', 'y'])) for _ in range(200)]
    draws_b = [(b.suggest_int('i', 8, 64, step=8), b.suggest_float('f', 1.0, 4.0),
                b.suggest_categorical('c', ['x', 'y'])) for _ in range(200)]
    assert draws_a == draws_b
    ints = {d[0] for d in draws_a}
    assert ints == set(range(8, 65, 8))  # inclusive bounds, on the step grid
    assert all(1.0 <= d[1] <= 4.0 for d in draws_a) and {d[2] for d in draws_a} == {'x', 'y'}
    logs = [a.suggest_int('l', 1, 100, log=True) for _ in range(300)]
    assert min(logs) >= 1 and max(logs) <= 100 and np.median(logs) < 30  # log-uniform: median ~ 10
    assert a.params['l'] == logs[-1]


def test_sample_returns_raw_params_in_range_and_names_them():
    space = load_space('resnet')
    raw = space.sample(RandomSuggester(0), 'backbone')
    assert raw['step'] == 'backbone' and raw['block'] in ('BasicBlock', 'Bottleneck')
    assert len(raw['stage_blocks']) == 4 and all(1 <= d <= 10 for d in raw['stage_blocks'])
    assert len(raw['width_ratios']) == 3 and all(1.0 <= r <= 3.0 for r in raw['width_ratios'])
    assert raw['stem_channels'] % 8 == 0
    names = [n for n, _ in space.dimensions('backbone')]
    assert names == ['block', 'stem_channels', 'stage_blocks_0', 'stage_blocks_1', 'stage_blocks_2',
                     'stage_blocks_3', 'width_ratios_0', 'width_ratios_1', 'width_ratios_2']
    mobile = load_space('mobilenet').sample(RandomSuggester(0), 'backbone')
    assert len(mobile['width_ratios']) == 5  # stem dw-sep, C2..C5 from the stem width
    with pytest.raises(ValueError, match='step must be one of'):
        space.sample(RandomSuggester(0), 'all')


def test_sample_through_an_optuna_trial():
    optuna = pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space('mobilenet')
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    raw = space.sample(trial, 'full')
    assert set(trial.params) == {n for n, _ in space.dimensions('full')}
    assert raw['head_norm'] in ('GN', 'BN') and 8 <= raw['head_channels'] <= 128
    cand = project(space, raw, 0.5)
    assert abs(cand.breakdown['total']['gflops'] - 0.5) <= 0.01


def test_arch_config_round_trip(tmp_path):
    arch = arch_from_config(SCRFD_25G)
    assert arch['backbone'] == dict(type='ResNetV1e', block='BasicBlock', stem_channels=24,
                                    stage_blocks=[3, 5, 3, 2], stage_planes=[24, 48, 48, 80])
    assert arch['neck'] == dict(type='PAFPN', out_channels=24)
    assert arch['head']['feat_channels'] == 64 and arch['head']['num_groups'] == 16
    space = load_space('resnet')
    cand = project(space, space.sample(RandomSuggester(5), 'full'), 2.5, template=arch)
    path = tmp_path / 'cand.py'
    cfg = cand.to_config(SCRFD_25G)
    cfg.dump(str(path))
    back = arch_from_config(str(path))
    assert back == cand.arch and arch_key(back) == cand.key()
    reloaded = Config.fromfile(str(path))
    assert reloaded.train_dataloader == Config.fromfile(SCRFD_25G).train_dataloader  # data/schedule kept


def test_arch_from_config_errors_name_the_file_and_field(tmp_path):
    cfg = Config.fromfile(SCRFD_25G)
    cfg.model.neck.in_channels = [24, 48, 48, 88]
    path = tmp_path / 'wrong_neck.py'
    cfg.dump(str(path))
    with pytest.raises(ValueError, match=r'wrong_neck.py: model.neck.in_channels: \[24, 48, 48, 88\] does not '
                                         r'match the backbone outputs \[24, 48, 48, 80\]'):
        arch_from_config(str(path))
    with pytest.raises(ValueError, match=r'retinaface_toy_mnet025.py: model\.'):
        arch_from_config(os.path.join(REPO, 'configs', 'toy', 'retinaface_toy_mnet025.py'))


# ------------------------------------------------------------------ the faithful mode (released rules)
def test_scrfd_mode_ranges_are_the_released_ones():
    dims = dict(load_space('scrfd').dimensions('backbone'))
    assert dims['block'] == dict(type='choice', choices=['BasicBlock', 'Bottleneck'])
    assert (dims['base_channels']['low'], dims['base_channels']['high'], dims['base_channels'].get('step', 1)) == \
        (8, 64, 1)  # at.Int(8, 64), floored to 8 afterwards
    assert all((dims[f'stage_blocks_{i}']['low'], dims[f'stage_blocks_{i}']['high']) == (1, 10) for i in range(4))
    assert all((dims[f'stage_planes_ratio_{i}']['low'], dims[f'stage_planes_ratio_{i}']['high']) == (1.0, 4.0)
               for i in range(3))
    full = dict(load_space('scrfd').dimensions('full'))
    assert {k: (v['low'], v['high']) for k, v in full.items()} == dict(
        stage_blocks_ratio=(0.5, 3.0), base_channels_ratio=(0.5, 3.0), fpn_channel=(8, 128),
        head_channel=(8, 256), head_stack=(1, 4))


def test_scrfd_mode1_rounding_by_hand():
    space = load_space('scrfd')
    raw = dict(step='backbone', block='Bottleneck', base_channels=63, stage_blocks=[1, 10, 2, 7],
               stage_planes_ratio=[1.99, 2.5, 1.0])
    arch = scrfd_arch(space, raw)
    # base 63 -> 56 (stem and C2); int(56 * 1.99) = 111 -> 104; int(104 * 2.5) = 260 -> 256; 256 * 1.0 -> 256
    assert arch['backbone'] == dict(type='ResNetV1e', block='Bottleneck', stem_channels=56,
                                    stage_blocks=[1, 10, 2, 7], stage_planes=[56, 104, 256, 256])
    # neck and head stay mode 1's template (scrfdgen2.5g_0: PAFPN 48, 2 x 96 GN16)
    assert arch['neck']['out_channels'] == 48 and arch['head']['feat_channels'] == 96
    assert arch['head']['num_groups'] == 16 and arch['head']['stacked_convs'] == 2
    small = scrfd_arch(space, dict(raw, base_channels=15, stage_planes_ratio=[1.0, 1.1, 1.24]))
    assert small['backbone']['stage_planes'] == [8, 8, 8, 8]  # int(8 * 1.1) = 8; int(8 * 1.24) = 9 -> 8
    # template 0 itself is the released ResNet-2.5GF baseline: 2.57 GF in SCRFD's table
    template0 = scrfd_arch(space, dict(raw, block='BasicBlock', base_channels=16, stage_blocks=[3, 4, 6, 3],
                                       stage_planes_ratio=[2.0, 2.0, 2.0]))
    assert round(count_flops(template0)['total']['gflops'], 2) == 2.58


def test_scrfd_mode2_rounding_by_hand():
    space = load_space('scrfd')
    template = arch_from_config(SCRFD_25G)  # depths (3, 5, 3, 2), planes [24, 48, 48, 80]
    raw = dict(step='full', stage_blocks_ratio=0.5, base_channels_ratio=1.5, fpn_channel=127, head_channel=100,
               head_stack=3)
    arch = scrfd_arch(space, raw, template)
    # numpy.round halves to even: 1.5 -> 2, 2.5 -> 2, 1.5 -> 2, 1.0 -> 1
    assert arch['backbone']['stage_blocks'] == [2, 2, 2, 1]
    # [36, 72, 72, 120] -> multiples of 8 floored: [32, 72, 72, 120]; the stem follows C2 (base_channels)
    assert arch['backbone']['stage_planes'] == [32, 72, 72, 120] and arch['backbone']['stem_channels'] == 32
    assert arch['neck']['out_channels'] == 120 and arch['head']['feat_channels'] == 96
    assert arch['head']['stacked_convs'] == 3
    # GN walk 8 -> 16 -> 32 -> 64, keep the last that divides: 96 -> 32, 72 -> 8, 64 -> 64
    assert arch['head']['num_groups'] == 32
    assert scrfd_arch(space, dict(raw, head_channel=79), template)['head']['num_groups'] == 8
    assert scrfd_arch(space, dict(raw, head_channel=64), template)['head']['num_groups'] == 64
    assert scrfd_arch(space, dict(raw, stage_blocks_ratio=1.1), template)['backbone']['stage_blocks'] == \
        [3, 6, 3, 2]  # 5.5 -> 6 (even)
    assert scrfd_arch(space, dict(raw, stage_blocks_ratio=0.6), template)['backbone']['stage_blocks'] == \
        [2, 3, 2, 1]  # 1.8, 3.0, 1.8, 1.2


def test_scrfd_mode2_lock_and_band_reject_like_the_released_script():
    space = load_space('scrfd')
    template = arch_from_config(SCRFD_25G)
    same = dict(step='full', stage_blocks_ratio=1.0, base_channels_ratio=1.0, fpn_channel=24, head_channel=64,
                head_stack=2)
    cand = project(space, same, 2.5, template=template)  # the template itself: 2.53 GF, ratios identical
    assert cand.arch['backbone'] == template['backbone']
    with pytest.raises(InfeasibleBudget, match='stage-ratio lock'):
        project(space, dict(same, stage_blocks_ratio=2.0), 2.5, template=template)
    with pytest.raises(InfeasibleBudget, match='outside 2.5 GF'):
        project(space, dict(same, head_channel=128), 2.5, template=template)


def test_scrfd_mode2_lock_freezes_the_template_depths():
    """What mode 2 really does: every sample that passes the +-10 % stage/stem ratio lock keeps the template's
    depths, whatever stage_blocks_ratio was drawn (0.5 .. 3.0)."""
    from search_tools.flops import printed_module_gflops
    space = load_space('scrfd')
    template = arch_from_config(SCRFD_25G)
    ref = printed_module_gflops(template)
    suggest = RandomSuggester(0)
    passed = []
    for _ in range(3000):
        raw = space.sample(suggest, 'full')
        try:
            arch = scrfd_arch(space, raw, template)
        except InfeasibleBudget:
            continue
        cand = printed_module_gflops(arch)
        ok = all(0.9 * cand[f'layer{i}'] / cand['stem'] <= ref[f'layer{i}'] / ref['stem'] <=
                 1.1 * cand[f'layer{i}'] / cand['stem'] for i in range(1, 5))
        if ok:
            passed.append((raw['stage_blocks_ratio'], arch['backbone']['stage_blocks']))
    assert 20 <= len(passed) <= 200  # ~2.3 % of the draws
    # nearly all keep the template's depths exactly; a rare wide one gets one more C3 block (20,000 draws:
    # 3 of 468, none of them inside the 2.5 GF band)
    exact = sum(depths == [3, 5, 3, 2] for _, depths in passed)
    assert exact >= 0.95 * len(passed)
    assert all(max(abs(a - b) for a, b in zip(depths, [3, 5, 3, 2])) <= 1 for _, depths in passed)
    assert min(r for r, _ in passed) >= 0.9 and max(r for r, _ in passed) < 1.3


def test_raw_arch_is_the_unprojected_sample():
    space = load_space('resnet')
    raw = dict(step='backbone', block='BasicBlock', stem_channels=24, stage_blocks=[3, 5, 3, 2],
               width_ratios=[2.0, 1.0, 1.7])
    arch = raw_arch(space, raw, 2.5, template=arch_from_config(SCRFD_25G))
    # 24, 48, 48, 81.6 -> nearest multiple of 8: 80; neck and head of the template given
    assert arch == arch_from_config(SCRFD_25G)


def test_a_space_file_can_untie_the_stem(tmp_path):
    # the tie rules are data too: without stem_equals_c2 the ResNet chain has 5 widths (stem, C2..C5)
    space = load_space(edited_space(tmp_path, 'resnet', {
        "width_ratios=dict(type='float', low=1.0, high=3.0, num=3)":
            "width_ratios=[dict(type='float', low=1.5, high=2.0), dict(type='float', low=1.0, high=4.0, num=3)]",
        'stem_equals_c2=True,': 'stem_equals_c2=False,'}, 'untied.py'))
    assert [n for n, _ in space.dimensions('backbone')][-4:] == [f'width_ratios_{i}' for i in range(4)]
    suggest = RandomSuggester(1)
    untied = 0
    for _ in range(10):
        raw = space.sample(suggest, 'backbone')
        cand = project(space, raw, 10.0)
        bb = cand.arch['backbone']
        # C2 is 1.5..2x the stem before rounding to multiples of 8 (both may sit at the minimum width, 8)
        assert bb['stem_channels'] <= bb['stage_planes'][0] <= 2 * bb['stem_channels'] + 8
        untied += bb['stem_channels'] < bb['stage_planes'][0]
        assert abs(cand.breakdown['total']['gflops'] - 10.0) <= 0.2
    assert untied >= 8
