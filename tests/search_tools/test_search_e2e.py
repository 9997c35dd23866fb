"""search_tools/search.py end to end on a tiny toy face set: sample 2 candidates on a FLOPs budget, run them (a
worker process training each through tools/train.py for a few iterations), report, export the winner, and train
the exported config. Also the command line's refusals (existing --out, bad input)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from search_tools import search  # noqa: E402
from tests.helpers.paths import REPO_ROOT as REPO

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'
SEARCH = REPO / 'search_tools' / 'search.py'


def tiny_template(path, data_root):
    """The toy SCRFD config with 160-px training crops, no dataloader workers and no warm-up."""
    path.write_text(f"""
_base_ = [{str(TOY_CONFIG)!r}]
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='FaceResize', scale=(160, 160), keep_ratio=False), dict(type='PackFaceInputs')]
train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
param_scheduler = [dict(type='CosineAnnealingLR', begin=0, end=12, by_epoch=True, eta_min_ratio=0.05)]
default_hooks = dict(logger=dict(interval=1))
""")
    return path


def run_cli(*args, timeout=900):
    out = subprocess.run([sys.executable, str(SEARCH), *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, cwd=str(REPO))
    return out.returncode, out.stdout + out.stderr


@pytest.mark.slow
def test_sample_run_report_export_and_the_export_trains(toy_data, tmp_path, capsys):
    template = tiny_template(tmp_path / 'template.py', toy_data)
    study = tmp_path / 'study'
    toy_bases = ['configs/_base_/datasets/toy_widerface.py', 'configs/_base_/schedules/toy_12e.py']
    search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--template',
                 str(template), '--num', '2', '--seed', '1', '--proxy-epochs', '1', '--proxy-batch', '4',
                 '--data-root', str(toy_data), '--export-bases', *toy_bases, '--out', str(study)])
    spec = json.loads((study / 'study.json').read_text())
    assert spec['proxy'] == dict(epochs=1, batch_size=4, lr=0.004, checkpoint_interval=1, val_interval=1)
    assert spec['input_shape'] == [320, 320] and spec['num'] == 2 and spec['git_sha']
    configs = sorted((study / 'candidates').glob('cand_*.py'))
    assert len(configs) == 2 and (study / 'candidates' / 'candidates.csv').is_file()
    queued = search.open_study(str(study)).get_trials()
    assert [t.state.name for t in queued] == ['WAITING', 'WAITING']

    code, log = run_cli('run', '--study', study, '--heartbeat', '1')
    assert code == 0, log[-3000:]
    trials = search.open_study(str(study)).get_trials()
    assert [t.state.name for t in trials] == ['COMPLETE', 'COMPLETE'], log[-3000:]
    for t in trials:
        # the queued candidate was trained: its recorded draw, key, budget and config
        assert t.params and t.user_attrs['key'] in t.user_attrs['trial_dir']
        assert abs(t.user_attrs['breakdown']['total']['gflops'] - 0.2) <= 0.2 * 0.02 + 1e-9
        result = json.loads((study / t.user_attrs['trial_dir'] / 'result.json').read_text())
        assert result['hard'] == t.value and result['proxy']['epochs'] == 1
        assert (study / result['config']).is_file() and (study / result['checkpoint']).is_file()

    capsys.readouterr()
    report = search.main(['report', '--study', str(study), '--repeats', '200'])
    printed = capsys.readouterr().out
    assert '| rank | trial | Hard |' in printed and 'bootstrap' in printed
    # one epoch on 8 tiny images often leaves both candidates at the same Hard AP (0.0): then they tie
    tie = report['rows'][0]['hard'] == report['rows'][1]['hard']
    assert [r['rank'] for r in report['rows']] == ([1, 1] if tie else [1, 2])
    assert ('Tie: all 2 completed trials' in printed) == tie and ('Best: trial' in printed) != tie
    for name in ('ranking.md', 'ranking.csv', 'bootstrap.json', 'pareto.png', 'edf.png', 'shares.png'):
        if tie and name == 'shares.png':  # no bootstrap of a best model when there is none
            assert not (study / 'report' / name).exists()
            continue
        assert (study / 'report' / name).stat().st_size > 0, name
    assert (study / 'report' / 'pareto.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    if tie:
        with pytest.raises(SystemExit, match='--rank 1 is a tie: trials'):
            search.main(['export', '--study', str(study), '--rank', '1', '--out', str(tmp_path) + '/'])
    exported = search.main(['export', '--study', str(study), '--trial', str(report['rows'][0]['trial']), '--out',
                            str(tmp_path) + '/'])
    assert Path(exported).name == 'scrfd_200m-searched_kps_1xb8-12e_toy-widerface.py'
    text = Path(exported).read_text()
    best = report['rows'][0]
    assert f"trial {best['trial']} (key {best['key']})" in text and 'Proxy result (1 epochs' in text
    with pytest.raises(SystemExit, match='exists; give --force'):
        search.main(['export', '--study', str(study), '--trial', str(best['trial']), '--out', exported])

    # the exported config trains with the normal tool (its full toy schedule cut to 1 epoch here)
    root = str(toy_data) + '/'
    train = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), exported, '--work-dir', str(tmp_path / 'exported_wd'),
         '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'param_scheduler=[]',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'train_dataloader.batch_size=4', f'train_dataloader.dataset.data_root={root}',
         'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
         f'val_dataloader.dataset.data_root={root}', f'val_evaluator.0.gt_dir={root}val/gt/',
         'default_hooks.logger.interval=1'],
        capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert train.returncode == 0, (train.stdout + train.stderr)[-3000:]
    assert (tmp_path / 'exported_wd' / 'epoch_1.pth').is_file()


@pytest.mark.slow
def test_cli_refuses_bad_input(tmp_path, toy_data):
    study = tmp_path / 'study'
    study.mkdir()
    (study / 'keep.txt').write_text('mine')
    with pytest.raises(SystemExit, match='exists and is not empty; give --force'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--out', str(study)])
    assert (study / 'keep.txt').read_text() == 'mine'
    with pytest.raises(SystemExit, match='no such config file'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--template', str(tmp_path / 'x.py'),
                     '--out', str(tmp_path / 'new')])
    for bad in (['--gflops', '-1'], ['--gflops', '1', '--input', '640by480'], ['--gflops', '1', '--tolerance', '2'],
                ['--gflops', 'inf'], ['--gflops', 'nan'], ['--gflops', '1', '--proxy-lr', 'inf']):
        with pytest.raises(SystemExit):
            search.parse_args(['sample', '--space', 'resnet', '--out', str(tmp_path / 'n'), *bad])
    assert not (tmp_path / 'n').exists()
    # an unreachable budget is an error before anything is written, not an empty study with exit code 0
    with pytest.raises(SystemExit, match=r'no candidate of the mobilenet space meets 1e-05 GFLOPs .*nothing was '
                                         r'written'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.00001', '--num', '1', '--out',
                     str(tmp_path / 'unreachable')])
    assert not (tmp_path / 'unreachable').exists()
    with pytest.raises(SystemExit, match='study.json: missing'):
        search.main(['report', '--study', str(study)])
    with pytest.raises(SystemExit, match='no such study folder'):
        search.main(['export', '--study', str(tmp_path / 'absent'), '--out', str(tmp_path / 'a.py')])
    assert search.input_size('640x480') == (480, 640) and search.input_size('320') == (320, 320)
    # one storage shared by several studies (--storage): a second study of the same name is refused
    shared = f'journal:{tmp_path}/shared.journal'
    common = ['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '1', '--storage', shared]
    search.main(common + ['--out', str(tmp_path / 'a')])
    assert not (tmp_path / 'a' / 'optuna.journal').exists() and (tmp_path / 'shared.journal').is_file()
    assert len(search.open_study(str(tmp_path / 'a'), shared).get_trials()) == 1
    with pytest.raises(SystemExit, match="already holds a study named 'resnet-2.5g-backbone'; give another --name"):
        search.main(common + ['--out', str(tmp_path / 'b')])


@pytest.mark.slow
def test_a_trial_on_two_processes(toy_data, tmp_path):
    """``run --gpus 2``: the trial trains under ``torchrun --standalone`` with two processes (gloo on a CPU machine,
    the same command that starts two NCCL ranks on a GPU machine) and is recorded like a one-process trial."""
    template = tiny_template(tmp_path / 'template.py', toy_data)
    study = tmp_path / 'study'
    search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--template',
                 str(template), '--num', '1', '--seed', '2', '--proxy-epochs', '1', '--proxy-batch', '2',
                 '--data-root', str(toy_data), '--out', str(study)])
    code, log = run_cli('run', '--study', study, '--gpus', '2', '--heartbeat', '1')
    assert code == 0, log[-3000:]
    [trial] = search.open_study(str(study)).get_trials()
    assert trial.state.name == 'COMPLETE', log[-3000:]
    result = json.loads((study / trial.user_attrs['trial_dir'] / 'result.json').read_text())
    assert result['hard'] == trial.value and (study / result['checkpoint']).is_file()
    logs = list((study / trial.user_attrs['trial_dir']).rglob('*.log'))
    text = '\n'.join(p.read_text() for p in logs)
    # mmengine's runtime environment block: the runner saw a process group of 2
    assert 'Distributed launcher: pytorch' in text and 'GPU number: 2' in text, text[-3000:]


@pytest.mark.slow
def test_run_with_the_median_pruner_on_real_training(toy_data, tmp_path):
    """sample --prune-every 1, then run --pruner median: every trial reports its epoch-1 Hard AP; after the first
    completed one, a trial below its epoch-1 Hard AP is pruned there, one at or above it completes."""
    template = tiny_template(tmp_path / 'template.py', toy_data)
    study = tmp_path / 'study'
    search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--template',
                 str(template), '--num', '3', '--seed', '1', '--proxy-epochs', '2', '--proxy-batch', '4',
                 '--prune-every', '1', '--data-root', str(toy_data), '--out', str(study)])
    assert json.loads((study / 'study.json').read_text())['proxy']['val_interval'] == 1
    code, log = run_cli('run', '--study', study, '--heartbeat', '1', '--pruner', 'median', '--pruner-startup', '1')
    assert code == 0, log[-3000:]
    trials = search.open_study(str(study)).get_trials()
    assert trials[0].state.name == 'COMPLETE' and sorted(trials[0].intermediate_values) == [1, 2], log[-3000:]
    for i, trial in enumerate(trials[1:], 1):
        # the median of the epoch-1 Hard APs of the trials completed before it (one worker: in trial order)
        median = float(np.median([t.intermediate_values[1] for t in trials[:i] if t.state.name == 'COMPLETE']))
        at_1 = trial.intermediate_values[1]
        if trial.state.name == 'PRUNED':
            assert at_1 < median and trial.user_attrs['epochs'] == 1 and trial.user_attrs['last_hard'] == at_1
        else:
            assert trial.state.name == 'COMPLETE' and at_1 >= median and sorted(trial.intermediate_values) == [1, 2]
    assert 'worker done:' in log


@pytest.mark.slow
def test_an_evolved_damofd_study_trains_ranks_and_exports(toy_data, tmp_path, capsys):
    """evolve on DamoFD-0.5G's block space -> a study whose queued structure trains through a `run` worker (real
    tools/train.py), is ranked by `report` and exported as a damofd_* config."""
    template = tiny_template(tmp_path / 'template.py', toy_data)
    study = tmp_path / 'damofd'
    search.main(['evolve', '--space', 'damofd-0.5g', '--gflops', '0.065', '--input', '224', '--tolerance', '0.05',
                 '--proxy', 'ddsar', '--population', '8', '--iterations', '300', '--keep', '1', '--seed', '1',
                 '--template', str(template), '--data-root', str(toy_data), '--proxy-epochs', '1',
                 '--proxy-batch', '4', '--out', str(study)])
    best = json.loads((study / 'evolve.json').read_text())['best'][0]
    [queued] = search.open_study(str(study)).get_trials()
    assert queued.state.name == 'WAITING' and queued.user_attrs['key'] == best['key']
    assert queued.user_attrs['arch']['backbone']['type'] == 'DamoFDNet'

    code, log = run_cli('run', '--study', study, '--heartbeat', '1')
    assert code == 0, log[-3000:]
    [trial] = search.open_study(str(study)).get_trials()
    assert trial.state.name == 'COMPLETE', log[-3000:]
    result = json.loads((study / trial.user_attrs['trial_dir'] / 'result.json').read_text())
    assert result['hard'] == trial.value and 0.0 <= trial.value <= 1.0 and result['key'] == best['key']
    assert (study / result['checkpoint']).is_file()

    capsys.readouterr()
    report = search.main(['report', '--study', str(study), '--repeats', '50'])
    assert [(r['rank'], r['key']) for r in report['rows']] == [(1, best['key'])]
    exported = search.main(['export', '--study', str(study), '--rank', '1', '--out', str(tmp_path) + '/'])
    assert Path(exported).name.startswith('damofd_') and best['structure'] in Path(exported).read_text()
