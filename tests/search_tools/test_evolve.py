"""``search.py evolve`` / ``prerank`` (search_tools/evolution.py, evolve_command.py, damofd_flops.py): the released
DamoFD FLOPs count, the block draw, mutations that never leave the band nor break the structure rules, a
deterministic and monotone search, kill / resume, the study it writes, prerank's ranking, bad input."""
import functools
import json

import numpy as np
import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from mmdet_face.models.backbones.damofd_structure import format_structure, parse_structure  # noqa: E402
from search_tools import evolve_command, evolution, search  # noqa: E402
from search_tools.damofd_flops import structure_flops  # noqa: E402
from search_tools.damofd_space import block_candidates, load_damofd_space, total_layers  # noqa: E402
from search_tools.evolution import BlockSampler, DamoFDProblem, EvolveError, SpaceProblem  # noqa: E402
from search_tools.space import in_band, load_space  # noqa: E402
from search_tools.study import open_study  # noqa: E402
from tests.helpers.damofd import STRUCTURES, run_released  # noqa: E402
from tests.helpers.tools import run_tool  # noqa: E402

# The released DDSAR/Masternet.py get_FLOPs of the released structures and of the released searches' initial
# structures (DDSAR/scripts/DamoFd_*.sh), produced by the released code itself with
#   Masternet.MasterNet(num_classes=1000, plainnet_struct=S, no_create=True).get_FLOPs(R)
RELEASED_FLOPS = {
    ('0.5g', 224): 63135422.0, ('2.5g', 224): 326830000.0, ('10g', 224): 1341946928.0, ('34g', 224): 4147297476.0,
    ('0.5g', 640): 515391200.0, ('2.5g', 640): 2668000000.0, ('10g', 640): 10954668800.0,
    ('34g', 640): 33855489600.0,
}
RELEASED_INIT_FLOPS_224 = {'0.5g': 64929704.0, '2.5g': 380645328.0, '10g': 1242728592.0, '34g': 5290962768.0}


# ------------------------------------------------------------------------------------------------- FLOPs, draws
def test_damofd_flops_equal_the_released_count():
    for (name, side), flops in RELEASED_FLOPS.items():
        assert structure_flops(parse_structure(STRUCTURES[name]), side) == flops, (name, side)
    space = load_damofd_space()
    for name, flops in RELEASED_INIT_FLOPS_224.items():
        blocks = parse_structure(space['models'][name]['init'], rechain=True)
        assert structure_flops(blocks, 224) == flops, name
    # one conv layer by hand: 3 -> 8, 3x3, stride 2 at 32: 3*8*9*32*32 // 4 = 55296, its BN 16*16*8 = 2048
    assert structure_flops(parse_structure('SuperConvK3BNRELU(3,8,2,1)'), 32) == 55296 + 2048


def test_damofd_flops_parity_with_the_released_code():
    """With MMDET_FACE_DAMOFD_SRC set: the released Masternet counts the same FLOPs for mutated structures."""
    problem = DamoFDProblem('2.5g', 345e6, 0.5)
    rng = np.random.default_rng(3)
    structures = []
    while len(structures) < 20:
        child, _ = problem.mutate(problem.initial, rng, 2)
        if child is not None:
            structures.append(format_structure(child))
    script = f'''
import io, contextlib, json
import Masternet
out = []
for s in {json.dumps(structures)}:
    with contextlib.redirect_stdout(io.StringIO()):
        out.append(Masternet.MasterNet(num_classes=1000, plainnet_struct=s, no_create=True).get_FLOPs(224))
print(json.dumps(out))
'''
    released = json.loads(run_released(script).strip().splitlines()[-1])
    assert released == [structure_flops(parse_structure(s), 224) for s in structures]


def test_the_block_draw_is_the_released_uniform_choice_over_the_joined_lists():
    """Every outcome of BlockSampler, one per index, is exactly the joined candidate lists (repeats included)."""
    from collections import Counter
    space = load_damofd_space()
    for name, spec in space['models'].items():
        rules = space['spaces'][spec['space']]
        for block in parse_structure(spec['init'], rechain=True):
            ours = Counter(str(b) for b in BlockSampler(block, rules).enumerate())
            released = Counter(s for sub in block_candidates(block, rules) for s in sub)
            assert ours == released, (name, str(block))


# ------------------------------------------------------------------------------------------------- mutations
@pytest.mark.parametrize('model', ['0.5g', '2.5g'])
def test_a_damofd_mutation_never_leaves_the_band_nor_the_rules(model):
    budget = {'0.5g': 65e6, '2.5g': 345e6}[model]
    problem = DamoFDProblem(model, budget, 0.05)
    accepted = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        parent = problem.initial
        for _ in range(4):  # chains of children, as the population breeds
            child, why = problem.mutate(parent, rng, 2)
            if child is None:
                assert why in ('layers', 'stages')
                continue
            text = format_structure(child)
            assert parse_structure(text) == child  # chains exactly, the strict parser accepts it
            assert len(child) == 5 and total_layers(child) <= problem.max_layers
            assert child[0] == problem.initial[0]  # the stem is never mutated
            if problem.in_band(problem.flops(child)):
                assert 0.95 * budget <= structure_flops(parse_structure(text)) <= 1.05 * budget
                accepted += 1
                parent = child
    assert accepted > 20
    # the search itself: every member of the population lies in the band
    result = evolution.evolve(problem, population=32, iterations=1500, seed=1, settings={}, log=lambda m: None)
    assert result['population']
    for member in result['population']:
        flops = structure_flops(parse_structure(member.key))
        assert problem.low <= flops <= problem.high and flops == member.flops


def test_an_scrfd_space_mutation_stays_in_the_band_and_in_the_space():
    space = load_space('mobilenet')
    problem = SpaceProblem(space, 0.2, 0.02, (320, 320))
    dims = dict(space.dimensions('backbone'))
    for seed in range(40):
        rng = np.random.default_rng(seed)
        parent, _ = problem.mutate(None, rng, 1)
        child, why = problem.mutate(parent, rng, 2)
        assert child is not None, why
        assert in_band(child.breakdown['total']['flops'], 0.2, 0.02)
        changed = [k for k in parent.raw if parent.raw[k] != child.raw[k]]
        assert set(changed) <= {'stage_blocks', 'width_ratios', 'stem_channels'}
        for i, d in enumerate(child.raw['stage_blocks']):
            assert dims[f'stage_blocks_{i}']['low'] <= d <= dims[f'stage_blocks_{i}']['high']
        # one or two stages re-drawn: at most two depths differ
        assert sum(a != b for a, b in zip(parent.raw['stage_blocks'], child.raw['stage_blocks'])) <= 2
    # the genes: C2's depth with the stem-dw -> C2 ratio, ..., C5's depth with the C4 -> C5 ratio
    assert [[(key, i) for key, i, _ in gene] for gene in problem.genes] == [
        [('stage_blocks', i), ('width_ratios', i + 1)] for i in range(4)]
    released = SpaceProblem(load_space('scrfd'), 2.5, 0.02, (480, 640))
    assert [[(key, i) for key, i, _ in gene] for gene in released.genes] == [
        [('stage_blocks', 0), ('base_channels', -1)]] + [
        [('stage_blocks', i), ('stage_planes_ratio', i - 1)] for i in range(1, 4)]


# ------------------------------------------------------------------------------------------------- the loop
def test_evolve_is_deterministic_and_its_best_never_drops():
    def run(seed):
        return evolution.evolve(DamoFDProblem('0.5g', 65e6, 0.05), population=24, iterations=2000, seed=seed,
                                settings={}, log_every=100, log=lambda m: None)

    first, again, other = run(5), run(5), run(6)
    assert [m.key for m in first['population']] == [m.key for m in again['population']]
    assert [m.score for m in first['population']] == [m.score for m in again['population']]
    assert [m.key for m in first['population']] != [m.key for m in other['population']]
    bests = [h['best'] for h in first['history']]
    assert bests == sorted(bests)  # replacement by score: the best never leaves
    filled = next(h for h in first['history'] if h['size'] == 24)  # the first full population
    assert first['population'][0].score >= filled['best'] and bests[-1] > bests[0]
    scores = [m.score for m in first['population']]
    assert scores == sorted(scores, reverse=True) and len({m.key for m in first['population']}) == 24


def test_a_killed_evolve_resumes_to_the_uninterrupted_result(tmp_path):
    def run(folder, **kwargs):
        return evolution.evolve(DamoFDProblem('0.5g', 65e6, 0.05), population=16, iterations=1200, seed=2,
                                settings=dict(a=1), state_dir=str(folder), checkpoint_every=300,
                                log=lambda m: None, **kwargs)

    whole = run(tmp_path / 'whole')
    (tmp_path / 'killed').mkdir()
    with pytest.raises(KeyboardInterrupt, match='resume from the checkpoint at iteration 600'):
        run(tmp_path / 'killed', stop_after=600)
    state = json.loads((tmp_path / 'killed' / evolution.STATE_FILE).read_text())
    assert state['iteration'] == 600
    resumed = run(tmp_path / 'killed')
    assert resumed['resumed_from'] == 600
    assert [(m.key, m.score) for m in resumed['population']] == [(m.key, m.score) for m in whole['population']]
    assert resumed['history'] == whole['history']
    with pytest.raises(EvolveError, match=r"cannot be resumed with these \(a: saved 1, now 2\); rerun it with the "
                                          r"saved arguments, or give --force"):
        evolution.evolve(DamoFDProblem('0.5g', 65e6, 0.05), population=16, iterations=1200, seed=2,
                         settings=dict(a=2), state_dir=str(tmp_path / 'killed'), log=lambda m: None)


# ------------------------------------------------------------------------------------------------- commands
EVOLVE_TOY = ['evolve', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--proxy', 'ddsar',
              '--population', '8', '--iterations', '40', '--keep', '3', '--seed', '0', '--checkpoint-every', '10',
              '--template', 'configs/toy/search_scrfd_toy.py', '--proxy-epochs', '3']


def _queued(folder):
    study = open_study(str(folder))
    return study, [t.user_attrs for t in study.get_trials(deepcopy=False)]


def test_evolve_writes_a_study_that_report_and_export_take(tmp_path, capsys, monkeypatch):
    from tests.helpers.paths import REPO_ROOT
    monkeypatch.chdir(REPO_ROOT)
    out = tmp_path / 'evolved'
    search.main(EVOLVE_TOY + ['--out', str(out)])
    printed = capsys.readouterr().out
    assert 'the 3 best by ddsar' in printed
    spec = json.loads((out / 'study.json').read_text())
    assert spec['sampling']['method'] == 'evolve' and spec['num'] == 3
    kept = spec['sampling']['kept']
    assert [k['score'] for k in kept] == sorted((k['score'] for k in kept), reverse=True)
    study, attrs = _queued(out)
    assert [a['key'] for a in attrs] == [k['key'] for k in kept] and {a['source'] for a in attrs} == {'evolve'}
    assert len(list((out / 'candidates').glob('cand_*.py'))) == 3
    log = [json.loads(line) for line in (out / evolution.LOG_FILE).read_text().splitlines()]
    assert log[-1]['iteration'] == 40 and log[-1]['best'] == kept[0]['score']
    for hard in (0.3, 0.5, 0.4):  # made-up APs: the queued candidates are the trials
        study.tell(study.ask(), hard)
    report = search.main(['report', '--study', str(out), '--repeats', '20'])
    assert [(r['rank'], r['trial']) for r in report['rows']] == [(1, 1), (2, 2), (3, 0)]
    winner = tmp_path / 'winner.py'
    search.main(['export', '--study', str(out), '--rank', '1', '--out', str(winner)])
    assert kept[1]['key'] in winner.read_text()
    # an existing study is refused, nothing changed
    with pytest.raises(SystemExit, match='exists and is not empty; give --force'):
        search.main(EVOLVE_TOY + ['--out', str(out)])


def test_evolve_command_resumes_after_a_kill(tmp_path, capsys, monkeypatch):
    argv = ['evolve', '--space', 'damofd-0.5g', '--gflops', '0.065', '--input', '224', '--tolerance', '0.05',
            '--proxy', 'ddsar', '--population', '16', '--iterations', '900', '--keep', '4', '--seed', '1',
            '--checkpoint-every', '300']
    search.main(argv + ['--out', str(tmp_path / 'whole')])
    monkeypatch.setattr(evolve_command, 'evolve', functools.partial(evolution.evolve, stop_after=300))
    with pytest.raises(SystemExit, match=r'search.py evolve: interrupted \(stop_after 300\); rerun the same command '
                                         r'to resume from the checkpoint at iteration 300$'):
        search.main(argv + ['--out', str(tmp_path / 'killed')])
    assert sorted(p.name for p in (tmp_path / 'killed').iterdir()) == [evolution.STATE_FILE]
    monkeypatch.undo()
    capsys.readouterr()
    with pytest.raises(SystemExit, match=r'cannot be resumed with these \(population: saved 16, now 17\)'):
        search.main([a if a != '16' else '17' for a in argv] + ['--out', str(tmp_path / 'killed')])
    search.main(argv + ['--out', str(tmp_path / 'killed')])
    assert 'resuming' in capsys.readouterr().out
    whole = json.loads((tmp_path / 'whole' / 'evolve.json').read_text())
    resumed = json.loads((tmp_path / 'killed' / 'evolve.json').read_text())
    assert resumed['best'] == whole['best'] and len(whole['best']) == 4
    assert (tmp_path / 'killed' / 'best_structures.txt').read_text().split() == [b['structure'] for b in
                                                                                  whole['best']]
    # --force starts anew: the finished search is moved aside, not resumed nor overwritten
    capsys.readouterr()
    search.main(argv + ['--out', str(tmp_path / 'killed'), '--force'])
    printed = capsys.readouterr().out
    assert f'moved the existing {tmp_path / "killed"} to' in printed and 'resuming' not in printed
    aside = [p for p in tmp_path.iterdir() if p.name.startswith('killed.')]
    assert len(aside) == 1 and json.loads((aside[0] / 'evolve.json').read_text())['best'] == whole['best']


def test_prerank_queues_the_top_k_by_score(tmp_path, capsys):
    from search_tools.arch import model_config
    from search_tools.candidates import sample_candidates
    from search_tools.proxies import get_proxy
    out = tmp_path / 'pre'
    search.main(['prerank', '--space', 'resnet', '--gflops', '2.5', '--num', '10', '--keep', '3', '--seed', '4',
                 '--proxy', 'ddsar', '--out', str(out)])
    cands, _ = sample_candidates(load_space('resnet'), 10, seed=4, gflops=2.5)
    ddsar = get_proxy('ddsar')
    scores = {c.key(): ddsar(model_config(c.arch, dict(bbox_head=dict(type='SCRFDHead')))['backbone']).total
              for c in cands}
    expected = sorted(scores, key=lambda k: (-scores[k], k))[:3]
    _, attrs = _queued(out)
    assert [a['key'] for a in attrs] == expected
    spec = json.loads((out / 'study.json').read_text())
    assert [s['score'] for s in spec['sampling']['scores']] == sorted(scores.values(), reverse=True)
    # all 10 were drawn: no warning that fewer than --num could be (it compared the 3 kept with --num)
    assert 'distinct candidates could be drawn' not in capsys.readouterr().out


def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / 'x'
    common = ['--gflops', '0.2', '--proxy', 'ddsar', '--out', str(out)]
    for argv, message in (
            (['evolve', '--space', 'mobilenet', '--population', '2', '--keep', '3'],
             '--population 2 is smaller than --keep 3'),
            (['evolve', '--space', 'mobilenet', '--keep', '0'], 'expected a positive integer, got 0'),
            (['prerank', '--space', 'mobilenet', '--num', '2', '--keep', '3'], '--num 2 is smaller than --keep 3'),
            (['evolve', '--space', 'mobilenet', '--at-most'], '--init and --at-most are options of the damofd-*'),
            (['evolve', '--space', 'mobilenet', '--proxy', 'synflow'], "invalid choice: 'synflow'"),
            (['evolve', '--space', 'mobilenet', '--proxy', 'zen', '--alpha', '1'], '--alpha is an option of')):
        with pytest.raises(SystemExit) as exc:
            search.main(argv[:1] + common + argv[1:])  # argparse: the last --proxy wins
        assert exc.value.code == 2 and message in capsys.readouterr().err
    for argv, message in (
            (['evolve', '--space', 'nospace'], "unknown search space 'nospace'"),
            (['evolve', '--space', 'damofd-1g'], "unknown DamoFD model '1g'"),
            (['prerank', '--space', 'damofd-0.5g'], 'prerank samples the SCRFD spaces'),
            (['evolve', '--space', 'mobilenet', '--gflops', '0.00001'],
             r'no child within the budget in 200 draws .* the mobilenet space \(step backbone\) spans 0.05006 to '
             r'301.2 GFLOPs at 640x480; the band is 1e-05 GFLOPs \+- 2%; nothing was written'),
            (['evolve', '--space', 'damofd-0.5g', '--gflops', '5', '--input', '224'],
             r'no child within the budget in 5000 draws .* starts from 0.0649297 GFLOPs at 224x224 .*nothing was '
             r'written')):
        with pytest.raises(SystemExit, match=message):
            search.main(argv[:1] + common + argv[1:])
        assert not out.exists()


def test_evolve_and_prerank_as_a_user_runs_them(tmp_path):
    proc = run_tool('search_tools/search.py', 'evolve', '--space', 'damofd-0.5g', '--gflops', '0.065', '--input',
                    '224', '--at-most', '--proxy', 'ddsar', '--population', '32', '--iterations', '2000', '--keep',
                    '2', '--out', tmp_path / 'damofd')
    assert proc.returncode == 0, proc.stderr
    best = (tmp_path / 'damofd' / 'best_structures.txt').read_text().split()
    assert len(best) == 2 and all(structure_flops(parse_structure(s)) <= 65e6 * 1.02 for s in best)
    assert 'children/s' in proc.stdout
    proc = run_tool('search_tools/search.py', 'prerank', '--space', 'mobilenet', '--gflops', '0.2', '--input',
                    '320x320', '--num', '6', '--keep', '2', '--proxy', 'params', '--out', tmp_path / 'pre')
    assert proc.returncode == 0, proc.stderr
    assert 'the 2 best by params' in proc.stdout and (tmp_path / 'pre' / 'study.json').is_file()
    proc = run_tool('search_tools/search.py', 'evolve', '--space', 'mobilenet', '--gflops', '0.2', '--proxy',
                    'ddsar', '--population', '1', '--keep', '2', '--out', tmp_path / 'bad')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr and not (tmp_path / 'bad').exists()


@pytest.mark.parametrize('step', ['backbone', 'full'])
def test_prerank_on_the_released_scrfd_sampler(tmp_path, capsys, step):
    """prerank --space scrfd draws through sample's released batches: the same candidates as sample_candidates
    for the seed, the top K by the proxy queued."""
    from search_tools.arch import arch_from_config, model_config
    from search_tools.candidates import sample_candidates
    from search_tools.proxies import get_proxy
    from tests.helpers.paths import REPO_ROOT
    out = tmp_path / f'pre-{step}'
    search.main(['prerank', '--space', 'scrfd', '--gflops', '2.5', '--step', step, '--num', '12', '--keep', '4',
                 '--seed', '2', '--proxy', 'ddsar', '--out', str(out)])
    template = (arch_from_config(str(REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_2.5g_4xb8-640e_widerface.py'))
                if step == 'full' else None)
    cands, _ = sample_candidates(load_space('scrfd'), 12, seed=2, gflops=2.5, step=step, template=template)
    ddsar = get_proxy('ddsar')
    scores = {c.key(): ddsar(model_config(c.arch, dict(bbox_head=dict(type='SCRFDHead')))['backbone']).total
              for c in cands}
    assert len(scores) == 12
    _, attrs = _queued(out)
    assert [a['key'] for a in attrs] == sorted(scores, key=lambda k: (-scores[k], k))[:4]
    assert 'prerank: 12 candidates drawn' in capsys.readouterr().out
