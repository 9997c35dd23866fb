"""DDSAR, DamoFD's distribution-dependent stage-aware ranking score (Liu et al., "DamoFD: Digging into Backbone
Design on Face Detection", ICLR 2023), computed as the released ``DDSAR/Masternet.py``
(``compute_sar_score`` / ``forward_ddsar_score``) computes it: closed-form arithmetic on the blocks, no network.

Per block (stage) ``s`` entered at feature-map side ``H`` (``d0 = 3``, the image channels)::

    SAR_s = log( log(H^2 d0) + sum over the block's layers of H_l^2 d0 log(c_l / d0) ) + alpha * K_s

where ``H_l`` is the side at that layer (halved right after the layer that carries the stride) and the layers
``c_l`` and kernel sum ``K_s`` are, per block kind and per sub-layer (``in`` is the block's input width for the
first sub-layer and ``out`` after it; ``e`` the expansion, ``k`` the kernel):

* ``SuperConvK<k>BNRELU``: ``c = in``; ``K += k``.
* ``SuperResK<k>K<k>``: ``c = in`` (before the stride), ``bottleneck`` (after); ``K += 2k``.
* ``SuperResK1K<k>K1``: ``in, bottleneck`` (before), ``bottleneck, out, bottleneck, bottleneck`` (after);
  ``K += 2k + 4``.
* ``SuperResIDWE<e>K<k>``: ``in, e*bottleneck`` (before), ``e*bottleneck, bottleneck, e*bottleneck,
  e*bottleneck`` (after); ``K += 2k + 4``. (The released score uses ``e*bottleneck`` for the second unit's
  expanded width too, and does not round it as the network does.)

``H`` starts at the input side and is carried from block to block; the total is ``0.20 SAR_1 + 0.27 SAR_2 + 0.25
SAR_3 + 0.18 SAR_4 + 0.10 SAR_5`` over the first five blocks (stem, C2..C5). Defaults as released: ``alpha =
0.005`` (the paper's 0.25 is an option) and a 224-pixel input (the released search scores at
``--input_image_size 224``; with ``(H, W)`` the side used is ``H``, as the released code takes ``input_size[0]``).

A search candidate that is not a DamoFD structure is scored through its equivalent blocks:

* ResNetV1e: the 3-conv deep stem -> ``SuperConvK3BNRELU(3, stem, 2, 3)`` (all three at the stem width); a
  BasicBlock stage of ``n`` blocks -> ``SuperResK3K3(in, planes, 2, planes, n)``; a Bottleneck stage ->
  ``SuperResK1K3K1(in, 4 planes, 2, planes, ceil(n / 2))`` (one released sub-layer holds two bottleneck units).
  C2's stride 2 stands for the stem's max-pool, so every stage sees the side it has in the network.
* MobileNetV1: the stem conv and its depthwise-separable block -> ``SuperConvK3BNRELU(3, planes[1], 2, 2)``;
  a stage of ``n`` depthwise-separable blocks -> ``SuperResIDWE1K3(in, out, 2, out, ceil(n / 2))`` (one
  released sub-layer holds two depthwise units).
"""
import math
from typing import Dict, Optional, Sequence, Tuple

from mmdet_face.models.backbones.damofd_structure import DamoBlock, StructureError, parse_structure
from search_tools.proxies.base import ProxyScore, check_input_size

__all__ = ['STAGE_WEIGHTS', 'DEFAULT_ALPHA', 'stage_scores', 'ddsar', 'blocks_from_backbone_cfg', 'score']

STAGE_WEIGHTS = (0.20, 0.27, 0.25, 0.18, 0.10)
DEFAULT_ALPHA = 0.005
D0 = 3


def _block_terms(block: DamoBlock, side: float) -> Tuple[float, int, float]:
    """(sum of side^2 d0 log(c / d0) over the block's layers, kernel sum, side after the block)."""
    def term(h, c):
        return h * h * D0 * math.log(c / D0)

    total, kernels = 0.0, 0
    cin, cout, k, stride = block.in_channels, block.out_channels, block.kernel_size, block.stride
    for _ in range(block.num_layers):
        if block.kind == 'conv':
            before, after, kernel_sum = [cin], [], k
        elif block.kind == 'res_kxkx':
            btn = block.bottleneck_channels
            before, after, kernel_sum = [cin], [btn], 2 * k
        elif block.kind == 'res_k1kxk1':
            btn = block.bottleneck_channels
            before, after, kernel_sum = [cin, btn], [btn, cout, btn, btn], 2 * k + 4
        elif block.kind == 'res_idw':
            btn = block.bottleneck_channels
            dw = block.expansion * btn
            before, after, kernel_sum = [cin, dw], [dw, btn, dw, dw], 2 * k + 4
        else:
            raise StructureError(f'block {block}: no DDSAR rule for kind {block.kind!r}')
        for c in before:
            total += term(side, c)
        if stride == 2:
            side /= 2
            stride = 1
        for c in after:
            total += term(side, c)
        kernels += kernel_sum
        cin = cout
    return total, kernels, side


def stage_scores(blocks: Sequence[DamoBlock], input_side: float = 224, alpha: float = DEFAULT_ALPHA
                 ) -> Tuple[float, ...]:
    """SAR of every block (see the module docstring), the side carried from block to block."""
    side, scores = float(input_side), []
    for block in blocks:
        first = math.log(side * side * D0)
        layers, kernels, side_after = _block_terms(block, side)
        scores.append(math.log(first + layers) + alpha * kernels)
        side = side_after
    return tuple(scores)


def ddsar(blocks: Sequence[DamoBlock], input_side: float = 224, alpha: float = DEFAULT_ALPHA,
          stage_weights: Sequence[float] = STAGE_WEIGHTS) -> ProxyScore:
    """DDSAR of a block sequence: the weighted sum over the first ``len(stage_weights)`` blocks.

    Raises:
        ValueError: fewer blocks than stage weights.
    """
    if len(blocks) < len(stage_weights):
        raise ValueError(f'DDSAR weighs {len(stage_weights)} stages (stem, C2..C5); the structure has '
                         f'{len(blocks)} blocks')
    per_stage = stage_scores(blocks, input_side, alpha)
    total = 0.0
    for weight, value in zip(stage_weights, per_stage):
        total += weight * value
    return ProxyScore(total=total, per_stage=per_stage)


def _block(name, kind, cin, cout, stride, layers, kernel, bottleneck=None, expansion=None):
    return DamoBlock(name=name, kind=kind, in_channels=cin, out_channels=cout, stride=stride, num_layers=layers,
                     kernel_size=kernel, bottleneck_channels=bottleneck, expansion=expansion)


def _resnet_blocks(cfg: dict):
    block_cfg = dict(cfg.get('block_cfg') or {})
    block = block_cfg.get('block', 'BasicBlock')
    stem = int(cfg.get('stem_channels') or cfg.get('base_channels', 64))
    stage_blocks = [int(b) for b in block_cfg['stage_blocks']]
    planes = [int(p) for p in block_cfg.get('stage_planes', [cfg.get('base_channels', 64) * 2 ** i
                                                             for i in range(len(stage_blocks))])]
    blocks = [_block('SuperConvK3BNRELU', 'conv', 3, stem, 2, 3, 3)]
    cin = stem
    for n, p in zip(stage_blocks, planes):
        if block == 'BasicBlock':
            blocks.append(_block('SuperResK3K3', 'res_kxkx', cin, p, 2, n, 3, bottleneck=p))
            cin = p
        elif block == 'Bottleneck':
            blocks.append(_block('SuperResK1K3K1', 'res_k1kxk1', cin, 4 * p, 2, math.ceil(n / 2), 3, bottleneck=p))
            cin = 4 * p
        else:
            raise ValueError(f'ResNetV1e block {block!r}: DDSAR maps BasicBlock and Bottleneck')
    return tuple(blocks)


def _mobilenet_blocks(cfg: dict):
    block_cfg = dict(cfg.get('block_cfg') or dict(stage_blocks=(2, 4, 4, 2), stage_planes=(8, 16, 32, 64, 128, 256)))
    stage_blocks = [int(b) for b in block_cfg['stage_blocks']]
    planes = [int(p) for p in block_cfg['stage_planes']]
    blocks = [_block('SuperConvK3BNRELU', 'conv', 3, planes[1], 2, 2, 3)]
    for i, n in enumerate(stage_blocks):
        cin, cout = planes[i + 1], planes[i + 2]
        blocks.append(_block('SuperResIDWE1K3', 'res_idw', cin, cout, 2, math.ceil(n / 2), 3, bottleneck=cout,
                             expansion=1))
    return tuple(blocks)


def blocks_from_backbone_cfg(backbone_cfg: dict) -> Tuple[DamoBlock, ...]:
    """The DamoFD blocks DDSAR scores for a backbone config (see the module docstring for the mapping).

    Raises:
        ValueError: a backbone type without a mapping, or a config missing the fields it needs.
        StructureError: an invalid DamoFD structure string.
    """
    cfg = dict(backbone_cfg)
    kind = cfg.get('type')
    try:
        if kind == 'DamoFDNet':
            return parse_structure(cfg['structure'], int(cfg.get('in_channels', 3)),
                                   source='DamoFDNet structure')
        if kind == 'ResNetV1e':
            return _resnet_blocks(cfg)
        if kind == 'MobileNetV1':
            return _mobilenet_blocks(cfg)
    except (KeyError, TypeError) as exc:
        raise ValueError(f'{kind} backbone config: missing or malformed field {exc}') from None
    raise ValueError(f'DDSAR has no block mapping for backbone type {kind!r}: expected DamoFDNet, ResNetV1e or '
                     'MobileNetV1')


def score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0,
          alpha: float = DEFAULT_ALPHA, stage_weights: Optional[Sequence[float]] = None,
          **options) -> ProxyScore:
    """DDSAR of a backbone config at ``input_size`` ``(H, W)`` (the side used is ``H``); ``seed`` is unused (the
    score is closed-form). Per-stage values are the SAR of every block.

    Raises:
        ValueError: unknown options, a bad input size or alpha, or a backbone DDSAR cannot map.
    """
    if options:
        raise ValueError(f'ddsar: unknown options {sorted(options)}; it takes alpha and stage_weights')
    h, _ = check_input_size(input_size)
    if not math.isfinite(alpha):
        raise ValueError(f'ddsar: alpha must be a finite number, got {alpha!r}')
    weights = STAGE_WEIGHTS if stage_weights is None else tuple(float(w) for w in stage_weights)
    return ddsar(blocks_from_backbone_cfg(backbone_cfg), h, alpha, weights)
