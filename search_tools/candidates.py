"""Many candidates at once: :func:`sample_candidates` draws seeded, de-duplicated candidates (projected by
``search_tools.projection``, or for the ``scrfd`` space judged in numpy batches by the released rules of
``search_tools.scrfd_replay``), :func:`write_candidates` writes one complete config per candidate and a
FLOPs/params table of the parts ``search_tools.flops.SHARE_PARTS``.
"""
import csv
import json
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from search_tools.flops import NETWORK_PARTS, SHARE_PARTS, total_flops
from search_tools.projection import (Candidate, default_neck_head, project, raw_arch, released_candidate,
                                     template_arch)
from search_tools.scrfd_replay import ReleasedRulesBatch
from search_tools.space import InfeasibleBudget, RandomSuggester, SearchSpace, check_step, in_band

__all__ = ['sample_candidates', 'write_candidates', 'candidate_rows', 'candidate_name', 'config_source',
           'RELEASED_BATCH']

# raw samples the released rejection sampler (faithful spaces) draws and judges at a time; the stream a seed gives
# depends on it, so it is a constant
RELEASED_BATCH = 1 << 14


def sample_candidates(space: SearchSpace, num: int, *, seed: int, gflops: float, tolerance: float = 0.02,
                      input_shape=(480, 640), step: str = 'backbone', template: Optional[dict] = None,
                      max_draws: Optional[int] = None) -> Tuple[List[Candidate], dict]:
    """Draw raw samples from ``seed`` until ``num`` distinct candidates exist: one at a time with
    ``RandomSuggester(seed)``, each projected onto the budget (``search_tools.projection``), or, for a faithful
    space (``scrfd``), ``RELEASED_BATCH`` at a time from ``numpy.random.default_rng(seed)``, judged by the released
    rejection rules (``search_tools.scrfd_replay``): the same distribution as one at a time, another stream.
    ``max_draws`` defaults to ``20000 * num`` raw samples (at most 10**6 for a projected space).

    Returns:
        (candidates, stats): ``stats`` has ``raw_samples`` (drawn), ``met_budget_raw`` and
        ``met_budget_raw_share`` (raw samples already inside the band before projection), ``infeasible``
        (projection failures), ``accepted``/``accepted_share`` (projected, duplicates included: for ``scrfd``
        the released acceptance rate, stage-ratio lock included), ``duplicates``, ``candidates``, ``seconds``,
        ``candidates_per_s``, ``raw_per_s`` (draw + analytic count of the raw architecture, before
        projection), ``exhausted`` (``max_draws`` reached before ``num`` candidates) and, after a projection
        failure, ``last_infeasible`` (its reason).
    """
    check_step(step)
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    template = template_arch(template)
    max_draws = max_draws or (20000 * num if space.faithful else min(10**6, 20000 * num))
    candidates, keys = [], set()
    stats = dict(space=space.name, step=step, gflops=gflops, tolerance=tolerance, input_shape=list(input_shape),
                 seed=seed, raw_samples=0, met_budget_raw=0, infeasible=0, accepted=0, duplicates=0)
    start = time.perf_counter()
    if space.faithful:
        raw_seconds, evaluated = _sample_released(space, num, np.random.default_rng(seed), gflops, tolerance,
                                                  input_shape, step, template, max_draws, candidates, keys, stats)
    else:
        raw_seconds, evaluated = _sample_projected(space, num, np.random.default_rng(seed), gflops, tolerance,
                                                   input_shape, step, template, max_draws, candidates, keys, stats)
    seconds = time.perf_counter() - start
    stats.update(candidates=len(candidates), seconds=seconds,
                 met_budget_raw_share=stats['met_budget_raw'] / max(1, stats['raw_samples']),
                 accepted_share=stats['accepted'] / max(1, stats['raw_samples']),
                 candidates_per_s=len(candidates) / seconds if seconds else float('inf'),
                 raw_per_s=evaluated / raw_seconds if raw_seconds else float('inf'),
                 exhausted=len(candidates) < num)
    return candidates, stats


def _sample_projected(space, num, rng, gflops, tolerance, input_shape, step, template, max_draws, candidates,
                      keys, stats) -> Tuple[float, int]:
    """One raw sample at a time through ``RandomSuggester``, projected; returns (seconds drawing and counting
    the raw samples, raw samples counted)."""
    suggester = RandomSuggester(rng)
    if step == 'backbone' and template is None:
        default_neck_head(space, gflops, tuple(input_shape))  # once per budget: keep it out of the raw rate
    raw_seconds = 0.0
    while len(candidates) < num and stats['raw_samples'] < max_draws:
        t0 = time.perf_counter()
        raw = space.sample(suggester, step)
        stats['raw_samples'] += 1
        try:
            flops = total_flops(raw_arch(space, raw, gflops, input_shape, template), input_shape)
            stats['met_budget_raw'] += int(in_band(flops, gflops, tolerance))
        except (InfeasibleBudget, ValueError):
            flops = None
        raw_seconds += time.perf_counter() - t0
        try:
            cand = project(space, raw, gflops, tolerance, input_shape, template)
        except InfeasibleBudget as err:
            stats['infeasible'] += 1
            stats['last_infeasible'] = str(err)
            continue
        _keep(cand, candidates, keys, stats)
    return raw_seconds, stats['raw_samples']


def _keep(cand: Candidate, candidates: list, keys: set, stats: dict) -> None:
    """Count an accepted candidate; keep it unless its architecture is already there."""
    stats['accepted'] += 1
    if cand.key() in keys:
        stats['duplicates'] += 1
        return
    keys.add(cand.key())
    candidates.append(cand)


def _sample_released(space, num, rng, gflops, tolerance, input_shape, step, template, max_draws, candidates,
                     keys, stats) -> Tuple[float, int]:
    """The released rejection sampler, ``RELEASED_BATCH`` raw samples at a time (``SearchSpace.sample_batch``,
    ``scrfd_replay.ReleasedRulesBatch``): only the accepted ones become candidates. The stats are those of drawing
    the same stream one sample at a time and stopping at the ``num``-th candidate. Returns (seconds drawing and
    judging the batches, raw samples judged)."""
    judge = ReleasedRulesBatch(space, step, gflops, tolerance, input_shape, template)
    raw_seconds, evaluated = 0.0, 0
    while len(candidates) < num and stats['raw_samples'] < max_draws:
        t0 = time.perf_counter()
        columns = space.sample_batch(rng, step, RELEASED_BATCH)
        flops, met, accepted = judge(columns)
        raw_seconds += time.perf_counter() - t0
        evaluated += RELEASED_BATCH
        used = min(RELEASED_BATCH, max_draws - stats['raw_samples'])
        for row in np.flatnonzero(accepted[:used]):
            raw = space.batch_row(columns, row, step)
            cand = released_candidate(space, raw, gflops, tolerance, input_shape, template)
            if cand.breakdown['total']['flops'] != flops[row]:  # the batch and the per-part count must agree
                raise RuntimeError(f'ReleasedRulesBatch counted {flops[row]} FLOPs for {raw}, count_flops '
                                   f"{cand.breakdown['total']['flops']}: a bug in search_tools")
            _keep(cand, candidates, keys, stats)
            if len(candidates) == num:
                used = row + 1
                break
        stats['raw_samples'] += used
        stats['met_budget_raw'] += int(met[:used].sum())
        stats['infeasible'] += used - int(accepted[:used].sum())
    return raw_seconds, evaluated


def _arch_summary(arch: dict) -> str:
    bb, head = arch['backbone'], arch['head']
    norm = f"{head['norm']}{head['num_groups'] or ''}"
    if bb['type'] == 'DamoFDNet':
        backbone = f"DamoFDNet {bb['structure']}"
    else:
        block = bb.get('block', 'dw')
        stem = f"stem {bb['stem_channels']} " if 'stem_channels' in bb else ''
        backbone = f"{bb['type']}:{block} {stem}d{tuple(bb['stage_blocks'])} w{tuple(bb['stage_planes'])}"
    return (f"{backbone}; "
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
        for part in SHARE_PARTS:
            row[f'{part}_gflops'] = round(b[part]['gflops'], 4)
        for part in SHARE_PARTS:
            row[f'{part}_share'] = round(b[part]['flops'] / b['total']['flops'], 4)
        for part in NETWORK_PARTS:
            row[f'{part}_params_m'] = round(b[part]['params_m'], 4)
        row['arch'] = _arch_summary(cand.arch)
        rows.append(row)
    return rows


def candidate_name(index: int, cand: Candidate) -> str:
    """``cand_<index>_<key>``: the name of the ``index``-th candidate's config (without ``.py``)."""
    return f'cand_{index:03d}_{cand.key()}'


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
    names = [candidate_name(i, c) for i, c in enumerate(candidates)]
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
    md_cols = ['name', 'gflops', 'params_m'] + [f'{p}_share' for p in SHARE_PARTS] + ['arch']
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
