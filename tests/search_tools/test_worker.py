"""search_tools.worker with real training (tools/train.py on a tiny toy face set, a few iterations): a worker
killed mid-trial is taken over by another that resumes from the checkpoint; a crashing config becomes a failed
trial and the search goes on; a finished candidate is never trained twice."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')
from optuna.trial import TrialState  # noqa: E402

from search_tools.study import enqueue, open_study, validate_spec, write_json_atomic  # noqa: E402
from search_tools.training import apply_proxy, read_metrics, train_command  # noqa: E402
from search_tools.worker import Worker  # noqa: E402
from tests.helpers.paths import REPO_ROOT as REPO

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'
SEARCH = REPO / 'search_tools' / 'search.py'


def candidate_config(path, data_root, broken=False):
    """A toy SCRFD config on 8 tiny images (2 iterations an epoch), no warm-up."""
    path.write_text(f"""
_base_ = [{str(TOY_CONFIG)!r}]
data_root = {str(data_root) + '/'!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='FaceResize', scale=(160, 160), keep_ratio=False), dict(type='PackFaceInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/')]
test_evaluator = val_evaluator
param_scheduler = [dict(type='CosineAnnealingLR', begin=0, end=12, by_epoch=True, eta_min_ratio=0.05)]
default_hooks = dict(logger=dict(interval=1))
""" + ("model = dict(backbone=dict(type='NoSuchBackbone'))\n" if broken else ''))
    return path


def make_study(study_dir, data_root, broken=(), epochs=1, keys=('aaaa', 'bbbb')):
    """A study folder by hand (no space needed): study.json, template.py and one queued candidate per key."""
    study_dir.mkdir()
    (study_dir / 'candidates').mkdir()
    spec = dict(name='w', space='resnet', step='backbone', gflops=0.1, tolerance=0.02, input_shape=[160, 160],
                seed=0, sampler='random', num=len(keys), template_config=str(TOY_CONFIG),
                proxy=dict(epochs=epochs, batch_size=4, lr=0.002, checkpoint_interval=1))
    write_json_atomic(str(study_dir / 'study.json'), validate_spec(spec))
    candidate_config(study_dir / 'template.py', data_root)
    study = open_study(str(study_dir), spec=spec, create=True)
    breakdown = {p: {'gflops': g, 'params_m': 0.01} for p, g in
                 dict(stem=0.01, c2=0.02, c3=0.02, c4=0.01, c5=0.01, backbone=0.07, neck=0.01, head=0.02,
                      total=0.1).items()}
    for key in keys:
        candidate_config(study_dir / 'candidates' / f'{key}.py', data_root, broken=key in broken)
        enqueue(study, {}, dict(key=key, config=f'candidates/{key}.py', has_params=False,
                                                arch={'name': key}, breakdown=breakdown))
    return study


def test_apply_proxy_rescales_the_schedule():
    from mmengine.config import Config
    cfg = Config(dict(
        train_cfg=dict(max_epochs=640, val_interval=80), train_dataloader=dict(batch_size=8),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10, save_best='widerface/hard')),
        param_scheduler=[dict(type='LinearLR', by_epoch=False, begin=0, end=1500),
                         dict(type='MultiStepLR', begin=0, end=640, by_epoch=True, milestones=[440, 544])]))
    apply_proxy(cfg, dict(epochs=80, batch_size=4, lr=0.005, checkpoint_interval=5), seed=7)
    # SCRFD's proxy: 80 of 640 epochs, steps at 55 and 68 (440 / 8, 544 / 8); the iteration warm-up is kept
    assert cfg.param_scheduler[1].milestones == [55, 68] and cfg.param_scheduler[1].end == 80
    assert cfg.param_scheduler[0].end == 1500
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == (80, 80)
    assert cfg.train_dataloader.batch_size == 4 and cfg.optim_wrapper.optimizer.lr == 0.005
    assert cfg.default_hooks.checkpoint.interval == 5 and cfg.default_hooks.checkpoint.save_best is None
    assert cfg.randomness == dict(seed=7)


def test_train_command_single_and_torchrun():
    one = train_command('c.py', 'wd', gpus=1, python='py', train_script='train.py')
    assert one == ['py', 'train.py', 'c.py', '--work-dir', 'wd', '--resume-if-possible']
    four = train_command('c.py', 'wd', gpus=4, python='py', train_script='train.py')
    assert four[:5] == ['py', '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=4']
    assert four[-2:] == ['--launcher', 'pytorch']


def test_read_metrics_takes_the_last_validation_of_all_attempts(tmp_path):
    for stamp, lines in (('20260101_000000', [{'loss': 1.0, 'step': 1},
                                              {'widerface/hard': 0.2, 'widerface/easy': 0.5, 'step': 2}]),
                         ('20260101_000100', [{'widerface/hard': 0.3, 'widerface/easy': 0.6, 'step': 3}])):
        folder = tmp_path / stamp / 'vis_data'
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines) + '\n{"cut by a ki')
    assert read_metrics(str(tmp_path)) == {'widerface/hard': 0.3, 'widerface/easy': 0.6, 'step': 3.0}
    assert read_metrics(str(tmp_path / 'absent')) is None


@pytest.mark.slow
def test_crashing_config_fails_and_the_search_goes_on(toy_data, tmp_path):
    study_dir = tmp_path / 'study'
    make_study(study_dir, toy_data, broken=('aaaa',), epochs=1)
    logs = []
    # one completed trial is the target; the failed one does not count towards it and is queued again
    counts = Worker(str(study_dir), target=1, max_attempts=2, heartbeat=0.5, poll=0.2, log=logs.append).run()
    assert counts['fail'] == 1 and counts['complete'] == 1, logs
    study = open_study(str(study_dir))
    failed, done, requeued = study.get_trials()
    assert failed.state == TrialState.FAIL and 'NoSuchBackbone' in failed.user_attrs['error']
    assert done.state == TrialState.COMPLETE and 0.0 <= done.value <= 1.0
    assert requeued.state == TrialState.WAITING and requeued.user_attrs['key'] == 'aaaa'
    assert requeued.user_attrs['attempt'] == 2 and requeued.user_attrs['trial_dir'] == failed.user_attrs['trial_dir']
    result = json.loads((study_dir / done.user_attrs['trial_dir'] / 'result.json').read_text())
    assert result['hard'] == done.value and result['resumed_from'] is None
    assert result['checkpoint'].endswith('epoch_1.pth') and (study_dir / result['checkpoint']).is_file()
    assert result['git_sha'] and result['versions']['optuna'] == optuna.__version__
    assert done.user_attrs['breakdown']['total']['gflops'] == 0.1

    # a second worker finds the target reached and trains nothing
    assert Worker(str(study_dir), target=1, log=logs.append).run()['complete'] == 0
    # the same candidate queued again (a duplicate draw, or a restarted search) reuses the finished result; the
    # broken candidate fails its last attempt (2 of 2) and stays failed
    enqueue(study, {}, dict(key='bbbb', config='candidates/bbbb.py', has_params=False))
    counts = Worker(str(study_dir), target=2, max_attempts=2, log=logs.append).run()
    assert counts['reused'] == 1 and counts['complete'] == 0 and counts['fail'] == 1, logs
    trials = open_study(str(study_dir)).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    again = trials[3]
    assert again.value == done.value and again.user_attrs['duplicate_of'] == done.number


@pytest.mark.slow
def test_killed_worker_is_resumed_from_its_checkpoint_by_another(toy_data, tmp_path):
    study_dir = tmp_path / 'study'
    # 6 epochs: the kill lands well before the last one (with 3, a fast machine sometimes finished epoch 3 in the
    # half second between seeing epoch_1.pth and the kill)
    make_study(study_dir, toy_data, epochs=6, keys=('cccc',))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    cmd = [sys.executable, str(SEARCH), 'run', '--study', str(study_dir), '--heartbeat', '0.5']
    # its own session: SIGKILL to the group takes the worker and its training down, like a lost machine
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    work = study_dir / 'trials' / '0_cccc' / 'work'
    deadline = time.time() + 300
    while not list(work.glob('epoch_*.pth')):  # (only the last 2 are kept: epoch_1.pth may be gone already)
        assert first.poll() is None, first.stdout.read().decode()[-3000:]
        assert time.time() < deadline, 'no checkpoint after 300 s'
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint file be complete (mmengine writes it in one go)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (work / 'epoch_6.pth').exists()
    assert open_study(str(study_dir)).get_trials()[0].state == TrialState.RUNNING

    # another worker: the reaper sees the dead pid on this host, fails trial 0, re-enqueues it with its folder
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    trials = open_study(str(study_dir)).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert 'is gone' in trials[0].user_attrs['reaped']
    assert trials[1].user_attrs['trial_dir'] == trials[0].user_attrs['trial_dir'] == 'trials/0_cccc'
    assert trials[1].user_attrs['attempt'] == 2 and trials[1].user_attrs['resumes_trial'] == 0
    result = json.loads((study_dir / 'trials' / '0_cccc' / 'result.json').read_text())
    # continued from the checkpoint, not from scratch: only the epochs after it were trained again
    assert result['resumed_from_epoch'] >= 1 and result['trial'] == 1
    log = (study_dir / 'trials' / '0_cccc' / 'train.log').read_text()
    second_attempt = log.split('attempt 2')[1]
    start = result['resumed_from_epoch']
    assert f'resumed epoch: {start}' in second_attempt
    trained = {int(e) for e in re.findall(r'Epoch\(train\)\s+\[(\d+)\]', second_attempt)}
    assert trained == set(range(start + 1, 7))
    assert (work / 'epoch_6.pth').exists()


@pytest.mark.parametrize('path, epoch', [('/s/trials/0_k/epoch_12.pth', 12), ('iter_500.pth', None),
                                         ('epoch_last.pth', None), ('epoch_3.pth.tmp', None), (None, None)])
def test_checkpoint_epoch_reads_the_resumable_names(path, epoch):
    """The epoch a resumed trial starts from, read with run_dir's checkpoint names; 'epoch_last.pth' raised
    ValueError before (int('last'))."""
    from search_tools.training import checkpoint_epoch
    assert checkpoint_epoch(path) == epoch
