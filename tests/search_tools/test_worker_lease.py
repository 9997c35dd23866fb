"""search_tools.worker's lease with a stand-in training script (no real training, seconds): a worker asked to stop
releases its trial for the next worker at once; a worker whose trial was taken over while it trained leaves its
result to the re-enqueued copy, which completes without training again; two worker processes share one queue, in
the study folder's journal file and in a database (SQLite through Optuna's RDB storage, the ``--storage URL``
path: the same lease code, no server needed)."""
import json
import sys
import threading
import time

import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')
from optuna.trial import TrialState  # noqa: E402

from search_tools.study import enqueue, open_study, reap_stale_trials, validate_spec, write_json_atomic  # noqa: E402
from search_tools.worker import Worker  # noqa: E402

FAKE_TRAIN = """
import json, os, sys, time
config, work_dir = sys.argv[1], sys.argv[3]
if os.environ.get('FAKE_TRAIN_FAIL'):
    sys.exit('training failed: ' + os.environ['FAKE_TRAIN_FAIL'])
time.sleep(float(os.environ.get('FAKE_TRAIN_SECONDS', '1')))
os.makedirs(os.path.join(work_dir, '20260101_000000', 'vis_data'), exist_ok=True)
with open(os.path.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json'), 'w') as f:
    hard = float(os.environ.get('FAKE_TRAIN_HARD', '0.5'))
    f.write(json.dumps({'widerface/easy': 0.9, 'widerface/medium': 0.8, 'widerface/hard': hard, 'step': 2}) + '\\n')
"""


def make_study(tmp_path, seconds, storage=None):
    study_dir = tmp_path / 'study'
    (study_dir / 'candidates').mkdir(parents=True)
    spec = dict(name='l', space='resnet', step='backbone', gflops=1.0, tolerance=0.02, input_shape=[320, 320],
                seed=0, sampler='random', num=1, template_config='t.py',
                proxy=dict(epochs=2, batch_size=2, lr=0.01, checkpoint_interval=1))
    write_json_atomic(str(study_dir / 'study.json'), validate_spec(spec))
    (study_dir / 'candidates' / 'k.py').write_text(
        "train_cfg = dict(max_epochs=4, val_interval=4)\ntrain_dataloader = dict(batch_size=8)\n"
        "optim_wrapper = dict(optimizer=dict(lr=0.1))\ndefault_hooks = dict(checkpoint=dict(interval=1))\n")
    study = open_study(str(study_dir), storage, spec=spec, create=True)
    enqueue(study, {}, dict(key='kkkk', config='candidates/k.py', has_params=False))
    script = tmp_path / 'fake_train.py'
    script.write_text(FAKE_TRAIN)
    return study_dir, script


@pytest.mark.slow
def test_stopped_worker_releases_its_trial(tmp_path, monkeypatch):
    study_dir, script = make_study(tmp_path, seconds=60)
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '60')
    stop = threading.Event()
    worker = Worker(str(study_dir), heartbeat=0.2, poll=0.1, stop=stop, train_script=str(script),
                    log=lambda *_: None)
    threading.Timer(2.0, stop.set).start()
    t0 = time.time()
    counts = worker.run()
    assert counts['stopped'] == 1 and time.time() - t0 < 30  # the 60-s training was terminated
    study = open_study(str(study_dir))
    [trial] = study.get_trials()
    assert trial.state == TrialState.RUNNING and trial.user_attrs['lease']['released'] is True
    # the next reaper (any worker, any host) takes it over at once, whatever --stale-after says
    assert reap_stale_trials(study, stale_after=10 ** 6, log=lambda *_: None) == [0]
    requeued = study.get_trials()[1]
    assert requeued.state == TrialState.WAITING and requeued.user_attrs['trial_dir'] == 'trials/0_kkkk'


@pytest.mark.slow
@pytest.mark.parametrize('database', [False, True], ids=['journal', 'sqlite'])
def test_trial_taken_over_while_training_completes_from_its_result(tmp_path, monkeypatch, database):
    storage = f'sqlite:///{tmp_path}/search.db' if database else None
    study_dir, script = make_study(tmp_path, seconds=3, storage=storage)
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '3')
    logs = []
    worker = Worker(str(study_dir), storage, heartbeat=0.2, poll=0.1, train_script=str(script), log=logs.append)

    def take_over():  # another worker decides the lease is stale while this one still trains
        time.sleep(1.5)
        other = open_study(str(study_dir), storage)
        assert reap_stale_trials(other, stale_after=1, now=time.time() + 100, log=lambda *_: None) == [0]

    thief = threading.Thread(target=take_over)
    thief.start()
    counts = worker.run()
    thief.join()
    assert counts['reused'] == 1, logs
    assert any('taken over' in line for line in logs)
    first, second = open_study(str(study_dir), storage).get_trials()
    assert first.state == TrialState.FAIL and 'reaped' in first.user_attrs
    assert second.state == TrialState.COMPLETE and second.value == 0.5
    assert second.user_attrs['trial_dir'] == first.user_attrs['trial_dir']
    result = json.loads((study_dir / 'trials' / '0_kkkk' / 'result.json').read_text())
    assert result['trial'] == 0 and result['hard'] == 0.5 and result['medium'] == 0.8
    # the trial's config was put on the proxy schedule
    config = (study_dir / 'trials' / '0_kkkk' / 'config.py').read_text()
    assert 'max_epochs=2' in config and 'batch_size=2' in config and 'lr=0.01' in config


class RacingWorker(Worker):
    """A worker whose first "done + running < target" check saw the study before another worker asked: that
    worker's ask (``other_asks``) lands between this worker's check and its own ask, as it can with two processes."""

    def __init__(self, *args, other_asks, **kwargs):
        super().__init__(*args, **kwargs)
        self.other_asks, self.raced = other_asks, False

    def finished_and_running(self, below=None):
        counted = super().finished_and_running(below)
        if below is None and not self.raced:
            self.raced = True
            self.other_asks()
        return counted


@pytest.mark.parametrize('queued', [False, True, 'without_queued_params'],
                         ids=['new_draw', 'queued_candidate', 'queued_by_an_older_version'])
def test_worker_racing_past_the_target_gives_its_trial_back(tmp_path, monkeypatch, queued):
    """--trials 1 and two workers: both pass the check, the other asks first. This worker's trial is past the
    target: it trains nothing, the trial is failed as 'surplus' (not counted, named in the report) and a queued
    candidate goes back to the queue with its attributes. Before the fix it trained a second trial."""
    from search_tools.report import collect
    study_dir, script = make_study(tmp_path, seconds=0)
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '0')
    study = open_study(str(study_dir))
    if queued == 'without_queued_params':  # a study queued before search_tools wrote queued_params
        study.enqueue_trial({'x': 1}, user_attrs=dict(key='k2k2', config='candidates/k.py', has_params=True))
    elif queued:
        enqueue(study, {}, dict(key='k2k2', config='candidates/k.py', has_params=False))
    taken = []
    worker = RacingWorker(str(study_dir), target=1, heartbeat=0.2, poll=0.1, train_script=str(script),
                          log=lambda *_: None, other_asks=lambda: taken.append(open_study(str(study_dir)).ask()))
    counts = worker.run()
    assert counts['surplus'] == 1 and counts['complete'] == counts['fail'] == counts['reused'] == 0, counts
    assert [t.number for t in taken] == [0]
    trials = open_study(str(study_dir)).get_trials()
    assert trials[0].state == TrialState.RUNNING and trials[0].user_attrs['key'] == 'kkkk'  # the other worker's
    assert trials[1].state == TrialState.FAIL and 'surplus' in trials[1].user_attrs
    assert not (study_dir / 'trials').exists()  # nothing was materialised or trained
    if queued:  # the candidate is queued again, as it was
        assert len(trials) == 3 and trials[2].state == TrialState.WAITING
        assert trials[2].user_attrs == dict(key='k2k2', config='candidates/k.py', has_params=False,
                                            queued_params={})
    else:
        assert len(trials) == 2
    assert worker.finished_and_running() == (0, 1)  # the surplus trial does not count as done
    note = {row['trial']: row['note'] for row in collect(str(study_dir))}[1]
    assert note.startswith('drawn past the target of 1 trials'), note


@pytest.mark.slow
@pytest.mark.parametrize('database', [False, True], ids=['journal', 'sqlite'])
def test_parallel_workers_take_each_queued_trial_once(tmp_path, database):
    import os
    import subprocess
    from pathlib import Path
    storage = f'sqlite:///{tmp_path}/search.db' if database else None
    study_dir, script = make_study(tmp_path, seconds=1, storage=storage)
    study = open_study(str(study_dir), storage)
    for key in ('k2k2', 'k3k3', 'k4k4', 'k5k5'):
        enqueue(study, {}, dict(key=key, config='candidates/k.py', has_params=False))
    repo = str(Path(__file__).resolve().parents[2])
    code = ('import sys\nfrom search_tools.worker import Worker\n'
            f'print(Worker({str(study_dir)!r}, {storage!r}, target=5, heartbeat=0.2, poll=0.1, '
            f'train_script={str(script)!r})'
            '.run())\n')
    env = dict(os.environ, PYTHONPATH=repo, FAKE_TRAIN_SECONDS='2', OMP_NUM_THREADS='1')
    workers = [subprocess.Popen([sys.executable, '-c', code], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outs
    all_trials = open_study(str(study_dir), storage).get_trials()
    # a worker that raced the other past the target gave its trial back untrained (seen on SQLite under load)
    surplus = [t for t in all_trials if 'surplus' in t.user_attrs]
    assert all(t.state == TrialState.FAIL and not t.user_attrs.get('trial_dir') for t in surplus), outs
    trials = [t for t in all_trials if t not in surplus]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5, outs
    assert (tmp_path / 'search.db').is_file() == database and (study_dir / 'optuna.journal').is_file() != database
    # every queued candidate trained once, in its own folder, by one of the two workers
    assert sorted(t.user_attrs['key'] for t in trials) == ['k2k2', 'k3k3', 'k4k4', 'k5k5', 'kkkk']
    assert not any('duplicate_of' in t.user_attrs for t in trials)
    pids = {json.loads((study_dir / t.user_attrs['trial_dir'] / 'result.json').read_text())['worker']['pid']
            for t in trials}
    # (which worker took how many depends on their start-up times; each took from the one queue)
    assert pids <= {w.pid for w in workers}


def test_failed_trials_do_not_use_up_the_target_and_a_restart_trains_them(tmp_path, monkeypatch):
    """Every trial failing (here: the training exits 1; before, also a wrong --data-root) made the study count as
    finished with nothing trained, and a restart after the fix trained nothing. Now failed trials do not count,
    their candidates are queued again, and a worker stops after 3 different candidates failed in a row."""
    from search_tools.study import StudyError
    study_dir, script = make_study(tmp_path, seconds=0)
    study = open_study(str(study_dir))
    for key in ('k2k2', 'k3k3'):
        enqueue(study, {}, dict(key=key, config='candidates/k.py', has_params=False))
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '0')
    monkeypatch.setenv('FAKE_TRAIN_FAIL', 'no GPU')
    worker = Worker(str(study_dir), target=3, heartbeat=0.2, poll=0.1, train_script=str(script),
                    log=lambda *_: None)
    with pytest.raises(StudyError, match=r'3 different candidates failed one after the other \(trials 0, 1, 2; '
                                         r'the last one: training failed: no GPU; log trials/2_k3k3/train.log\)'
                                         r'.*queued again: fix the cause'):
        worker.run()
    trials = open_study(str(study_dir)).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.WAITING] * 3
    assert [t.user_attrs['key'] for t in trials[3:]] == ['kkkk', 'k2k2', 'k3k3']
    assert all(t.user_attrs['attempt'] == 2 for t in trials[3:])
    assert worker.finished_and_running() == (0, 0)  # nothing counts as done

    monkeypatch.delenv('FAKE_TRAIN_FAIL')  # the cause is fixed: a restart trains the three candidates
    counts = Worker(str(study_dir), target=3, heartbeat=0.2, poll=0.1, train_script=str(script),
                    log=lambda *_: None).run()
    assert counts['complete'] == 3 and counts['fail'] == 0, counts
    trials = open_study(str(study_dir)).get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs['key'] for t in done) == ['k2k2', 'k3k3', 'kkkk']
    # each trained in the folder of its failed attempt
    assert sorted(t.user_attrs['trial_dir'] for t in done) == ['trials/0_kkkk', 'trials/1_k2k2', 'trials/2_k3k3']


def test_one_broken_candidate_does_not_stop_the_worker(tmp_path, monkeypatch):
    """A candidate that fails every attempt is retried up to --max-attempts and left failed; its attempts count as
    one candidate for the stop rule, so the worker goes on (here to draws that fail for want of a template.py,
    which are three different candidates and stop it)."""
    from search_tools.study import StudyError
    study_dir, script = make_study(tmp_path, seconds=0)
    (study_dir / 'candidates' / 'broken.py').write_text('train_cfg = dict(max_epochs=4)\n')  # apply_proxy fails
    study = open_study(str(study_dir))
    enqueue(study, {}, dict(key='k2k2', config='candidates/k.py', has_params=False))
    enqueue(study, {}, dict(key='bbbb', config='candidates/broken.py', has_params=False))
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '0')
    worker = Worker(str(study_dir), target=3, max_attempts=3, heartbeat=0.2, poll=0.1, train_script=str(script),
                    log=lambda *_: None)
    with pytest.raises(StudyError, match=r'3 different candidates failed one after the other \(trials 4, 7, 8;'):
        worker.run()
    trials = open_study(str(study_dir)).get_trials()
    assert [t.state.name for t in trials[:5]] == ['COMPLETE', 'COMPLETE', 'FAIL', 'FAIL', 'FAIL']
    assert [(t.user_attrs['key'], t.user_attrs.get('attempt', 1)) for t in trials[2:5]] == [
        ('bbbb', 1), ('bbbb', 2), ('bbbb', 3)]
    assert 'error' in trials[4].user_attrs
    assert not [t for t in trials if t.state.name == 'WAITING' and t.user_attrs.get('key') == 'bbbb']


@pytest.mark.parametrize('hard', ['nan', '1.5', '-0.1'])
def test_a_hard_ap_outside_0_1_fails_the_trial(tmp_path, monkeypatch, hard):
    """A NaN Hard AP was logged as 'COMPLETE: Hard nan' and written to result.json as a finished result (Optuna
    itself fails a NaN value), and an AP outside [0, 1] was ranked."""
    study_dir, script = make_study(tmp_path, seconds=0)
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '0')
    monkeypatch.setenv('FAKE_TRAIN_HARD', hard)
    worker = Worker(str(study_dir), max_attempts=1, heartbeat=0.2, poll=0.1, train_script=str(script),
                    log=lambda *_: None)
    assert worker.run_trial(worker.study.ask()) == 'fail'
    [trial] = open_study(str(study_dir)).get_trials()
    assert trial.state == TrialState.FAIL
    assert f'Hard AP {float(hard)} at epoch 2, not a number in [0, 1]' in trial.user_attrs['error']
    assert not (study_dir / 'trials' / '0_kkkk' / 'result.json').exists()


@pytest.mark.parametrize('content', ['{"state": "COMPL', '[1, 2]', '{"state": "COMPLETE", "hard": NaN}'])
def test_an_unusable_result_file_is_trained_again(tmp_path, monkeypatch, content):
    """A truncated or hand-broken result.json in a trial's folder stopped every worker with a JSONDecodeError (and
    a NaN result was reused as finished); now it is said, ignored, and the trial trains and replaces it."""
    study_dir, script = make_study(tmp_path, seconds=0)
    monkeypatch.setenv('FAKE_TRAIN_SECONDS', '0')
    folder = study_dir / 'trials' / '0_kkkk'
    folder.mkdir(parents=True)
    (folder / 'result.json').write_text(content)
    logs = []
    counts = Worker(str(study_dir), heartbeat=0.2, poll=0.1, train_script=str(script), log=logs.append).run()
    assert counts['complete'] == 1 and counts['reused'] == 0, logs
    assert any('result.json' in line and 'ignored' in line for line in logs), logs
    assert json.loads((folder / 'result.json').read_text())['hard'] == 0.5
