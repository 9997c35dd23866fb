"""Projection of a raw sample onto a FLOPs budget: :func:`project` turns :meth:`SearchSpace.sample`'s output into
a :class:`Candidate` inside ``gflops * (1 +- tolerance)`` by construction.

Bisection on one multiplier of every searched width, rounding to the space's width step, then a local fix-up of
single widths, all with the exact analytic count of ``search_tools.flops`` (equal to
``tools/analysis/get_flops.py``'s); when the widths alone cannot land in the band, every depth shrinks by one
factor and the widths are projected again. It raises :class:`InfeasibleBudget` when no width can meet the budget.
The ``scrfd`` space is not projected: ``search_tools.scrfd_replay`` applies the released rejection rules.

FLOPs follow the counter's convention (multiply-accumulates, VGA ``(H, W) = (480, 640)`` by default).
"""
import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from search_tools.arch import arch_from_config, arch_key, check_arch, materialise
from search_tools.flops import count_flops, width_counter
from search_tools.scrfd_replay import scrfd_arch, scrfd_project
from search_tools.space import InfeasibleBudget, SearchSpace, canonical_arch, check_step

__all__ = ['Candidate', 'project', 'released_candidate', 'raw_arch', 'template_arch', 'default_neck_head']


class _TooHeavy(InfeasibleBudget):
    """Over budget even at the narrowest widths."""


@dataclass
class Candidate:
    """A projected architecture.

    Attributes:
        arch: canonical architecture (``search_tools.flops.count_flops`` lists its fields), JSON-able.
        breakdown: analytic ``{part: {'gflops', 'params_m', 'flops', 'params'}}`` for ``stem`` (with the
            ResNetV1e max-pool), ``c2``..``c5``, ``backbone``, ``neck``, ``head``, ``total``.
        raw: the raw sample it came from (``None`` for a read config).
        info: projection details (``multiplier``, ``raw_gflops``, ``step``, ``input_shape``...).
    """
    arch: dict
    breakdown: dict
    raw: Optional[dict] = None
    info: dict = field(default_factory=dict)

    def key(self) -> str:
        """Stable 12-hex-digit hash of ``arch``: equal architectures, equal keys."""
        return arch_key(self.arch)

    def to_config(self, template_cfg):
        """A complete ``mmengine.Config``: data, schedule and runtime of ``template_cfg`` (a config path or
        ``Config`` whose model is an SCRFDHead detector), the model shaped as ``arch``."""
        return materialise(self.arch, template_cfg)



def _round_width(x: float, step: int, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, step * max(1, int(math.floor(x / step + 0.5))))))


def _gn_groups(channels: Sequence[int], choices: Sequence[int]) -> Optional[int]:
    for g in choices:
        if all(c % g == 0 for c in channels):
            return int(g)
    return None


def _set_head_norm(head: dict, neck_c: int, choices: Sequence[int]) -> dict:
    if head['norm'] == 'GN':
        needs = [head['feat_channels']] + ([neck_c] if head['dw_conv'] else [])
        g = head.get('num_groups')
        if not g or any(c % g for c in needs):
            g = _gn_groups(needs, choices)
            if g is None:
                raise InfeasibleBudget(f'no GN group count in {tuple(choices)} divides {needs}')
        head['num_groups'] = g
    else:
        head['num_groups'] = None
    return head


class _Plan:
    """A raw sample turned into ``build(widths) -> arch`` and ``count(widths)`` (the total FLOPs of that arch, or
    None when it cannot be built: no GN group count fits; without building it): ``base`` are the continuous widths
    the multiplier scales, ``monotone`` index groups that must stay non-decreasing."""

    def __init__(self, base: List[float], build: Callable[[List[int]], dict], monotone: List[List[int]],
                 count: Callable[[List[int]], Optional[int]]):
        self.base = base
        self.build = build
        self.monotone = monotone
        self.count = count


def _check_raw(space: SearchSpace, raw: dict) -> str:
    """The raw sample's step, after checking it carries every value the space draws for that step."""
    if not isinstance(raw, dict):
        raise ValueError(f'raw sample: expected a dict from SearchSpace.sample, got {type(raw).__name__}')
    step = raw.get('step', 'backbone')
    check_step(step)
    missing = [key for key in space.dims[step] if key not in raw]
    if missing:
        raise ValueError(f'raw sample for step {step!r} of space {space.name!r}: missing {missing}')
    return step


def template_arch(template) -> Optional[dict]:
    """An arch dict from an arch dict, a config path, a Config or a config dict (None stays None)."""
    if template is None:
        return None
    if isinstance(template, dict) and 'backbone' in template and 'head' in template and 'neck' in template \
            and 'model' not in template:
        return canonical_arch(template)
    return arch_from_config(template)


_STEP1_CACHE: Dict[tuple, Tuple[dict, dict]] = {}


def default_neck_head(space: SearchSpace, gflops: float, input_shape) -> Tuple[dict, dict]:
    """Step 1 without a template: the space's neck/head widths scaled (one multiplier, rounded) so that they take
    ``neck_head_share`` of the budget, measured on the space's reference backbone. Cached per budget."""
    key = (space.source, space.name, round(gflops, 9), tuple(input_shape))
    if key in _STEP1_CACHE:
        neck, head = _STEP1_CACHE[key]
        return dict(neck), dict(head)  # flat dicts of scalars: a shallow copy is a full copy
    tpl = space.step1_template
    share = tpl.get('neck_head_share')
    neck, head = copy.deepcopy(tpl['neck']), copy.deepcopy(tpl['head'])
    if share:
        step, (lo, hi) = space.width_step, space.width_range
        base_neck, base_head = neck['out_channels'], head['feat_channels']

        def at(m):
            n = dict(neck, out_channels=_round_width(base_neck * m, step, lo, hi))
            h = _set_head_norm(dict(head, feat_channels=_round_width(base_head * m, step, lo, hi)),
                               n['out_channels'], space.ties['gn_groups'])
            arch = dict(backbone=space.reference['backbone'], neck=n, head=h)
            b = count_flops(arch, input_shape)
            return n, h, b['neck']['flops'] + b['head']['flops']

        target = share * gflops * 1e9
        lo_m, hi_m = 1e-3, 1e3
        for _ in range(50):
            mid = math.sqrt(lo_m * hi_m)
            if at(mid)[2] < target:
                lo_m = mid
            else:
                hi_m = mid
        n_lo, h_lo, f_lo = at(lo_m)
        n_hi, h_hi, f_hi = at(hi_m)
        neck, head = (n_lo, h_lo) if abs(f_lo - target) <= abs(f_hi - target) else (n_hi, h_hi)
    _STEP1_CACHE[key] = (copy.deepcopy(neck), copy.deepcopy(head))
    return neck, head


def projection_plan(space: SearchSpace, raw: dict, gflops: float, input_shape, template: Optional[dict],
          depth_factor: float = 1.0) -> _Plan:
    step = raw.get('step', 'backbone')
    check_step(step)
    gn_choices = space.ties['gn_groups']
    if step == 'backbone':
        if template is None:
            neck, head = default_neck_head(space, gflops, input_shape)
        else:
            neck, head = dict(template['neck']), dict(template['head'])
        ratios = raw['width_ratios'] if isinstance(raw['width_ratios'], list) else [raw['width_ratios']]
        base = [float(raw['stem_channels'])]
        for r in ratios:
            base.append(base[-1] * float(r))
        depths = [max(1, int(math.floor(int(d) * depth_factor + 0.5))) for d in raw['stage_blocks']]
        family, tie = space.family, space.ties['stem_equals_c2']

        def build(widths):
            if family == 'MobileNetV1':
                backbone = dict(type='MobileNetV1', stage_blocks=list(depths), stage_planes=list(widths))
            else:
                planes = widths if tie else widths[1:]
                backbone = dict(type='ResNetV1e', block=raw['block'], stem_channels=widths[0],
                                stage_blocks=list(depths), stage_planes=list(planes))
            return dict(backbone=backbone, neck=dict(neck), head=dict(head))

        counter = width_counter(dict(backbone=dict(type=family, block=raw.get('block'), stage_blocks=depths),
                                     head=head), input_shape)
        neck_c, feat = neck['out_channels'], head['feat_channels']

        def count(widths):
            if family == 'MobileNetV1':
                return counter(widths, neck_c, feat)
            return counter([widths[0]] + (widths if tie else widths[1:]), neck_c, feat)

        monotone = [list(range(len(base)))] if space.ties['non_decreasing_widths'] else []
        return _Plan(base, build, monotone, count)

    # step 'full': relative to the template (the step-1 winner), every width scaled together
    tpl = template if template is not None else space.reference
    if tpl['backbone']['type'] != space.family:
        raise ValueError(f"step 'full': the template's backbone is {tpl['backbone']['type']}, the space "
                         f"{space.name!r} searches {space.family}")
    tb = tpl['backbone']
    dlo, dhi = space.depth_range
    depths = [int(min(dhi, max(dlo, math.floor(d * float(raw['depth_scale']) * depth_factor + 0.5))))
              for d in tb['stage_blocks']]
    if space.family == 'ResNetV1e':
        tie = space.ties['stem_equals_c2'] and tb['stem_channels'] == tb['stage_planes'][0]
        bb_widths = list(tb['stage_planes']) if tie else [tb['stem_channels']] + list(tb['stage_planes'])
    else:
        tie = False
        bb_widths = list(tb['stage_planes'])
    ws = float(raw['width_scale'])
    base = [w * ws for w in bb_widths] + [float(raw['neck_channels']), float(raw['head_channels'])]
    nb = len(bb_widths)
    head_tpl = dict(tpl['head'], stacked_convs=int(raw['head_convs']), norm=raw['head_norm'],
                    strides_share=bool(raw['strides_share']), use_kps=bool(raw['use_kps']), num_groups=None)

    def build(widths):
        bbw = widths[:nb]
        if space.family == 'MobileNetV1':
            backbone = dict(type='MobileNetV1', stage_blocks=list(depths), stage_planes=list(bbw))
        else:
            backbone = dict(type='ResNetV1e', block=tb['block'], stem_channels=bbw[0],
                            stage_blocks=list(depths), stage_planes=list(bbw if tie else bbw[1:]))
        neck = dict(type='PAFPN', out_channels=widths[nb])
        head = _set_head_norm(dict(head_tpl, feat_channels=widths[nb + 1]), widths[nb], gn_choices)
        return dict(backbone=backbone, neck=neck, head=head)

    counter = width_counter(dict(backbone=dict(type=space.family, block=tb.get('block'), stage_blocks=depths),
                                 head=head_tpl), input_shape)
    gn, dw_conv, mobilenet = head_tpl['norm'] == 'GN', head_tpl['dw_conv'], space.family == 'MobileNetV1'

    def count(widths):
        bbw, neck_c, feat = widths[:nb], widths[nb], widths[nb + 1]
        if gn and _gn_groups([feat] + ([neck_c] if dw_conv else []), gn_choices) is None:
            return None  # build() would raise: no GN group count divides the head (and dw neck) width
        return counter(bbw if mobilenet else [bbw[0]] + (bbw if tie else bbw[1:]), neck_c, feat)

    monotone = ([list(range(nb))] if space.ties['non_decreasing_widths'] and
                all(a <= b for a, b in zip(bb_widths, bb_widths[1:])) else [])
    return _Plan(base, build, monotone, count)


def _widths_at(plan: _Plan, m: float, step: int, lo: int, hi: int) -> List[int]:
    # _round_width inlined: the bisection calls this for every multiplier it tries
    floor = math.floor
    return [int(min(hi, max(lo, step * max(1, int(floor(w * m / step + 0.5)))))) for w in plan.base]


def _valid(widths: List[int], plan: _Plan) -> bool:
    return all(widths[a] <= widths[b] for group in plan.monotone for a, b in zip(group, group[1:]))


def _project_widths(space: SearchSpace, plan: _Plan, gflops: float, tolerance: float, input_shape):
    """Bisection on the multiplier, then a local fix-up; returns (arch, flops, multiplier)."""
    step, (lo, hi) = space.width_step, space.width_range
    target = gflops * 1e9
    low_ok, high_ok = target * (1 - tolerance), target * (1 + tolerance)
    cache = {}

    def flops_of(widths):  # None: the widths cannot be built
        key = tuple(widths)
        if key not in cache:
            cache[key] = plan.count(widths)
        return cache[key]

    m_min = lo / max(plan.base) / 2
    m_max = hi / min(plan.base) * 2
    w_lo, w_hi = _widths_at(plan, m_min, step, lo, hi), _widths_at(plan, m_max, step, lo, hi)
    f_min, f_max = flops_of(w_lo), flops_of(w_hi)
    if f_min is not None and f_min > high_ok:
        raise _TooHeavy(f'{f_min / 1e9:.4f} GFLOPs at the narrowest widths ({lo}) already exceed '
                        f'{gflops:g} GF + {tolerance:.1%} (depths or the fixed neck/head are too heavy)')
    if f_max is not None and f_max < low_ok:
        raise InfeasibleBudget(f'{f_max / 1e9:.4f} GFLOPs at the widest widths ({hi}) stay below '
                               f'{gflops:g} GF - {tolerance:.1%}')
    m_lo, m_hi = m_min, m_max
    for _ in range(64):  # w_lo / w_hi are the widths at m_lo / m_hi
        # adjacent roundings (one width one step apart), or equal base widths that change together
        if sum(abs(a - b) for a, b in zip(w_lo, w_hi)) <= step or m_hi / m_lo < 1 + 1e-9:
            break
        mid = math.sqrt(m_lo * m_hi)
        w_mid = _widths_at(plan, mid, step, lo, hi)
        f = flops_of(w_mid)
        if f is not None and f < target:
            m_lo, w_lo = mid, w_mid
        else:
            m_hi, w_hi = mid, w_mid
    multiplier = math.sqrt(m_lo * m_hi)
    ideal = [w * multiplier for w in plan.base]

    def distortion(widths):
        return sum(math.log(w / i) ** 2 for w, i in zip(widths, ideal))

    start = [w_lo, w_hi]
    frontier, seen, best = [], set(), None
    for widths in start:
        f = flops_of(widths)
        if f is not None and tuple(widths) not in seen:
            seen.add(tuple(widths))
            frontier.append(widths)
            if low_ok <= f <= high_ok and _valid(widths, plan):
                d = (distortion(widths), abs(f - target))
                best = min(best, (d, widths), key=lambda x: x[0]) if best else (d, widths)
    # Local fix-up: single-width steps of +-step, two rounds, keep the in-band result closest to the ideal
    # proportions. Rounding makes the count jump by whole width steps, which can step over a narrow band.
    for _ in range(2):
        if best is not None:
            break
        nxt = []
        for widths in frontier:
            for i in range(len(widths)):
                for delta in (-step, step):
                    w = list(widths)
                    w[i] += delta
                    if not lo <= w[i] <= hi or tuple(w) in seen or not _valid(w, plan):
                        continue
                    seen.add(tuple(w))
                    f = flops_of(w)
                    if f is None:
                        continue
                    nxt.append((abs(f - target), w))
                    if low_ok <= f <= high_ok:
                        d = (distortion(w), abs(f - target))
                        best = min(best, (d, w), key=lambda x: x[0]) if best else (d, w)
        frontier = [w for _, w in sorted(nxt)[:8]]
    if best is None:
        closest = min((abs(f - target), f) for f in cache.values() if f is not None)[1]
        raise InfeasibleBudget(f'rounding to multiples of {step} cannot reach {gflops:g} GF +- {tolerance:.1%}: '
                               f'closest {closest / 1e9:.4f} GF')
    return plan.build(list(best[1])), flops_of(best[1]), multiplier


def _project_with_depth_fallback(space, raw, gflops, tolerance, input_shape, template):
    """Width projection of the sampled depths; if that fails (over budget even at the narrowest widths, or
    rounding steps over the band), every depth is shrunk by one factor (0.8, 0.64, ...; ``depth_fallback`` in
    the space file, default on) and the widths projected again, down to one block per stage.
    Returns (arch, multiplier, depth factor)."""
    factor, last_depths = 1.0, None
    while True:
        plan = projection_plan(space, raw, gflops, input_shape, template, depth_factor=factor)
        depths = plan.build(_widths_at(plan, 1.0, space.width_step, *space.width_range))['backbone']['stage_blocks']
        if depths != last_depths:
            try:
                arch, _, multiplier = _project_widths(space, plan, gflops, tolerance, input_shape)
                return arch, multiplier, factor
            except InfeasibleBudget as error:
                if not space.data.get('depth_fallback', True) or all(d == 1 for d in depths):
                    raise
                last_error = error
        last_depths = depths
        factor *= 0.8
        if factor < 1e-3:
            raise last_error


def raw_arch(space: SearchSpace, raw: dict, gflops: float, input_shape=(480, 640),
             template: Optional[dict] = None) -> dict:
    """The architecture a raw sample describes before any projection (multiplier 1; for ``scrfd``, the
    released rules). Used to measure how often raw samples already meet a budget."""
    _check_raw(space, raw)
    template = template_arch(template)
    if space.faithful:
        return scrfd_arch(space, raw, template)
    plan = projection_plan(space, raw, gflops, input_shape, template)
    return plan.build(_widths_at(plan, 1.0, space.width_step, *space.width_range))


def project(space: SearchSpace, raw: dict, gflops: float, tolerance: float = 0.02, input_shape=(480, 640),
            template: Optional[dict] = None) -> Candidate:
    """Bring a raw sample inside ``gflops * (1 +- tolerance)`` (FLOPs as ``tools/analysis/get_flops.py``
    counts them at ``input_shape`` = ``(H, W)``).

    Args:
        space: The space ``raw`` was drawn from.
        raw: :meth:`SearchSpace.sample`'s output.
        gflops: Budget in GFLOPs (multiply-accumulates).
        tolerance: Relative half-width of the band.
        input_shape: ``(H, W)`` the budget is counted at.
        template: Step 1: the neck and head (arch dict or config; default: the space's, scaled to the budget).
            Step 2: the step-1 winner (default: the space's reference model).

    Raises:
        InfeasibleBudget: with the reason (too heavy at the narrowest widths, rounding cannot land inside the
            band, or for ``scrfd`` the released rejection rules).
    """
    input_shape, step, template, info = _prepare(space, raw, gflops, tolerance, input_shape, template)
    if space.faithful:
        arch, _ = scrfd_project(space, raw, gflops, tolerance, input_shape, template)
        info.update(multiplier=1.0)
    else:
        arch, multiplier, depth_factor = _project_with_depth_fallback(space, raw, gflops, tolerance,
                                                                      input_shape, template)
        info.update(multiplier=multiplier, depth_factor=depth_factor)
    return _candidate(arch, raw, info, input_shape)


def _prepare(space: SearchSpace, raw: dict, gflops: float, tolerance: float, input_shape, template):
    """:func:`project`'s checks: ``(input_shape, step, template arch, info)``."""
    if gflops <= 0 or not 0 < tolerance < 1:
        raise ValueError(f'need gflops > 0 and 0 < tolerance < 1, got {gflops}, {tolerance}')
    if len(input_shape) == 1:
        input_shape = (input_shape[0], input_shape[0])
    input_shape = tuple(int(v) for v in input_shape)
    step = _check_raw(space, raw)
    info = dict(step=step, space=space.name, gflops_target=gflops, tolerance=tolerance,
                input_shape=list(input_shape))
    return input_shape, step, template_arch(template), info


def _candidate(arch: dict, raw: dict, info: dict, input_shape) -> Candidate:
    arch = canonical_arch(arch)
    check_arch(arch)
    return Candidate(arch=arch, breakdown=count_flops(arch, input_shape), raw=copy.deepcopy(raw), info=info)


def released_candidate(space: SearchSpace, raw: dict, gflops: float, tolerance: float = 0.02,
                       input_shape=(480, 640), template: Optional[dict] = None) -> Candidate:
    """:func:`project` of a raw sample of a faithful space that the released rules already accepted
    (``scrfd_replay.ReleasedRulesBatch`` judged it): its architecture without judging it again. The caller
    checks the candidate's FLOPs against its own count."""
    if not space.faithful:
        raise ValueError(f'space {space.name!r} is projected, not judged by the released rules: use project()')
    input_shape, _, template, info = _prepare(space, raw, gflops, tolerance, input_shape, template)
    info.update(multiplier=1.0)
    return _candidate(scrfd_arch(space, raw, template), raw, info, input_shape)


