"""mmdet_face.engine.dist without starting processes: what each launcher's variables give, and the options a
CPU-only machine refuses at once (with a message, not a traceback from inside torch)."""
import os
import sys

import pytest
import torch
from mmengine.config import Config

from mmdet_face.engine import dist
from tests.helpers.paths import REPO_ROOT as REPO

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only refusals')


def test_torchrun_variables():
    env = dict(RANK='1', WORLD_SIZE='2', LOCAL_RANK='1', MASTER_ADDR='10.0.0.1', MASTER_PORT='1234')
    assert dist.launch_env('pytorch', env) == env
    with pytest.raises(dist.LaunchError, match='MASTER_PORT not set; start the tool with torchrun'):
        dist.launch_env('pytorch', {k: v for k, v in env.items() if k != 'MASTER_PORT'})


def test_slurm_variables(tmp_path, monkeypatch):
    scontrol = tmp_path / 'scontrol'
    scontrol.write_text('#!/usr/bin/env bash\n[ "$1 $2 $3" = "show hostname gpu[07-08]" ] && '
                        'printf "gpu07\\ngpu08\\n"\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')
    env = dict(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1', SLURM_NODELIST='gpu[07-08]')
    assert dist.launch_env('slurm', env) == dict(RANK='5', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='gpu07',
                                                 MASTER_PORT='29500')
    given = dict(env, MASTER_ADDR='head', MASTER_PORT='4000')
    assert dist.launch_env('slurm', given)['MASTER_ADDR'] == 'head'
    assert dist.launch_env('slurm', given)['MASTER_PORT'] == '4000'
    no_localid = {k: v for k, v in env.items() if k != 'SLURM_LOCALID'}
    assert dist.launch_env('slurm', dict(no_localid, SLURM_NTASKS_PER_NODE='4(x2)'))['LOCAL_RANK'] == '1'
    with pytest.raises(dist.LaunchError, match='gave no host'):
        dist.launch_env('slurm', dict(env, SLURM_NODELIST='other'))
    with pytest.raises(dist.LaunchError, match='SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST not set'):
        dist.launch_env('slurm', {})
    assert dist.launch_rank('slurm', env) == 5


def test_mpi_variables():
    env = dict(OMPI_COMM_WORLD_RANK='3', OMPI_COMM_WORLD_SIZE='4', OMPI_COMM_WORLD_LOCAL_RANK='1', MASTER_ADDR='h')
    assert dist.launch_env('mpi', env) == dict(RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='h',
                                               MASTER_PORT='29500')
    with pytest.raises(dist.LaunchError, match='MASTER_ADDR'):
        dist.launch_env('mpi', {k: v for k, v in env.items() if k != 'MASTER_ADDR'})


def test_no_launcher_and_no_group():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert dist.init_distributed(cfg, 'none') == (0, 1)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
    assert dist.rank0_decides(lambda a, b: a + b, 2, b=3) == 5
    with pytest.raises(ValueError, match='same error'):
        dist.rank0_decides(lambda: (_ for _ in ()).throw(ValueError('same error')))


@needs_no_gpu
def test_cpu_refuses_amp_and_sync_bn():
    cfg = Config.fromfile(str(TOY_CONFIG))
    dist.check_device_options(cfg, 'none', sync_bn=True)  # one process: SyncBN is reverted to BN, nothing to do
    with pytest.raises(dist.LaunchError, match='--sync-bn .* needs GPUs'):
        dist.check_device_options(cfg, 'pytorch', sync_bn=True)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    with pytest.raises(dist.LaunchError, match='mixed precision .* needs a GPU'):
        dist.check_device_options(cfg, 'none')


@needs_no_gpu
@pytest.mark.parametrize('options, message', [(['--amp'], 'mixed precision (--amp'),
                                              (['--sync-bn', '--launcher', 'pytorch'], '--sync-bn (cfg.sync_bn)')])
def test_train_tool_stops_at_once_on_cpu(options, message, tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / 'tools'))
    import train as train_tool
    for name, value in dict(RANK='0', WORLD_SIZE='2', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT='1').items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        train_tool.main([str(TOY_CONFIG), '--work-dir', str(tmp_path / 'wd'), *options])
    assert str(exit_info.value.code).startswith('tools/train.py: ') and message in str(exit_info.value.code)
    assert not (tmp_path / 'wd').exists()


END_PROCESS = '''
import os, sys, threading, time
import torch, torch.distributed as torch_dist
import dist_probe_hook  # noqa: F401  (records at exit, and if the interpreter tears it down: PROBE_DIR)
from mmdet_face.engine import dist

out = os.environ['PROBE_DIR']
if sys.argv[1] == 'group':
    torch_dist.init_process_group('gloo', init_method='file://' + os.path.join(out, 'store'), rank=0,
                                  world_size=1)
    wrapped = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))  # as mmengine's runner does
    dist.finish_distributed()
    assert not torch_dist.is_initialized()
def late_write():  # a non-daemon thread still working (a hook's upload, say): the exit waits for it, as Python's does
    time.sleep(0.5)
    open(os.path.join(out, 'thread'), 'w').close()
threading.Thread(target=late_write).start()
print('printed last', end='')  # no newline: flushed by end_distributed_process, not by a line buffer
dist.end_distributed_process(3)
sys.exit(5)
'''


@pytest.mark.slow
@pytest.mark.parametrize('group', [True, False], ids=['rank', 'single_process'])
def test_end_distributed_process(tmp_path, group):
    """A rank whose group finish_distributed ended leaves with the given code after its non-daemon threads and
    atexit handlers and with its output flushed, without the interpreter's teardown (where torch's leftover gloo
    threads still run); a single-process run is left alone and exits normally. The distributed runs' probe module
    records both."""
    import subprocess

    from tests.distributed.test_distributed_runs import PROBE_HOOK, exits
    (tmp_path / 'dist_probe_hook.py').write_text(PROBE_HOOK)
    script = tmp_path / 'end.py'
    script.write_text(END_PROCESS)
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'SLURM_PROCID')}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]), OMP_NUM_THREADS='1', PROBE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, str(script), 'group' if group else 'none'],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == (3 if group else 5), out.stderr[-3000:]
    assert out.stdout == 'printed last'
    assert (tmp_path / 'thread').exists()
    if group:
        assert exits(tmp_path) == {0: False}  # atexit ran, the group was ended, no teardown
    else:
        assert len(list(tmp_path.glob('exit0_*.json'))) == len(list(tmp_path.glob('final0_*.json'))) == 1


@pytest.mark.parametrize('nproc', ['0', 'two', '-1'])
def test_dist_scripts_refuse_a_bad_process_count(nproc):
    """NPROC of tools/dist_train.sh and tools/dist_test.sh is checked before torchrun starts; it was a bash
    'division by 0' (0, a word) or a torchrun traceback (-1)."""
    import subprocess
    for cmd in (['tools/dist_train.sh', str(TOY_CONFIG), nproc],
                ['tools/dist_test.sh', str(TOY_CONFIG), 'x.pth', nproc]):
        out = subprocess.run(['bash', *cmd], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and out.stderr.strip() == (
            f"dist_run.sh: NPROC must be a positive whole number, got '{nproc}'"), out.stderr[-2000:]


ORPHAN_PARENT = '''
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]])
print(child.pid, flush=True)
time.sleep(300)
'''
ORPHAN_CHILD = '''
import sys, time
from mmdet_face.engine.dist import exit_with_launcher
exit_with_launcher(sys.argv[1], poll_s=0.1)
import os
open(os.environ['READY'], 'w').close()
time.sleep(300)
sys.exit(0)
'''


@pytest.mark.slow
@pytest.mark.parametrize('launcher', ['pytorch', 'slurm', 'mpi', 'none'])
def test_exit_with_launcher(launcher, tmp_path):
    """A rank whose launcher process is SIGKILLed ends (exit_with_launcher); without a launcher nothing watches.
    The same call in tools/train.py, the test tools and tools/analysis/benchmark_train.py."""
    import signal
    import subprocess
    import time

    from tests.distributed.test_distributed_runs import _running
    ready = tmp_path / 'ready'
    env = dict(os.environ, READY=str(ready), RANK='1', SLURM_PROCID='1', OMPI_COMM_WORLD_RANK='1',
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    parent = subprocess.Popen([sys.executable, '-c', ORPHAN_PARENT, ORPHAN_CHILD, launcher], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        parent.kill()
        parent.wait()
        killed = time.monotonic()
        while _running(child) and time.monotonic() - killed < 5:
            time.sleep(0.05)
        assert _running(child) == (launcher == 'none')
        if launcher != 'none':
            assert f'rank 1 (pid {child}): its launcher (pid {parent.pid}) has ended; stopping this rank' \
                in parent.stderr.read()
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)

