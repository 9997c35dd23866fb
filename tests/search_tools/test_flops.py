"""search_tools.flops: the analytic FLOPs/params count equals the counter of tools/analysis/get_flops.py
(mmcv's get_model_complexity_info on detector._forward), in total and part by part, on every published SCRFD
config and at an input size that is not a multiple of 32."""
import copy
import glob
import os

import pytest
from mmengine.config import Config

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.models.utils import get_model_complexity
from search_tools.arch import arch_from_config
from search_tools.flops import backbone_out_channels, count_flops, printed_module_gflops, total_flops
from tests.helpers.flops_counter import counted_forward

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLISHED = sorted(glob.glob(os.path.join(REPO, 'configs', 'scrfd', '*.py')))


def test_published_configs_are_found():
    names = {os.path.basename(p).split('_4xb')[0] for p in PUBLISHED}
    assert {'scrfd_500m', 'scrfd_1g', 'scrfd_2.5g', 'scrfd_10g', 'scrfd_34g', 'scrfd_2.5g_bnkps'} <= names


@pytest.mark.parametrize('config', PUBLISHED, ids=[os.path.basename(p) for p in PUBLISHED])
def test_analytic_count_equals_get_flops_on_published_configs(config):
    arch = arch_from_config(config)
    analytic = count_flops(arch)
    counted = get_model_complexity(Config.fromfile(config), (480, 640))
    # exact, not just within 0.5 %: every counted module is modelled (see search_tools/flops.py)
    assert analytic['total']['flops'] == counted['flops']
    assert analytic['total']['params'] == counted['params']


def test_readme_figures_of_published_models():
    # SCRFD's table (GFLOPs at VGA, M params): 2.53 / 0.67, 9.98 / 3.86, 34.13 / 9.80, 0.508 / 0.57
    expected = {'scrfd_2.5g_4xb8': (2.53, 0.67), 'scrfd_10g_4xb8': (9.98, 3.86), 'scrfd_34g_4xb8': (34.13, 9.80),
                'scrfd_500m_4xb8': (0.51, 0.57)}
    for config in PUBLISHED:
        name = os.path.basename(config).split('-640e')[0]
        if name in expected:
            total = count_flops(arch_from_config(config))['total']
            assert round(total['gflops'], 2) == pytest.approx(expected[name][0], abs=0.011), name
            assert round(total['params_m'], 2) == pytest.approx(expected[name][1], abs=0.011), name


def _counted_parts(model, input_shape):
    """FLOPs per part as mmcv's hooks accumulate them in one forward of detector._forward."""
    flops = counted_forward(model, input_shape)
    bb = model.backbone
    parts = dict(stem=flops(bb.stem) + (flops(bb.maxpool) if hasattr(bb, 'maxpool') else 0),
                 c2=flops(bb.layer1), c3=flops(bb.layer2), c4=flops(bb.layer3), c5=flops(bb.layer4),
                 neck=flops(model.neck), head=flops(model.bbox_head))
    return parts


@pytest.mark.parametrize('name', ['scrfd_34g_4xb8-640e_widerface.py', 'scrfd_500m_bnkps_4xb16-640e_widerface.py',
                                  'scrfd_10g_bnkps_4xb8-640e_widerface.py'])
def test_breakdown_matches_counter_per_part_at_odd_input(name):
    # 100 x 150 is not a multiple of 32: exercises every layer's own size arithmetic (ceil vs floor)
    config = os.path.join(REPO, 'configs', 'scrfd', name)
    shape = (100, 150)
    model = init_face_detector(config)
    whole = get_model_complexity(copy.deepcopy(model), shape)  # a copy: both counters tag the modules
    counted = _counted_parts(model, shape)
    analytic = count_flops(arch_from_config(config), shape)
    for part, value in counted.items():
        assert analytic[part]['flops'] == value, part
    assert analytic['total']['flops'] == sum(counted.values())
    assert analytic['backbone']['flops'] == sum(counted[p] for p in ('stem', 'c2', 'c3', 'c4', 'c5'))
    assert analytic['total']['flops'] == whole['flops'] and analytic['total']['params'] == whole['params']
    params = dict(neck=sum(p.numel() for p in model.neck.parameters()),
                  head=sum(p.numel() for p in model.bbox_head.parameters()),
                  backbone=sum(p.numel() for p in model.backbone.parameters()))
    for part, value in params.items():
        assert analytic[part]['params'] == value, part


def test_stem_by_hand():
    # ResNetV1e stem of width 8 on a 32 x 32 image: three 3x3 convs at 16 x 16 (3->4, 4->4, 4->8), BN + ReLU each,
    # then the 2x2 max-pool counted on its 8 x 16 x 16 input.
    arch = dict(backbone=dict(type='ResNetV1e', block='BasicBlock', stem_channels=8, stage_blocks=[1, 1, 1, 1],
                              stage_planes=[8, 8, 8, 8]),
                neck=dict(type='PAFPN', out_channels=8),
                head=dict(feat_channels=8, stacked_convs=1, norm='GN', num_groups=8, dw_conv=False,
                          strides_share=True, cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5,
                          num_anchors=2))
    hw = 16 * 16
    convs = 9 * 3 * 4 * hw + 9 * 4 * 4 * hw + 9 * 4 * 8 * hw
    norms_relus = (2 + 1) * (4 + 4 + 8) * hw
    maxpool = 8 * hw
    stem = count_flops(arch, (32, 32))['stem']
    assert stem['flops'] == convs + norms_relus + maxpool == 152576
    assert stem['params'] == 9 * 3 * 4 + 9 * 4 * 4 + 9 * 4 * 8 + 2 * (4 + 4 + 8) == 572
    # the same stem as mmcv's printed table shows it (3 decimals of GFLOPs, without the max-pool)
    assert printed_module_gflops(arch, (32, 32))['stem'] == round((152576 - 2048) / 1e9, 3) == 0.0
    assert printed_module_gflops(arch_from_config(PUBLISHED[0]))['stem'] > 0


HEAD = dict(feat_channels=24, stacked_convs=2, norm='GN', num_groups=8, dw_conv=False, strides_share=True,
            cls_reg_share=True, scale_mode=2, use_kps=False, num_keypoints=5, num_anchors=2)
VARIANTS = [  # head switches no published config combines, on both backbone families
    ('ResNetV1e', dict(cls_reg_share=False, strides_share=False, norm='BN', num_groups=None, use_kps=True)),
    ('ResNetV1e', dict(dw_conv=True, stacked_convs=3, scale_mode=0)),
    ('MobileNetV1', dict(cls_reg_share=False, dw_conv=True, strides_share=False, scale_mode=1)),
    ('MobileNetV1', dict(stacked_convs=0, use_kps=True)),
]


@pytest.mark.parametrize('family,head', VARIANTS, ids=[f'{f}-{i}' for i, (f, _) in enumerate(VARIANTS)])
def test_head_switches_are_counted_exactly(family, head):
    from search_tools.arch import materialise
    backbone = (dict(type='ResNetV1e', block='Bottleneck', stem_channels=16, stage_blocks=[2, 1, 2, 1],
                     stage_planes=[16, 16, 24, 32]) if family == 'ResNetV1e' else
                dict(type='MobileNetV1', stage_blocks=[1, 2, 1, 2], stage_planes=[8, 16, 16, 24, 32, 48]))
    arch = dict(backbone=backbone, neck=dict(type='PAFPN', out_channels=16), head=dict(HEAD, **head))
    template = os.path.join(REPO, 'configs', 'toy', 'scrfd_toy_kps.py')
    counted = get_model_complexity(materialise(arch, template), (64, 96))
    analytic = count_flops(arch, (64, 96))['total']
    assert (analytic['flops'], analytic['params']) == (counted['flops'], counted['params'])


def _random_arch(rng):
    """Any architecture the count accepts, odd widths and zero depths included (not only the search's)."""
    if rng.random() < 0.5:
        backbone = dict(type='ResNetV1e', block=['BasicBlock', 'Bottleneck'][rng.integers(2)],
                        stem_channels=int(rng.integers(2, 80)), stage_blocks=rng.integers(0, 6, 4).tolist(),
                        stage_planes=rng.integers(1, 200, 4).tolist())
    else:
        backbone = dict(type='MobileNetV1', stage_blocks=rng.integers(0, 6, 4).tolist(),
                        stage_planes=rng.integers(1, 200, 6).tolist())
    head = dict(HEAD, feat_channels=int(rng.integers(1, 100)), stacked_convs=int(rng.integers(0, 4)),
                dw_conv=bool(rng.integers(2)), strides_share=bool(rng.integers(2)),
                cls_reg_share=bool(rng.integers(2)), scale_mode=int(rng.integers(0, 3)), use_kps=bool(rng.integers(2)),
                num_keypoints=int(rng.integers(1, 7)), num_anchors=int(rng.integers(1, 4)))
    return dict(backbone=backbone, neck=dict(type='PAFPN', out_channels=int(rng.integers(1, 100))), head=head)


def test_total_flops_equals_the_breakdown_total():
    """The projection's closed-form total is the breakdown's total on 2,000 random architectures and input
    shapes (odd sizes, 1-pixel images, zero depths, every head switch)."""
    import numpy as np
    rng = np.random.default_rng(0)
    for _ in range(2000):
        arch = _random_arch(rng)
        shape = (int(rng.integers(1, 700)), int(rng.integers(1, 700)))
        assert total_flops(arch, shape) == count_flops(arch, shape)['total']['flops'], (arch, shape)
    arch = arch_from_config(PUBLISHED[0])
    assert total_flops(arch, (320,)) == count_flops(arch, (320,))['total']['flops']
    with pytest.raises(ValueError, match="'ResNetV1e' or 'MobileNetV1'"):
        total_flops(dict(arch, backbone=dict(arch['backbone'], type='VGG')))


def test_batch_counts_equal_the_breakdown():
    """The numpy counts of many ResNetV1e architectures at once (the released sampler's) equal count_flops part by
    part and in total, on 1,000 random architectures (zero depths, both blocks, every head switch, per-row tower
    depths) at odd input shapes."""
    import numpy as np

    from search_tools.flops import (neck_head_flops_batch, resnet_backbone_flops_batch, resnet_backbone_parts_batch,
                                    resnet_total_flops_batch)
    rng = np.random.default_rng(1)
    for _ in range(10):
        archs = []
        while len(archs) < 100:
            arch = _random_arch(rng)
            if arch['backbone']['type'] == 'ResNetV1e':
                archs.append(arch)
        head = dict(archs[0]['head'])  # the switches are shared by the batch; widths and tower depths are not
        archs = [dict(a, head=dict(head, feat_channels=a['head']['feat_channels'],
                                   stacked_convs=a['head']['stacked_convs'])) for a in archs]
        shape = (int(rng.integers(1, 700)), int(rng.integers(1, 700)))
        blocks = np.array([a['backbone']['block'] for a in archs])
        depths = np.array([a['backbone']['stage_blocks'] for a in archs])
        widths = np.array([[a['backbone']['stem_channels']] + a['backbone']['stage_planes'] for a in archs])
        neck = np.array([a['neck']['out_channels'] for a in archs])
        feat = np.array([a['head']['feat_channels'] for a in archs])
        stacked = np.array([a['head']['stacked_convs'] for a in archs])
        counts = [count_flops(a, shape) for a in archs]
        total = resnet_total_flops_batch(blocks, depths, widths, neck, feat, head, shape, stacked)
        assert total.dtype == np.int64 and total.tolist() == [c['total']['flops'] for c in counts]
        assert resnet_backbone_flops_batch(blocks, depths, widths, shape).tolist() == \
            [c['backbone']['flops'] for c in counts]
        parts = resnet_backbone_parts_batch(blocks, depths, widths, shape)
        assert (parts['stem'] + parts['maxpool']).tolist() == [c['stem']['flops'] for c in counts]
        for i, arch in enumerate(archs):  # the modules of mmcv's printed table (the stem without its max-pool)
            printed = printed_module_gflops(arch, shape)
            assert [round(int(parts[p][i]) / 1e9, 3) for p in ('stem', 'c2', 'c3', 'c4', 'c5')] == \
                [printed[m] for m in ('stem', 'layer1', 'layer2', 'layer3', 'layer4')]
            assert [int(parts[p][i]) for p in ('c2', 'c3', 'c4', 'c5')] == \
                [counts[i][p]['flops'] for p in ('c2', 'c3', 'c4', 'c5')]
        outs = np.array([backbone_out_channels(a['backbone'])[1:] for a in archs])
        assert neck_head_flops_batch(outs, neck, feat, head, shape, stacked).tolist() == \
            [c['neck']['flops'] + c['head']['flops'] for c in counts]
    # one block name for all rows, one tower depth from the head: the same numbers
    arch = arch_from_config(PUBLISHED[0])
    bb = arch['backbone']
    assert resnet_total_flops_batch(bb['block'], [bb['stage_blocks']] * 2, [[bb['stem_channels']] + bb['stage_planes']]
                                    * 2, arch['neck']['out_channels'], arch['head']['feat_channels'],
                                    arch['head']).tolist() == [total_flops(arch)] * 2
    with pytest.raises(ValueError, match=r"block must be one of \['BasicBlock', 'Bottleneck'\], got \['Basic'\]"):
        resnet_backbone_flops_batch(np.array(['Basic', 'BasicBlock']), [[1] * 4] * 2, [[8] * 5] * 2)
    with pytest.raises(ValueError, match='may overflow int64: count them one by one with total_flops'):
        resnet_backbone_flops_batch('Bottleneck', [[10] * 4], [[2 ** 20] * 5])
