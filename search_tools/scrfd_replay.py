"""The faithful replay of SCRFD's released search-space generator, for the ``scrfd`` space (``spaces/scrfd.py``
says which script and which rules).

Nothing is projected: :func:`scrfd_arch` applies the released rounding to a raw sample, and :func:`scrfd_project`
rejects a sample outside the band (or, in step 2, outside the stage-ratio lock) with :class:`InfeasibleBudget`,
as the original rejection loop did. Step 2 effectively freezes the template's depths (the +-10 % stage/stem
FLOPs-ratio lock), so it only moves compute between backbone width, neck and head.
"""
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from search_tools.flops import (BLOCK_EXPANSION, PRINTED_MODULES, neck_head_flops_batch, printed_module_gflops,
                                resnet_backbone_parts_batch, resnet_total_flops_batch, total_flops)
from search_tools.space import InfeasibleBudget, SearchSpace, in_band

__all__ = ['scrfd_arch', 'scrfd_project', 'ReleasedRulesBatch']


def scrfd_arch(space: SearchSpace, raw: dict, template: Optional[dict] = None) -> dict:
    """The architecture the released generator builds from ``raw`` (``spaces/scrfd.py`` gives the rules).

    Raises:
        InfeasibleBudget: a width rounds to 0 (the released script would crash building it).
    """
    step = raw.get('step', 'backbone')
    if step == 'backbone':
        tpl = template if template is not None else space.step1_template
        base = max(8, int(raw['base_channels']) // 8 * 8)
        planes = [base]
        for ratio in raw['stage_planes_ratio']:
            planes.append(int(planes[-1] * ratio) // 8 * 8)
        backbone = dict(type='ResNetV1e', block=raw['block'], stem_channels=base,
                        stage_blocks=[max(1, int(d)) for d in raw['stage_blocks']], stage_planes=planes)
        return dict(backbone=backbone, neck=dict(tpl['neck']), head=dict(tpl['head']))
    tpl = _full_template(space, template)
    tb = tpl['backbone']
    depths = _mode2_depths(tb, raw['stage_blocks_ratio'])
    planes = _mode2_planes(tb, raw['base_channels_ratio'])
    head_c = int(raw['head_channel']) // 8 * 8
    groups = 8
    for g in space.data.get('gn_groups_walk', (8, 16, 32, 64)):
        if head_c % g != 0:
            break
        groups = g
    if min(planes) < 1:
        raise InfeasibleBudget(f'a stage width rounds to 0 ({planes}): the released script could not build it')
    backbone = dict(type='ResNetV1e', block=tb['block'], stem_channels=planes[0], stage_blocks=depths,
                    stage_planes=planes)
    head = dict(tpl['head'], feat_channels=head_c, stacked_convs=int(raw['head_stack']), num_groups=groups)
    return dict(backbone=backbone, neck=dict(type='PAFPN', out_channels=int(raw['fpn_channel']) // 8 * 8),
                head=head)


def _mode2_depths(template_backbone: dict, ratio):
    """Mode 2's depths: numpy.round rounds half to even (2.5 -> 2) and 0 blocks still build one (mmdet's
    ResLayer). ``ratio``: a float (a list back) or an ``(N,)`` array (an ``(N, 4)`` int64 array back). Each depth
    is a non-decreasing function of ``ratio``."""
    depths = np.maximum(1, np.round(np.multiply.outer(ratio, template_backbone['stage_blocks']))).astype(np.int64)
    return depths.tolist() if np.ndim(ratio) == 0 else depths


def _mode2_planes(template_backbone: dict, ratio):
    """Mode 2's C2..C5 planes, multiples of 8 floored (``ratio`` as :func:`_mode2_depths`), each a
    non-decreasing function of ``ratio``. The released script scales stage_planes and sets
    base_channels = stage_planes[0]: the stem follows C2."""
    planes = np.round(np.multiply.outer(ratio, template_backbone['stage_planes'])).astype(np.int64) // 8 * 8
    return planes.tolist() if np.ndim(ratio) == 0 else planes


def _full_template(space: SearchSpace, template: Optional[dict]) -> dict:
    """Mode 2's template (default: the space's reference), checked."""
    tpl = template if template is not None else space.reference
    if tpl['backbone']['type'] != 'ResNetV1e':
        raise ValueError('the scrfd space searches ResNetV1e templates only')
    if tpl['head']['norm'] != 'GN':
        raise ValueError("the released mode 2 sets the head's GN group count: the template head must use GN")
    return tpl


def _lock_failure(reference: dict, candidate: dict, lock: float) -> Optional[str]:
    """Why mode 2's stage-ratio lock rejects ``candidate`` (``printed_module_gflops`` of both), or None."""
    for layer in ('layer1', 'layer2', 'layer3', 'layer4'):
        if reference['stem'] == 0 or candidate['stem'] == 0:
            return 'stem FLOPs print as 0.000 G: the stage ratios are undefined'
        t_ratio, c_ratio = reference[layer] / reference['stem'], candidate[layer] / candidate['stem']
        # is_flops_valid(template_ratio, candidate_ratio, 5 * eps)
        if not (1 - lock) * c_ratio <= t_ratio <= (1 + lock) * c_ratio:
            return f"stage-ratio lock: {layer}/stem {c_ratio:.3f} vs the template's {t_ratio:.3f} (+-{lock:.0%})"
    return None


def scrfd_project(space: SearchSpace, raw: dict, gflops: float, tolerance: float, input_shape,
                  template: Optional[dict]) -> Tuple[dict, int]:
    """``(arch, flops)`` of ``raw`` under the released rules; :class:`InfeasibleBudget` when they reject it."""
    arch = scrfd_arch(space, raw, template)
    flops = total_flops(arch, input_shape)
    if raw.get('step') == 'full':
        tpl = template if template is not None else space.reference
        reason = _lock_failure(printed_module_gflops(tpl, input_shape), printed_module_gflops(arch, input_shape),
                               float(space.data.get('ratio_lock', 5)) * tolerance)
        if reason:
            raise InfeasibleBudget(reason)
    if not in_band(flops, gflops, tolerance):
        raise InfeasibleBudget(f'{flops / 1e9:.4f} GFLOPs outside {gflops:g} GF +- {tolerance:.1%} '
                               f'(released rule: rejection, no projection)')
    return arch, flops


class _RatioChain:
    """The integer tuples ``rule(ratio)`` takes for ``ratio`` in ``[low, high]``, when every entry is a
    non-decreasing function of ``ratio`` (mode 2's depths and widths): they form a chain, so the tuple changes at
    a few thresholds only, and along the chain its sum identifies it. ``thresholds`` is sorted; segment
    ``k = np.searchsorted(thresholds, r, 'right')`` holds the ratios from ``thresholds[k - 1]`` (``low`` for 0) up
    to the next threshold, and ``values[k]`` is its tuple. A threshold is the first float at which the sum grows,
    found by bisection over the floats with ``rule`` itself (on arrays), so a segment's tuple is exactly
    ``rule`` of any ratio in it."""

    def __init__(self, rule: Callable[[np.ndarray], np.ndarray], low: float, high: float, grid: int = 4097):
        self.low, self.high = float(low), float(high)
        points = np.unique(np.linspace(self.low, self.high, grid))
        sums = rule(points).sum(axis=1)
        # grid intervals whose ends differ hold at least one change; the others none (monotone)
        steps = np.flatnonzero(np.diff(sums) > 0)
        lo, hi, end = points[steps], points[steps + 1], points[steps + 1]
        thresholds = []
        while len(lo):
            current = rule(lo).sum(axis=1)
            for _ in range(2200):  # halving reaches adjacent floats within ~1100 steps across all exponents
                mid = lo + (hi - lo) / 2
                inside = (mid > lo) & (mid < hi)
                if not inside.any():
                    break
                past = rule(mid).sum(axis=1) > current
                hi, lo = np.where(inside & past, mid, hi), np.where(inside & ~past, mid, lo)
            else:
                raise RuntimeError(f'no threshold found between {lo} and {hi}: a bug in _RatioChain')
            thresholds.extend(hi.tolist())
            # an interval may hold several changes: search again from each one found up to its interval's end
            again = rule(hi).sum(axis=1) < rule(end).sum(axis=1)
            lo, hi, end = hi[again], end[again], end[again]
        self.thresholds = np.unique(np.asarray(thresholds, dtype=np.float64))
        self.values = rule(np.concatenate([[self.low], self.thresholds]))
        self._buckets()

    def _buckets(self) -> None:
        """Equal buckets of ``[low, high]``, 16 per threshold: :meth:`index` looks a segment up instead of
        searching for it. ``bucket(r)`` is non-decreasing in ``r``, so every threshold of an earlier bucket lies
        below ``r`` and every one of a later bucket above it; only the few of its own bucket (thresholds may be
        one float apart) need comparing."""
        self.size = 16 * max(1, len(self.thresholds))
        span = self.high - self.low
        self.scale = self.size / span if span > 0 else 0.0
        bucket = self._bucket(self.thresholds, self.scale, self.size)
        self.before = np.searchsorted(bucket, np.arange(self.size), side='left')  # thresholds in earlier buckets
        rank = np.arange(len(bucket)) - self.before[bucket]  # each threshold's place in its bucket
        self.edges = np.full((int(rank.max()) + 1 if len(rank) else 0, self.size), np.inf)
        self.edges[rank, bucket] = self.thresholds

    def _bucket(self, ratios: np.ndarray, scale: float, size: int) -> np.ndarray:
        return np.minimum(((ratios - self.low) * scale).astype(np.int64), size - 1)

    def covers(self, ratios: np.ndarray) -> bool:
        return not len(ratios) or (self.low <= ratios.min() and ratios.max() <= self.high)

    def index(self, ratios: np.ndarray) -> np.ndarray:
        """The segment of each ratio (``np.searchsorted(thresholds, ratios, 'right')``); ``ratios`` must lie in
        ``[low, high]`` (:meth:`covers`)."""
        bucket = self._bucket(ratios, self.scale, self.size)
        index = self.before[bucket]
        for edge in self.edges:
            index += ratios >= edge[bucket]
        return index


class ReleasedRulesBatch:
    """The released rules on many raw samples at once: :func:`scrfd_project`'s verdict and FLOPs, with numpy.

    Called on :meth:`SearchSpace.sample_batch`'s columns, it returns ``(flops, met, accepted)``, three ``(N,)``
    arrays: each sample's total FLOPs (int64; 0 where a width rounds to 0 and the released script could not build
    it), whether they lie in the band, and whether the released rules keep the sample (the band, and in mode 2 the
    stage-ratio lock).

    - Mode 1 applies :func:`scrfd_arch`'s rounding element by element and counts with
      ``flops.resnet_total_flops_batch`` (equal to :func:`total_flops`).
    - Mode 2's depths depend on ``stage_blocks_ratio`` alone and its widths on ``base_channels_ratio`` alone, each
      through a few thresholds (:class:`_RatioChain`), and its neck and head widths take a few values (multiples
      of 8): the FLOPs are two table look-ups, backbone per (depth, width) cell and neck + head per (width, neck,
      head, head depth), and the lock is decided once per cell from the cell's per-module counts rounded as mmcv
      prints them (``flops.resnet_backbone_parts_batch``, equal to :func:`printed_module_gflops`).

    ``tests/search_tools/test_released_batch.py`` checks every verdict and count against :func:`scrfd_project` and
    :func:`total_flops` on tens of thousands of raw samples.
    """

    def __init__(self, space: SearchSpace, step: str, gflops: float, tolerance: float, input_shape,
                 template: Optional[dict] = None):
        if not space.faithful:
            raise ValueError(f'space {space.name!r}: the released rules apply to a faithful space (scrfd)')
        self.space, self.step = space, step
        self.input_shape = tuple(int(v) for v in input_shape)
        self.low, self.high = (1 - tolerance) * gflops * 1e9, (1 + tolerance) * gflops * 1e9
        if step == 'backbone':
            self.template = template if template is not None else space.step1_template
        elif step == 'full':
            self.template = _full_template(space, template)
            self.lock = float(space.data.get('ratio_lock', 5)) * tolerance
            self.reference = printed_module_gflops(self.template, self.input_shape)
            dims = dict(space.dimensions('full'))
            self.grids = {}  # the neck/head dimensions: (first index, number of indices) of each
            for key, unit in (('fpn_channel', 8), ('head_channel', 8), ('head_stack', 1)):
                dim = dims.get(key, {})
                if dim.get('type') != 'int' or int(dim['low']) < 0:
                    raise ValueError(f"{space.source}: full.{key}: the released rules draw it as an int >= 0 "
                                     f'(at.Int), got {dim}')
                self.grids[key] = (int(dim['low']) // unit, int(dim['high']) // unit - int(dim['low']) // unit + 1)
            self._chains((dims['stage_blocks_ratio']['low'], dims['stage_blocks_ratio']['high']),
                         (dims['base_channels_ratio']['low'], dims['base_channels_ratio']['high']))
        else:
            raise ValueError(f"step must be 'backbone' or 'full', got {step!r}")

    def __call__(self, columns: dict) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.step == 'backbone':
            return self._backbone(columns)
        return self._full(columns)

    def _band(self, flops: np.ndarray) -> np.ndarray:
        return (self.low <= flops) & (flops <= self.high)  # in_band's comparisons, on int64 counts

    def _backbone(self, columns: dict):
        choices = np.asarray(dict(self.space.dimensions('backbone'))['block']['choices'])
        base = np.maximum(8, columns['base_channels'] // 8 * 8)
        planes = [base]
        for ratio in columns['stage_planes_ratio'].T:  # int(planes * ratio) // 8 * 8, as scrfd_arch
            planes.append(np.trunc(planes[-1] * ratio).astype(np.int64) // 8 * 8)
        widths = np.stack([base] + planes, axis=1)  # the stem is C2's width
        depths = np.maximum(1, columns['stage_blocks'])
        tpl = self.template
        flops = resnet_total_flops_batch(choices[columns['block']], depths, widths, tpl['neck']['out_channels'],
                                         tpl['head']['feat_channels'], tpl['head'], self.input_shape)
        met = self._band(flops)
        return flops, met, met

    def _chains(self, depth_range: Sequence[float], width_range: Sequence[float]) -> None:
        """Mode 2's tables. The depths and widths per segment of their ratio (:class:`_RatioChain`); the backbone
        FLOPs per (depth, width) cell; the neck + head FLOPs per (width, neck width, head width, head depth), all
        0 where a width rounds to 0; the lock verdicts, filled in as cells first meet the band."""
        tb = self.template['backbone']
        self.depths = _RatioChain(lambda r: _mode2_depths(tb, r), *depth_range)
        self.planes = _RatioChain(lambda r: _mode2_planes(tb, r), *width_range)
        planes, depths = self.planes.values, self.depths.values
        buildable = planes.min(axis=1) >= 1  # per width segment
        cell_d, cell_w = (grid.ravel() for grid in np.meshgrid(np.arange(len(depths)), np.arange(len(planes)),
                                                                indexing='ij'))
        widths = np.maximum(np.concatenate([planes[cell_w, :1], planes[cell_w]], axis=1), 0)  # stem = C2
        self.parts = resnet_backbone_parts_batch(tb['block'], depths[cell_d], widths, self.input_shape)
        self.backbone = np.where(buildable[cell_w], sum(self.parts.values()), 0)
        # every (width segment, fpn // 8, head // 8, head depth) the draws can give, in that order
        (f0, nf), (h0, nh), (s0, ns) = (self.grids[k] for k in ('fpn_channel', 'head_channel', 'head_stack'))
        _, f, h = np.indices((len(planes), nf, nh)).reshape(3, -1)
        outs = np.repeat(np.maximum(planes[:, 1:], 0) * BLOCK_EXPANSION[tb['block']], nf * nh, axis=0)  # C3..C5
        table = np.stack([neck_head_flops_batch(outs, (f + f0) * 8, (h + h0) * 8, self.template['head'],
                                                self.input_shape, stacked_convs=s0 + k) for k in range(ns)], axis=-1)
        table.reshape(len(planes), -1)[~buildable] = 0
        self.neck_head = table.ravel()
        self.locked = np.full(len(depths) * len(planes), -1, dtype=np.int8)  # -1 unknown, 0 rejected, 1 kept

    def _full(self, columns: dict):
        ratio_d, ratio_w = columns['stage_blocks_ratio'], columns['base_channels_ratio']
        if not (self.depths.covers(ratio_d) and self.planes.covers(ratio_w)):  # a draw past the dimension's range
            self._chains((min(self.depths.low, ratio_d.min()), max(self.depths.high, ratio_d.max())),
                         (min(self.planes.low, ratio_w.min()), max(self.planes.high, ratio_w.max())))
        w = self.planes.index(ratio_w)
        cell = self.depths.index(ratio_d) * len(self.planes.values) + w
        (f0, nf), (h0, nh), (s0, ns) = (self.grids[k] for k in ('fpn_channel', 'head_channel', 'head_stack'))
        neck_head = ((w * nf + (columns['fpn_channel'] // 8 - f0)) * nh + (columns['head_channel'] // 8 - h0)) * ns \
            + (columns['head_stack'] - s0)
        flops = self.backbone[cell] + self.neck_head[neck_head]
        met = self._band(flops)  # a width rounding to 0 counts 0 FLOPs: never in the band
        rows = np.flatnonzero(met)
        for new in np.unique(cell[rows][self.locked[cell[rows]] < 0]):
            self.locked[new] = self._lock_verdict(new)
        accepted = np.zeros(len(met), dtype=bool)
        accepted[rows] = self.locked[cell[rows]] == 1
        return flops, met, accepted

    def _lock_verdict(self, cell: int) -> int:
        """The stage-ratio lock of ``cell``: mmcv's printed GFLOPs of its stem and stages (3 decimals)."""
        printed = {PRINTED_MODULES[part]: round(int(self.parts[part][cell]) / 1e9, 3)
                   for part in ('stem', 'c2', 'c3', 'c4', 'c5')}
        return int(_lock_failure(self.reference, printed, self.lock) is None)
