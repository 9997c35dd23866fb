"""Evolutionary search under a FLOPs budget, ranked by a training-free proxy: the search that does not train every
candidate (``search.py evolve``), and the ranking of sampled candidates by a proxy (``search.py prerank``).

The loop is the released DamoFD / Zen-NAS one (Liu et al., "DamoFD: Digging into Backbone Design on Face
Detection", ICLR 2023, ``DDSAR/evolution_search.py``; Lin et al., "Zen-NAS", ICCV 2021): a population of at most
``P`` members; while it holds at most 10, a child is one mutation of the initial architecture, afterwards two
mutations of a uniformly drawn member; a child outside the FLOPs band or the space's rules is dropped and the next
one drawn (never scored, never a config that fails to build); a scored child joins the population and, when the
population exceeds ``P``, the member of lowest score leaves (the first one on ties). Unlike the released loop the
population holds distinct architectures (a child equal to a member is counted as a duplicate and dropped), so its
``K`` best are ``K`` different candidates.

Two kinds of problems share the loop:

* :class:`DamoFDProblem`: DamoFD structure strings mutated block by block with the released rules
  (``search_tools.damofd_space``), FLOPs counted as the released search counts them at its square search
  resolution (``search_tools.damofd_flops``), DDSAR computed from the block records (no network is built).
* :class:`SpaceProblem`: the SCRFD spaces (``resnet``, ``mobilenet``, ``scrfd`` or a file): a child re-draws one
  or two stages' depth and width ratio (step ``backbone``; for step ``full`` one or two dimensions) from the
  space's own ranges, and is projected onto the band by ``search_tools.projection.project``.

The state (population, random generator, counters, history) is checkpointed atomically every
``checkpoint_every`` iterations; a rerun with the same arguments continues from it and ends with the same result as
an uninterrupted run.
"""
import copy
import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ['EvolveError', 'EvolveInterrupted', 'Member', 'BlockSampler', 'DamoFDProblem', 'SpaceProblem', 'evolve',
           'prerank', 'rechain', 'STATE_FILE', 'LOG_FILE', 'damofd_space_names']

STATE_FILE = 'evolve_state.json'
LOG_FILE = 'evolve_log.jsonl'
STATE_VERSION = 1
SEED_FROM_INITIAL = 10   # the released loop mutates the initial architecture while the population holds <= 10


class EvolveError(ValueError):
    """Bad input or a state that cannot be resumed; the message says what and what was expected."""


class EvolveInterrupted(KeyboardInterrupt):
    """The search was stopped (Ctrl-C, ``stop_after``); the message names the checkpoint a rerun resumes from."""


@dataclass
class Member:
    """One scored architecture: ``key`` identifies it, ``genome`` is what the problem mutates (JSON-able),
    ``flops`` as the problem counts them."""
    key: str
    genome: Any
    score: float
    flops: float


# ------------------------------------------------------------------------------------------------- DamoFD blocks
def damofd_space_names() -> List[str]:
    """``damofd-0.5g``, ``damofd-2.5g`` ...: one space per released model (its block rules, layer cap, initial
    structure)."""
    from search_tools.damofd_space import load_damofd_space
    return [f'damofd-{m}' for m in load_damofd_space()['models']]


def rechain(blocks) -> tuple:
    """``blocks`` with every block's input width set to its predecessor's output width (the first block keeps
    its own), as ``search_tools.damofd_space.replace_block`` re-chains a mutated structure, on the records."""
    from dataclasses import replace
    out = [blocks[0]]
    for b in blocks[1:]:
        prev = out[-1].out_channels
        out.append(b if b.in_channels == prev else replace(b, in_channels=prev, position=0))
    return tuple(out)


class BlockSampler:
    """A uniform draw from the joined candidate lists of ``search_tools.damofd_space.block_candidates`` (the
    released ``random.choice`` over the flattened ``gen_search_space`` lists, repeats included) without writing
    the thousands of block strings: list ``k`` of a group holds the group's types ``0..min(k + 1, last)`` times
    every (width, layers, bottleneck) combination, so an index into the joined lists decomposes into a list, a
    type and a combination. ``enumerate()`` lists every outcome once per index (for tests)."""

    def __init__(self, block, rules: dict, round_base: int = 8, min_channels: int = 8):
        import itertools

        from mmdet_face.models.backbones.damofd_structure import parse_structure, smart_round
        from search_tools.damofd_space import candidate_widths, block_candidates
        self.block = block
        if block.kind == 'conv':   # a handful of candidates: take them as written
            lists = block_candidates(block, rules, round_base, min_channels)
            self.fixed = [parse_structure(s, block.in_channels, source='candidate block')[0]
                          for sub in lists for s in sub]
            self.total = len(self.fixed)
            return
        self.fixed = None
        outs = candidate_widths(block.out_channels, rules['out_factors'], rules['out_clip'], round_base)
        layers = sorted({max(0, round(block.num_layers + d)) for d in rules['layer_deltas']}, reverse=True)
        btns = candidate_widths(block.bottleneck_channels, rules['bottleneck_factors'], rules['bottleneck_clip'],
                       round_base)
        combos = []
        for c, n, b in itertools.product(outs, layers, btns):
            c, b = smart_round(c, round_base), smart_round(b, round_base)
            if c >= min_channels and b >= min_channels and n > 0:
                combos.append((c, n, b))
        self.combos = sorted(set(combos))
        self.segments = []   # (types, size) per joined list
        for names in rules['block_groups']:
            for k in range(len(names)):
                types = names[:min(k + 1, len(names) - 1) + 1]
                self.segments.append((types, len(types) * len(self.combos)))
        self.total = sum(size for _, size in self.segments)

    def block_at(self, j: int):
        """The ``j``-th outcome, ``0 <= j < total``."""
        from mmdet_face.models.backbones.damofd_structure import BLOCK_NAMES, DamoBlock
        if self.fixed is not None:
            return self.fixed[j]
        for types, size in self.segments:
            if j < size:
                t, i = divmod(j, len(self.combos))
                name = types[t]
                c, n, b = self.combos[i]
                kind, kernel, expansion = BLOCK_NAMES[name]
                blk = self.block
                return DamoBlock(name=name, kind=kind, in_channels=blk.in_channels, out_channels=c,
                                 stride=blk.stride, num_layers=n, kernel_size=kernel, bottleneck_channels=b,
                                 expansion=expansion)
            j -= size
        raise IndexError(j)

    def draw(self, rng: np.random.Generator):
        return self.block_at(int(rng.integers(self.total)))

    def enumerate(self):
        return [self.block_at(j) for j in range(self.total)]


class DamoFDProblem:
    """Mutation, budget check and score of DamoFD structure strings.

    Args:
        model: A released model name of the space file (``0.5g`` ...): its rule set, ``max_layers`` and initial
            structure.
        budget_flops: The band's centre in FLOPs at the square ``resolution`` (the released ``--budget_flops``).
        tolerance: Half-width of the band, relative.
        resolution: The search resolution (FLOPs and proxy), 224 as released.
        proxy: A proxy name of ``search_tools.proxies``; ``ddsar`` is computed from the block records.
        proxy_options: Extra keyword arguments of the proxy (``alpha``).
        init: A structure string to start from instead of the model's.
        at_most: Accept every child of at most ``budget (1 + tolerance)`` FLOPs, the released rule
            (``budget_flops < flops`` is skipped), instead of the two-sided band.
    """

    kind = 'damofd'

    def __init__(self, model: str, budget_flops: float, tolerance: float, resolution: int = 224,
                 proxy: str = 'ddsar', proxy_options: Optional[dict] = None, init: Optional[str] = None,
                 seed: int = 0, at_most: bool = False):
        from mmdet_face.models.backbones.damofd_structure import parse_structure
        from search_tools.damofd_space import initial_structure, load_damofd_space
        from search_tools.proxies import get_proxy
        space = load_damofd_space()
        if model not in space['models']:
            raise EvolveError(f'unknown DamoFD model {model!r}: expected one of {sorted(space["models"])}')
        spec = space['models'][model]
        self.model = model
        self.rules_name = spec['space']
        self.rules = space['spaces'][self.rules_name]
        self.round_base = int(space['round_base'])
        self.min_channels = int(space['min_channels'])
        self.first_mutable = int(space['mutable_from_block'])
        self.split_threshold = int(space['split_layer_threshold'])
        self.max_layers = int(spec['max_layers'])
        self.num_stages = 5   # the released score skips every structure whose block list is not 5 long
        self.budget, self.tolerance, self.resolution = float(budget_flops), float(tolerance), int(resolution)
        self.low, self.high = 0.0 if at_most else self.budget * (1 - tolerance), self.budget * (1 + tolerance)
        self.proxy_name, self.proxy_options, self.seed = proxy, dict(proxy_options or {}), seed
        self.proxy = get_proxy(proxy)
        text = init or initial_structure(model, space)
        self.initial = parse_structure(text, rechain=True, source='initial structure')
        self._choices: Dict[Any, 'BlockSampler'] = {}
        self.ddsar_alpha = self.proxy_options.get('alpha')

    # genome: the structure string; the block records are kept next to it in memory
    def key(self, blocks) -> str:
        from mmdet_face.models.backbones.damofd_structure import format_structure
        return format_structure(blocks)

    def decode(self, genome: str):
        from mmdet_face.models.backbones.damofd_structure import parse_structure
        return parse_structure(genome, source='saved structure')

    def flops(self, blocks) -> float:
        from search_tools.damofd_flops import structure_flops
        return structure_flops(blocks, self.resolution)

    def block_sampler(self, block) -> 'BlockSampler':
        sampler = self._choices.get(block)
        if sampler is None:
            sampler = self._choices[block] = BlockSampler(block, self.rules, self.round_base, self.min_channels)
        return sampler

    def mutate(self, blocks, rng: np.random.Generator, replaces: int):
        """One child of ``blocks``: ``replaces`` draws of a block position (a position drawn twice is replaced
        once, as released), each replaced by a uniform draw among its candidates, widths re-chained, long blocks
        split. Returns ``(blocks, why)``: the child, or None and the rule it broke."""
        from search_tools.damofd_space import split_blocks, total_layers
        done = set()
        blocks = list(blocks)
        for _ in range(replaces):
            index = int(rng.integers(self.first_mutable, len(blocks)))
            if index in done:
                continue
            done.add(index)
            sampler = self.block_sampler(blocks[index])
            if not sampler.total:
                return None, 'no candidate block'
            blocks[index] = sampler.draw(rng)
        blocks = rechain(blocks)
        if any(b.kind != 'conv' and b.num_layers >= self.split_threshold for b in blocks):
            blocks = split_blocks(blocks, self.split_threshold)
        if total_layers(blocks) > self.max_layers:
            return None, 'layers'
        if len(blocks) != self.num_stages:
            return None, 'stages'
        return blocks, None

    def in_band(self, flops: float) -> bool:
        return self.low <= flops <= self.high

    def score(self, blocks) -> float:
        if self.proxy_name == 'ddsar':
            from search_tools.proxies.ddsar import DEFAULT_ALPHA, ddsar
            return ddsar(blocks, self.resolution, DEFAULT_ALPHA if self.ddsar_alpha is None
                         else self.ddsar_alpha).total
        backbone = dict(type='DamoFDNet', structure=self.key(blocks))
        return self.proxy(backbone, input_size=(self.resolution, self.resolution), seed=self.seed,
                          **self.proxy_options).total

    def describe(self) -> dict:
        return dict(kind=self.kind, model=self.model, rules=self.rules_name, max_layers=self.max_layers,
                    resolution=self.resolution, budget_flops=self.budget, tolerance=self.tolerance,
                    band=[self.low, self.high], initial=self.key(self.initial),
                    initial_flops=self.flops(self.initial))

    def encode(self, blocks) -> str:
        return self.key(blocks)

    def first_parent(self, rng):
        return self.initial

    def out_of_reach_hint(self) -> str:
        return (f'the {self.model} space starts from {self.flops(self.initial) / 1e9:.6g} GFLOPs at '
                f'{self.resolution}x{self.resolution} and its children (one block changed) did not reach '
                f'{self.low / 1e9:.6g}..{self.high / 1e9:.6g} GFLOPs')


# ------------------------------------------------------------------------------------------------- SCRFD spaces
class SpaceProblem:
    """Mutation (re-drawing parts of a raw sample from the space's own ranges) and projection onto the band of a
    ``search_tools.space.SearchSpace``; the genome is the raw sample, the member a projected ``Candidate``.

    While the population is being filled, children are fresh draws of the space (as ``sample`` draws them).
    """

    kind = 'space'

    def __init__(self, space, gflops: float, tolerance: float, input_shape, step: str = 'backbone',
                 template: Optional[dict] = None, proxy: str = 'ddsar', proxy_input=(224, 224),
                 proxy_options: Optional[dict] = None, seed: int = 0):
        from search_tools.proxies import get_proxy
        from search_tools.space import RandomSuggester
        self.space, self.gflops, self.tolerance = space, float(gflops), float(tolerance)
        self.input_shape, self.step, self.template = tuple(input_shape), step, template
        self.proxy_name, self.proxy_input = proxy, tuple(proxy_input)
        self.proxy_options, self.seed = dict(proxy_options or {}), seed
        self.proxy = get_proxy(proxy)
        self._suggester = RandomSuggester
        self.genes = self._genes()

    def _genes(self) -> List[List[Tuple[str, int, dict]]]:
        """What one mutation re-draws: ``[(dimension key, index in its list or -1, dimension)]`` per gene. Step
        ``backbone``: one gene per stage C2..C5 (its depth and the width ratio that sets its width; the stem or
        base width for the first stage whose width is the stem's); step ``full``: one gene per dimension."""
        dims = self.space.dims[self.step]

        def item(key, i):
            items = dims[key]
            return (key, i if len(items) > 1 else -1, items[max(i, 0)][1])

        if self.step != 'backbone':
            return [[item(key, i)] for key, items in dims.items() for i in range(len(items))]
        # the chain of width ratios: width_ratios (projected spaces), stage_planes_ratio (the released scrfd rules)
        ratio_key = next((k for k in ('width_ratios', 'stage_planes_ratio') if k in dims), None)
        ratios = len(dims[ratio_key]) if ratio_key else 0
        genes = []
        for stage in range(len(dims['stage_blocks'])):
            gene = [item('stage_blocks', stage)]
            r = ratios - len(dims['stage_blocks']) + stage
            if ratios and r >= 0:
                gene.append(item(ratio_key, r))
            elif 'stem_channels' in dims:
                gene.append(item('stem_channels', -1))
            elif 'base_channels' in dims:
                gene.append(item('base_channels', -1))
            genes.append(gene)
        return genes

    def key(self, cand) -> str:
        return cand.key()

    def _project(self, raw):
        from search_tools.projection import project
        from search_tools.space import InfeasibleBudget
        try:
            return project(self.space, raw, self.gflops, self.tolerance, self.input_shape, self.template), None
        except InfeasibleBudget as exc:
            return None, str(exc)

    def decode(self, genome: dict):
        cand, why = self._project(genome)
        if cand is None:
            raise EvolveError(f'a saved raw sample no longer projects onto the budget: {why}')
        return cand

    def encode(self, cand) -> dict:
        return cand.raw

    def flops(self, cand) -> float:
        return float(cand.breakdown['total']['flops'])

    def in_band(self, flops: float) -> bool:
        return True   # projected by construction

    def first_parent(self, rng):
        return None   # children of "the initial architecture" are fresh draws

    def flops_range(self) -> Tuple[float, float]:
        """FLOPs of the space's lightest and heaviest architectures at ``input_shape`` (every dimension at its
        low / high end, every width at the space's narrowest / widest)."""
        from search_tools.flops import count_flops
        from search_tools.projection import projection_plan
        ends = []
        for end in (0, -1):
            raw = {'step': self.step}
            for key, items in self.space.dims[self.step].items():
                values = [dim['choices'][end] if dim['type'] == 'choice' else dim[('low', 'high')[end]]
                          for _, dim in items]
                raw[key] = values if len(items) > 1 else values[0]
            plan = projection_plan(self.space, raw, self.gflops, self.input_shape, self.template)
            width = self.space.width_range[end]
            ends.append(count_flops(plan.build([width] * len(plan.base)), self.input_shape)['total']['flops'])
        return min(ends), max(ends)

    def out_of_reach_hint(self) -> str:
        h, w = self.input_shape
        try:
            low, high = self.flops_range()
            span = f'{low / 1e9:.4g} to {high / 1e9:.4g} GFLOPs'
        except Exception as exc:  # a faithful space has no width range: say what is known
            span = f'unknown ({type(exc).__name__})'
        return (f'the {self.space.name} space (step {self.step}) spans {span} at {w}x{h}; '
                f'the band is {self.gflops:g} GFLOPs +- {self.tolerance:.0%}')

    def mutate(self, cand, rng: np.random.Generator, replaces: int):
        from search_tools.space import draw_dimension
        suggest = self._suggester(rng)
        if cand is None:
            raw = self.space.sample(suggest, self.step)
        else:
            raw = copy.deepcopy(cand.raw)
            done = set()
            for _ in range(replaces):
                g = int(rng.integers(len(self.genes)))
                if g in done:
                    continue
                done.add(g)
                for key, index, dim in self.genes[g]:
                    value = draw_dimension(suggest, f'{key}_{index}', dim)
                    if index < 0:
                        raw[key] = value
                    else:
                        raw[key][index] = value
        child, why = self._project(raw)
        if child is None:
            return None, 'infeasible: ' + why
        return child, None

    def backbone_cfg(self, cand) -> dict:
        from search_tools.arch import model_config
        return model_config(cand.arch, dict(bbox_head=dict(type='SCRFDHead')))['backbone']

    def score(self, cand) -> float:
        return self.proxy(self.backbone_cfg(cand), input_size=self.proxy_input, seed=self.seed,
                          **self.proxy_options).total

    def describe(self) -> dict:
        return dict(kind=self.kind, space=self.space.name, step=self.step, gflops=self.gflops,
                    tolerance=self.tolerance, input_shape=list(self.input_shape),
                    proxy_input=list(self.proxy_input))


# ------------------------------------------------------------------------------------------------- the loop
def _canonical(settings: dict) -> dict:
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def _load_state(path: str, settings: dict) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            state = json.load(f)
    except (OSError, ValueError) as exc:
        raise EvolveError(f'{path}: cannot resume from it ({type(exc).__name__}: {exc}); move it away to start '
                          'anew') from None
    if state.get('version') != STATE_VERSION:
        raise EvolveError(f'{path}: state version {state.get("version")!r}, this search writes {STATE_VERSION}; '
                          'move it away to start anew')
    saved = state.get('settings', {})
    if saved != settings:
        diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
        shown = '; '.join(f'{k}: saved {saved.get(k)!r}, now {settings.get(k)!r}' for k in diff)
        raise EvolveError(f'{path}: a search with other arguments was interrupted here and cannot be resumed with '
                          f'these ({shown}); rerun it with the saved arguments, or give --force to start anew')
    return state


def evolve(problem, *, population: int, iterations: int, seed: int, settings: dict, state_dir: Optional[str] = None,
           checkpoint_every: int = 1000, log_every: int = 500, stop_after: Optional[int] = None,
           max_initial_draws: int = 5000, prepare: Optional[Callable[[], None]] = None, resume: bool = True,
           log: Callable[[str], None] = print) -> dict:
    """Run the evolutionary loop (see the module docstring).

    Args:
        problem: :class:`DamoFDProblem` or :class:`SpaceProblem`.
        population: ``P``, the most members kept.
        iterations: Children drawn (rejected ones included, as the released ``evolution_max_iter`` counts).
        seed: Seeds the one ``numpy`` generator every draw comes from.
        settings: Everything that defines the search (JSON-able): a saved state is resumed only when equal.
        state_dir: Folder of the checkpoint (:data:`STATE_FILE`) and the log (:data:`LOG_FILE`); None: neither.
        checkpoint_every: Iterations between checkpoints.
        log_every: Iterations between history records (best, mean and worst score of the population).
        stop_after: Raise ``KeyboardInterrupt`` right after the checkpoint at this iteration (tests stage a killed
            search with it).
        max_initial_draws: Children drawn without a single one inside the band before the budget is declared
            out of reach (:class:`EvolveError`, raised before any file is written).
        prepare: Called once before the first file is written (the caller creates or moves aside the folder;
            default: create ``state_dir``).
        resume: Continue from a saved state in ``state_dir`` (False: start anew, ignoring it).

    Returns:
        dict: ``population`` (members, best first), ``objects`` (their architectures), ``history``, ``counts``
        (scored, rejected by rule, duplicates), ``seconds`` (this run), ``iterations_per_s`` (children drawn,
        checked and, inside the band, scored), ``score_seconds`` and ``scored_per_s`` (the proxy alone),
        ``resumed_from``.
    """
    from search_tools.study import write_json_atomic
    if population < 1 or iterations < 1:
        raise EvolveError(f'need population >= 1 and iterations >= 1, got {population}, {iterations}')
    settings = _canonical(settings)
    state_path = osp.join(state_dir, STATE_FILE) if state_dir else None
    log_path = osp.join(state_dir, LOG_FILE) if state_dir else None
    state = _load_state(state_path, settings) if state_path and resume else None
    rng = np.random.default_rng(seed)
    members: List[Member] = []
    objects: List[Any] = []   # the decoded architecture of each member, same order
    counts: Dict[str, int] = dict(scored=0, duplicates=0)
    history: List[dict] = []
    start_iter = 0
    if state is not None:
        rng.bit_generator.state = state['rng']
        for m in state['population']:
            members.append(Member(**m))
            objects.append(problem.decode(m['genome']))
        counts, history, start_iter = dict(state['counts']), list(state['history']), int(state['iteration'])
        log(f'[evolve] resuming {state_path} at iteration {start_iter} of {iterations} '
            f'({len(members)} members)')
    keys = {m.key for m in members}
    in_band_seen = bool(members)

    prepared = [state is not None]

    def _prepare():
        if prepare is not None:
            prepare()
        else:
            os.makedirs(state_dir, exist_ok=True)

    def checkpoint(iteration):
        if not state_path or not members:
            return
        if not prepared[0]:
            _prepare()
            prepared[0] = True
        write_json_atomic(state_path, dict(
            version=STATE_VERSION, settings=settings, iteration=iteration, rng=rng.bit_generator.state,
            population=[m.__dict__ for m in members], counts=counts, history=history))

    t0 = time.perf_counter()
    score_seconds = 0.0
    scored_before = counts['scored']
    saved = [start_iter if state is not None else None]
    try:
        for it in range(start_iter, iterations):
            if len(members) <= SEED_FROM_INITIAL:
                parent, replaces = problem.first_parent(rng), 1
            else:
                parent, replaces = objects[int(rng.integers(len(objects)))], 2
            child, why = problem.mutate(parent, rng, replaces)
            if child is not None:
                flops = problem.flops(child)
                if not problem.in_band(flops):
                    child, why = None, 'band'
            if child is None:
                counts[why.split(':')[0]] = counts.get(why.split(':')[0], 0) + 1
                if not in_band_seen and it + 1 >= max_initial_draws:
                    raise EvolveError(f'no child within the budget in {it + 1} draws (last: {why}); '
                                      + getattr(problem, 'out_of_reach_hint', lambda: '')())
            else:
                in_band_seen = True
                key = problem.key(child)
                if key in keys:
                    counts['duplicates'] += 1
                else:
                    s0 = time.perf_counter()
                    score = float(problem.score(child))
                    score_seconds += time.perf_counter() - s0
                    counts['scored'] += 1
                    members.append(Member(key=key, genome=problem.encode(child), score=score, flops=flops))
                    objects.append(child)
                    keys.add(key)
                    if len(members) > population:
                        worst = min(range(len(members)), key=lambda i: members[i].score)
                        keys.discard(members[worst].key)
                        del members[worst], objects[worst]
            done = it + 1
            if done % log_every == 0 or done == iterations:
                scores = [m.score for m in members]
                best = max(range(len(members)), key=lambda i: members[i].score) if members else None
                history.append(dict(iteration=done, best=max(scores) if scores else None,
                                    mean=sum(scores) / len(scores) if scores else None,
                                    worst=min(scores) if scores else None, size=len(members),
                                    best_key=members[best].key if best is not None else None,
                                    scored=counts['scored']))
            if state_path and (done % checkpoint_every == 0 or done == iterations):
                checkpoint(done)
                saved[0] = done if members else saved[0]
                if stop_after is not None and done >= stop_after and done < iterations:
                    raise KeyboardInterrupt(f'stop_after {stop_after}')
    except KeyboardInterrupt as exc:
        where = (f'rerun the same command to resume from the checkpoint at iteration {saved[0]}'
                 if saved[0] is not None and state_path else 'no checkpoint was written yet')
        raise EvolveInterrupted(f'interrupted{f" ({exc})" if str(exc) else ""}; {where}') from None
    seconds = time.perf_counter() - t0
    if not members:
        raise EvolveError('no child within the budget in all iterations; '
                          + getattr(problem, 'out_of_reach_hint', lambda: '')())
    order = sorted(range(len(members)), key=lambda i: (-members[i].score, members[i].key))
    scored = counts['scored'] - scored_before
    result = dict(population=[members[i] for i in order], objects=[objects[i] for i in order], history=history,
                  counts=counts, seconds=seconds, iterations=iterations - start_iter, resumed_from=start_iter,
                  score_seconds=score_seconds, scored_per_s=scored / score_seconds if score_seconds else math.inf,
                  iterations_per_s=(iterations - start_iter) / seconds if seconds else math.inf)
    if log_path:
        from search_tools.study import write_text_atomic
        if not prepared[0]:
            _prepare()
        write_text_atomic(log_path, ''.join(json.dumps(h, sort_keys=True) + '\n' for h in history))
    return result


def prerank(problem, candidates: Sequence[Any], keep: int) -> dict:
    """Score ``candidates`` (drawn as ``sample`` draws them) with the problem's proxy and rank them.

    Returns:
        dict: ``ranked`` (members, best first; ties by key), ``objects`` (same order), ``kept`` (the first
        ``keep`` of them), ``seconds`` (scoring) and ``scored_per_s``.
    """
    if keep < 1:
        raise EvolveError(f'keep must be >= 1, got {keep}')
    t0 = time.perf_counter()
    members = [Member(key=problem.key(c), genome=problem.encode(c), score=float(problem.score(c)),
                      flops=problem.flops(c)) for c in candidates]
    seconds = time.perf_counter() - t0
    order = sorted(range(len(members)), key=lambda i: (-members[i].score, members[i].key))
    return dict(ranked=[members[i] for i in order], objects=[candidates[i] for i in order],
                kept=min(keep, len(members)), seconds=seconds,
                scored_per_s=len(members) / seconds if seconds else math.inf)
