"""DamoFD's block space (``search_tools/spaces/damofd_blocks.py``): the candidate blocks the released evolutionary
search may put in place of a block, and the structural steps around a mutation (re-chaining widths, splitting long
blocks, the layer cap), on the block records of ``mmdet_face.models.backbones.damofd_structure``.

Liu et al., "DamoFD: Digging into Backbone Design on Face Detection" (ICLR 2023); the rules follow the released
``DDSAR/SearchSpace/search_space_{XXBL,IDW_fixfc}.py`` (``gen_search_space``) and ``DDSAR/evolution_search.py``.
"""
import itertools
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet_face.models.backbones.damofd_structure import (BLOCK_NAMES, DamoBlock, format_structure,
                                                          parse_structure, smart_round)

__all__ = ['SPACE_FILE', 'load_damofd_space', 'block_candidates', 'replace_block', 'split_blocks',
           'total_layers', 'initial_structure']

SPACE_FILE = Path(__file__).resolve().parent / 'spaces' / 'damofd_blocks.py'


def load_damofd_space(path=None) -> dict:
    """The space file as a dict (``spaces``, ``models``, ``split_layer_threshold`` ...).

    Raises:
        ValueError: a file that is not a DamoFD block space (the message names the file).
    """
    from search_tools.arch import read_config
    path = Path(path or SPACE_FILE)
    data = read_config(str(path)).to_dict()
    if data.get('family') != 'DamoFD' or 'spaces' not in data:
        raise ValueError(f'{path}: not a DamoFD block space (expected family = "DamoFD" and a spaces dict)')
    for name, rules in data['spaces'].items():
        unknown = [b for group in rules['block_groups'] for b in group if b not in BLOCK_NAMES]
        if unknown:
            raise ValueError(f'{path}: spaces.{name}.block_groups: unknown block names {unknown}')
    return data


def candidate_widths(value: int, factors: Sequence[float], clip: Sequence[Optional[float]], base: int) -> List[int]:
    low, high = clip
    out = set()
    for f in factors:
        x = max(low, value * f)
        if high is not None:
            x = min(high, x)
        out.add(smart_round(x, base))
    return sorted(out, reverse=True)


def block_candidates(block: DamoBlock, rules: dict, round_base: int = 8, min_channels: int = 8
                     ) -> List[List[str]]:
    """The blocks the released ``gen_search_space`` offers for ``block``, every candidate keeping ``block``'s input
    width and stride: for a conv block one list; otherwise one list per block type of a group, as the released
    function leaves them: it appends a de-duplicated copy of its growing list after each type and keeps adding to
    the copy it appended, so list ``k`` of a group holds the candidates of the group's types ``0..k+1`` and the
    last list all of them (a uniform draw from the lists joined together, as the released search makes, favours a
    group's first types). Each list is sorted.

    Args:
        block: The block to replace.
        rules: One entry of the space file's ``spaces`` (``xxbl`` or ``idw``).
    """
    out_widths = candidate_widths(block.out_channels, rules['out_factors'], rules['out_clip'], round_base)
    if block.kind == 'conv':
        if rules.get('keep_1x1_conv_width') and block.kernel_size == 1:
            out_widths = [block.out_channels]
        # the released rule resets a conv block to one layer
        return [sorted({f'{block.name}({block.in_channels},{c},{block.stride},1)' for c in out_widths})]
    layers = sorted({max(0, round(block.num_layers + d)) for d in rules['layer_deltas']}, reverse=True)
    bottlenecks = candidate_widths(block.bottleneck_channels, rules['bottleneck_factors'], rules['bottleneck_clip'],
                          round_base)
    groups = []
    for names in rules['block_groups']:
        cumulative, found = [], set()
        for name in names:
            for c, n, b in itertools.product(out_widths, layers, bottlenecks):
                c, b = smart_round(c, round_base), smart_round(b, round_base)
                if c < min_channels or b < min_channels or n <= 0:
                    continue
                found.add(f'{name}({block.in_channels},{c},{block.stride},{b},{n})')
            cumulative.append(sorted(found))
        # list k holds types 0..k+1 (the last list all of them): see the docstring
        groups.extend(cumulative[min(k + 1, len(names) - 1)] for k in range(len(names)))
    return groups


def replace_block(blocks: Sequence[DamoBlock], index: int, new_block: str) -> Tuple[DamoBlock, ...]:
    """``blocks`` with block ``index`` replaced by ``new_block`` (a block string), every block after the stem
    re-chained to its predecessor's output width, as the released search does after a mutation."""
    parts = [str(b) for b in blocks]
    parts[index] = new_block
    return parse_structure(''.join(parts), rechain=True, source='mutated structure')


def split_blocks(blocks: Sequence[DamoBlock], threshold: int = 6) -> Tuple[DamoBlock, ...]:
    """The released ``split``: a residual block of ``>= threshold`` layers becomes two, ``threshold // 2`` layers
    with the block's stride, then the rest at stride 1 (conv blocks are not split)."""
    parts = []
    for b in blocks:
        if b.kind != 'conv' and b.num_layers >= threshold:
            first = threshold // 2
            parts.append(f'{b.name}({b.in_channels},{b.out_channels},{b.stride},{b.bottleneck_channels},{first})')
            parts.append(f'{b.name}({b.out_channels},{b.out_channels},1,{b.bottleneck_channels},'
                         f'{b.num_layers - first})')
        else:
            parts.append(str(b))
    return parse_structure(''.join(parts), source='split structure')


def total_layers(blocks: Sequence[DamoBlock]) -> int:
    """Layers as the released ``get_num_layers`` counts them (the sum of the blocks' layer counts), the quantity
    the ``max_layers`` cap bounds."""
    return sum(b.num_layers for b in blocks)


def initial_structure(model: str, space: Optional[Dict] = None) -> str:
    """The released search's initial structure for ``model`` (``0.5g`` ...), re-chained as the search uses it."""
    space = space or load_damofd_space()
    if model not in space['models']:
        raise ValueError(f'unknown DamoFD model {model!r}: expected one of {sorted(space["models"])}')
    return format_structure(parse_structure(space['models'][model]['init'], rechain=True,
                                            source=f'models.{model}.init'))
