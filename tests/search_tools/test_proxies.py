"""search_tools.proxies: DDSAR by hand and against the released code's values, the block mapping of our search
candidates, and the network proxies (zen, naswot, params, flops): deterministic, finite, ordered on a trivial pair."""
import json
import math

import pytest
import torch

from search_tools.proxies import PROXIES, ProxyScore, get_proxy
from search_tools.proxies.ddsar import STAGE_WEIGHTS, blocks_from_backbone_cfg, ddsar, stage_scores
from mmdet_face.models.backbones.damofd_structure import parse_structure
from tests.helpers.damofd import STRUCTURES, run_released

# The released DDSAR (DDSAR/Masternet.py) of the four released structure strings: totals and per-stage SAR at a
# 224 and a 640 input, alpha 0.005. Produced by the released code itself, copied to /tmp/ddsar_ref
# (Masternet.py, PlainNet/, global_utils.py) and run as
#   net = Masternet.MasterNet(num_classes=1000, plainnet_struct=S, no_create=True)
#   net.forward_ddsar_score((R, R)), net.compute_sar_score(R)      for R in (224, 640)
# (/tmp/ddsar_ref/run_ref.py; the values are repr() of its floats).
RELEASED_DDSAR = {
    ('0.5g', 224): (9.335759107722323, (2.493377413337479, 12.050960941098829, 11.260681819436842,
                                        10.46105317297769, 8.851641449629485)),
    ('0.5g', 640): (11.047753398684215, (2.6555953349481567, 14.150550018715899, 13.36021663425753,
                                         12.560472720179323, 10.950465784446314)),
    ('2.5g', 224): (11.132108326429336, (11.29786173744614, 12.436393780045313, 11.099835346350012,
                                         10.03255374372665, 9.338911478695719)),
    ('2.5g', 640): (13.231553799067372, (13.397375597774266, 14.535997783307325, 13.199347148525383,
                                         12.13182805073142, 11.4379344175654)),
    ('10g', 224): (12.041123028661735, (11.639607240824478, 14.012800705596737, 12.719793908135246,
                                        10.887200689086779, 7.901007889162892)),
    ('10g', 640): (14.140498720344148, (13.739158846638324, 16.11243548030486, 14.81940516817355,
                                        12.986695244691711, 9.998529352462757)),
    ('34g', 224): (12.436182790158792, (11.639607240824478, 14.23594601869128, 13.027277340153981,
                                        11.348477141904828, 9.650106963658876)),
    ('34g', 640): (14.535738649429538, (13.739158846638324, 16.335582688277785, 15.126898515656672,
                                        13.448027015068561, 11.749300626403627)),
}
TINY = (32, 32)


def damofd(structure):
    return dict(type='DamoFDNet', structure=structure)


# -------------------------------------------------------------------------------------------------------- DDSAR
def test_ddsar_two_stage_example_by_hand():
    blocks = parse_structure('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,4,2)')
    # stage 1 at side 32: log(32^2 * 3) + 32^2 * 3 * log(3/3); one 3x3 kernel
    sar1 = math.log(math.log(3072) + 0.0) + 0.005 * 3
    # stage 2 enters at 16; per layer: in (before the stride), bottleneck (after); kernels 2 x (3 + 3)
    sar2 = math.log(math.log(768) + 768 * math.log(8 / 3) + 192 * math.log(4 / 3)
                    + 192 * math.log(16 / 3) + 192 * math.log(4 / 3)) + 0.005 * 12
    assert stage_scores(blocks, 32, 0.005) == pytest.approx((sar1, sar2), rel=1e-15, abs=0)
    result = ddsar(blocks, 32, 0.005, stage_weights=(0.6, 0.4))
    assert result.total == pytest.approx(0.6 * sar1 + 0.4 * sar2, rel=1e-15)
    assert result.per_stage == pytest.approx((sar1, sar2), rel=1e-15)
    # alpha is the weight of the kernel term: alpha 0.25 adds 0.245 x the kernel sums
    assert stage_scores(blocks, 32, 0.25)[1] - sar2 == pytest.approx(0.245 * 12, rel=1e-12)


def test_ddsar_bottleneck_and_inverted_depthwise_rules_by_hand():
    stem = 'SuperConvK3BNRELU(3,8,2,1)'
    k1kxk1 = stage_scores(parse_structure(stem + 'SuperResK1K5K1(8,16,2,4,1)'), 32)[1]
    # in, bottleneck at 16; bottleneck, out, bottleneck, bottleneck at 8; kernels 2 x 5 + 4 x 1
    assert k1kxk1 == pytest.approx(math.log(
        math.log(768) + 768 * math.log(8 / 3) + 768 * math.log(4 / 3) + 192 * math.log(4 / 3)
        + 192 * math.log(16 / 3) + 2 * 192 * math.log(4 / 3)) + 0.005 * 14, rel=1e-15)
    idw = stage_scores(parse_structure(stem + 'SuperResIDWE2K3(8,16,2,4,1)'), 32)[1]
    # expanded width 2 x 4 = 8: in, 8 at 16; 8, bottleneck, 8, 8 at 8; kernels 2 x 3 + 4
    assert idw == pytest.approx(math.log(
        math.log(768) + 768 * math.log(8 / 3) + 768 * math.log(8 / 3) + 192 * math.log(8 / 3)
        + 192 * math.log(4 / 3) + 2 * 192 * math.log(8 / 3)) + 0.005 * 10, rel=1e-15)


@pytest.mark.parametrize('name, side', sorted(RELEASED_DDSAR))
def test_ddsar_equals_the_released_values(name, side):
    total, per_stage = RELEASED_DDSAR[name, side]
    result = get_proxy('ddsar')(damofd(STRUCTURES[name]), input_size=(side, side))
    assert abs(result.total - total) <= 1e-9 and result.total == total  # bit-identical, same summation order
    assert len(result.per_stage) == 5
    assert all(abs(a - b) <= 1e-9 for a, b in zip(result.per_stage, per_stage))


def test_ddsar_needs_five_stages_and_valid_options():
    score = get_proxy('ddsar')
    with pytest.raises(ValueError, match='DDSAR weighs 5 stages .*the structure has 2 blocks'):
        score(damofd('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,4,2)'))
    with pytest.raises(ValueError, match=r"ddsar: unknown options \['batch_size'\]"):
        score(damofd(STRUCTURES['0.5g']), batch_size=4)
    with pytest.raises(ValueError, match='unknown block name'):
        score(damofd('SuperFoo(3,8,2,1)'))
    with pytest.raises(ValueError, match="no block mapping for backbone type 'ResNet'"):
        score(dict(type='ResNet', depth=18))
    with pytest.raises(ValueError, match="backbone config 'MobileNetV1': TypeError: .*unexpected keyword"):
        get_proxy('params')(dict(type='MobileNetV1', widths=3))
    with pytest.raises(ValueError, match="backbone config 'NoSuchNet': KeyError"):
        get_proxy('flops')(dict(type='NoSuchNet'))


def test_ddsar_of_our_candidates_is_that_of_their_equivalent_blocks():
    resnet = dict(type='ResNetV1e', depth=0, base_channels=24,
                  block_cfg=dict(block='BasicBlock', stage_blocks=(3, 5, 3, 2), stage_planes=[24, 48, 48, 80]))
    assert blocks_from_backbone_cfg(resnet) == parse_structure(
        'SuperConvK3BNRELU(3,24,2,3)SuperResK3K3(24,24,2,24,3)SuperResK3K3(24,48,2,48,5)'
        'SuperResK3K3(48,48,2,48,3)SuperResK3K3(48,80,2,80,2)')
    bottleneck = dict(resnet, block_cfg=dict(block='Bottleneck', stage_blocks=(17, 16, 2, 8),
                                             stage_planes=[56, 56, 144, 184]), base_channels=56)
    assert blocks_from_backbone_cfg(bottleneck) == parse_structure(
        'SuperConvK3BNRELU(3,56,2,3)SuperResK1K3K1(56,224,2,56,9)SuperResK1K3K1(224,224,2,56,8)'
        'SuperResK1K3K1(224,576,2,144,1)SuperResK1K3K1(576,736,2,184,4)')
    mobilenet = dict(type='MobileNetV1', block_cfg=dict(stage_blocks=(2, 3, 2, 6),
                                                        stage_planes=[16, 16, 40, 72, 152, 288]))
    assert blocks_from_backbone_cfg(mobilenet) == parse_structure(
        'SuperConvK3BNRELU(3,16,2,2)SuperResIDWE1K3(16,40,2,40,1)SuperResIDWE1K3(40,72,2,72,2)'
        'SuperResIDWE1K3(72,152,2,152,1)SuperResIDWE1K3(152,288,2,288,3)')
    assert get_proxy('ddsar')(resnet).total == ddsar(blocks_from_backbone_cfg(resnet)).total


def test_ddsar_parity_with_the_released_code():
    """With MMDET_FACE_DAMOFD_SRC set: the released Masternet gives the same totals and per-stage values."""
    script = f'''
import io, contextlib, json
import Masternet
structures = {json.dumps(STRUCTURES)}
out = {{}}
for name, s in structures.items():
    with contextlib.redirect_stdout(io.StringIO()):
        net = Masternet.MasterNet(num_classes=1000, plainnet_struct=s, no_create=True)
    for side in (224, 640, 480):
        out[f'{{name}}@{{side}}'] = [net.forward_ddsar_score((side, side)), list(net.compute_sar_score(side).values())]
print(json.dumps(out))
'''
    released = json.loads(run_released(script).strip().splitlines()[-1])
    for key, (total, per_stage) in released.items():
        name, side = key.split('@')
        ours = get_proxy('ddsar')(damofd(STRUCTURES[name]), input_size=(int(side), int(side)))
        assert ours.total == total and list(ours.per_stage) == per_stage, key


# ------------------------------------------------------------------------------------------------- the registry
def test_get_proxy_names_the_valid_ones():
    assert PROXIES == ('ddsar', 'zen', 'naswot', 'params', 'flops')
    for name in PROXIES:
        assert callable(get_proxy(name))
    with pytest.raises(ValueError, match="unknown proxy 'synflow': expected one of ddsar, zen, naswot, params, "
                                         'flops'):
        get_proxy('synflow')


# --------------------------------------------------------------------------------------------- network proxies
def test_params_and_flops_of_a_one_conv_backbone_by_hand():
    one_conv = damofd('SuperConvK3BNRELU(3,8,2,1)')
    cfg = dict(one_conv, out_indices=(0,))
    assert get_proxy('params')(cfg) == ProxyScore(total=3 * 3 * 3 * 8 + 2 * 8)
    # 16 x 16 outputs: 3x3x3x8 MACs each, BN 2 per element, ReLU 1 per element
    assert get_proxy('flops')(cfg, input_size=TINY) == ProxyScore(total=(216 + 2 * 8 + 8) * 256)


@pytest.mark.parametrize('name', PROXIES)
def test_proxies_are_deterministic_finite_and_ordered(name):
    score = get_proxy(name)
    small, large = damofd(STRUCTURES['0.5g']), damofd(STRUCTURES['34g'])
    state = torch.random.get_rng_state()
    a = score(small, input_size=TINY, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the process's random state is left alone
    assert a == score(small, input_size=TINY, seed=3)
    assert math.isfinite(a.total) and all(math.isfinite(v) for v in a.per_stage)
    assert score(large, input_size=TINY, seed=3).total > a.total


@pytest.mark.parametrize('name', ['zen', 'naswot'])
def test_zen_and_naswot_depend_on_the_seed_and_run_our_candidates(name):
    score = get_proxy(name)
    mobilenet = dict(type='MobileNetV1', block_cfg=dict(stage_blocks=(2, 3, 2, 6),
                                                        stage_planes=[16, 16, 40, 72, 152, 288]))
    first, second = score(mobilenet, input_size=TINY, seed=0), score(mobilenet, input_size=TINY, seed=1)
    assert math.isfinite(first.total) and first.total != second.total
    if name == 'zen':
        assert len(first.per_stage) == 2 and first.total == pytest.approx(sum(first.per_stage) / 2)
    with pytest.raises(ValueError, match=f'{name}: unknown options'):
        score(mobilenet, input_size=TINY, alpha=1.0)
