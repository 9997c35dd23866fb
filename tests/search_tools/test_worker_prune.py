"""Early stopping of search trials with a stand-in training script (no real training: it sleeps per epoch, saves
resumable checkpoints and logs the Hard AP its config names at each validation): the worker reports every
validation to the study, ``--pruner median`` stops trials below the median of the completed ones, a pruned trial is
recorded with its epochs and last Hard AP, a killed worker's trial resumes with its earlier curve and is then
pruned or completed like any other, and a pruner on a study without intermediate validations is refused before
anything is written."""
import json
import threading
import time

import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from search_tools.report import collect, epochs_line, ranking_table  # noqa: E402
from search_tools.study import (StudyError, enqueue, intermediate_epochs, make_pruner, open_study,  # noqa: E402
                                validate_spec, write_json_atomic)
from search_tools.training import apply_proxy, read_validations  # noqa: E402
from search_tools.worker import Worker  # noqa: E402
from tests.helpers.paths import REPO_ROOT  # noqa: E402
from tests.helpers.tools import run_tool  # noqa: E402

# epochs of FAKE_EPOCH_SECONDS each (after a validation the worker has that long to read it before the next one);
# the checkpoints are empty files unless FAKE_CHECKPOINTS is set (importing torch costs seconds per run)
FAKE_TRAIN = """
import glob, json, os, re, sys, time
config, work_dir = sys.argv[1], sys.argv[3]
text = open(config).read()
curve = [float(v) for v in re.search(r"fake_curve = '([^']*)'", text).group(1).split()]
epochs = int(re.search(r'max_epochs=(\\d+)', text).group(1))
interval = int(re.search(r'val_interval=(\\d+)', text).group(1))
done = [int(re.match(r'epoch_(\\d+)[.]pth', os.path.basename(p)).group(1))
        for p in glob.glob(os.path.join(work_dir, 'epoch_*.pth'))]
run = os.path.join(work_dir, str(time.time_ns()), 'vis_data')
os.makedirs(run)
hang_after = int(os.environ.get('FAKE_HANG_AFTER', '0'))
for epoch in range(max(done, default=0) + 1, epochs + 1):
    time.sleep(float(os.environ.get('FAKE_EPOCH_SECONDS', '0.4')))
    checkpoint = os.path.join(work_dir, f'epoch_{epoch}.pth')
    if os.environ.get('FAKE_CHECKPOINTS'):  # resumable ones (the worker records what a run resumed from)
        import torch
        torch.save({'state_dict': {}, 'optimizer': {}, 'meta': {'epoch': epoch, 'iter': epoch}}, checkpoint)
    else:
        open(checkpoint, 'w').close()
    if epoch % interval == 0 or epoch == epochs:
        with open(os.path.join(run, 'scalars.json'), 'a') as f:
            f.write(json.dumps({'widerface/easy': 0.9, 'widerface/medium': 0.8,
                                'widerface/hard': curve[epoch - 1], 'step': epoch}) + '\\n')
    if epoch == hang_after:
        time.sleep(600)
"""
CURVES = dict(good='0.5 0.6 0.7 0.8', low='0.4 0.45 0.5 0.55', bad='0.1 0.1 0.15 0.2')


def make_study(tmp_path, keys=('good', 'low', 'bad'), val_interval=1, epochs=4):
    """A study of one queued candidate per curve name; ``val_interval=None`` writes a study.json of before the
    pruners (one validation, at the end)."""
    study_dir = tmp_path / 'study'
    (study_dir / 'candidates').mkdir(parents=True)
    proxy = dict(epochs=epochs, batch_size=2, lr=0.01, checkpoint_interval=1)
    if val_interval is not None:
        proxy['val_interval'] = val_interval
    spec = dict(name='p', space='resnet', step='backbone', gflops=1.0, tolerance=0.02, input_shape=[320, 320],
                seed=0, sampler='random', num=len(keys), template_config='t.py', proxy=proxy)
    write_json_atomic(str(study_dir / 'study.json'), validate_spec(spec))
    study = open_study(str(study_dir), spec=spec, create=True)
    for key in keys:
        (study_dir / 'candidates' / f'{key}.py').write_text(
            "train_cfg = dict(max_epochs=12, val_interval=12)\ntrain_dataloader = dict(batch_size=8)\n"
            "optim_wrapper = dict(optimizer=dict(lr=0.1))\ndefault_hooks = dict(checkpoint=dict(interval=1))\n"
            f"fake_curve = '{CURVES[key]}'\n")
        enqueue(study, {}, dict(key=key, config=f'candidates/{key}.py', has_params=False))
    script = tmp_path / 'fake_train.py'
    script.write_text(FAKE_TRAIN)
    return study_dir, script


def worker(study_dir, script, logs, **kwargs):
    return Worker(str(study_dir), heartbeat=0.5, stale_after=600, poll=0.05, train_script=str(script),
                  log=logs.append, **kwargs)


def trials_by_key(study_dir):
    return {t.user_attrs['key']: t for t in open_study(str(study_dir)).get_trials()}


# ---------------------------------------------------------------------------------------------------- units
def test_apply_proxy_validates_every_interval_and_reads_every_validation(tmp_path):
    from mmengine.config import Config
    cfg = Config(dict(train_cfg=dict(max_epochs=640, val_interval=80), train_dataloader=dict(batch_size=8),
                      optim_wrapper=dict(optimizer=dict(lr=0.01)), default_hooks=dict()))
    proxy = dict(epochs=80, batch_size=4, lr=0.005, checkpoint_interval=5, val_interval=10)
    assert apply_proxy(cfg, proxy, seed=0).train_cfg.val_interval == 10
    assert intermediate_epochs(proxy) == [10, 20, 30, 40, 50, 60, 70]
    assert intermediate_epochs(dict(proxy, val_interval=None)) == [] == intermediate_epochs(dict(epochs=3))
    # two attempts of one run: the resumed one re-logs epoch 2, and its value is the one kept
    for stamp, lines in (('1', [{'loss': 1.0, 'step': 1}, {'widerface/hard': 0.2, 'step': 1},
                                {'widerface/hard': 0.25, 'step': 2}]),
                         ('2', [{'widerface/hard': 0.3, 'step': 2}, {'widerface/hard': 0.4, 'step': 3}])):
        (tmp_path / stamp / 'vis_data').mkdir(parents=True)
        (tmp_path / stamp / 'vis_data' / 'scalars.json').write_text(
            '\n'.join(json.dumps(x) for x in lines) + '\n{"widerface/hard": 0.9, "st')  # a line being written
    found = read_validations(str(tmp_path))
    assert {e: v['widerface/hard'] for e, v in found.items()} == {1: 0.2, 2: 0.3, 3: 0.4}


def test_make_pruner_options_and_refusals():
    proxy = dict(epochs=80, val_interval=10)
    median = make_pruner('median', proxy, warmup=20, startup=3)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (3, 20)
    hyperband = make_pruner('hyperband', proxy)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (10, 80, 3)
    assert isinstance(make_pruner('none', dict(epochs=80)), optuna.pruners.NopPruner)
    with pytest.raises(StudyError, match='validate only at the end of their 80-epoch proxy.*--prune-every'):
        make_pruner('median', dict(epochs=80))
    with pytest.raises(StudyError, match='--pruner-warmup 80: the proxy has 80 epochs'):
        make_pruner('median', proxy, warmup=80)
    with pytest.raises(StudyError, match="unknown pruner 'asha'"):
        make_pruner('asha', proxy)


# ---------------------------------------------------------------------------------------------------- worker
@pytest.mark.parametrize('pruner', ['none', 'median'])
def test_median_pruner_stops_trials_that_cannot_catch_up(tmp_path, pruner):
    study_dir, script = make_study(tmp_path)
    logs = []
    counts = worker(study_dir, script, logs, pruner=pruner, pruner_startup=1).run()
    trials = trials_by_key(study_dir)
    good = trials['good']
    assert good.state == TrialState.COMPLETE and good.value == 0.8 and good.user_attrs['epochs'] == 4
    assert good.intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}
    rows = collect(str(study_dir))
    if pruner == 'none':
        assert counts['complete'] == 3 and counts['pruned'] == 0, logs
        assert trials['low'].intermediate_values == {1: 0.4, 2: 0.45, 3: 0.5, 4: 0.55}
        assert epochs_line(rows) == 'Epochs trained: 12 in total, 12 by 3 completed trial(s), 0 by 0 pruned trial(s).'
        return
    # the median of the one completed trial at epoch 1 is 0.5: both others are below it there and stop
    assert counts['complete'] == 1 and counts['pruned'] == 2, logs
    for key, first in (('low', 0.4), ('bad', 0.1)):
        trial = trials[key]
        assert trial.state == TrialState.PRUNED and trial.intermediate_values == {1: first}
        assert trial.user_attrs['epochs'] == 1 and trial.user_attrs['last_hard'] == first
        assert trial.user_attrs['pruner'] == dict(name='median', warmup=0, startup=1)
        result = json.loads((study_dir / trial.user_attrs['trial_dir'] / 'result.json').read_text())
        assert result['state'] == 'PRUNED' and result['epochs'] == 1 and result['curve'] == [[1, first]]
        assert 'pruned after the validation of epoch 1' in (study_dir / result['log']).read_text()
    # the report ranks the completed trial only; the pruned ones follow, unranked, with their epochs
    assert [(r['trial'], r['rank'], r['state'], r['epochs']) for r in rows] == [
        (good.number, 1, 'COMPLETE', 4), (trials['low'].number, None, 'PRUNED', 1),
        (trials['bad'].number, None, 'PRUNED', 1)]
    assert rows[1]['note'] == 'pruned after epoch 1 (Hard 0.4000 there)'
    assert '| 1 | 0 | 0.8000 |' in ranking_table(rows) and '| - | 1 | - |' in ranking_table(rows)
    assert epochs_line(rows) == 'Epochs trained: 6 in total, 4 by 1 completed trial(s), 2 by 2 pruned trial(s).'


def test_hyperband_pruner_runs_the_worker(tmp_path):
    """HyperbandPruner (min_resource 1, max_resource 4, brackets by trial): whatever bracket a trial falls in, it
    ends COMPLETE with its whole curve or PRUNED at a reported epoch before the last, recorded as such."""
    study_dir, script = make_study(tmp_path)
    counts = worker(study_dir, script, [], pruner='hyperband').run()
    assert counts['complete'] + counts['pruned'] == 3 and counts['fail'] == 0
    for key, trial in trials_by_key(study_dir).items():
        curve = [float(v) for v in CURVES[key].split()]
        epochs = trial.user_attrs['epochs']
        assert trial.intermediate_values == {e: curve[e - 1] for e in range(1, epochs + 1)}
        assert (trial.state, epochs == 4) in ((TrialState.COMPLETE, True), (TrialState.PRUNED, False))


def test_pruner_on_a_study_without_intermediate_validations_is_refused_before_anything_is_written(tmp_path):
    study_dir, script = make_study(tmp_path, val_interval=None)
    before = {p.name: p.read_bytes() for p in study_dir.iterdir() if p.is_file()}
    with pytest.raises(StudyError, match='report no intermediate Hard AP to prune on'):
        worker(study_dir, script, [], pruner='median')
    # the command line says the same, without a traceback, and --proxy-epochs is not recorded either
    done = run_tool('search_tools/search.py', 'run', '--study', study_dir, '--pruner', 'hyperband',
                    '--proxy-epochs', '6', timeout=120)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert 'search.py run: --pruner hyperband: the trials of this study validate only at the end' in done.stderr
    assert {p.name: p.read_bytes() for p in study_dir.iterdir() if p.is_file()} == before
    assert not (study_dir / 'trials').exists()


def _stop_after_first_validation(study_dir, key, stop):
    """Set ``stop`` once the trial of ``key`` logged its first validation (its training then hangs)."""
    deadline = time.time() + 120
    while time.time() < deadline and not stop.is_set():
        if any((study_dir / 'trials').glob(f'*_{key}/work/*/vis_data/scalars.json')):
            stop.set()
        time.sleep(0.05)


@pytest.mark.parametrize('pruner', ['none', 'median'])
def test_killed_workers_trial_resumes_with_its_curve(tmp_path, monkeypatch, pruner):
    """The first worker is stopped while 'low' trains (after its epoch-1 validation): its trial is released and
    reaped like any other. The next worker reports the earlier attempt's epoch 1 to the re-queued trial first:
    without a pruner it resumes from the checkpoint and completes with the whole curve; with the median pruner
    (after 'good' completed) it is pruned at once, without training again."""
    study_dir, script = make_study(tmp_path, keys=('good', 'low'))
    monkeypatch.setenv('FAKE_CHECKPOINTS', '1')
    logs = []
    assert worker(study_dir, script, logs, target=1).run()['complete'] == 1  # 'good'
    monkeypatch.setenv('FAKE_HANG_AFTER', '1')
    stop = threading.Event()
    watcher = threading.Thread(target=_stop_after_first_validation, args=(study_dir, 'low', stop))
    watcher.start()
    assert worker(study_dir, script, logs, stop=stop).run()['stopped'] == 1, logs
    watcher.join()
    monkeypatch.delenv('FAKE_HANG_AFTER')
    first = open_study(str(study_dir)).get_trials()[1]
    assert first.state == TrialState.RUNNING and first.intermediate_values == {1: 0.4}
    counts = worker(study_dir, script, logs, pruner=pruner, pruner_startup=1).run()
    assert counts['reaped'] == 1, logs
    trials = open_study(str(study_dir)).get_trials()
    assert trials[1].state == TrialState.FAIL and 'released' in trials[1].user_attrs['reaped']
    resumed = trials[2]
    assert resumed.user_attrs['trial_dir'] == first.user_attrs['trial_dir']
    result = json.loads((study_dir / resumed.user_attrs['trial_dir'] / 'result.json').read_text())
    if pruner == 'none':
        assert resumed.state == TrialState.COMPLETE and resumed.value == 0.55
        assert resumed.intermediate_values == {1: 0.4, 2: 0.45, 3: 0.5, 4: 0.55}
        assert result['resumed_from_epoch'] == 1 and result['curve'] == [[1, 0.4], [2, 0.45], [3, 0.5], [4, 0.55]]
    else:
        assert counts['pruned'] == 1 and resumed.state == TrialState.PRUNED
        assert resumed.intermediate_values == {1: 0.4} and resumed.user_attrs['epochs'] == 1
        assert result['state'] == 'PRUNED' and result['returncode'] is None  # no training was started


def test_pruned_result_left_by_a_killed_worker_is_told_without_training(tmp_path, monkeypatch):
    """A worker killed between writing a pruned trial's result.json and telling the study: the reaped trial's
    re-queued copy is told PRUNED from the file, with its curve, and nothing trains."""
    study_dir, script = make_study(tmp_path, keys=('low',))
    study = open_study(str(study_dir))
    study.tell(study.ask(), state=TrialState.FAIL)  # the killed attempt (trial 0), reaped
    trial_dir = study_dir / 'trials' / '0_low'
    trial_dir.mkdir(parents=True)
    write_json_atomic(str(trial_dir / 'result.json'), dict(
        state='PRUNED', trial=0, epochs=2, last_hard=0.45, curve=[[1, 0.4], [2, 0.45]], log='trials/0_low/train.log',
        pruner=dict(name='median', warmup=0, startup=1)))
    enqueue(study, {}, dict(key='low', config='candidates/low.py', has_params=False, trial_dir='trials/0_low'))
    monkeypatch.setenv('FAKE_EPOCH_SECONDS', '600')  # a training started by mistake would hang the test
    counts = worker(study_dir, script, [], pruner='median').run()
    assert counts['pruned'] == 1
    told = open_study(str(study_dir)).get_trials()[-1]
    assert told.state == TrialState.PRUNED and told.intermediate_values == {1: 0.4, 2: 0.45}
    assert told.user_attrs['epochs'] == 2 and told.user_attrs['last_hard'] == 0.45
    assert not (trial_dir / 'work').exists()


def test_sample_records_the_validation_interval_and_refuses_one_past_the_proxy(tmp_path):
    from search_tools import search
    template = str(REPO_ROOT / 'configs' / 'toy' / 'search_scrfd_toy.py')
    argv = ['sample', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--template', template,
            '--num', '1', '--proxy-epochs', '3']
    with pytest.raises(SystemExit, match='--prune-every 4 is longer than the 3-epoch proxy'):
        search.main(argv + ['--prune-every', '4', '--out', str(tmp_path / 'refused')])
    assert not (tmp_path / 'refused').exists()
    for extra, interval in (([], 1), (['--prune-every', '0'], 3), (['--prune-every', '2'], 2)):
        out = tmp_path / f'study{interval}'
        search.main(argv + extra + ['--out', str(out)])
        proxy = json.loads((out / 'study.json').read_text())['proxy']
        assert proxy['val_interval'] == interval and intermediate_epochs(proxy) == list(range(interval, 3, interval))
