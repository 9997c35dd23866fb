"""DamoFD structure strings: strict parsing into block records.

DamoFD: Digging into Backbone Design on Face Detection (Liu et al., ICLR 2023); the string format is Zen-NAS's
PlainNet (Lin et al., ICCV 2021), as written by the released ``DDSAR/PlainNet/*.py`` and pasted into the released
detector configs (``backbone=dict(type='MasterNet', plainnet_struct=...)``).

A structure string is a sequence of blocks written back to back, for example::

    SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(32,32,2,8,1)SuperResK1K5K1(88,128,2,8,4)

Block names and arguments (all positive integers):

* ``SuperConvK<k>BNRELU(in, out, stride, layers)``, k in 1/3/5/7: ``layers`` x (conv k x k, BN, ReLU); the first
  conv carries the stride.
* ``SuperResK<k>K<k>(in, out, stride, bottleneck, layers)``, k in 3/5/7: ``layers`` residual units
  (conv k x k in -> bottleneck with the stride, BN, ReLU, conv k x k bottleneck -> out, BN).
* ``SuperResK1K<k>K1(in, out, stride, bottleneck, layers)``, k in 3/5/7: per layer two bottleneck units
  (1x1 -> bottleneck, k x k, 1x1 -> out); the stride is on the first unit's k x k conv.
* ``SuperResIDWE<e>K<k>(in, out, stride, bottleneck, layers)``, e in 1/2/4/6, k in 3/5/7: per layer two inverted
  depthwise units (1x1 expand, k x k depthwise, 1x1 project): the first ends at ``bottleneck`` channels, the
  second at ``out``; the expanded widths are ``smart_round(bottleneck * e)`` and ``smart_round(out * e)``.

The released parser accepts any string whose blocks it can instantiate (it builds mismatched channels and lets the
forward pass fail); here every string is checked before anything is built: known block names, the argument count,
integers >= 1, strides 1 or 2, and channels that chain (each block's ``in`` is the previous block's ``out``, the
first block's is the image channels). Errors are :class:`StructureError` naming the position in the string, the
block and the field.
"""
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple

__all__ = ['StructureError', 'DamoBlock', 'parse_structure', 'format_structure', 'smart_round', 'BLOCK_NAMES']

CONV_KERNELS = (1, 3, 5, 7)
RES_KERNELS = (3, 5, 7)
IDW_EXPANSIONS = (1, 2, 4, 6)

# kind -> argument names in string order
FIELDS = {
    'conv': ('in_channels', 'out_channels', 'stride', 'num_layers'),
    'res_kxkx': ('in_channels', 'out_channels', 'stride', 'bottleneck_channels', 'num_layers'),
    'res_k1kxk1': ('in_channels', 'out_channels', 'stride', 'bottleneck_channels', 'num_layers'),
    'res_idw': ('in_channels', 'out_channels', 'stride', 'bottleneck_channels', 'num_layers'),
}


def _block_names() -> dict:
    """Every released block name -> (kind, kernel size, expansion)."""
    names = {f'SuperConvK{k}BNRELU': ('conv', k, None) for k in CONV_KERNELS}
    names.update({f'SuperResK{k}K{k}': ('res_kxkx', k, None) for k in RES_KERNELS})
    names.update({f'SuperResK1K{k}K1': ('res_k1kxk1', k, None) for k in RES_KERNELS})
    names.update({f'SuperResIDWE{e}K{k}': ('res_idw', k, e) for e in IDW_EXPANSIONS for k in RES_KERNELS})
    return names


BLOCK_NAMES = _block_names()
_BLOCK_RE = re.compile(r'([A-Za-z][A-Za-z0-9]*)\(([^()]*)\)')


class StructureError(ValueError):
    """A structure string that is not a valid DamoFD backbone; the message names the position and the field."""


def smart_round(value: float, base: int = 8) -> int:
    """Round to a multiple of ``base`` (Python's round-half-to-even), at least ``base``: the released
    ``global_utils.smart_round(x, base=8)`` that sizes the expanded width of an inverted depthwise unit."""
    return max(base, round(value / float(base)) * base)


@dataclass(frozen=True)
class DamoBlock:
    """One block of a structure string.

    Attributes:
        name (str): The block name as written (``SuperResK1K3K1``).
        kind (str): ``conv`` | ``res_kxkx`` | ``res_k1kxk1`` | ``res_idw``.
        in_channels, out_channels, stride, num_layers (int): As written.
        kernel_size (int): The spatial kernel (the middle one of ``K1KxK1``).
        bottleneck_channels (int | None): As written; None for ``conv`` blocks.
        expansion (int | None): ``e`` of ``SuperResIDWE<e>K<k>``; None otherwise.
        position (int): Offset of the block in the string it was parsed from (0 when built by hand); not part
            of equality.
    """
    name: str
    kind: str
    in_channels: int
    out_channels: int
    stride: int
    num_layers: int
    kernel_size: int
    bottleneck_channels: Optional[int] = None
    expansion: Optional[int] = None
    position: int = field(default=0, compare=False)

    def __str__(self) -> str:
        values = [getattr(self, field) for field in FIELDS[self.kind]]
        return f'{self.name}({",".join(str(v) for v in values)})'


def format_structure(blocks) -> str:
    """The structure string of a sequence of blocks (the inverse of :func:`parse_structure`)."""
    return ''.join(str(b) for b in blocks)


def _known_names_hint() -> str:
    return ('SuperConvK{1,3,5,7}BNRELU, SuperResK{3,5,7}K{3,5,7} (same k twice), SuperResK1K{3,5,7}K1, '
            'SuperResIDWE{1,2,4,6}K{3,5,7}')


def parse_structure(structure: str, in_channels: int = 3, source: str = 'structure string',
                    rechain: bool = False) -> Tuple[DamoBlock, ...]:
    """Parse and check a DamoFD structure string.

    Args:
        structure: The string (whitespace between blocks is allowed and ignored).
        in_channels: Channels of the input (3 for an RGB image): the first block's ``in`` must equal it.
        source: What the string is called in error messages (a config field, a command-line option).
        rechain: Instead of refusing channels that do not chain, give every block the previous block's output
            width as its input (what the released evolutionary search does to a structure before scoring it).

    Returns:
        tuple[DamoBlock]: The blocks in order.

    Raises:
        StructureError: naming the position, the block and the field: unknown block name, text that is not a
            block, a wrong number of arguments, an argument that is not an integer >= 1, a stride other than 1 or
            2, or channels that do not chain.
    """
    if not isinstance(structure, str):
        raise StructureError(f'{source}: expected a string, got {type(structure).__name__}')
    blocks = []
    pos = 0
    prev_out = in_channels
    n = len(structure)
    while True:
        while pos < n and structure[pos].isspace():
            pos += 1
        if pos >= n:
            break
        match = _BLOCK_RE.match(structure, pos)
        if match is None:
            snippet = structure[pos:pos + 40]
            raise StructureError(f'{source}, position {pos}: expected a block such as SuperResK3K3(24,32,2,24,4), '
                                 f'got {snippet!r} (unbalanced parentheses or stray text)')
        name, args_text = match.group(1), match.group(2)
        where = f'{source}, position {pos}, block {len(blocks)} {match.group(0)!r}'
        if name not in BLOCK_NAMES:
            raise StructureError(f'{where}: unknown block name {name!r}; expected one of {_known_names_hint()}')
        kind, kernel, expansion = BLOCK_NAMES[name]
        fields = FIELDS[kind]
        parts = [p.strip() for p in args_text.split(',')]
        if len(parts) != len(fields):
            raise StructureError(f'{where}: expected {len(fields)} arguments ({", ".join(fields)}), got '
                                 f'{len(parts)}')
        values = {}
        for field, text in zip(fields, parts):
            if not re.fullmatch(r'[0-9]+', text) or int(text) < 1:
                raise StructureError(f'{where}: {field} must be an integer >= 1, got {text!r}')
            values[field] = int(text)
        if values['stride'] not in (1, 2):
            raise StructureError(f'{where}: stride must be 1 or 2, got {values["stride"]}')
        if rechain:
            values['in_channels'] = prev_out
        if values['in_channels'] != prev_out:
            what = 'the input image has' if not blocks else 'the previous block outputs'
            raise StructureError(f'{where}: in_channels is {values["in_channels"]} but {what} {prev_out} '
                                 f'channels (channels must chain)')
        blocks.append(DamoBlock(name=name, kind=kind, kernel_size=kernel, expansion=expansion, position=pos,
                                **values))
        prev_out = values['out_channels']
        pos = match.end()
    if not blocks:
        raise StructureError(f'{source}: empty structure string')
    return tuple(blocks)
