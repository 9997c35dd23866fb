"""Ranking and analysis of a search study: the ranking table, Hard AP vs GFLOPs with its Pareto front, the error
EDF of Hard AP per study (search step), and the empirical bootstrap of the computation shares of the best models.

The analysis is RegNet's design-space toolkit (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020),
which SCRFD's computation redistribution (Guo et al., ICLR 2022) applies to stem / C2..C5 and backbone / neck /
head: the error EDF ``F(e)`` = fraction of models whose error is below ``e`` (here error = 1 - Hard AP), and the
bootstrap that resamples 25 % of the (share, AP) pairs with replacement, keeps the share of the best model, repeats
10^4 times and reports the median and the 95 % interval.

Shares are fractions of the model's total FLOPs at the study's input size, from the analytic breakdown recorded
with each trial.
"""
import csv
import io
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmdet_face.utils.output_file import move_aside
from search_tools.flops import NETWORK_PARTS, SHARE_PARTS, STAGE_PARTS
from search_tools.study import (RESULT_FILE, StudyError, load_spec, open_study, read_result, write_json_atomic,
                                write_text_atomic)

REPORT_DIR = 'report'
REPORT_FILES = ('ranking.md', 'ranking.csv', 'bootstrap.json', 'pareto.png', 'edf.png', 'shares.png')
REPORT_MARK = '.search_report.json'  # marks a folder this report wrote: a later report may rewrite its files


# --------------------------------------------------------------------------------------------------------------
# pure functions (unit-tested with hand-computed numbers)
# --------------------------------------------------------------------------------------------------------------
def pareto_front(gflops: Sequence[float], scores: Sequence[float]) -> List[int]:
    """Indices of the models no other model beats: none has fewer (or equal) FLOPs and a higher (or equal) score
    with one of the two strictly better. Sorted by FLOPs, then score (so the front's score rises with FLOPs)."""
    gflops = np.asarray(gflops, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if gflops.shape != scores.shape or gflops.ndim != 1:
        raise ValueError(f'pareto_front: gflops {gflops.shape} and scores {scores.shape} must be equal 1-d shapes')
    front = []
    for i in range(len(gflops)):
        dominated = np.any((gflops <= gflops[i]) & (scores >= scores[i])
                           & ((gflops < gflops[i]) | (scores > scores[i])))
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (gflops[i], scores[i]))


def error_edf(scores: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """RegNet's error EDF of scores in [0, 1]: ``(errors, F)`` with errors = sorted ``1 - score`` (shape ``(n,)``)
    and ``F[i] = (i + 1) / n``, the fraction of models whose error is at most ``errors[i]`` (a step function)."""
    errors = np.sort(1.0 - np.asarray(scores, dtype=float))
    return errors, np.arange(1, len(errors) + 1) / max(len(errors), 1)


def bootstrap_best(stats: np.ndarray, scores: Sequence[float], fraction: float = 0.25, repeats: int = 10000,
                   seed: int = 0) -> Dict[str, np.ndarray]:
    """Where the best models' statistics lie, by RegNet's empirical bootstrap.

    Args:
        stats: ``(n, k)`` statistics of n models (e.g. the FLOPs shares of stem, C2..C5); a ``(n,)`` array is one
            statistic.
        scores: ``(n,)`` the models' scores (Hard AP; higher is better).
        fraction: each resample draws ``max(1, round(fraction * n))`` models with replacement.
        repeats: number of resamples.
        seed: the numpy generator's seed.

    Returns:
        dict of ``(k,)`` arrays: ``median``, ``low`` (2.5 %) and ``high`` (97.5 %) of the statistics of the best
        model of each resample (quantiles of the discrete distribution: the smallest value whose empirical CDF
        reaches the level), and ``best`` (the statistics of the overall best model; the first of them when the
        best score is shared). Within a resample, equal best scores go to the model drawn first, a uniformly
        random one of them (the draws are independent), so the listing order does not bias the statistics.
    """
    stats = np.asarray(stats, dtype=float)
    if stats.ndim == 1:
        stats = stats[:, None]
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if n == 0 or stats.shape[0] != n:
        raise ValueError(f'bootstrap_best: {stats.shape[0]} statistics for {n} scores')
    size = max(1, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(repeats, size))
    best = picks[np.arange(repeats), np.argmax(scores[picks], axis=1)]
    chosen = stats[best]
    return dict(median=np.quantile(chosen, 0.5, axis=0, method='inverted_cdf'),
                low=np.quantile(chosen, 0.025, axis=0, method='inverted_cdf'),
                high=np.quantile(chosen, 0.975, axis=0, method='inverted_cdf'),
                best=stats[int(np.argmax(scores))], sample_size=np.array(size))


def breakdown_gflops(breakdown: Dict[str, Any]) -> Dict[str, float]:
    """GFLOPs per part from a recorded breakdown, ``{part: {'gflops': g, 'params': p}}`` or
    ``{'gflops': {part: g}, 'params': {...}}``."""
    if not isinstance(breakdown, dict):
        return {}
    if isinstance(breakdown.get('gflops'), dict):
        return {k: float(v) for k, v in breakdown['gflops'].items()}
    return {k: float(v['gflops']) for k, v in breakdown.items() if isinstance(v, dict) and 'gflops' in v}


def breakdown_params(breakdown: Dict[str, Any]) -> Dict[str, float]:
    """Parameters (millions) per part from a recorded breakdown, ``{part: {'params_m': m}}`` (or ``'params'``,
    a count) or ``{'params': {part: m}}``."""
    if not isinstance(breakdown, dict):
        return {}
    if isinstance(breakdown.get('params'), dict):
        return {k: float(v) for k, v in breakdown['params'].items()}
    return {k: float(v['params_m'] if 'params_m' in v else v['params'] / 1e6) for k, v in breakdown.items()
            if isinstance(v, dict) and ('params_m' in v or 'params' in v)}


def shares(breakdown: Dict[str, Any]) -> Dict[str, float]:
    """Each part's fraction of the total FLOPs (stem, c2..c5, backbone, neck, head); parts not recorded are
    left out."""
    parts = breakdown_gflops(breakdown)
    total = parts.get('total') or sum(parts.get(p, 0.0) for p in NETWORK_PARTS)
    if not total:
        return {}
    return {name: parts[name] / total for name in SHARE_PARTS if name in parts}


# --------------------------------------------------------------------------------------------------------------
# collecting a study
# --------------------------------------------------------------------------------------------------------------
def collect(study_dir: str, storage: Optional[str] = None) -> List[Dict[str, Any]]:
    """One row per finished or running trial of the study (waiting ones left out), completed first by Hard AP
    (equal Hard APs listed by fewer GFLOPs, then trial number), with ``rank`` set on completed rows: equal Hard
    APs share a rank (1, 1, 3) and ``tied_with`` lists the other trials of the same Hard AP. Pruned trials follow,
    unranked (their Hard AP is from an earlier epoch than the others'), then the rest; ``epochs`` is the epochs a
    completed or pruned trial trained."""
    from optuna.trial import TrialState
    spec = load_spec(study_dir)
    study = open_study(study_dir, storage, spec=spec)
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        attrs = t.user_attrs
        result = {}
        if attrs.get('trial_dir'):
            result = read_result(osp.join(study_dir, attrs['trial_dir'], RESULT_FILE), log=lambda *_: None) or {}
        breakdown = attrs.get('breakdown') or result.get('breakdown') or {}
        gflops = breakdown_gflops(breakdown)
        params = breakdown_params(breakdown)
        why = (attrs.get('reaped') or attrs.get('infeasible') or attrs.get('surplus')
               or (attrs.get('error') or '').strip().splitlines()[-1:])
        epochs = attrs.get('epochs', result.get('epochs'))
        if t.state == TrialState.PRUNED and not why:
            last = attrs.get('last_hard', result.get('last_hard'))
            why = f'pruned after epoch {epochs}' + (f' (Hard {last:.4f} there)' if last is not None else '')
        rows.append(dict(
            study=spec['name'], step=spec['step'], trial=t.number, state=t.state.name, key=attrs.get('key'),
            hard=t.value if t.state == TrialState.COMPLETE else None, medium=attrs.get('medium'),
            easy=attrs.get('easy'), gflops=gflops.get('total'), params_m=params.get('total'),
            shares=shares(breakdown), trial_dir=attrs.get('trial_dir'), config=attrs.get('config'),
            checkpoint=attrs.get('checkpoint'), minutes=attrs.get('minutes'), arch=attrs.get('arch'),
            proxy=attrs.get('proxy') or result.get('proxy'),
            duplicate_of=attrs.get('duplicate_of'), epochs=epochs,
            note=(why if isinstance(why, str) else (why[0] if why else ''))[:120]))
    complete = sorted((r for r in rows if r['state'] == 'COMPLETE'),
                      key=lambda r: (-r['hard'], r['gflops'] if r['gflops'] is not None else 0.0, r['trial']))
    for row in complete:
        # equal Hard APs share a rank (1, 1, 3): the proxy did not order them, so neither does the ranking
        row['rank'] = 1 + sum(r['hard'] > row['hard'] for r in complete)
        row['tied_with'] = [r['trial'] for r in complete if r['hard'] == row['hard'] and r is not row]
    # unranked: pruned trials first (the pruner's verdicts), then running and failed ones
    others = sorted((r for r in rows if r['state'] != 'COMPLETE'), key=lambda r: (r['state'] != 'PRUNED', r['trial']))
    for row in others:
        row['rank'], row['tied_with'] = None, []
    return complete + others


def best_line(rows: List[Dict[str, Any]]) -> str:
    """One sentence on the best completed trial of one study's rows: the single best one, or a tie."""
    done = [r for r in rows if r['state'] == 'COMPLETE']
    if not done:
        return 'No completed trial yet.'
    top = [r for r in done if r['rank'] == 1]
    if len(top) == 1:
        return f'Best: trial {top[0]["trial"]}, Hard {top[0]["hard"]:.4f}.'
    trials = ', '.join(str(r['trial']) for r in top)
    if len(top) == len(done):
        return (f'Tie: all {len(done)} completed trials have Hard {top[0]["hard"]:.4f}; the proxy did not tell '
                'them apart (no single best model, no bootstrap).')
    return f'Tie for best: trials {trials} share Hard {top[0]["hard"]:.4f}; no single best model.'


def _fmt(value, pattern='{:.4f}'):
    return '-' if value is None else pattern.format(value)


def ranking_table(rows: List[Dict[str, Any]]) -> str:
    """The ranking as a Markdown table (one line per trial); a shared rank is written ``1=``."""
    head = (['rank', 'trial', 'Hard', 'Medium', 'Easy', 'GFLOPs', 'params (M)', 'epochs']
            + [f'{p}%' for p in SHARE_PARTS] + ['state', 'note'])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        rank = _fmt(r['rank'], '{}') + ('=' if r.get('tied_with') else '')
        cells = [rank, str(r['trial']), _fmt(r['hard']), _fmt(r['medium']), _fmt(r['easy']),
                 _fmt(r['gflops'], '{:.3f}'), _fmt(r['params_m'], '{:.3f}'), _fmt(r.get('epochs'), '{}')]
        cells += [_fmt(r['shares'].get(p) if r['shares'] else None, '{:.0%}').rstrip('%') for p in SHARE_PARTS]
        note = r['note'] or (f'duplicate of trial {r["duplicate_of"]}' if r.get('duplicate_of') is not None else '')
        if r.get('tied_with'):
            note = '; '.join(filter(None, [f'tie with trial(s) {", ".join(map(str, r["tied_with"]))}', note]))
        cells += [r['state'], note.replace('|', '/')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def epochs_line(rows: List[Dict[str, Any]]) -> str:
    """One sentence on the training a study's rows cost: epochs trained by completed and pruned trials and in
    total (a trial that reused another's result, ``duplicate_of``, trained nothing and is not counted; nor are
    failed trials, whose partial training the record does not hold)."""
    trained = [r for r in rows if r['state'] in ('COMPLETE', 'PRUNED') and r.get('duplicate_of') is None
               and r.get('epochs') is not None]
    if not trained:
        return ''
    complete = sum(r['epochs'] for r in trained if r['state'] == 'COMPLETE')
    pruned = [r for r in trained if r['state'] == 'PRUNED']
    return (f'Epochs trained: {complete + sum(r["epochs"] for r in pruned)} in total, {complete} by '
            f'{len(trained) - len(pruned)} completed trial(s), {sum(r["epochs"] for r in pruned)} by {len(pruned)} '
            'pruned trial(s).')


def bootstrap_shares(rows: List[Dict[str, Any]], repeats: int = 10000, seed: int = 0) -> Dict[str, Any]:
    """:func:`bootstrap_best` over the completed rows' FLOPs shares: ``{share: {median, low, high, best}}`` plus
    ``n`` and ``sample_size`` (``best`` None and ``tied_best`` the trials when the best Hard AP is shared); empty
    without completed trials; ``{n, skipped}`` (the reason) when all of them have the same Hard AP."""
    done = [r for r in rows if r['state'] == 'COMPLETE' and r['shares']]
    if not done:
        return {}
    if len({r['hard'] for r in done}) == 1:  # no model is better than another: there is no best to locate
        return dict(n=len(done), skipped=f'all {len(done)} completed trials have the same Hard AP '
                                         f'{done[0]["hard"]:.4f}: no best model to bootstrap')
    names = [p for p in SHARE_PARTS if all(p in r['shares'] for r in done)]
    stats = np.array([[r['shares'][p] for p in names] for r in done])
    out = bootstrap_best(stats, [r['hard'] for r in done], repeats=repeats, seed=seed)
    summary = {p: {k: float(out[k][i]) for k in ('median', 'low', 'high', 'best')} for i, p in enumerate(names)}
    top = [r['trial'] for r in done if r['hard'] == max(x['hard'] for x in done)]
    if len(top) > 1:  # the overall best is a tie: no single model's shares to mark
        for p in names:
            summary[p]['best'] = None
        summary['tied_best'] = top
    summary['n'] = len(done)
    summary['sample_size'] = int(out['sample_size'])
    return summary


# --------------------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------------------
def new_figure(figsize):
    """A matplotlib Figure on an Agg canvas, made without pyplot: no process-wide backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_pareto(rows: List[Dict[str, Any]], out: str) -> Optional[str]:
    """Hard AP vs GFLOPs of the completed trials, the Pareto front drawn as a line; PNG at ``out``."""
    done = [r for r in rows if r['state'] == 'COMPLETE' and r['gflops'] is not None]
    if not done:
        return None
    fig = new_figure((6, 4.2))
    ax = fig.add_subplot(111)
    for study in sorted({r['study'] for r in done}):
        pts = [r for r in done if r['study'] == study]
        ax.scatter([r['gflops'] for r in pts], [r['hard'] for r in pts], s=22, alpha=0.8, label=study)
    front = pareto_front([r['gflops'] for r in done], [r['hard'] for r in done])
    ax.plot([done[i]['gflops'] for i in front], [done[i]['hard'] for i in front], 'k--', lw=1,
            label='Pareto front')
    for i in front:
        ax.annotate(f"#{done[i]['trial']}", (done[i]['gflops'], done[i]['hard']), fontsize=7,
                    xytext=(3, 3), textcoords='offset points')
    ax.set_xlabel('GFLOPs (analytic, study input)')
    ax.set_ylabel('WIDER FACE Hard AP (proxy schedule)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    return out


def plot_edf(rows: List[Dict[str, Any]], out: str) -> Optional[str]:
    """The error EDF of Hard AP, one curve per study (search step); PNG at ``out``."""
    done = [r for r in rows if r['state'] == 'COMPLETE']
    if not done:
        return None
    fig = new_figure((6, 4.2))
    ax = fig.add_subplot(111)
    for study in sorted({r['study'] for r in done}):
        scores = [r['hard'] for r in done if r['study'] == study]
        errors, cdf = error_edf(scores)
        ax.step(np.concatenate([[errors[0]], errors]), np.concatenate([[0.0], cdf]), where='post',
                label=f'{study} (n={len(scores)})')
    ax.set_xlabel('Hard AP error (1 - AP)')
    ax.set_ylabel('cumulative prob.')
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    return out


def plot_shares(summary: Dict[str, Any], out: str) -> Optional[str]:
    """The bootstrap medians and 95 % intervals of the best models' FLOPs shares; PNG at ``out``."""
    names = [p for p in SHARE_PARTS if p in summary]
    if not names:
        return None
    best = [summary[p]['best'] for p in names]
    fig = new_figure((6, 3.6))
    ax = fig.add_subplot(111)
    med = np.array([summary[p]['median'] for p in names])
    low = np.array([summary[p]['low'] for p in names])
    high = np.array([summary[p]['high'] for p in names])
    x = np.arange(len(names))
    ax.errorbar(x, med, yerr=[med - low, high - med], fmt='o', capsize=4, label='median, 95% interval')
    if None not in best:
        ax.scatter(x, best, marker='x', color='r', label='best model')
    ax.set_xticks(x, names)
    ax.set_ylabel('share of total FLOPs')
    ax.set_title(f'bootstrap of the best model (n={summary["n"]}, {summary["sample_size"]} per resample)',
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    return out


# --------------------------------------------------------------------------------------------------------------
# the report command
# --------------------------------------------------------------------------------------------------------------
def check_report_dir(out_dir: str, owned: bool = False, force: bool = False) -> List[str]:
    """The report files already in ``out_dir`` that must be moved aside before writing (empty when there are
    none, or when the folder is the report's own: ``owned`` (a study's default ``report/`` folder) or marked by a
    former report (``.search_report.json``)). Without ``force`` such files are refused: they are someone else's.

    Raises:
        StudyError: ``out_dir`` is a file, or it holds report files from elsewhere and ``force`` is False.
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise StudyError(f'--out {out_dir}: is a file; expected a folder for the report')
    clashes = [name for name in REPORT_FILES if osp.lexists(osp.join(out_dir, name))]
    if not clashes or owned or osp.isfile(osp.join(out_dir, REPORT_MARK)):
        return []
    if not force:
        raise StudyError(f'--out {out_dir} already holds {", ".join(clashes)}, not written by search.py report; '
                         'give another --out, or --force to move them aside (NAME.<time>); nothing was written')
    return clashes


def _heading(label: str, study_dir: str) -> str:
    return label if label.endswith(f'({study_dir})') else f'{label} ({study_dir})'


def _waiting(study_dir: str, storage: Optional[str]) -> int:
    from optuna.trial import TrialState
    study = open_study(study_dir, storage, spec=load_spec(study_dir))
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


class _NothingToDraw(Exception):
    pass


def _write_png(draw, data, path: str) -> Optional[str]:
    """``draw(data, file)`` written through a temporary file and a rename (a reader never sees half a PNG); when
    there is nothing to draw, a plot left from an earlier report in this (the report's own) folder is removed, so
    that the folder never shows a stale plot next to a new ranking."""
    from mmdet_face.utils.output_file import atomic_output
    try:
        with atomic_output(path, overwrite=True) as tmp:
            if draw(data, tmp) is None:
                raise _NothingToDraw
    except _NothingToDraw:
        if osp.isfile(path):
            os.remove(path)
        return None
    return path


def write_report(study_dirs: Sequence[str], storage: Optional[str] = None, out_dir: Optional[str] = None,
                 repeats: int = 10000, force: bool = False, log=print) -> Dict[str, Any]:
    """Rank the trials of one or more studies (e.g. step 1 and step 2) and write ``ranking.md``, ``ranking.csv``,
    ``bootstrap.json``, ``pareto.png``, ``edf.png`` and ``shares.png`` into ``out_dir`` (default
    ``<first study>/report``, the report's own folder, rewritten by every report). An ``out_dir`` that holds such
    files from elsewhere is refused (:func:`check_report_dir`); with ``force`` they are moved aside first. The
    table and the bootstrap are printed through ``log``.

    Raises:
        StudyError: no trial of any of the studies has started (nothing is written).
    """
    owned = out_dir is None
    out_dir = out_dir or osp.join(study_dirs[0], REPORT_DIR)
    clashes = check_report_dir(out_dir, owned, force)
    rows, tables, boots, names, idle = [], [], {}, [], []
    folders = [osp.realpath(d) for d in study_dirs]
    if len(set(folders)) < len(folders):
        twice = sorted({d for d in study_dirs if folders.count(osp.realpath(d)) > 1})
        raise StudyError(f'--study {" ".join(twice)}: the same study given more than once (nothing was written)')
    # the tables, curves and bootstraps are told apart by study name; two folders with the same name (say, step 1
    # sampled twice with other seeds) are told apart by their folder too, instead of being merged into one
    spec_names = [load_spec(d)['name'] for d in study_dirs]
    labels = [name if spec_names.count(name) == 1 else f'{name} ({d})' for name, d in zip(spec_names, study_dirs)]
    for study_dir, name in zip(study_dirs, labels):
        study_rows = collect(study_dir, storage)
        for row in study_rows:
            row['study'] = name
        rows += study_rows
        names.append(name)
        waiting = _waiting(study_dir, storage)
        if not study_rows:
            idle.append(f'{study_dir}: no trial has started yet ({waiting} queued); start workers with '
                        f'search.py run --study {study_dir}')
            tables.append(f'## {_heading(name, study_dir)}\n\nNo trial has started yet: {waiting} queued.\n')
        else:
            queued = f'\n{waiting} more queued trial(s) have not started yet.\n' if waiting else ''
            epochs = epochs_line(study_rows)
            tables.append(f'## {_heading(name, study_dir)}\n\n{ranking_table(study_rows)}\n\n{best_line(study_rows)}\n'
                          + (f'{epochs}\n' if epochs else '') + queued)
        boots[name] = bootstrap_shares(study_rows, repeats=repeats)
    if not rows:
        raise StudyError('nothing to rank: ' + '; '.join(idle) + ' (nothing was written)')
    for name in clashes:
        log(f'moved the existing {osp.join(out_dir, name)} to {move_aside(osp.join(out_dir, name))}')
    os.makedirs(out_dir, exist_ok=True)
    write_json_atomic(osp.join(out_dir, REPORT_MARK),
                      dict(studies=[osp.abspath(d) for d in study_dirs], written=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                           files=list(REPORT_FILES)))
    text = '\n'.join(tables)
    write_text_atomic(osp.join(out_dir, 'ranking.md'), text)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator='\n')
    writer.writerow(['study', 'rank', 'trial', 'state', 'hard', 'medium', 'easy', 'gflops', 'params_m', 'epochs']
                    + [f'share_{p}' for p in SHARE_PARTS] + ['key', 'config', 'checkpoint', 'note', 'tied_with'])
    for r in rows:
        writer.writerow([r['study'], r['rank'], r['trial'], r['state'], r['hard'], r['medium'], r['easy'],
                         r['gflops'], r['params_m'], r.get('epochs')] + [r['shares'].get(p) for p in SHARE_PARTS]
                        + [r['key'], r['config'], r['checkpoint'], r['note'],
                           ' '.join(map(str, r.get('tied_with') or []))])
    write_text_atomic(osp.join(out_dir, 'ranking.csv'), table.getvalue())
    write_json_atomic(osp.join(out_dir, 'bootstrap.json'), boots)
    plots = dict(pareto=_write_png(plot_pareto, rows, osp.join(out_dir, 'pareto.png')),
                 edf=_write_png(plot_edf, rows, osp.join(out_dir, 'edf.png')))
    first = boots.get(names[0]) or {}
    plots['shares'] = _write_png(plot_shares, first, osp.join(out_dir, 'shares.png'))
    log(text)
    for name, summary in boots.items():
        if summary.get('skipped'):
            log(f'bootstrap ({name}): skipped, {summary["skipped"]}')
        elif summary:
            log(f'bootstrap ({name}, n={summary["n"]}, {summary["sample_size"]} models per resample, '
                f'{repeats} resamples): share of the best model, median [95% interval]')
            log('  ' + '  '.join(f'{p} {summary[p]["median"]:.1%} [{summary[p]["low"]:.1%}, '
                                 f'{summary[p]["high"]:.1%}]' for p in SHARE_PARTS if p in summary))
    for kind, path in plots.items():
        if path:
            log(f'{kind:7s} {path}')
    return dict(rows=rows, bootstrap=boots, plots=plots, out_dir=out_dir)


def _trials(row: Dict[str, Any]) -> str:
    """``row``'s trial and those it ties with, as ``3, 5, 8``."""
    return ', '.join(str(t) for t in sorted([row['trial']] + list(row.get('tied_with') or [])))


def pick_template(study_dir: str, pick: str = 'best', storage: Optional[str] = None,
                  repeats: int = 10000) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The architecture step 2 starts from, chosen from a step-1 study: ``best`` is the rank-1 trial;
    ``bootstrap`` is the best-ranked trial whose stage shares (stem, C2..C5) all lie inside the bootstrap's 95 %
    intervals (else the one closest to the bootstrap medians). Returns ``(arch, why)``.

    Raises:
        StudyError: no completed trial, or the pick is a tie (equal Hard APs): there is no single trial to take.
    """
    rows = [r for r in collect(study_dir, storage) if r['state'] == 'COMPLETE' and r.get('arch')]
    if not rows:
        raise StudyError(f'{study_dir}: no completed trial to take a template from (run the study first)')
    if pick == 'best':
        row = rows[0]
        if row['tied_with']:
            raise StudyError(f'{study_dir}: --pick best: trials {_trials(row)} tie for the best Hard AP '
                             f'{row["hard"]:.4f}; there is no single best trial'
                             + ('' if len(row['tied_with']) + 1 == len(rows) else '; try --pick bootstrap'))
        return row['arch'], dict(pick='best', trial=row['trial'], hard=row['hard'], study=study_dir)
    if pick != 'bootstrap':
        raise StudyError(f'pick must be best or bootstrap, got {pick!r}')
    summary = bootstrap_shares(rows, repeats=repeats)
    if summary.get('skipped'):
        raise StudyError(f'{study_dir}: --pick bootstrap: {summary["skipped"]}')
    names = [p for p in STAGE_PARTS if p in summary]
    if not names:
        raise StudyError(f'{study_dir}: its trials record no stage FLOPs shares; use --pick best')
    inside = [r for r in rows if all(summary[p]['low'] <= r['shares'][p] <= summary[p]['high'] for p in names)]
    if inside:
        row, how = inside[0], 'best-ranked trial inside every 95% interval'
        tied = [r for r in inside[1:] if r['hard'] == row['hard']]
        if tied:
            trials = ', '.join(str(r['trial']) for r in [row] + tied)
            raise StudyError(f'{study_dir}: --pick bootstrap: trials {trials} lie inside every 95% interval and '
                             f'tie at Hard {row["hard"]:.4f}; there is no single trial to pick')
    else:
        row = min(rows, key=lambda r: sum(abs(r['shares'][p] - summary[p]['median']) for p in names))
        how = 'trial closest to the bootstrap medians (none inside every interval)'
    return row['arch'], dict(pick='bootstrap', trial=row['trial'], hard=row['hard'], study=study_dir, how=how,
                             intervals={p: [summary[p]['low'], summary[p]['high']] for p in names})
