"""search_tools.flops / arch on DamoFDNet backbones: the analytic count equals tools/analysis/get_flops.py's counter
(mmcv's get_model_complexity_info on detector._forward) exactly, in total and part by part (the blocks grouped by
total stride: stem, C2..C5), on the published configs/damofd models and on evolved structures of every block kind;
the arch dict reads, names and writes back a DamoFD config."""
import copy
import glob
import os

import numpy as np
import pytest
from mmengine.config import Config

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.models.backbones.damofd_structure import format_structure
from mmdet_face.models.utils import get_model_complexity
from search_tools.arch import arch_from_config, arch_key, materialise
from search_tools.evolution import DamoFDProblem
from search_tools.flops import backbone_out_channels, count_flops, damofd_layout, total_flops
from tests.helpers.damofd import STRUCTURES
from tests.helpers.flops_counter import counted_forward
from tests.helpers.paths import REPO_ROOT

DAMOFD_CONFIGS = sorted(glob.glob(os.path.join(REPO_ROOT, 'configs', 'damofd', '*.py')))
TOY_TEMPLATE = os.path.join(REPO_ROOT, 'configs', 'toy', 'search_scrfd_toy.py')


def test_the_published_damofd_configs_are_found():
    names = {os.path.basename(p).split('_4xb')[0] for p in DAMOFD_CONFIGS}
    assert {'damofd_0.5g', 'damofd_2.5g', 'damofd_10g', 'damofd_34g', 'damofd_0.5g_kps'} <= names


@pytest.mark.parametrize('config', DAMOFD_CONFIGS, ids=[os.path.basename(p) for p in DAMOFD_CONFIGS])
def test_analytic_count_equals_get_flops_on_the_damofd_configs(config):
    arch = arch_from_config(config)
    assert arch['backbone'] == dict(type='DamoFDNet', structure=Config.fromfile(config).model.backbone.structure)
    analytic = count_flops(arch)
    counted = get_model_complexity(Config.fromfile(config), (480, 640))
    assert (analytic['total']['flops'], analytic['total']['params']) == (counted['flops'], counted['params'])
    assert total_flops(arch) == counted['flops']


def _counted_parts(model, input_shape):
    """FLOPs per part as mmcv's hooks accumulate them in one forward, the backbone's blocks grouped by the part
    damofd_layout names."""
    flops = counted_forward(model, input_shape)
    _, _, names = damofd_layout(model.backbone.structure)
    parts = dict(stem=0, c2=0, c3=0, c4=0, c5=0, neck=flops(model.neck), head=flops(model.bbox_head))
    params = dict(stem=0, c2=0, c3=0, c4=0, c5=0)
    for stage, name in zip(model.backbone.stages, names):
        parts[name] += flops(stage)
        params[name] += sum(p.numel() for p in stage.parameters())
    return parts, params


def _check_parts(config_or_cfg, shape):
    model = init_face_detector(config_or_cfg)
    whole = get_model_complexity(copy.deepcopy(model), shape)  # a copy: both counters tag the modules
    counted, params = _counted_parts(model, shape)
    analytic = count_flops(arch_from_config(config_or_cfg), shape)
    for part, value in counted.items():
        assert analytic[part]['flops'] == value, part
    for part, value in params.items():
        assert analytic[part]['params'] == value, part
    assert analytic['total']['flops'] == whole['flops'] and analytic['total']['params'] == whole['params']
    assert analytic['head']['params'] == sum(p.numel() for p in model.bbox_head.parameters())
    return analytic


@pytest.mark.parametrize('name', ['damofd_0.5g_kps_4xb8-640e_widerface.py', 'damofd_10g_4xb8-640e_widerface.py'])
def test_breakdown_matches_the_counter_per_part_at_an_odd_input(name):
    # 100 x 150 is not a multiple of 32: every stride-2 layer's own size arithmetic is exercised
    analytic = _check_parts(os.path.join(REPO_ROOT, 'configs', 'damofd', name), (100, 150))
    assert all(analytic[p]['flops'] > 0 for p in ('stem', 'c2', 'c3', 'c4', 'c5'))


def _evolved(model, budget, count, seed):
    problem = DamoFDProblem(model, budget, 0.5)
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        child, _ = problem.mutate(problem.initial, rng, 2)
        if child is not None:
            found.append(format_structure(child))
    return found


# children of the 0.5G (inverted depthwise), 2.5G (KxK / K1KxK1) and 10G rules, and two hand-made structures:
# two blocks at total stride 4 (both count as C2), and a block after C5 that DamoFDNet builds but never runs (its
# parameters count, its FLOPs do not)
EVOLVED = (_evolved('0.5g', 65e6, 2, 0) + _evolved('2.5g', 345e6, 2, 1) + _evolved('10g', 1.2e9, 1, 2) + [
    'SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)SuperConvK1BNRELU(16,16,1,2)SuperResIDWE2K5(16,24,2,8,1)'
    'SuperResK1K3K1(24,32,2,8,1)SuperResK5K5(32,40,2,16,1)',
    'SuperConvK5BNRELU(3,8,2,1)SuperResIDWE4K3(8,16,2,8,2)SuperResK7K7(16,24,2,8,1)SuperResK1K7K1(24,32,2,16,1)'
    'SuperResIDWE6K7(32,40,2,8,1)SuperResK3K3(40,48,2,8,1)'])


@pytest.mark.parametrize('structure', EVOLVED, ids=[f'evolved{i}' for i in range(len(EVOLVED))])
def test_evolved_structures_are_counted_exactly_part_by_part(structure):
    template = arch_from_config(TOY_TEMPLATE)
    arch = dict(template, backbone=dict(type='DamoFDNet', structure=structure))
    _check_parts(materialise(arch, TOY_TEMPLATE), (96, 72))


def test_layout_of_a_structure():
    blocks, out_indices, parts = damofd_layout(EVOLVED[-2])
    assert out_indices == (1, 3, 4, 5) and parts == ('stem', 'c2', 'c2', 'c3', 'c4', 'c5')
    assert backbone_out_channels(dict(type='DamoFDNet', structure=EVOLVED[-2])) == [16, 24, 32, 40]
    with pytest.raises(ValueError, match='no block reaches total stride 32'):
        damofd_layout('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)SuperResK3K3(16,16,2,8,1)'
                      'SuperResK3K3(16,16,2,8,1)')


def test_arch_of_a_damofd_config_round_trips_with_a_stable_key(tmp_path):
    config = os.path.join(REPO_ROOT, 'configs', 'damofd', 'damofd_2.5g_4xb8-640e_widerface.py')
    arch = arch_from_config(config)
    assert arch['backbone']['structure'] == STRUCTURES['2.5g']
    assert arch['neck'] == dict(type='PAFPN', out_channels=24)
    assert arch['head']['feat_channels'] == 64 and arch['head']['num_groups'] == 16
    # the structure is written canonically: spaces in the config's string do not change the key
    spaced = Config.fromfile(config)
    spaced.model.backbone.structure = STRUCTURES['2.5g'].replace(')S', ') S')
    assert arch_key(arch_from_config(spaced)) == arch_key(arch) == arch_key(copy.deepcopy(arch))
    # written into a template of another backbone (the toy MobileNetV1 search template) and read back
    cfg = materialise(arch, TOY_TEMPLATE)
    assert cfg.model.backbone == dict(type='DamoFDNet', structure=STRUCTURES['2.5g'])
    assert cfg.model.neck.in_channels == [32, 56, 88, 128]
    assert arch_from_config(cfg) == arch


@pytest.mark.parametrize('change,field', [
    (dict(out_indices=(0, 1, 2, 3)), 'model.backbone.out_indices'),
    (dict(norm_cfg=dict(type='GN', num_groups=8)), 'model.backbone.norm_cfg'),
    (dict(structure='SuperConvK3BNRELU(3,32,2,1)SuperNope(32,32,2,8,1)'), 'model.backbone.structure'),
    (dict(in_channels=1), 'model.backbone.in_channels'),
])
def test_a_damofd_config_the_count_does_not_model_is_refused(tmp_path, change, field):
    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs', 'damofd', 'damofd_0.5g_4xb8-640e_widerface.py'))
    cfg.model.backbone.update(change)
    path = tmp_path / 'bad.py'
    cfg.dump(str(path))
    with pytest.raises(ValueError, match=f'{path}: {field}'):
        arch_from_config(str(path))
