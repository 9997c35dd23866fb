"""Search spaces, sampling and the projection of a sample onto a FLOPs budget, for an SCRFD-style search.

Sample and Computation Redistribution for Efficient Face Detection (Guo et al., ICLR 2022): a random search, in
two steps, of how a fixed FLOPs budget is split: step 1 (``'backbone'``) across the stem and C2..C5 with neck
and head from a template, step 2 (``'full'``) across backbone, neck and head around the step-1 winner.

- A space is data: an mmengine-style ``.py`` file in ``search_tools/spaces/`` (``resnet``, ``mobilenet``,
  ``scrfd``) or any path, listing each dimension's type, range, step and the tie rules.
- :meth:`SearchSpace.sample` draws raw parameters through anything with Optuna's ``suggest_*`` methods: an
  ``optuna.Trial`` or :class:`RandomSuggester`.
- :func:`project` turns raw parameters into a :class:`Candidate` inside ``gflops * (1 +- tolerance)`` by
  construction: bisection on one multiplier of every searched width, rounding to the space's width step, then a
  local fix-up of single widths, all with the exact analytic count of ``search_tools.flops`` (equal to
  ``tools/analysis/get_flops.py``'s). It raises :class:`InfeasibleBudget` when no width can meet the budget.
- The ``scrfd`` space replays the released generator (``spaces/scrfd.py`` says how): nothing is projected, a
  sample outside the band (or, in step 2, outside the stage-ratio lock) is rejected with
  :class:`InfeasibleBudget`, as the original rejection loop did. Its step 2 effectively freezes the template's
  depths (the +-10 % stage/stem FLOPs-ratio lock), so it only moves compute between backbone width, neck and head.
- :func:`sample_candidates` draws seeded, de-duplicated candidates; :func:`write_candidates` writes one complete
  config per candidate and a FLOPs/params table.

FLOPs follow the counter's convention (multiply-accumulates, VGA ``(H, W) = (480, 640)`` by default).
"""
import copy
import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from search_tools.arch import arch_from_config, arch_key, check_arch, materialise, read_config
from search_tools.flops import count_flops, printed_module_gflops

__all__ = ['SearchSpace', 'RandomSuggester', 'InfeasibleBudget', 'Candidate', 'load_space', 'project',
           'sample_candidates', 'write_candidates', 'arch_from_config', 'count_flops', 'SPACES_DIR']

SPACES_DIR = Path(__file__).resolve().parent / 'spaces'
STEPS = ('backbone', 'full')
DIM_TYPES = ('int', 'float', 'choice')
FAMILIES = ('ResNetV1e', 'MobileNetV1')


class InfeasibleBudget(ValueError):
    """A sample cannot be brought inside the FLOPs budget; the message says why."""


class _TooHeavy(InfeasibleBudget):
    """Over budget even at the narrowest widths."""


class RandomSuggester:
    """Optuna-like ``suggest_*`` on a numpy ``Generator``: independent uniform draws (log-uniform with ``log``).

    ``params`` records every value drawn, by name, like ``optuna.Trial.params``.
    """

    def __init__(self, rng=None):
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.params = {}

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        if high < low or step < 1:
            raise ValueError(f'{name}: need low <= high and step >= 1, got {low}, {high}, {step}')
        if log:
            value = math.exp(self.rng.uniform(math.log(low - 0.5 if low > 0.5 else low), math.log(high + 0.5)))
            value = int(min(high, max(low, low + round((value - low) / step) * step)))
        else:
            value = int(low + step * self.rng.integers(0, (high - low) // step + 1))
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, log: bool = False, step=None) -> float:
        if high < low:
            raise ValueError(f'{name}: need low <= high, got {low}, {high}')
        value = float(math.exp(self.rng.uniform(math.log(low), math.log(high))) if log
                      else self.rng.uniform(low, high))
        if step:
            value = float(min(high, low + round((value - low) / step) * step))
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Sequence):
        value = choices[int(self.rng.integers(0, len(choices)))]
        self.params[name] = value
        return value


# --------------------------------------------------------------------------------------------- space data
def _expand(key: str, spec, where: str) -> List[Tuple[str, dict]]:
    """A space entry -> [(parameter name, dimension)]: a dict with ``num=k`` gives ``key_0..key_k-1``, a list
    concatenates its entries' expansions."""
    if isinstance(spec, (list, tuple)):
        items = []
        for sub in spec:
            items += _expand(key, sub, where)
        return [(f'{key}_{i}', dim) for i, (_, dim) in enumerate(items)] if len(items) > 1 else items
    if not isinstance(spec, dict) or spec.get('type') not in DIM_TYPES:
        raise ValueError(f'{where}: {key}: a dimension is dict(type={"|".join(DIM_TYPES)}, ...), got {spec!r}')
    dim = dict(spec)
    if dim['type'] == 'choice':
        if not dim.get('choices'):
            raise ValueError(f'{where}: {key}: choice needs a non-empty choices list')
    else:
        if 'low' not in dim or 'high' not in dim or dim['low'] > dim['high']:
            raise ValueError(f'{where}: {key}: needs low <= high, got {dim}')
        if dim.get('log') and dim['low'] <= 0:
            raise ValueError(f'{where}: {key}: a log dimension needs low > 0')
        if dim['type'] == 'int' and int(dim.get('step', 1)) < 1:
            raise ValueError(f'{where}: {key}: step must be >= 1')
    num = int(dim.pop('num', 1))
    if num < 1:
        raise ValueError(f'{where}: {key}: num must be >= 1')
    return [(f'{key}_{i}', dim) for i in range(num)] if num > 1 else [(key, dim)]


def _draw(suggest, name: str, dim: dict):
    if dim['type'] == 'int':
        return int(suggest.suggest_int(name, int(dim['low']), int(dim['high']), step=int(dim.get('step', 1)),
                                       log=bool(dim.get('log', False))))
    if dim['type'] == 'float':
        return float(suggest.suggest_float(name, float(dim['low']), float(dim['high']),
                                           log=bool(dim.get('log', False))))
    return suggest.suggest_categorical(name, list(dim['choices']))


REQUIRED = {False: dict(backbone=('stem_channels', 'stage_blocks', 'width_ratios'),
                        full=('depth_scale', 'width_scale', 'neck_channels', 'head_channels', 'head_convs',
                              'head_norm', 'strides_share', 'use_kps')),
            True: dict(backbone=('block', 'base_channels', 'stage_blocks', 'stage_planes_ratio'),
                       full=('stage_blocks_ratio', 'base_channels_ratio', 'fpn_channel', 'head_channel',
                             'head_stack'))}


class SearchSpace:
    """A search space read from its data file (see ``spaces/resnet.py`` for the format).

    Attributes:
        name (str): ``resnet``, ``mobilenet``, ``scrfd`` or the file's stem.
        family (str): ``ResNetV1e`` or ``MobileNetV1``.
        faithful (bool): The released SCRFD rules (rejection, no projection).
        data (dict): The file's content.
    """

    def __init__(self, data: dict, name: str, source: str = '<dict>'):
        self.name = name
        self.source = source
        self.data = copy.deepcopy(data)
        self.family = data.get('family')
        self.faithful = bool(data.get('faithful', False))
        if self.family not in FAMILIES:
            raise ValueError(f'{source}: family must be one of {FAMILIES}, got {self.family!r}')
        if self.faithful and self.family != 'ResNetV1e':
            raise ValueError(f'{source}: the faithful SCRFD rules exist for ResNetV1e only')
        self.dims = {}
        for step in STEPS:
            spec = data.get(step)
            if not isinstance(spec, dict):
                raise ValueError(f'{source}: {step}: a dict of dimensions is required')
            missing = [k for k in REQUIRED[self.faithful][step] if k not in spec]
            if missing:
                raise ValueError(f'{source}: {step}: missing dimensions {missing}')
            self.dims[step] = {key: _expand(key, value, f'{source}: {step}') for key, value in spec.items()}
        if self.family == 'ResNetV1e' and not self.faithful:
            if 'block' not in self.dims['backbone']:
                raise ValueError(f'{source}: backbone: the ResNetV1e space needs a block dimension')
        self.ties = dict(stem_equals_c2=self.family == 'ResNetV1e', non_decreasing_widths=True, gn_groups=(16, 8))
        self.ties.update(data.get('ties', {}))
        if not self.faithful:
            self.width_step = int(data.get('width_step', 8))
            self.width_range = tuple(int(v) for v in data.get('width_range', (8, 1024)))
            self.depth_range = tuple(int(v) for v in data.get('depth_range', (1, 32)))
            if self.width_step < 1 or not 1 <= self.width_range[0] <= self.width_range[1]:
                raise ValueError(f'{source}: width_step/width_range: need step >= 1 and 1 <= low <= high')
            chain = self._chain_length()
            ratios = len(self.dims['backbone']['width_ratios'])
            if ratios != chain - 1:
                raise ValueError(f'{source}: backbone.width_ratios: {chain} widths need {chain - 1} ratios, '
                                 f'got {ratios}')
            if len(self.dims['backbone']['stage_blocks']) != 4:
                raise ValueError(f'{source}: backbone.stage_blocks: need num=4 (C2..C5)')
        for key in ('step1_template', 'reference'):
            if key not in data:
                raise ValueError(f'{source}: {key} is required')
        self.reference = _canonical(data['reference'])
        self.step1_template = copy.deepcopy(data['step1_template'])

    def __repr__(self):
        return f'SearchSpace({self.name!r}, family={self.family}, faithful={self.faithful})'

    def _chain_length(self) -> int:
        if self.family == 'MobileNetV1':
            return 6
        return 4 if self.ties['stem_equals_c2'] else 5

    def dimensions(self, step: str = 'backbone') -> List[Tuple[str, dict]]:
        """``[(parameter name, dimension)]`` drawn by :meth:`sample` for ``step``."""
        _check_step(step)
        return [item for items in self.dims[step].values() for item in items]

    def sample(self, suggest, step: str = 'backbone', template: Optional[dict] = None) -> dict:
        """Draw one raw sample.

        Args:
            suggest: ``optuna.Trial`` or :class:`RandomSuggester` (``suggest_int/float/categorical``).
            step: ``'backbone'`` (SCRFD step 1) or ``'full'`` (step 2).
            template: Unused by the draw itself (step-2 values are relative to the template); accepted so that
                callers pass the same arguments to :meth:`sample` and :func:`project`.

        Returns:
            dict: ``{'step': step, key: value or [values]}``; a key with several draws (``num`` or a list in the
            space file) holds a list. JSON-able.
        """
        _check_step(step)
        raw = {'step': step}
        for key, items in self.dims[step].items():
            values = [_draw(suggest, name, dim) for name, dim in items]
            raw[key] = values if len(items) > 1 else values[0]
        return raw


def _check_step(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f'step must be one of {STEPS}, got {step!r}')


def _canonical(arch: dict) -> dict:
    """A deep, JSON-clean copy (lists, ints) of an arch dict."""
    return json.loads(json.dumps(arch))


def load_space(name_or_path: str) -> SearchSpace:
    """Load ``'resnet'``, ``'mobilenet'``, ``'scrfd'`` (files in ``search_tools/spaces/``) or a space file path.

    Raises:
        FileNotFoundError: a space file that does not exist.
        ValueError: an unknown space name, or a file that is not a valid space (the message names the file, and the
            line of a syntax error).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = SPACES_DIR / f'{name_or_path}.py'
        if not path.is_file():
            known = sorted(p.stem for p in SPACES_DIR.glob('*.py'))
            raise ValueError(f'unknown search space {name_or_path!r}: expected one of {known} or a .py file')
    elif not path.is_file():
        raise FileNotFoundError(f'search space file {path} does not exist')
    data = read_config(path).to_dict()
    return SearchSpace(data, path.stem, str(path))


# --------------------------------------------------------------------------------------------- candidates
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


def _breakdown(arch: dict, input_shape) -> dict:
    return count_flops(arch, input_shape)


# --------------------------------------------------------------------------------------------- projection
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
    """A raw sample turned into ``build(widths) -> arch``: ``base`` are the continuous widths the multiplier
    scales, ``monotone`` index groups that must stay non-decreasing."""

    def __init__(self, base: List[float], build: Callable[[List[int]], dict], monotone: List[List[int]]):
        self.base = base
        self.build = build
        self.monotone = monotone


def _check_raw(space: SearchSpace, raw: dict) -> str:
    """The raw sample's step, after checking it carries every value the space draws for that step."""
    if not isinstance(raw, dict):
        raise ValueError(f'raw sample: expected a dict from SearchSpace.sample, got {type(raw).__name__}')
    step = raw.get('step', 'backbone')
    _check_step(step)
    missing = [key for key in space.dims[step] if key not in raw]
    if missing:
        raise ValueError(f'raw sample for step {step!r} of space {space.name!r}: missing {missing}')
    return step


def _template_arch(template) -> Optional[dict]:
    """An arch dict from an arch dict, a config path, a Config or a config dict (None stays None)."""
    if template is None:
        return None
    if isinstance(template, dict) and 'backbone' in template and 'head' in template and 'neck' in template \
            and 'model' not in template:
        return _canonical(template)
    return arch_from_config(template)


_STEP1_CACHE: Dict[tuple, Tuple[dict, dict]] = {}


def _default_neck_head(space: SearchSpace, gflops: float, input_shape) -> Tuple[dict, dict]:
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


def _plan(space: SearchSpace, raw: dict, gflops: float, input_shape, template: Optional[dict],
          depth_factor: float = 1.0) -> _Plan:
    step = raw.get('step', 'backbone')
    _check_step(step)
    gn_choices = space.ties['gn_groups']
    if step == 'backbone':
        if template is None:
            neck, head = _default_neck_head(space, gflops, input_shape)
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

        monotone = [list(range(len(base)))] if space.ties['non_decreasing_widths'] else []
        return _Plan(base, build, monotone)

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

    monotone = ([list(range(nb))] if space.ties['non_decreasing_widths'] and
                all(a <= b for a, b in zip(bb_widths, bb_widths[1:])) else [])
    return _Plan(base, build, monotone)


def _widths_at(plan: _Plan, m: float, step: int, lo: int, hi: int) -> List[int]:
    return [_round_width(w * m, step, lo, hi) for w in plan.base]


def _valid(widths: List[int], plan: _Plan) -> bool:
    return all(widths[a] <= widths[b] for group in plan.monotone for a, b in zip(group, group[1:]))


def _project_widths(space: SearchSpace, plan: _Plan, gflops: float, tolerance: float, input_shape):
    """Bisection on the multiplier, then a local fix-up; returns (arch, flops, multiplier)."""
    step, (lo, hi) = space.width_step, space.width_range
    target = gflops * 1e9
    low_ok, high_ok = target * (1 - tolerance), target * (1 + tolerance)
    cache = {}

    def flops_of(widths):
        key = tuple(widths)
        if key not in cache:
            try:
                arch = plan.build(list(widths))
                cache[key] = (arch, count_flops(arch, input_shape)['total']['flops'])
            except InfeasibleBudget:
                cache[key] = (None, None)
        return cache[key]

    m_min = lo / max(plan.base) / 2
    m_max = hi / min(plan.base) * 2
    _, f_min = flops_of(_widths_at(plan, m_min, step, lo, hi))
    _, f_max = flops_of(_widths_at(plan, m_max, step, lo, hi))
    if f_min is not None and f_min > high_ok:
        raise _TooHeavy(f'{f_min / 1e9:.4f} GFLOPs at the narrowest widths ({lo}) already exceed '
                        f'{gflops:g} GF + {tolerance:.1%} (depths or the fixed neck/head are too heavy)')
    if f_max is not None and f_max < low_ok:
        raise InfeasibleBudget(f'{f_max / 1e9:.4f} GFLOPs at the widest widths ({hi}) stay below '
                               f'{gflops:g} GF - {tolerance:.1%}')
    m_lo, m_hi = m_min, m_max
    for _ in range(64):
        w_lo, w_hi = _widths_at(plan, m_lo, step, lo, hi), _widths_at(plan, m_hi, step, lo, hi)
        # adjacent roundings (one width one step apart), or equal base widths that change together
        if sum(abs(a - b) for a, b in zip(w_lo, w_hi)) <= step or m_hi / m_lo < 1 + 1e-9:
            break
        mid = math.sqrt(m_lo * m_hi)
        f = flops_of(_widths_at(plan, mid, step, lo, hi))[1]
        if f is not None and f < target:
            m_lo = mid
        else:
            m_hi = mid
    multiplier = math.sqrt(m_lo * m_hi)
    ideal = [w * multiplier for w in plan.base]

    def distortion(widths):
        return sum(math.log(w / i) ** 2 for w, i in zip(widths, ideal))

    start = [_widths_at(plan, m_lo, step, lo, hi), _widths_at(plan, m_hi, step, lo, hi)]
    frontier, seen, best = [], set(), None
    for widths in start:
        arch, f = flops_of(widths)
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
                    arch, f = flops_of(w)
                    if f is None:
                        continue
                    nxt.append((abs(f - target), w))
                    if low_ok <= f <= high_ok:
                        d = (distortion(w), abs(f - target))
                        best = min(best, (d, w), key=lambda x: x[0]) if best else (d, w)
        frontier = [w for _, w in sorted(nxt)[:8]]
    if best is None:
        closest = min((abs(f - target), f) for a, f in cache.values() if f is not None)[1]
        raise InfeasibleBudget(f'rounding to multiples of {step} cannot reach {gflops:g} GF +- {tolerance:.1%}: '
                               f'closest {closest / 1e9:.4f} GF')
    arch, f = flops_of(best[1])
    return arch, f, multiplier


def _project_with_depth_fallback(space, raw, gflops, tolerance, input_shape, template):
    """Width projection of the sampled depths; if that fails (over budget even at the narrowest widths, or
    rounding steps over the band), every depth is shrunk by one factor (0.8, 0.64, ...; ``depth_fallback`` in
    the space file, default on) and the widths projected again, down to one block per stage.
    Returns (arch, multiplier, depth factor)."""
    factor, last_depths = 1.0, None
    while True:
        plan = _plan(space, raw, gflops, input_shape, template, depth_factor=factor)
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


def _in_band(flops: float, gflops: float, tolerance: float) -> bool:
    # the released check: (1 - eps) * target <= flops <= (1 + eps) * target
    return (1.0 - tolerance) * gflops * 1e9 <= flops <= (1.0 + tolerance) * gflops * 1e9


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
    tpl = template if template is not None else space.reference
    tb = tpl['backbone']
    if tb['type'] != 'ResNetV1e':
        raise ValueError('the scrfd space searches ResNetV1e templates only')
    if tpl['head']['norm'] != 'GN':
        raise ValueError("the released mode 2 sets the head's GN group count: the template head must use GN")
    # numpy.round rounds half to even (2.5 -> 2) and 0 blocks still build one (mmdet's ResLayer)
    depths = [max(1, int(np.round(d * raw['stage_blocks_ratio']))) for d in tb['stage_blocks']]
    widths = [int(np.round(w * raw['base_channels_ratio'])) // 8 * 8
              for w in [tb['stem_channels']] + list(tb['stage_planes'])]
    # the released script scales stage_planes and sets base_channels = stage_planes[0] (the stem follows C2)
    planes = widths[1:]
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


def _scrfd_project(space, raw, gflops, tolerance, input_shape, template) -> Tuple[dict, int]:
    arch = scrfd_arch(space, raw, template)
    flops = count_flops(arch, input_shape)['total']['flops']
    if raw.get('step') == 'full':
        tpl = template if template is not None else space.reference
        lock = float(space.data.get('ratio_lock', 5)) * tolerance
        ref = printed_module_gflops(tpl, input_shape)
        cand = printed_module_gflops(arch, input_shape)
        for layer in ('layer1', 'layer2', 'layer3', 'layer4'):
            if ref['stem'] == 0 or cand['stem'] == 0:
                raise InfeasibleBudget('stem FLOPs print as 0.000 G: the stage ratios are undefined')
            t_ratio, c_ratio = ref[layer] / ref['stem'], cand[layer] / cand['stem']
            # is_flops_valid(template_ratio, candidate_ratio, 5 * eps)
            if not (1 - lock) * c_ratio <= t_ratio <= (1 + lock) * c_ratio:
                raise InfeasibleBudget(f'stage-ratio lock: {layer}/stem {c_ratio:.3f} vs the template\'s '
                                       f'{t_ratio:.3f} (+-{lock:.0%})')
    if not _in_band(flops, gflops, tolerance):
        raise InfeasibleBudget(f'{flops / 1e9:.4f} GFLOPs outside {gflops:g} GF +- {tolerance:.1%} '
                               f'(released rule: rejection, no projection)')
    return arch, flops


def raw_arch(space: SearchSpace, raw: dict, gflops: float, input_shape=(480, 640),
             template: Optional[dict] = None) -> dict:
    """The architecture a raw sample describes before any projection (multiplier 1; for ``scrfd``, the
    released rules). Used to measure how often raw samples already meet a budget."""
    _check_raw(space, raw)
    template = _template_arch(template)
    if space.faithful:
        return scrfd_arch(space, raw, template)
    plan = _plan(space, raw, gflops, input_shape, template)
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
    if gflops <= 0 or not 0 < tolerance < 1:
        raise ValueError(f'need gflops > 0 and 0 < tolerance < 1, got {gflops}, {tolerance}')
    if len(input_shape) == 1:
        input_shape = (input_shape[0], input_shape[0])
    input_shape = tuple(int(v) for v in input_shape)
    step = _check_raw(space, raw)
    template = _template_arch(template)
    info = dict(step=step, space=space.name, gflops_target=gflops, tolerance=tolerance,
                input_shape=list(input_shape))
    if space.faithful:
        arch, _ = _scrfd_project(space, raw, gflops, tolerance, input_shape, template)
        info.update(multiplier=1.0)
    else:
        arch, multiplier, depth_factor = _project_with_depth_fallback(space, raw, gflops, tolerance,
                                                                      input_shape, template)
        info.update(multiplier=multiplier, depth_factor=depth_factor)
    arch = _canonical(arch)
    check_arch(arch)
    return Candidate(arch=arch, breakdown=_breakdown(arch, input_shape), raw=copy.deepcopy(raw), info=info)


# --------------------------------------------------------------------------------------------- sampling
def sample_candidates(space: SearchSpace, num: int, *, seed: int, gflops: float, tolerance: float = 0.02,
                      input_shape=(480, 640), step: str = 'backbone', template: Optional[dict] = None,
                      max_draws: Optional[int] = None) -> Tuple[List[Candidate], dict]:
    """Draw raw samples with ``RandomSuggester(seed)`` and project them until ``num`` distinct candidates exist.

    Returns:
        (candidates, stats): ``stats`` has ``raw_samples`` (drawn), ``met_budget_raw`` and
        ``met_budget_raw_share`` (raw samples already inside the band before projection), ``infeasible``
        (projection failures), ``accepted``/``accepted_share`` (projected, duplicates included: for ``scrfd``
        the released acceptance rate, stage-ratio lock included), ``duplicates``, ``candidates``, ``seconds``,
        ``candidates_per_s``, ``raw_per_s`` (draw + analytic count of the raw architecture, before
        projection), ``exhausted`` (``max_draws`` reached before ``num`` candidates) and, after a projection
        failure, ``last_infeasible`` (its reason).
    """
    _check_step(step)
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    template = _template_arch(template)
    suggester = RandomSuggester(np.random.default_rng(seed))
    max_draws = max_draws or min(10**6, 20000 * num)
    candidates, keys = [], set()
    stats = dict(space=space.name, step=step, gflops=gflops, tolerance=tolerance, input_shape=list(input_shape),
                 seed=seed, raw_samples=0, met_budget_raw=0, infeasible=0, accepted=0, duplicates=0)
    if step == 'backbone' and template is None and not space.faithful:
        _default_neck_head(space, gflops, tuple(input_shape))  # once per budget: keep it out of the raw rate
    raw_seconds = 0.0
    start = time.perf_counter()
    while len(candidates) < num and stats['raw_samples'] < max_draws:
        t0 = time.perf_counter()
        raw = space.sample(suggester, step)
        stats['raw_samples'] += 1
        try:
            flops = count_flops(raw_arch(space, raw, gflops, input_shape, template), input_shape)['total']['flops']
            stats['met_budget_raw'] += int(_in_band(flops, gflops, tolerance))
        except (InfeasibleBudget, ValueError):
            flops = None
        raw_seconds += time.perf_counter() - t0
        if space.faithful and (flops is None or not _in_band(flops, gflops, tolerance)):
            stats['infeasible'] += 1  # project() would reject it for the same reason; skip the recount
            continue
        try:
            cand = project(space, raw, gflops, tolerance, input_shape, template)
        except InfeasibleBudget as err:
            stats['infeasible'] += 1
            stats['last_infeasible'] = str(err)
            continue
        stats['accepted'] += 1
        if cand.key() in keys:
            stats['duplicates'] += 1
            continue
        keys.add(cand.key())
        candidates.append(cand)
    seconds = time.perf_counter() - start
    stats.update(candidates=len(candidates), seconds=seconds,
                 met_budget_raw_share=stats['met_budget_raw'] / max(1, stats['raw_samples']),
                 accepted_share=stats['accepted'] / max(1, stats['raw_samples']),
                 candidates_per_s=len(candidates) / seconds if seconds else float('inf'),
                 raw_per_s=stats['raw_samples'] / raw_seconds if raw_seconds else float('inf'),
                 exhausted=len(candidates) < num)
    return candidates, stats


# --------------------------------------------------------------------------------------------- writing
TABLE_PARTS = ('stem', 'c2', 'c3', 'c4', 'c5', 'backbone', 'neck', 'head', 'total')


def _arch_summary(arch: dict) -> str:
    bb, head = arch['backbone'], arch['head']
    block = bb.get('block', 'dw')
    stem = f"stem {bb['stem_channels']} " if 'stem_channels' in bb else ''
    norm = f"{head['norm']}{head['num_groups'] or ''}"
    return (f"{bb['type']}:{block} {stem}d{tuple(bb['stage_blocks'])} w{tuple(bb['stage_planes'])}; "
            f"PAFPN {arch['neck']['out_channels']}; head {head['stacked_convs']}x{head['feat_channels']} {norm}"
            f"{' dw' if head['dw_conv'] else ''}{' shared' if head['strides_share'] else ''}"
            f"{' kps' if head['use_kps'] else ''}")


def candidate_rows(candidates: Sequence[Candidate], names: Sequence[str]) -> List[dict]:
    """One table row per candidate: name, key, GFLOPs and params of every part, FLOPs shares, arch summary."""
    rows = []
    for name, cand in zip(names, candidates):
        b = cand.breakdown
        row = dict(name=name, key=cand.key(), gflops=round(b['total']['gflops'], 4),
                   params_m=round(b['total']['params_m'], 4))
        for part in TABLE_PARTS[:-1]:
            row[f'{part}_gflops'] = round(b[part]['gflops'], 4)
        for part in TABLE_PARTS[:-1]:
            row[f'{part}_share'] = round(b[part]['flops'] / b['total']['flops'], 4)
        for part in ('backbone', 'neck', 'head'):
            row[f'{part}_params_m'] = round(b[part]['params_m'], 4)
        row['arch'] = _arch_summary(cand.arch)
        rows.append(row)
    return rows


def config_source(cfg) -> str:
    """Python source of a resolved config that mmengine loads back to the same dict: one ``name = literal`` line
    per top-level key, formatted by pprint. mmengine's ``pretty_text`` runs yapf over its text, which took ~0.5 s
    per candidate and dominated ``sample``; this takes about a millisecond."""
    import pprint
    return ''.join(f'{key} = {pprint.pformat(value, width=116, sort_dicts=False)}\n'
                   for key, value in cfg.to_dict().items())


def write_candidates(out_dir, candidates: Sequence[Candidate], template_cfg, force: bool = False) -> List[str]:
    """Write ``cand_<i>_<key>.py`` (a complete config per candidate: ``template_cfg``'s data, schedule and
    runtime, the candidate's model), ``candidates.csv``/``candidates.md`` (FLOPs/params breakdown) and
    ``candidates.jsonl`` (arch, breakdown, raw sample, projection info).

    Returns:
        list[str]: the config paths, in the order of ``candidates``.

    Raises:
        NotADirectoryError: ``out_dir`` is a file.
        FileExistsError: ``out_dir`` exists and is not empty, unless ``force``.
    """
    from mmengine.config import Config

    from mmdet_face.utils.output_file import check_output_folder
    out = Path(check_output_folder(out_dir, force, contents='candidate configs', holds='files', allow_link=True,
                                   fix='Pass force=True (--force) to write into it.'))
    out.mkdir(parents=True, exist_ok=True)
    template = template_cfg if isinstance(template_cfg, Config) else Config.fromfile(str(template_cfg))
    names = [f'cand_{i:03d}_{c.key()}' for i, c in enumerate(candidates)]
    source = getattr(template, 'filename', None) or '<Config>'
    for name, cand in zip(names, candidates):
        cfg = cand.to_config(template)
        b = cand.breakdown
        header = (f'# {name}: generated by search_tools (space {cand.info.get("space")}, step '
                  f'{cand.info.get("step")}) from template {source}.\n'
                  f'# {b["total"]["gflops"]:.4f} GFLOPs (analytic, input {cand.info.get("input_shape")}), '
                  f'{b["total"]["params_m"]:.4f} M params; arch key {cand.key()}\n'
                  f'# arch = {json.dumps(cand.arch, sort_keys=True)}\n')
        (out / f'{name}.py').write_text(header + config_source(cfg))
    rows = candidate_rows(candidates, names)
    if rows:
        with open(out / 'candidates.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    md_cols = ['name', 'gflops', 'params_m'] + [f'{p}_share' for p in ('stem', 'c2', 'c3', 'c4', 'c5', 'backbone',
                                                                       'neck', 'head')] + ['arch']
    lines = ['| ' + ' | '.join(md_cols) + ' |', '|' + '---|' * len(md_cols)]
    for row in rows:
        cells = [f'{row[c]:.1%}' if c.endswith('_share') else str(row[c]) for c in md_cols]
        lines.append('| ' + ' | '.join(cells) + ' |')
    (out / 'candidates.md').write_text('\n'.join(lines) + '\n')
    with open(out / 'candidates.jsonl', 'w') as f:
        for name, cand in zip(names, candidates):
            f.write(json.dumps(dict(name=name, key=cand.key(), arch=cand.arch, breakdown=cand.breakdown,
                                    raw=cand.raw, info=cand.info), sort_keys=True) + '\n')
    return [str(out / f'{name}.py') for name in names]
