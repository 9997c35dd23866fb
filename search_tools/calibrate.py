"""``search.py calibrate``: how far a cheap ranking of candidates can be trusted, measured against another.

A search ranks candidates by something cheaper than the full training: training-free proxy scores, a short proxy
training (a study's final Hard AP), a longer training (another study of the same candidates). Every pair of the
rankings given is compared on the candidates both rank (:mod:`search_tools.rank_stats`): Kendall's tau-b and
Spearman's rho with percentile bootstrap 95 % intervals (resampling candidates), the overlap of their top k, and
a scatter plot.

A candidate is identified by its architecture key (``search_tools.arch.arch_key``, the 12-hex-digit ``key`` a
study records for every trial and writes into the candidate's name), so the same architecture is matched across
studies whatever its trial number. The rankings:

- a study: the Hard AP of its COMPLETE trials (pruned trials stopped at an earlier epoch and are left out; a key
  trained twice keeps its first trial's value);
- a scores file (``--scores``): CSV with the columns ``candidate_key`` (or ``key``) and ``score``, or JSON, either
  ``{key: score}`` or ``[{"candidate_key": key, "score": score}, ...]``;
- a training-free proxy computed on the fly (``--proxy NAME``): ``search_tools.proxies.get_proxy(NAME)`` scores
  the backbone config of every candidate of the study (its template's model with the candidate's architecture)
  at the study's input size.

Every score is "higher is better". The report folder is written whole or not at all
(:func:`mmdet_face.utils.output_file.atomic_output_folder`).
"""
import csv
import io
import json
import math
import os
import os.path as osp
import re
import time
from itertools import combinations
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from search_tools.rank_stats import bootstrap_correlations, kendall_tau_b, spearman_rho, top_k_overlap
from search_tools.study import StudyError, load_spec, open_study, template_path

__all__ = ['Ranking', 'study_ranking', 'read_scores', 'proxy_ranking', 'compare', 'calibrate', 'CALIBRATION_FILES']

CALIBRATION_FILES = ('calibration.md', 'calibration.csv', 'calibration.json')


class Ranking:
    """Scores of candidates by one criterion: ``name`` (for tables and file names), ``scores`` (``{key: score}``),
    ``source`` (where they come from) and ``alias``, the name used instead where several rankings share ``name``
    (a study's folder: studies sampled with the same seed are often named alike)."""

    def __init__(self, name: str, scores: Dict[str, float], source: str, alias: Optional[str] = None):
        self.name, self.scores, self.source, self.alias = name, scores, source, alias

    def __repr__(self):
        return f'Ranking({self.name!r}, {len(self.scores)} candidates)'


# --------------------------------------------------------------------------------------------------------------
# the rankings
# --------------------------------------------------------------------------------------------------------------
def study_ranking(study_dir: str, storage: Optional[str] = None, name: Optional[str] = None) -> Ranking:
    """The Hard AP of the COMPLETE trials of ``study_dir``, by candidate key."""
    from optuna.trial import TrialState
    spec = load_spec(study_dir)
    study = open_study(study_dir, storage, spec=spec)
    scores = {}
    for trial in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        key = trial.user_attrs.get('key')
        if key is not None and key not in scores and trial.value is not None:
            scores[key] = float(trial.value)
    return Ranking(name or f'hard:{spec["name"]}', scores, f'Hard AP of the completed trials of {study_dir}',
                   alias=f'hard:{osp.basename(osp.normpath(study_dir))}')


def _score(value, where: str) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise StudyError(f'{where}: score {value!r} is not a number') from None
    if not math.isfinite(score):
        raise StudyError(f'{where}: score {value!r} is not a finite number')
    return score


def _add(scores: Dict[str, float], lines: Dict[str, str], key, score: float, where: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise StudyError(f'{where}: candidate_key {key!r} is not a candidate key (the 12-hex-digit key of the '
                         'study, e.g. in candidates/candidates.csv)')
    key = key.strip()
    if key in scores:
        raise StudyError(f'{where}: candidate_key {key} is given twice (also {lines[key]})')
    scores[key], lines[key] = score, where


def read_scores(path: str, name: Optional[str] = None) -> Ranking:
    """A scores file: CSV (``candidate_key`` or ``key``, and ``score`` columns) or JSON (``{key: score}`` or a
    list of ``{"candidate_key": ..., "score": ...}``).

    Raises:
        StudyError: a missing or unreadable file, a missing column, a score that is not a finite number or a key
            given twice, naming the file and the line (CSV) or entry (JSON).
    """
    if not osp.isfile(path):
        raise StudyError(f'--scores {path}: no such file')
    scores, lines = {}, {}
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f'--scores {path}: cannot be read ({exc})') from None
    if path.lower().endswith('.json'):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StudyError(f'--scores {path}: line {exc.lineno}: not valid JSON ({exc.msg})') from None
        if isinstance(data, dict):
            for key, value in data.items():
                _add(scores, lines, key, _score(value, f'{path}: entry {key!r}'), f'{path}: entry {key!r}')
        elif isinstance(data, list):
            for i, entry in enumerate(data):
                where = f'{path}: entry {i}'
                if not isinstance(entry, dict) or 'score' not in entry or not ('candidate_key' in entry
                                                                               or 'key' in entry):
                    raise StudyError(f'{where}: expected {{"candidate_key": KEY, "score": NUMBER}}, got {entry!r}')
                _add(scores, lines, entry.get('candidate_key', entry.get('key')), _score(entry['score'], where),
                     where)
        else:
            raise StudyError(f'--scores {path}: expected a JSON object {{key: score}} or a list of '
                             f'{{"candidate_key", "score"}} entries, got {type(data).__name__}')
    else:
        reader = csv.DictReader(io.StringIO(text))
        fields = reader.fieldnames or []
        key_field = 'candidate_key' if 'candidate_key' in fields else 'key' if 'key' in fields else None
        if key_field is None or 'score' not in fields:
            raise StudyError(f'--scores {path}: line 1: expected a header with the columns candidate_key and score '
                             f'(a CSV file; .json for JSON), got {fields}')
        for row in reader:
            where = f'{path}: line {reader.line_num}'
            _add(scores, lines, row.get(key_field), _score(row.get('score'), f'{where}: field score'), where)
    if not scores:
        raise StudyError(f'--scores {path}: holds no scores')
    return Ranking(name or osp.splitext(osp.basename(path))[0], scores, f'scores file {path}')


def _study_candidates(study_dir: str, storage: Optional[str]) -> Dict[str, dict]:
    """``{key: arch}`` of every trial of the study that has one (any state), first trial first."""
    study = open_study(study_dir, storage)
    archs = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        key, arch = trial.user_attrs.get('key'), trial.user_attrs.get('arch')
        if key is not None and isinstance(arch, dict) and key not in archs:
            archs[key] = arch
    return archs


def proxy_ranking(study_dir: str, proxy: str, seed: int = 0, storage: Optional[str] = None) -> Ranking:
    """Training-free scores of every candidate of ``study_dir`` by ``search_tools.proxies.get_proxy(proxy)``:
    ``score(backbone_cfg, input_size=(H, W), seed=seed).total`` with the backbone config the candidate's trials
    build (the study's ``template.py`` model shaped as its architecture) and the study's input size.

    Raises:
        StudyError: the proxies are not installed, the name is unknown, the study has no ``template.py`` or no
            candidate with an architecture, or a score is not a finite number.
    """
    try:
        from search_tools.proxies import get_proxy
    except ImportError as exc:
        raise StudyError(f'--proxy {proxy}: search_tools.proxies cannot be imported ({exc})') from None
    try:
        score = get_proxy(proxy)
    except (KeyError, ValueError) as exc:  # (a KeyError's str() quotes its message)
        raise StudyError(f'--proxy {proxy}: {exc.args[0] if exc.args else exc}') from None
    from search_tools.arch import model_config, read_config
    spec = load_spec(study_dir)
    template = template_path(study_dir)
    if not osp.isfile(template):
        raise StudyError(f'--proxy {proxy}: {template} is missing (the candidates\' backbone configs are built '
                         'from it)')
    try:
        template_model = read_config(template).model.to_dict()
    except (ValueError, AttributeError) as exc:
        raise StudyError(f'--proxy {proxy}: {template}: {exc}') from None
    archs = _study_candidates(study_dir, storage)
    if not archs:
        raise StudyError(f'--proxy {proxy}: {study_dir} holds no candidate with an architecture to score')
    scores = {}
    for key, arch in archs.items():
        backbone = model_config(arch, template_model)['backbone']
        result = score(backbone, input_size=tuple(spec['input_shape']), seed=seed)
        scores[key] = _score(getattr(result, 'total', result), f'--proxy {proxy}: candidate {key}')
    return Ranking(f'proxy:{proxy}', scores, f'training-free proxy {proxy} on the candidates of {study_dir} '
                   f'(input {spec["input_shape"][1]}x{spec["input_shape"][0]}, seed {seed})')


# --------------------------------------------------------------------------------------------------------------
# comparing them
# --------------------------------------------------------------------------------------------------------------
def compare(a: Ranking, b: Ranking, top_k: int = 5, repeats: int = 1000, seed: int = 0) -> Dict[str, Any]:
    """Agreement of two rankings on the candidates both score (sorted keys): ``n``, ``keys``, ``tau_b``, ``rho``
    (NaN when n < 2 or a ranking is constant there), their bootstrap ``tau_b_ci`` / ``rho_ci`` (95 %),
    ``top_k`` (k capped at n) and ``top_k_overlap``."""
    keys = sorted(set(a.scores) & set(b.scores))
    x = np.array([a.scores[k] for k in keys])
    y = np.array([b.scores[k] for k in keys])
    row = dict(a=a.name, b=b.name, n=len(keys), keys=keys, top_k=min(top_k, len(keys)))
    if len(keys) < 2:
        return dict(row, tau_b=math.nan, rho=math.nan, tau_b_ci=(math.nan, math.nan), rho_ci=(math.nan, math.nan),
                    top_k_overlap=(top_k_overlap(x, y, top_k, keys) if keys else math.nan), undefined={})
    boot = bootstrap_correlations(x, y, repeats=repeats, seed=seed)
    return dict(row, tau_b=kendall_tau_b(x, y), rho=spearman_rho(x, y), tau_b_ci=boot['tau_b'],
                rho_ci=boot['rho'], top_k_overlap=top_k_overlap(x, y, top_k, keys), undefined=boot['undefined'])


def _num(value: float) -> str:
    return 'n/a' if value is None or not math.isfinite(value) else f'{value:+.3f}'


def _with_ci(value: float, ci) -> str:
    return f'{_num(value)} [{_num(ci[0])}, {_num(ci[1])}]'


def table(pairs: List[Dict[str, Any]], repeats: int) -> str:
    """The pairs as a Markdown table."""
    lines = ['| ranking A | ranking B | n | Kendall tau-b [95% CI] | Spearman rho [95% CI] | top-k overlap |',
             '|---|---|---|---|---|---|']
    for p in pairs:
        overlap = 'n/a' if not p['n'] else f'{p["top_k_overlap"]:.2f} (k={p["top_k"]})'
        lines.append(f'| {p["a"]} | {p["b"]} | {p["n"]} | {_with_ci(p["tau_b"], p["tau_b_ci"])} | '
                     f'{_with_ci(p["rho"], p["rho_ci"])} | {overlap} |')
    return '\n'.join(lines) + (f'\n\nIntervals: percentile bootstrap, {repeats} resamples of the common candidates '
                               'with replacement. n/a: fewer than 2 common candidates, or a ranking with all scores '
                               'equal.\n')


def _slug(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-') or 'ranking'


def plot_pair(a: Ranking, b: Ranking, pair: Dict[str, Any], path: str) -> None:
    """Scatter of the common candidates' scores, ``a`` on x, ``b`` on y, with tau-b and rho in the title."""
    from search_tools.report import new_figure
    fig = new_figure((4.8, 4.2))
    ax = fig.add_subplot(111)
    ax.scatter([a.scores[k] for k in pair['keys']], [b.scores[k] for k in pair['keys']], s=18)
    ax.set_xlabel(a.name)
    ax.set_ylabel(b.name)
    ax.set_title(f'n={pair["n"]}  tau-b {_num(pair["tau_b"])}  rho {_num(pair["rho"])}', fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _json_clean(value):
    """``value`` with NaN (an undefined statistic) as None and tuples as lists: strict JSON."""
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _unique_names(rankings: Sequence[Ranking]) -> None:
    """Rankings sharing a name take their aliases where those tell them apart, else ``name#2``, ``name#3`` ..."""
    shared = [r for r in rankings if sum(o.name == r.name for o in rankings) > 1]
    aliases = [r.alias for r in shared]
    if shared and None not in aliases and len(set(aliases)) == len(aliases) and not (
            set(aliases) & {r.name for r in rankings}):
        for ranking in shared:
            ranking.name = ranking.alias
    seen = {}
    for ranking in rankings:
        base = ranking.name
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            ranking.name = f'{base}#{seen[base]}'


def calibrate(study: str, out: str, against: Sequence[str] = (), scores: Sequence[str] = (),
              proxies: Sequence[str] = (), top_k: int = 5, repeats: int = 1000, seed: int = 0, force: bool = False,
              storage: Optional[str] = None, log=print) -> Dict[str, Any]:
    """Compare every pair of the rankings given (see the module docstring) and write ``out``: ``calibration.md``
    (the table, printed through ``log`` too), ``calibration.csv``, ``calibration.json`` (settings, every ranking's
    scores, every pair) and ``scatter_<A>__<B>.png`` per pair, as one folder that appears whole or not at all. An
    existing ``out`` is refused, or with ``force`` moved aside (``out.<time>``) once everything was computed.

    Raises:
        StudyError: fewer than two rankings, a bad input (named), or an ``out`` that is taken.
    """
    from mmdet_face.utils.output_file import atomic_output_folder, check_output_folder, move_aside
    try:
        check_output_folder(out, force, contents='a calibration report', allow_link=False,
                            fix='Give --force to move it aside (OUT.<time>), or another --out.')
    except (FileExistsError, NotADirectoryError) as exc:
        raise StudyError(f'--out {exc} (nothing was written)') from None
    rankings = [study_ranking(study, storage)]
    rankings += [study_ranking(other) for other in against]
    rankings += [read_scores(path) for path in scores]
    rankings += [proxy_ranking(study, name, seed=seed, storage=storage) for name in proxies]
    if len(rankings) < 2:
        raise StudyError('calibrate needs at least two rankings: give --against DIR, --scores FILE or --proxy NAME '
                         'besides --study (nothing was written)')
    _unique_names(rankings)
    pairs = [compare(a, b, top_k=top_k, repeats=repeats, seed=seed) for a, b in combinations(rankings, 2)]
    text = ('# Ranking calibration\n\n' + '\n'.join(f'- `{r.name}`: {len(r.scores)} candidates, {r.source}'
                                                     for r in rankings)
            + '\n\n' + table(pairs, repeats))
    try:
        with atomic_output_folder(out, force, contents='a calibration report', allow_link=False,
                                  fix='Give --force to move it aside (OUT.<time>), or another --out.') as tmp:
            for p, (a, b) in zip(pairs, combinations(rankings, 2)):
                p['scatter'] = None
                if p['n']:
                    p['scatter'] = f'scatter_{_slug(a.name)}__{_slug(b.name)}.png'
                    plot_pair(a, b, p, osp.join(tmp, p['scatter']))
            with open(osp.join(tmp, 'calibration.md'), 'w', encoding='utf-8') as f:
                f.write(text)
            with open(osp.join(tmp, 'calibration.csv'), 'w', encoding='utf-8', newline='') as f:
                writer = csv.writer(f, lineterminator='\n')
                writer.writerow(['ranking_a', 'ranking_b', 'n', 'tau_b', 'tau_b_low', 'tau_b_high', 'rho', 'rho_low',
                                 'rho_high', 'top_k', 'top_k_overlap', 'scatter'])
                for p in pairs:
                    writer.writerow([p['a'], p['b'], p['n'], p['tau_b'], *p['tau_b_ci'], p['rho'], *p['rho_ci'],
                                     p['top_k'], p['top_k_overlap'], p['scatter']])
            record = dict(study=osp.abspath(study), against=[osp.abspath(d) for d in against],
                          scores=[osp.abspath(s) for s in scores], proxies=list(proxies), top_k=top_k,
                          bootstrap=repeats, seed=seed, written=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                          rankings={r.name: dict(source=r.source, scores=r.scores) for r in rankings},
                          pairs=[{k: v for k, v in p.items() if k != 'keys'} for p in pairs])
            with open(osp.join(tmp, 'calibration.json'), 'w', encoding='utf-8') as f:
                json.dump(_json_clean(record), f, indent=2, allow_nan=False)
            # the old report is moved aside only now that the new one is complete
            occupied = osp.lexists(out) and (not osp.isdir(out) or bool(os.listdir(out)))
            moved = move_aside(out) if occupied and force else None
    except (FileExistsError, NotADirectoryError) as exc:
        raise StudyError(f'--out {exc} (another run wrote it meanwhile; nothing was written)') from None
    if moved:
        log(f'[search] moved the existing {out} to {moved}')
    log(text)
    log(f'[search] calibration written to {out}')
    return dict(rankings=rankings, pairs=pairs, out=out)
