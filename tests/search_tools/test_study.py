"""search_tools.study: study.json checks, the journal-file Optuna study, the lease and the reaper that hands a dead
worker's trial (with its folder) to the next worker."""
import json
import os
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')
from optuna.trial import TrialState  # noqa: E402

from search_tools.study import (JOURNAL_FILE, Lease, StudyError, enqueue, lease_expired, load_spec,  # noqa: E402
                                make_sampler, open_study, reap_stale_trials, validate_spec, write_json_atomic)


def make_study(tmp_path, **changes):
    spec = dict(name='t', space='resnet', step='backbone', gflops=2.5, tolerance=0.02, input_shape=[480, 640],
                seed=0, sampler='random', num=2, template_config='x.py',
                proxy=dict(epochs=2, batch_size=4, lr=0.01, checkpoint_interval=1))
    spec.update(changes)
    write_json_atomic(str(tmp_path / 'study.json'), spec)
    return open_study(str(tmp_path), spec=validate_spec(spec), create=True)


def test_spec_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(StudyError, match='no such study folder'):
        load_spec(str(tmp_path / 'absent'))
    with pytest.raises(StudyError, match='study.json: missing'):
        load_spec(str(tmp_path))
    (tmp_path / 'study.json').write_text('{"name": ')
    with pytest.raises(StudyError, match='not valid JSON'):
        load_spec(str(tmp_path))
    make_study(tmp_path)
    spec = json.loads((tmp_path / 'study.json').read_text())
    for field, value, message in (('gflops', -1, 'gflops must be > 0'), ('gflops', float('inf'), 'and finite'),
                                  ('gflops', float('nan'), 'and finite'), ('sampler', 'grid', 'sampler'),
                                  ('input_shape', [480], 'input_shape'), ('tolerance', 2, 'tolerance')):
        with pytest.raises(StudyError, match=message):
            validate_spec(dict(spec, **{field: value}), 'S')
    with pytest.raises(StudyError, match=r"S: proxy.epochs must be a positive number, got 0"):
        validate_spec(dict(spec, proxy=dict(spec['proxy'], epochs=0)), 'S')
    with pytest.raises(StudyError, match=r"S: proxy.lr must be a positive number, got inf"):
        validate_spec(dict(spec, proxy=dict(spec['proxy'], lr=float('inf'))), 'S')
    with pytest.raises(StudyError, match="S: missing field 'seed'"):
        validate_spec({k: v for k, v in spec.items() if k != 'seed'}, 'S')


def test_journal_study_is_shared_between_processes(tmp_path):
    study = make_study(tmp_path)
    assert (tmp_path / JOURNAL_FILE).is_file()
    enqueue(study, {'x': 1}, {'key': 'abc'})
    # another process opens the same journal and takes the queued trial
    code = ('import sys; sys.path.insert(0, %r)\n'
            'from search_tools.study import open_study\n'
            'study = open_study(%r)\n'
            'trial = study.ask()\n'
            'print(trial.number, trial.user_attrs["key"], trial.suggest_int("x", 0, 5))\n'
            'study.tell(trial, 0.5)\n') % (os.getcwd(), str(tmp_path))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['0', 'abc', '1']
    again = open_study(str(tmp_path))
    assert [(t.state, t.value) for t in again.get_trials()] == [(TrialState.COMPLETE, 0.5)]


def test_random_sampler_draws_depend_on_seed_and_trial_number():
    def draw(seed, number):
        study = optuna.create_study(sampler=make_sampler('random', seed, number))
        return study.ask().suggest_float('w', 0, 1)
    assert draw(0, 3) == draw(0, 3)
    assert draw(0, 3) != draw(0, 4)
    assert draw(1, 3) != draw(0, 3)
    with pytest.raises(StudyError, match='unknown sampler'):
        make_sampler('grid', 0)


def test_lease_heartbeat_and_expiry(tmp_path):
    study = make_study(tmp_path)
    trial = study.ask()
    lease = Lease(trial, interval=0.05).start()
    time.sleep(0.3)
    lease.stop()
    frozen = study.get_trials()[0]
    beat = frozen.user_attrs['lease']
    assert beat['pid'] == os.getpid() and time.time() - beat['heartbeat'] < 5
    # alive: a fresh heartbeat from a live pid
    assert lease_expired(frozen, stale_after=60) is None
    # silent for longer than stale_after (seen from another host, where the pid cannot be checked)
    assert 'no heartbeat for' in lease_expired(frozen, 60, now=beat['heartbeat'] + 61, host='elsewhere')
    # same host, pid gone: stale at once, whatever the heartbeat's age
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    gone = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={'lease': dict(beat, pid=dead.pid)})
    assert 'is gone' in lease_expired(gone, stale_after=3600)
    lease.beat(released=True)
    assert 'released' in lease_expired(study.get_trials()[0], stale_after=3600)


def test_reaper_fails_a_stale_trial_and_requeues_it_with_its_folder(tmp_path):
    study = make_study(tmp_path)
    enqueue(study, {'x': 2}, {'key': 'k1', 'config': 'candidates/k1.py'})
    trial = study.ask()
    trial.suggest_int('x', 0, 5)
    trial.set_user_attr('trial_dir', 'trials/0_k1')
    trial.set_user_attr('lease', dict(host='gone-host', pid=1, heartbeat=time.time() - 1000))
    fresh = study.ask()  # a second running trial with a live lease is left alone
    fresh.set_user_attr('lease', dict(host='h', pid=os.getpid(), heartbeat=time.time()))

    assert reap_stale_trials(study, stale_after=600, log=lambda *_: None) == [0]
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and 'no heartbeat' in trials[0].user_attrs['reaped']
    assert trials[1].state == TrialState.RUNNING
    requeued = trials[2]
    assert requeued.state == TrialState.WAITING
    assert requeued.user_attrs == dict(key='k1', config='candidates/k1.py', trial_dir='trials/0_k1', attempt=2,
                                       resumes_trial=0, queued_params={'x': 2})
    # the next ask takes it, with the same parameter
    nxt = study.ask()
    assert nxt.number == 2 and nxt.suggest_int('x', 0, 5) == 2
    # a second reaper finds nothing more to do
    assert reap_stale_trials(study, stale_after=600, log=lambda *_: None) == []


def test_reaper_gives_up_after_max_attempts(tmp_path):
    study = make_study(tmp_path)
    trial = study.ask()
    trial.set_user_attr('attempt', 3)
    trial.set_user_attr('lease', dict(host='elsewhere', pid=1, heartbeat=0.0))
    assert reap_stale_trials(study, stale_after=10, max_attempts=3, log=lambda *_: None) == [0]
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]  # not re-enqueued


def test_failed_json_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    """A value JSON cannot hold fails the write before anything replaces study.json; the old file stays whole and
    no temporary file is left beside it (json.dump used to stream half a file into '<path>.tmp<pid>' and leave it)."""
    from search_tools.study import write_json_atomic
    path = tmp_path / 'study.json'
    write_json_atomic(str(path), {'name': 'old', 'gflops': 2.5})
    with pytest.raises(TypeError):
        write_json_atomic(str(path), {'name': 'new', 'bad': object()})
    assert json.loads(path.read_text()) == {'name': 'old', 'gflops': 2.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['study.json']


def test_study_writes_import_neither_torch_nor_onnx(tmp_path):
    """The search commands' file writes go through mmdet_face.utils.output_file, which loads neither torch nor onnx
    (2.3 s)."""
    code = ('import sys\nfrom search_tools.study import write_json_atomic\n'
            f'write_json_atomic({str(tmp_path / "a.json")!r}, {{"a": 1}})\n'
            'print(sorted(m for m in ("torch", "onnx", "mmdet") if m in sys.modules))\n')
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=repo))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]' and json.loads((tmp_path / 'a.json').read_text()) == {'a': 1}
