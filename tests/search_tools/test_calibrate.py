"""search.py calibrate and search_tools.rank_stats: Kendall tau-b, Spearman rho and top-k overlap against values
computed by hand on tiny rankings with ties (and scipy's on random ones), the bootstrap intervals, candidates
matched across studies by key, scores files and training-free proxies (a stand-in search_tools.proxies module),
bad input named, and a report folder that appears whole or not at all."""
import json
import math
import sys
import types

import numpy as np
import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from search_tools.calibrate import Ranking, _unique_names, calibrate, read_scores  # noqa: E402
from search_tools.rank_stats import (average_ranks, bootstrap_correlations, kendall_tau_b,  # noqa: E402
                                     spearman_rho, top_k_overlap)
from search_tools.study import StudyError, open_study, validate_spec, write_json_atomic  # noqa: E402
from tests.helpers.paths import REPO_ROOT  # noqa: E402
from tests.helpers.tools import run_tool  # noqa: E402

# x = [1, 2, 2, 3], y = [1, 3, 2, 2] (candidates a, b, c, d). Pairs (sign x, sign y): ab (+, +), ac (+, +),
# ad (+, +), bc (0, -), bd (+, -), cd (+, 0): sum of products 3 - 1 = 2, 5 pairs untied in x, 5 in y:
# tau-b = 2 / sqrt(5 * 5) = 0.4. Average ranks [1, 2.5, 2.5, 4] and [1, 4, 2.5, 2.5], centred [-1.5, 0, 0, 1.5]
# and [-1.5, 1.5, 0, 0]: rho = 2.25 / 4.5 = 0.5. Top 2 (ties by name): {d, b} and {b, c}: overlap 1 / 2.
X, Y = [1, 2, 2, 3], [1, 3, 2, 2]


def test_hand_computed_tau_b_rho_and_top_k_with_ties():
    assert kendall_tau_b(X, Y) == pytest.approx(0.4)
    assert spearman_rho(X, Y) == pytest.approx(0.5)
    assert top_k_overlap(X, Y, 2, names='abcd') == 0.5
    assert top_k_overlap(X, Y, 1, names='abcd') == 0.0 and top_k_overlap(X, Y, 9, names='abcd') == 1.0
    assert average_ranks([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]
    # S = [4, 3, 2, 1] against X: 5 discordant pairs, one tied in x only: -5 / sqrt(5 * 6)
    assert kendall_tau_b(X, [4, 3, 2, 1]) == pytest.approx(-5 / math.sqrt(30))
    assert spearman_rho(X, [4, 3, 2, 1]) == pytest.approx(-4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3])) and math.isnan(spearman_rho([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError, match='equal 1-d shapes'):
        kendall_tau_b([1, 2], [1, 2, 3])


def test_tau_b_and_rho_equal_scipys_on_random_rankings_with_ties():
    stats = pytest.importorskip('scipy.stats')
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(3, 25))
        x, y = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
            assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_bootstrap_intervals():
    # two candidates: a resample of the same one twice (half of them) has no ranking; every other agrees fully
    boot = bootstrap_correlations([0, 1], [0, 1], repeats=400, seed=3)
    assert boot['tau_b'] == (1.0, 1.0) and boot['rho'] == (1.0, 1.0)
    assert 150 < boot['undefined']['tau_b'] == boot['undefined']['rho'] < 250
    rng = np.random.default_rng(1)
    x = rng.random(40)
    y = x + rng.normal(0, 0.3, 40)
    first = bootstrap_correlations(x, y, repeats=300, seed=5)
    assert first == bootstrap_correlations(x, y, repeats=300, seed=5)  # a fixed seed, the same interval
    low, high = first['tau_b']
    assert low < kendall_tau_b(x, y) < high and 0 < low and high < 1
    assert first['rho'][0] < spearman_rho(x, y) < first['rho'][1]


# ---------------------------------------------------------------------------------------------------- studies
def make_study(folder, values, name='c', archs=None, template=None):
    """A study whose completed trials have Hard APs ``values`` (``{key: hard}``, in that order)."""
    folder.mkdir()
    spec = dict(name=name, space='resnet', step='backbone', gflops=1.0, tolerance=0.02, input_shape=[320, 480],
                seed=0, sampler='random', num=len(values), template_config='t.py',
                proxy=dict(epochs=2, batch_size=2, lr=0.01, checkpoint_interval=1))
    write_json_atomic(str(folder / 'study.json'), validate_spec(spec))
    if template:
        (folder / 'template.py').write_text(template)
    study = open_study(str(folder), spec=spec, create=True)
    for key, hard in values.items():
        trial = study.ask()
        trial.set_user_attr('key', key)
        if archs:
            trial.set_user_attr('arch', archs[key])
        study.tell(trial, hard)
    return folder


def test_calibrate_command_compares_studies_and_a_scores_file(tmp_path):
    short = make_study(tmp_path / 'short', dict(a=0.1, b=0.2, c=0.2, d=0.3), name='short')
    long = make_study(tmp_path / 'long', dict(a=0.1, b=0.3, c=0.2, d=0.2, e=0.9), name='long')  # e: not in short
    scores = tmp_path / 'zen.csv'
    scores.write_text('candidate_key,score\na,4\nb,3\nc,2\nd,1\n')
    out = tmp_path / 'calibration'
    done = run_tool('search_tools/search.py', 'calibrate', '--study', short, '--against', long, '--scores', scores,
                    '--top-k', 2, '--bootstrap', 200, '--seed', 1, '--out', out)
    assert done.returncode == 0, done.stderr
    rows = {tuple(line.split(' | ')[:2]): line for line in done.stdout.splitlines() if line.startswith('| ')}
    assert rows[('| hard:short', 'hard:long')].split(' | ')[2] == '4'  # matched by key: a, b, c, d
    assert ' | +0.400 [' in rows[('| hard:short', 'hard:long')] and ' | +0.500 [' in rows[('| hard:short', 'hard:long')]
    assert rows[('| hard:short', 'hard:long')].endswith('| 0.50 (k=2) |')
    assert f' | {-5 / math.sqrt(30):+.3f} [' in rows[('| hard:short', 'zen')]
    assert f' | {-4.5 / math.sqrt(22.5):+.3f} [' in rows[('| hard:short', 'zen')]
    assert sorted(p.name for p in out.iterdir()) == [
        'calibration.csv', 'calibration.json', 'calibration.md', 'scatter_hard-long__zen.png',
        'scatter_hard-short__hard-long.png', 'scatter_hard-short__zen.png']
    record = json.loads((out / 'calibration.json').read_text())
    first = record['pairs'][0]
    assert (first['a'], first['b'], first['n'], first['tau_b'], first['rho']) == ('hard:short', 'hard:long', 4,
                                                                                   pytest.approx(0.4),
                                                                                   pytest.approx(0.5))
    assert first['tau_b_ci'][0] <= 0.4 <= first['tau_b_ci'][1] and record['bootstrap'] == 200
    assert record['rankings']['hard:long']['scores']['e'] == 0.9
    # a second run is refused without --force, and --force keeps the first report under another name
    again = run_tool('search_tools/search.py', 'calibrate', '--study', short, '--scores', scores, '--out', out)
    assert again.returncode == 1 and 'already holds a calibration report' in again.stderr
    assert 'Traceback' not in again.stderr
    forced = run_tool('search_tools/search.py', 'calibrate', '--study', short, '--scores', scores, '--out', out,
                      '--force')
    assert forced.returncode == 0, forced.stderr
    assert len(list(tmp_path.glob('calibration.*'))) == 1 and (out / 'scatter_hard-short__zen.png').is_file()


def test_proxy_scores_the_backbone_config_of_every_candidate(tmp_path, monkeypatch):
    """--proxy NAME imports search_tools.proxies lazily and scores each candidate's backbone config (the study's
    template model shaped as its arch) at the study's input size; here a stand-in module scores the depth."""
    from search_tools.arch import arch_from_config
    base = arch_from_config(str(REPO_ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'))
    archs = {}
    for key, depths in (('k1', [1, 1, 1, 1]), ('k2', [2, 2, 2, 2]), ('k3', [3, 2, 2, 2])):
        archs[key] = json.loads(json.dumps(base))
        archs[key]['backbone']['stage_blocks'] = depths
    study = make_study(tmp_path / 's', dict(k1=0.3, k2=0.2, k3=0.1), archs=archs,
                       template=f"_base_ = [{str(REPO_ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')!r}]\n")
    calls = []

    def get_proxy(name):
        if name != 'depth':
            raise KeyError(f'unknown proxy {name!r}')

        def score(backbone_cfg, *, input_size=(480, 640), seed=0, **options):
            calls.append((backbone_cfg['type'], input_size, seed))
            return types.SimpleNamespace(total=float(sum(backbone_cfg['block_cfg']['stage_blocks'])),
                                         per_stage=())
        return score

    monkeypatch.setitem(sys.modules, 'search_tools.proxies', types.SimpleNamespace(get_proxy=get_proxy))
    logs = []
    result = calibrate(str(study), str(tmp_path / 'out'), proxies=['depth'], repeats=50, seed=4, log=logs.append)
    assert calls == [('MobileNetV1', (320, 480), 4)] * 3
    proxy = result['rankings'][1]
    assert proxy.name == 'proxy:depth' and proxy.scores == dict(k1=4.0, k2=8.0, k3=9.0)
    [pair] = result['pairs']
    assert pair['tau_b'] == pytest.approx(-1.0) and pair['rho'] == pytest.approx(-1.0)
    with pytest.raises(StudyError, match="--proxy nope: unknown proxy 'nope'"):
        calibrate(str(study), str(tmp_path / 'out2'), proxies=['nope'], log=logs.append)
    assert not (tmp_path / 'out2').exists()


def test_interrupted_calibrate_leaves_no_half_written_report(tmp_path, monkeypatch):
    import search_tools.calibrate as module
    study = make_study(tmp_path / 's', dict(a=0.1, b=0.2, c=0.3))
    scores = tmp_path / 'one.json'
    scores.write_text(json.dumps(dict(a=1, b=2, c=3)))
    other = tmp_path / 'two.json'
    other.write_text(json.dumps([dict(candidate_key='a', score=3), dict(candidate_key='c', score=1)]))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'calibration.md').write_text('the earlier report')
    drawn = []

    def plot_then_interrupt(a, b, pair, path):
        if drawn:
            raise KeyboardInterrupt  # Ctrl-C while the second plot is drawn
        drawn.append(path)
        open(path, 'wb').close()

    monkeypatch.setattr(module, 'plot_pair', plot_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        calibrate(str(study), str(out), scores=[str(scores), str(other)], force=True, log=lambda *_: None)
    assert drawn and sorted(p.name for p in tmp_path.iterdir()) == ['one.json', 'out', 's', 'two.json']
    assert [p.name for p in out.iterdir()] == ['calibration.md']
    assert (out / 'calibration.md').read_text() == 'the earlier report'


@pytest.mark.parametrize('name,text,message', [
    ('s.csv', 'key,value\na,1\n', 'line 1: expected a header with the columns candidate_key and score'),
    ('s.csv', 'candidate_key,score\na,1\nb,high\n', 's.csv: line 3: field score: score \'high\' is not a number'),
    ('s.csv', 'candidate_key,score\na,1\na,nan\n', "line 3: field score: score 'nan' is not a finite number"),
    ('s.csv', 'candidate_key,score\na,1\na,2\n', 's.csv: line 3: candidate_key a is given twice (also'),
    ('s.json', '{"a": 1,\n "b": }', 's.json: line 2: not valid JSON'),
    ('s.json', '[{"candidate_key": "a", "score": 1}, {"score": 2}]', 's.json: entry 1: expected {"candidate_key"'),
    ('s.json', '{}', 'holds no scores'),
])
def test_bad_scores_files_are_named(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(StudyError) as error:
        read_scores(str(path))
    assert message in str(error.value)
    assert read_scores(str(_good(tmp_path))).scores == dict(a=1.0, b=0.5)


def _good(tmp_path):
    path = tmp_path / 'good.csv'
    path.write_text('key,score\na,1\nb,0.5\n')
    return path


def test_one_ranking_is_refused_before_anything_is_written(tmp_path):
    study = make_study(tmp_path / 's', dict(a=0.1, b=0.2))
    with pytest.raises(StudyError, match='needs at least two rankings'):
        calibrate(str(study), str(tmp_path / 'out'), log=lambda *_: None)
    assert not (tmp_path / 'out').exists()


def test_rankings_of_the_same_name_are_told_apart_by_their_folders():
    """Two studies sampled alike share a name: their rankings are labelled by the study folders, not 'name#2'."""
    short = Ranking('hard:mobilenet-0.2g', {'a': 1.0}, 'short', alias='hard:toy_3e')
    long = Ranking('hard:mobilenet-0.2g', {'a': 2.0}, 'long', alias='hard:toy_12e')
    zen = Ranking('proxy:zen', {'a': 3.0}, 'zen')
    _unique_names([short, long, zen])
    assert (short.name, long.name, zen.name) == ('hard:toy_3e', 'hard:toy_12e', 'proxy:zen')
    # aliases that do not tell them apart (or are missing): numbered as before
    twins = [Ranking('hard:x', {}, 's', alias='hard:same'), Ranking('hard:x', {}, 's', alias='hard:same')]
    _unique_names(twins)
    assert [r.name for r in twins] == ['hard:x', 'hard:x#2']
    files = [Ranking('scores', {}, 'f1'), Ranking('scores', {}, 'f2')]
    _unique_names(files)
    assert [r.name for r in files] == ['scores', 'scores#2']
