"""FLOPs of a DamoFD structure as the released evolutionary search counts them, in closed form on the block records
of ``mmdet_face.models.backbones.damofd_structure`` (no network is built).

Liu et al., "DamoFD: Digging into Backbone Design on Face Detection" (ICLR 2023); the count follows the released
``DDSAR/Masternet.py`` ``get_FLOPs`` over ``DDSAR/PlainNet/{basic_blocks,super_blocks,SuperResKXKX,SuperResK1KXK1,
SuperResIDWEXKX}.py``: the search's budget check (``--budget_flops``) compares this number.

Counted, per layer of a block, at the square side ``r`` the layer is entered at (``//`` is integer division):

* conv ``k x k``, ``cin -> cout``, stride ``s``: ``cin cout k^2 r^2 // s^2``; depthwise: ``c k^2 r^2 // s^2``;
* BN: ``r^2 c`` at its input side; ReLU: 0;
* a residual unit's projection shortcut (``ResBlockProj``: the first unit of a residual block; ``ResBlock``: only
  when its stride is 2 or its widths differ): ``cin cout (r' / s)^2 + (r' / s)^2 cout`` with ``r'`` the unit's
  *output* side (as released: the side is divided by the stride once more) and true division.

The side after a stride-2 layer is ``r // 2``. The released count leaves out the classifier. Multiply-accumulates.
"""
import functools
from typing import Sequence

from mmdet_face.models.backbones.damofd_structure import DamoBlock, smart_round

__all__ = ['structure_flops', 'block_flops']


def _conv(cin: int, cout: int, k: int, side: int, stride: int) -> int:
    return cin * cout * k * k * side * side // (stride * stride)


def _dw(c: int, k: int, side: int, stride: int) -> int:
    return c * k * k * side * side // (stride * stride)


def _shortcut(cin: int, cout: int, out_side: int, stride: int) -> float:
    r = out_side / stride
    return cin * cout * r ** 2 + r ** 2 * cout


def _unit(layers, side: int, always_project: bool) -> tuple:
    """FLOPs and output side of one residual unit given as ``[(kind, cin, cout, k, stride)]`` (conv + BN each);
    its shortcut maps the first layer's input width to the last layer's output width."""
    flops, r, stride = 0.0, side, 1
    cin, cout = layers[0][1], layers[-1][2]
    for kind, a, b, k, s in layers:
        flops += _conv(a, b, k, r, s) if kind == 'conv' else _dw(b, k, r, s)
        r //= s
        stride *= s
        flops += r * r * b  # BN
    if always_project or stride > 1 or cin != cout:
        flops += _shortcut(cin, cout, r, stride)
    return flops, r


@functools.lru_cache(maxsize=1 << 16)
def block_flops(block: DamoBlock, side: int) -> tuple:
    """``(FLOPs, output side)`` of one block entered at ``side`` (cached: blocks repeat across candidates)."""
    k, flops, cin, stride = block.kernel_size, 0.0, block.in_channels, block.stride
    cout, btn = block.out_channels, block.bottleneck_channels
    for i in range(block.num_layers):
        first = i == 0
        if block.kind == 'conv':
            flops += _conv(cin, cout, k, side, stride)
            side //= stride
            flops += side * side * cout
        elif block.kind == 'res_kxkx':
            f, side = _unit([('conv', cin, btn, k, stride), ('conv', btn, cout, k, 1)], side, first)
            flops += f
        elif block.kind == 'res_k1kxk1':
            f, side = _unit([('conv', cin, btn, 1, 1), ('conv', btn, btn, k, stride), ('conv', btn, cout, 1, 1)],
                            side, first)
            f2, side = _unit([('conv', cout, btn, 1, 1), ('conv', btn, btn, k, 1), ('conv', btn, cout, 1, 1)],
                             side, False)
            flops += f + f2
        elif block.kind == 'res_idw':
            e = block.expansion
            dw1, dw2 = smart_round(btn * e), smart_round(cout * e)
            f, side = _unit([('conv', cin, dw1, 1, 1), ('dw', dw1, dw1, k, stride), ('conv', dw1, btn, 1, 1)],
                            side, first)
            f2, side = _unit([('conv', btn, dw2, 1, 1), ('dw', dw2, dw2, k, 1), ('conv', dw2, cout, 1, 1)],
                             side, False)
            flops += f + f2
        else:
            raise ValueError(f'block {block}: no FLOPs rule for kind {block.kind!r}')
        cin, stride = cout, 1
    return flops, side


def structure_flops(blocks: Sequence[DamoBlock], resolution: int = 224) -> float:
    """FLOPs (multiply-accumulates) of a block sequence at a square ``resolution``, as the released search counts
    them (see the module docstring)."""
    side, total = int(resolution), 0.0
    for block in blocks:
        flops, side = block_flops(block, side)
        total += flops
    return total
