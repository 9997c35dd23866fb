"""search_tools.damofd_space: the released DamoFD mutation rules (candidate blocks, re-chaining, splitting, layer
cap) read from spaces/damofd_blocks.py, by hand and against the released gen_search_space."""
import json

import pytest

from mmdet_face.models.backbones.damofd_structure import format_structure, parse_structure
from search_tools.damofd_space import (block_candidates, initial_structure, load_damofd_space, replace_block,
                                       split_blocks, total_layers)
from tests.helpers.damofd import STRUCTURES, run_released


@pytest.fixture(scope='module')
def space():
    return load_damofd_space()


def test_candidates_of_a_residual_block_by_hand(space):
    block = parse_structure('SuperConvK3BNRELU(3,24,2,2)SuperResK3K3(24,32,2,24,4)')[1]
    groups = block_candidates(block, space['spaces']['xxbl'])
    # out 32 x (1.75, 2, 1.5, 1.25, 1, 1/1.25, 1/1.5, 1/2, 1/2.5) rounded half-to-even to multiples of 8
    outs = [64, 56, 48, 40, 32, 24, 16]
    # bottleneck 24 x (2.5, 2, 1.5, 1.25, 1, ...): 60 -> 64, 36 -> 32, 30 -> 32, 19.2 -> 16, 12 -> 16, 9.6 -> 8
    bottlenecks = [64, 48, 32, 24, 16, 8]
    layers = [6, 5, 4, 3, 2]
    expected = sorted(f'{name}(24,{c},2,{b},{n})' for name in ('SuperResK3K3', 'SuperResK5K5', 'SuperResK7K7')
                      for c in outs for b in bottlenecks for n in layers)
    # one list per block type, as the released function leaves them: types 0..1, 0..2, 0..2 of each group
    assert [len(g) for g in groups] == [420, 630, 630, 420, 630, 630] and groups[4] == groups[5] == expected
    assert groups[3] == [s for s in expected if not s.startswith('SuperResK7K7')]
    assert all(s.startswith('SuperResK1K') for g in groups[:3] for s in g)


def test_candidates_of_conv_and_inverted_depthwise_blocks(space):
    stem = parse_structure('SuperConvK3BNRELU(3,24,2,2)')[0]
    assert block_candidates(stem, space['spaces']['xxbl']) == [sorted(
        f'SuperConvK3BNRELU(3,{c},2,1)' for c in (48, 40, 32, 24, 16, 8))]
    fc = parse_structure('SuperConvK1BNRELU(3,256,1,1)')[0]
    assert block_candidates(fc, space['spaces']['idw']) == [['SuperConvK1BNRELU(3,256,1,1)']]
    idw = parse_structure(STRUCTURES['0.5g'])[4]  # SuperResIDWE1K5(120,160,2,120,1): outs capped at 128
    groups = block_candidates(idw, space['spaces']['idw'])
    assert len(groups) == 12 and len(groups[0]) == 2 * 27 and groups[-2] == groups[-1]
    group = groups[-1]
    assert {int(s.split('(')[1].split(',')[1]) for s in group} == {128}
    # bottleneck 120 x (2.5 ... 1/2.5), no upper clip: 300 -> 304, 180 -> 176, 150 -> 152, 60 -> 64
    assert {int(s.split(',')[3]) for s in group} == {304, 240, 176, 152, 120, 96, 80, 64, 48}
    assert {int(s.split(',')[4][:-1]) for s in group} == {1, 2, 3}  # 1 + (0, 1, 2, -1, -2), zero dropped
    assert len(group) == 12 * 9 * 3


def test_replace_split_and_count_layers(space):
    blocks = parse_structure(STRUCTURES['2.5g'])
    mutated = replace_block(blocks, 2, 'SuperResK1K7K1(32,72,2,16,7)')
    assert format_structure(mutated) == ('SuperConvK3BNRELU(3,24,2,2)SuperResK3K3(24,32,2,24,4)'
                                         'SuperResK1K7K1(32,72,2,16,7)SuperResK5K5(72,88,2,8,5)'
                                         'SuperResK1K5K1(88,128,2,8,4)')  # the next block takes 72 channels
    split = split_blocks(mutated, space['split_layer_threshold'])
    assert [str(b) for b in split[2:4]] == ['SuperResK1K7K1(32,72,2,16,3)', 'SuperResK1K7K1(72,72,1,16,4)']
    assert total_layers(blocks) == 2 + 4 + 4 + 5 + 4 == 19 and total_layers(split) == total_layers(mutated) == 22
    assert space['models']['2.5g']['max_layers'] == 20  # this child would be discarded


def test_the_released_models_respect_their_layer_caps(space):
    # 6 / 19 / 17 / 20 layers (the released get_num_layers gives the same) against the scripts' caps 14 / 20
    assert {name: total_layers(parse_structure(s)) for name, s in STRUCTURES.items()} == dict(
        zip(('0.5g', '2.5g', '10g', '34g'), (6, 19, 17, 20)))
    for name, s in STRUCTURES.items():
        assert total_layers(parse_structure(s)) <= space['models'][name]['max_layers']


def test_initial_structures_are_rechained_as_the_search_uses_them(space):
    assert initial_structure('0.5g', space).startswith('SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(32,32,2,8,1)')
    with pytest.raises(ValueError, match="unknown DamoFD model '1g'"):
        initial_structure('1g', space)


def test_sample_refuses_the_block_space_with_a_message():
    from search_tools.space import load_space
    with pytest.raises(ValueError, match='damofd_blocks.py: a DamoFD block space .* not a space that sample draws'):
        load_space('damofd_blocks')


def test_a_file_that_is_not_a_damofd_space_is_refused(tmp_path):
    bad = tmp_path / 'space.py'
    bad.write_text("family = 'DamoFD'\nspaces = dict(x=dict(block_groups=[['SuperResK2K2']]))\n")
    with pytest.raises(ValueError, match=r"spaces.x.block_groups: unknown block names \['SuperResK2K2'\]"):
        load_damofd_space(bad)
    (tmp_path / 'other.py').write_text("family = 'ResNetV1e'\n")
    with pytest.raises(ValueError, match='not a DamoFD block space'):
        load_damofd_space(tmp_path / 'other.py')


@pytest.mark.parametrize('space_file, structure', [('search_space_XXBL.py', STRUCTURES['10g']),
                                                   ('search_space_IDW_fixfc.py', STRUCTURES['0.5g'])])
def test_parity_with_the_released_search_space(space, space_file, structure):
    """With MMDET_FACE_DAMOFD_SRC set: the released gen_search_space offers the same blocks for every block."""
    script = f'''
import io, contextlib, json, sys
sys.path.insert(0, 'SearchSpace')
import importlib, Masternet
gen = importlib.import_module({space_file[:-3]!r}).gen_search_space
with contextlib.redirect_stdout(io.StringIO()):
    net = Masternet.MasterNet(num_classes=1000, plainnet_struct={structure!r}, no_create=True)
print(json.dumps([[sorted(g) for g in gen(net.block_list, i)] for i in range(len(net.block_list))]))
'''
    released = json.loads(run_released(script).strip().splitlines()[-1])
    rules = space['spaces']['xxbl' if 'XXBL' in space_file else 'idw']
    ours = [block_candidates(b, rules) for b in parse_structure(structure)]
    for i, (a, b) in enumerate(zip(ours, released)):
        for j, (x, y) in enumerate(zip(a, b)):
            assert x == y, (i, j, sorted(set(x) - set(y))[:5], sorted(set(y) - set(x))[:5])
    assert ours == released
