"""DamoFD structure strings (strict parsing, errors with the position and field) and the DamoFDNet backbone
(C2..C5 shapes, parameter counts and outputs of the released PlainNet blocks)."""
import json

import pytest
import torch
from mmengine.config import Config

from mmdet_face.models.backbones import DamoFDNet
from mmdet_face.models.backbones.damofd_structure import (StructureError, format_structure, parse_structure,
                                                          smart_round)
from tests.helpers.damofd import STRUCTURES, run_released
from tests.helpers.paths import REPO_ROOT

# Backbone parameters of the released PlainNet blocks (DDSAR/Masternet.MasterNet(plainnet_struct=S).module_list,
# summed numel), measured with: cd /tmp/ddsar_ref (a copy of DDSAR/{Masternet.py,PlainNet,global_utils.py})
# && python params_ref.py
RELEASED_PARAMS = {'0.5g': 224368, '2.5g': 342968, '10g': 877968, '34g': 4049664}
OUT_CHANNELS = {'0.5g': (32, 64, 120, 160), '2.5g': (32, 56, 88, 128), '10g': (80, 112, 168, 256),
                '34g': (224, 488, 624, 816)}


# ---------------------------------------------------------------------------------------------------- parsing
def test_parse_reads_every_field_and_round_trips():
    blocks = parse_structure(STRUCTURES['2.5g'])
    assert [b.name for b in blocks] == ['SuperConvK3BNRELU', 'SuperResK3K3', 'SuperResK3K3', 'SuperResK5K5',
                                        'SuperResK1K5K1']
    last = blocks[-1]
    assert (last.kind, last.in_channels, last.out_channels, last.stride, last.bottleneck_channels,
            last.num_layers, last.kernel_size, last.expansion) == ('res_k1kxk1', 88, 128, 2, 8, 4, 5, None)
    assert blocks[0].num_layers == 2 and blocks[0].bottleneck_channels is None
    assert blocks[1].position == len('SuperConvK3BNRELU(3,24,2,2)')
    idw = parse_structure(STRUCTURES['0.5g'])[2]
    assert (idw.kind, idw.expansion, idw.kernel_size, idw.bottleneck_channels) == ('res_idw', 1, 7, 40)
    for s in STRUCTURES.values():
        assert format_structure(parse_structure(s)) == s
    # whitespace between blocks is allowed
    assert parse_structure('SuperConvK3BNRELU(3,8,2,1)\n  SuperResK3K3(8,16,2,8,1)')[1].in_channels == 8


@pytest.mark.parametrize('text, message', [
    ('SuperConvK3BNRELU(3,32,2,1)SuperResK9K9(32,64,2,16,1)',
     "position 27, block 1 'SuperResK9K9(32,64,2,16,1)': unknown block name 'SuperResK9K9'"),
    ('SuperConvK3BNRELU(3,32,2,1)SuperResK3K5(32,64,2,16,1)', "unknown block name 'SuperResK3K5'"),
    ('SuperConvK3BNRELU(3,32,2,1)SuperResK3K3(32,64,2,16,1',
     'position 27: expected a block such as SuperResK3K3(24,32,2,24,4)'),
    ('SuperConvK3BNRELU(3,32,2,1) junk', 'position 28: expected a block'),
    ('SuperConvK3BNRELU(3,32,2)', 'expected 4 arguments (in_channels, out_channels, stride, num_layers), got 3'),
    ('SuperConvK3BNRELU(3,32,2,1)SuperResK3K3(32,64,2,1)', 'expected 5 arguments'),
    ('SuperConvK3BNRELU(3,32,2,x)', "num_layers must be an integer >= 1, got 'x'"),
    ('SuperConvK3BNRELU(3,32,2,0)', "num_layers must be an integer >= 1, got '0'"),
    ('SuperConvK3BNRELU(3,-32,2,1)', "out_channels must be an integer >= 1, got '-32'"),
    ('SuperConvK3BNRELU(3,32,3,1)', "block 0 'SuperConvK3BNRELU(3,32,3,1)': stride must be 1 or 2, got 3"),
    ('SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(8,32,2,8,1)',
     "position 27, block 1 'SuperResIDWE1K3(8,32,2,8,1)': in_channels is 8 but the previous block outputs 32 "
     'channels (channels must chain)'),
    ('SuperConvK3BNRELU(1,32,2,1)', 'in_channels is 1 but the input image has 3 channels'),
    ('', 'empty structure string'),
    ('SuperConvK3BNRELU(3,32,2,1)(x|3,32)', 'position 27: expected a block'),
])
def test_bad_strings_name_position_block_and_field(text, message):
    with pytest.raises(StructureError) as err:
        parse_structure(text, source='--struct')
    assert message in str(err.value) and str(err.value).startswith('--struct')


def test_structure_error_is_raised_before_any_layer_is_built():
    with pytest.raises(StructureError, match='stride must be 1 or 2, got 3'):
        DamoFDNet('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,3,8,1)')
    with pytest.raises(StructureError, match=r'no block reaches total stride 8 \(block strides \(2, 4\)\)'):
        DamoFDNet('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)')
    with pytest.raises(StructureError, match='expected increasing indices of the 2 blocks'):
        DamoFDNet('SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)', out_indices=(1, 0))


def test_smart_round_is_the_released_rounding():
    # round-half-to-even, multiples of 8, at least 8
    assert [smart_round(x) for x in (3, 12, 20, 28, 40, 44, 52, 160 * 1.5)] == [8, 16, 16, 32, 40, 48, 48, 240]


# ---------------------------------------------------------------------------------------------------- backbone
@pytest.mark.parametrize('name', sorted(STRUCTURES))
def test_c2_to_c5_shapes_and_parameters(name):
    model = DamoFDNet(STRUCTURES[name])
    model.init_weights()
    assert model.out_indices == (1, 2, 3, 4) and model.out_strides == (4, 8, 16, 32)
    assert model.out_channels == OUT_CHANNELS[name]
    assert sum(p.numel() for p in model.parameters()) == RELEASED_PARAMS[name]
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, c, 64 // s, 96 // s)
                                              for c, s in zip(OUT_CHANNELS[name], (4, 8, 16, 32))]


def test_block_layouts():
    """Stride on the first unit, projection on the first unit only (later ones when widths differ), BN eps
    1e-3, two units per sub-layer for K1KxK1 and IDW blocks, expanded width smart_round(bottleneck * e)."""
    model = DamoFDNet('SuperConvK3BNRELU(3,8,2,2)SuperResK3K3(8,16,2,8,2)SuperResK1K5K1(16,24,2,8,1)'
                      'SuperResIDWE4K7(24,32,2,12,1)SuperResK3K3(32,32,2,8,1)')
    stem, kxkx, k1kxk1, idw, _ = model.stages
    assert [m[0].stride for m in stem] == [(2, 2), (1, 1)] and stem[0][1].eps == 1e-3
    assert kxkx[0].shortcut is not None and kxkx[1].shortcut is None
    assert kxkx[0].branch[0][0].stride == (2, 2) and kxkx[0].shortcut[0].stride == (2, 2)
    assert len(k1kxk1) == 2 and k1kxk1[0].branch[1][0].kernel_size == (5, 5) and k1kxk1[1].shortcut is None
    first, second = idw
    assert first.branch[0][0].out_channels == smart_round(12 * 4) == 48
    assert first.branch[1][0].groups == 48 and first.branch[1][0].kernel_size == (7, 7)
    assert first.branch[2][0].out_channels == 12 and second.branch[0][0].out_channels == smart_round(32 * 4)
    assert second.shortcut is not None  # 12 -> 32 channels
    model.init_weights()
    assert torch.count_nonzero(kxkx[0].branch[-1][1].weight) == 0  # last norm of a residual branch starts at 0


def test_configs_hold_the_released_structures():
    for name, structure in STRUCTURES.items():
        for variant in ('', '_kps'):
            cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'damofd' / f'damofd_{name}{variant}_4xb8-640e_widerface.py'))
            assert cfg.model.backbone == dict(type='DamoFDNet', structure=structure)
            assert cfg.model.neck.in_channels == list(OUT_CHANNELS[name])
            assert cfg.model.bbox_head.use_kps == (variant == '_kps')


def test_released_blocks_parity():
    """With MMDET_FACE_DAMOFD_SRC set: the released PlainNet network and DamoFDNet, given the same weights and
    BN statistics, give the same C2..C5 maps in eval mode, and have the same parameter counts."""
    script = f'''
import io, contextlib, json, torch
import Masternet
from mmdet_face.models.backbones import DamoFDNet
structures = {json.dumps(STRUCTURES)}
result = {{}}
torch.manual_seed(0)
for name, s in structures.items():
    with contextlib.redirect_stdout(io.StringIO()):
        ref = Masternet.MasterNet(num_classes=10, plainnet_struct=s)
    ours = DamoFDNet(s)
    with torch.no_grad():
        for a, b in zip(ref.module_list.parameters(), ours.parameters()):
            a.normal_(0, 0.2); b.copy_(a)
        for a, b in zip(ref.module_list.buffers(), ours.buffers()):
            if a.dtype.is_floating_point: a.uniform_(0.5, 1.5)
            b.copy_(a)
        ref.eval(); ours.eval()
        x = torch.randn(2, 3, 64, 64)
        feats, out = [], x
        for block in ref.block_list:
            out = block(out); feats.append(out)
        mine = ours(x)
    result[name] = dict(params=sum(p.numel() for p in ref.module_list.parameters()),
                        diff=max(float((feats[i] - m).abs().max()) for i, m in zip(ours.out_indices, mine)))
print(json.dumps(result))
'''
    result = json.loads(run_released(script).strip().splitlines()[-1])
    for name in STRUCTURES:
        assert result[name]['params'] == RELEASED_PARAMS[name]
        assert result[name]['diff'] == 0.0, name
