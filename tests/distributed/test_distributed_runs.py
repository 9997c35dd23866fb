"""Distributed training and testing with real processes (2 ranks, gloo on this CPU; NCCL where GPUs are visible):
tools/dist_train.sh and tools/dist_test.sh (torchrun), two torchrun "nodes" on one machine, and
tools/slurm_train.sh / tools/slurm_test.sh through a stand-in ``srun`` / ``scontrol`` that start local processes with
the variables a real ``srun`` sets.

One 2-rank training run (module fixture) is the reference: each rank sees its own half of the images, parameters
agree after a step, rank 0 alone writes; its validation AP equals a single-process test of its checkpoint; resumed,
two-node and Slurm runs end with its exact weights. Every process runs with OMP_NUM_THREADS=1 and batch size 1 at
test time (images of different sizes padded into one batch would change the numbers between 1 and 2 ranks), so
equal means bit-equal.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmdet_face.datasets.toy import make_toy_widerface
from tests.helpers.paths import REPO_ROOT as REPO

pytestmark = [pytest.mark.dist, pytest.mark.slow]

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'
NPROC = 2
MAX_EPOCHS = 10  # 2 iterations per epoch and rank (8 images, batch 2, 2 ranks)
HALF = MAX_EPOCHS // 2
ITERS = 2 * MAX_EPOCHS
TIMEOUT = 300

PROBE_HOOK = '''
import atexit
import hashlib
import json
import os
import signal
import time

import torch
import torch.distributed as dist
from mmengine.hooks import Hook

from mmdet_face.registry import HOOKS


def _record_exit():
    # whether the tool ended its process group before exiting (a group left to interpreter shutdown could abort
    # a finished rank); the rank comes from the launcher's variables, the group may be gone
    rank = os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))
    with open(os.path.join(os.environ['PROBE_DIR'], f'exit{rank}_{os.getpid()}.json'), 'w') as f:
        json.dump(dict(rank=int(rank), group_alive=dist.is_initialized()), f)


atexit.register(_record_exit)


class _Teardown:
    """Writes final<rank>_<pid>.json if the interpreter tears this module down: a distributed tool ends with
    os._exit after its atexit handlers (mmdet_face.engine.dist.end_distributed_process), so none is written."""

    def __init__(self, path):  # everything __del__ needs is bound here: module globals may be gone by then
        self.path, self.os_open, self.os_close, self.flags = path, os.open, os.close, os.O_WRONLY | os.O_CREAT

    def __del__(self):
        self.os_close(self.os_open(self.path, self.flags))


_rank = os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))
_teardown = _Teardown(os.path.join(os.environ['PROBE_DIR'], f'final{_rank}_{os.getpid()}.json'))


@HOOKS.register_module()
class DistProbeHook(Hook):
    """Records what each rank sees (PROBE_DIR/rank<r>.jsonl); CRASH_RANK raises on that rank at iteration 1;
    KILL_AFTER_EPOCH SIGKILLs every rank after that epoch's checkpoint; HOLD_TEST=1 holds a test at its first
    image until the process is ended from outside."""
    priority = 'LOWEST'  # after CheckpointHook and AverageBuffersHook

    def _write(self, runner, **record):
        path = os.path.join(os.environ['PROBE_DIR'], f'rank{dist.get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(dict(record, rank=dist.get_rank(), world=dist.get_world_size())) + '\\n')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if os.environ.get('CRASH_RANK') == str(dist.get_rank()) and runner.iter == 1:
            raise RuntimeError(f'rank {dist.get_rank()} fails on purpose at iteration 1')
        self._write(runner, iter=runner.iter, images=[s.img_path for s in data_batch['data_samples']])

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        module = getattr(runner.model, 'module', runner.model)
        digest = hashlib.sha1()
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
        self._write(runner, iter=runner.iter, state=digest.hexdigest())

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        if os.environ.get('HOLD_TEST') == '1':
            self._write(runner, test_iter=batch_idx)
            while True:
                time.sleep(0.1)

    def after_train_epoch(self, runner):
        if os.environ.get('KILL_AFTER_EPOCH') == str(runner.epoch + 1):
            dist.barrier()  # rank 0 has written the checkpoint
            os.kill(os.getpid(), signal.SIGKILL)
'''

FAKE_SRUN = '''#!{python}
"""Stand-in for Slurm's srun: starts --ntasks local processes with the variables srun sets; --kill-on-bad-exit
ends the others when one fails."""
import os
import subprocess
import sys
import time

args, ntasks, kill_on_bad_exit = sys.argv[1:], 1, False
while args and args[0].startswith('-'):
    arg = args.pop(0)
    if arg in ('-p', '--partition', '-J', '-n', '-N'):
        value = args.pop(0)
        if arg == '-n':
            ntasks = int(value)
    elif arg.startswith('--ntasks='):
        ntasks = int(arg.split('=', 1)[1])
    elif arg.startswith('--kill-on-bad-exit'):
        kill_on_bad_exit = True
procs = []
for rank in range(ntasks):
    env = dict(os.environ, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS=str(ntasks),
               SLURM_NODELIST='cpu-node[001]', SLURM_NNODES='1', SLURM_NODEID='0', SLURM_JOB_ID='4242',
               SLURM_NTASKS_PER_NODE=str(ntasks))
    procs.append(subprocess.Popen(args, env=env))
code = 0
while any(p.poll() is None for p in procs):
    failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
    if failed and kill_on_bad_exit:
        code = failed[0]
        for p in procs:
            if p.poll() is None:
                p.terminate()
    time.sleep(0.2)
codes = [p.returncode for p in procs]
sys.exit(code or next((c for c in codes if c), 0))
'''

FAKE_SCONTROL = '''#!/usr/bin/env bash
# Stand-in for "scontrol show hostname LIST": the job's one node is this machine.
if [ "$1 $2" = "show hostname" ]; then echo 127.0.0.1; else echo "scontrol stand-in: $*" >&2; exit 1; fi
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def small_data_config(base, data, size):
    """The head of a distributed test's config: ``base`` on the toy faces in ``data``, resized to ``size`` x
    ``size``, batch 2 for training and 1 for testing, no data-loading workers."""
    return f"""
_base_ = [{str(base)!r}]
data_root = {str(data) + '/'!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='FaceResize', scale=({size}, {size}), keep_ratio=False), dict(type='PackFaceInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='FaceResize', scale=({size}, {size}), keep_ratio=True),
                 dict(type='LoadFaceAnnotations'), dict(type='PackFaceInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('dist')
    data = root / 'data'
    make_toy_widerface(str(data), num_train=8, num_val=5, size=96, seed=0)  # 5 val images: the sampler pads
    (root / 'dist_probe_hook.py').write_text(PROBE_HOOK)
    config = root / 'cfg.py'
    config.write_text(small_data_config(TOY_CONFIG, data, 96) + f"""
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/'), dict(type='FaceKeypointMetric')]
test_evaluator = val_evaluator
model = dict(test_cfg=dict(score_thr=0.0))
train_cfg = dict(max_epochs={MAX_EPOCHS}, val_interval={HALF})
# a learning rate that changes every iteration (the resumed run must continue the schedule exactly) and is large
# enough for the toy faces to give a non-zero AP after {MAX_EPOCHS} short epochs
optim_wrapper = dict(optimizer=dict(lr=1e-2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max={ITERS}, by_epoch=False, begin=0, end={ITERS}, eta_min=2e-3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={HALF}, max_keep_ckpts=5, save_best=None),
                     visualization=dict(draw=False))
custom_imports = dict(imports=['mmdet_face.all_modules', 'dist_probe_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='FiniteCheckHook'), dict(type='DistProbeHook')]
randomness = dict(seed=0)
""")
    bin_dir = root / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN.format(python=sys.executable))
    (bin_dir / 'scontrol').write_text(FAKE_SCONTROL)
    for name in ('srun', 'scontrol'):
        (bin_dir / name).chmod(0o755)
    return dict(root=root, data=data, config=config, bin=bin_dir)


def _failure_excerpt(log, size=3000):
    """The head of a crash report (a fatal signal or C++ terminate; its tail is only the list of extension
    modules) and the log's last lines."""
    marks = [i for i in (log.find('Fatal Python error'), log.find('terminate called')) if i >= 0]
    head = log[max(0, min(marks) - size // 2):min(marks) + size // 2] + '\n...\n' if marks else ''
    return head + log[-size:]


def run_env(setup, probe_dir, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'NNODES', 'NODE_RANK')
           and not k.startswith(('SLURM_', 'TORCHELASTIC_'))}
    probe_dir.mkdir(parents=True, exist_ok=True)
    env.update(PYTHON=sys.executable, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1', PROBE_DIR=str(probe_dir),
               PYTHONPATH=os.pathsep.join([str(setup['root']), str(REPO), env.get('PYTHONPATH', '')]),
               PATH=os.pathsep.join([str(setup['bin']), env.get('PATH', '')]))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env, timeout=TIMEOUT):
    started = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
    out.elapsed = time.monotonic() - started
    out.log = out.stdout + out.stderr
    return out


def dist_train(setup, work_dir, probe_dir, *options, nproc=NPROC, **env):
    env = run_env(setup, probe_dir, **dict(dict(PORT=free_port()), **env))
    return run(['bash', str(REPO / 'tools' / 'dist_train.sh'), str(setup['config']), str(nproc),
                '--work-dir', str(work_dir), *options], env)


def exits(probe_dir):
    """{rank: whether its process group still existed at exit} from the probe module's atexit records; and no rank
    went through the interpreter's teardown (the probe module's finaliser), where the gloo threads torch leaves
    alive after destroy_process_group ran next to it."""
    records = [json.loads(p.read_text()) for p in Path(probe_dir).glob('exit*.json')]
    torn_down = sorted(p.name for p in Path(probe_dir).glob('final*.json'))
    assert not torn_down, f'ranks went through interpreter teardown: {torn_down}'
    return {r['rank']: r['group_alive'] for r in records}


def probes(probe_dir):
    records = {}
    for path in sorted(Path(probe_dir).glob('rank*.jsonl')):
        records[int(path.stem[4:])] = [json.loads(line) for line in path.read_text().splitlines()]
    return records


def state_dict(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def assert_same_weights(path_a, path_b):
    a, b = state_dict(path_a), state_dict(path_b)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{path_a} vs {path_b}: {different[:5]}'


def val_metrics(work_dir):
    """The validation metrics of every epoch, from rank 0's scalars.json (full precision)."""
    (scalars,) = Path(work_dir).glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith(('widerface/', 'landmarks/'))}
            for r in rows if any(k.startswith('widerface/') for k in r)]


def train_rows(work_dir):
    (scalars,) = Path(work_dir).glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [(r['epoch'], r['iter'], r['lr']) for r in rows if 'lr' in r]


def printed_metrics(stdout):
    """The metrics JSON the test tool prints last (with --out)."""
    start = stdout.rindex('{\n  "')
    return json.loads(stdout[start:stdout.index('\n}', start) + 2])


def same_metrics(a, b):
    assert a.keys() == b.keys(), (a, b)
    for key in a:
        assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), (key, a[key], b[key])  # NaN == NaN


@pytest.fixture(scope='module')
def reference(setup):
    """2 ranks, 10 epochs x 2 iterations, checkpoint and validation after epochs 5 and 10."""
    work_dir, probe_dir = setup['root'] / 'ref', setup['root'] / 'ref_probe'
    out = dist_train(setup, work_dir, probe_dir)
    assert out.returncode == 0, _failure_excerpt(out.log)
    return dict(work_dir=work_dir, probe=probes(probe_dir), log=out.log, elapsed=out.elapsed)


def test_each_rank_trains_on_its_half_and_ranks_agree(reference, setup):
    records = reference['probe']
    assert sorted(records) == [0, 1]
    used = {img for recs in records.values() for r in recs for img in r.get('images', [])}
    assert len(used) >= 7  # the toy set keeps 7 or 8 of its 8 images (one may have no trainable face)
    for epoch_start in (0, 2):  # the 2 iterations of each epoch
        seen = {rank: [img for r in recs if 'images' in r and epoch_start <= r['iter'] < epoch_start + 2
                       for img in r['images']] for rank, recs in records.items()}
        assert len(seen[0]) == len(seen[1]) == 4  # ceil(N / 2) each: DefaultSampler pads with repeats
        assert set(seen[0]) | set(seen[1]) == used  # the whole set every epoch
        assert len(set(seen[0]) & set(seen[1])) <= 8 - len(used), seen  # shared only through the padding
    states = {rank: {r['iter']: r['state'] for r in recs if 'state' in r} for rank, recs in records.items()}
    assert states[0] == states[1]  # parameters and (averaged) BatchNorm statistics after every step
    assert len(states[0]) == ITERS and len(set(states[0].values())) == ITERS  # and they did change
    assert all(r['world'] == 2 for recs in records.values() for r in recs)


def test_only_rank0_writes(reference):
    work_dir = reference['work_dir']
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [f'epoch_{MAX_EPOCHS}.pth', f'epoch_{HALF}.pth']
    run_dirs = [p for p in work_dir.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    assert [p.name for p in run_dirs[0].glob('*.log')] == [run_dirs[0].name + '.log']
    assert not [p for p in work_dir.rglob('*') if 'rank1' in p.name or 'rank_1' in p.name]
    assert len(re.findall(rf'Epoch\(train\) +\[{MAX_EPOCHS}\]\[2/2\]', reference['log'])) == 1  # one rank logs


def test_validation_equals_single_process_test(reference, setup):
    """5 val images on 2 ranks (3 + 3, one padded): the distributed validation counts each image once and gives
    exactly the AP that tools/test.py gives for the epoch's checkpoint in one process; dist_test.sh gives the
    same numbers and a byte-identical submission folder."""
    logged = val_metrics(reference['work_dir'])
    assert len(logged) == 2
    assert any(v > 0 for k, v in logged[-1].items() if k.startswith('widerface/')), logged  # not 0 == 0
    assert re.search(rf'Epoch\(val\) \[{MAX_EPOCHS}\]\[3/3\]', reference['log'])  # 3 images per rank
    checkpoint = reference['work_dir'] / f'epoch_{MAX_EPOCHS}.pth'
    env = run_env(setup, setup['root'] / 'probe_unused')
    single_out, dist_out = setup['root'] / 'sub_single', setup['root'] / 'sub_dist'
    single = run([sys.executable, str(REPO / 'tools' / 'test.py'), str(setup['config']), str(checkpoint),
                  '--work-dir', str(setup['root'] / 'test_single'), '--out', str(single_out)], env)
    assert single.returncode == 0, _failure_excerpt(single.log)
    single_metrics = printed_metrics(single.stdout)
    same_metrics(logged[-1], single_metrics)

    dist_probe = setup['root'] / 'dist_test_probe'
    dist = run(['bash', str(REPO / 'tools' / 'dist_test.sh'), str(setup['config']), str(checkpoint), str(NPROC),
                '--work-dir', str(setup['root'] / 'test_dist'), '--out', str(dist_out)],
               run_env(setup, dist_probe, PORT=free_port()))
    assert dist.returncode == 0, _failure_excerpt(dist.log)
    assert exits(dist_probe) == {0: False, 1: False}  # group ended, no interpreter teardown
    dist_metrics = printed_metrics(dist.stdout)
    same_metrics(dist_metrics, single_metrics)
    single_files = sorted(p.relative_to(single_out) for p in single_out.rglob('*.txt'))
    assert len(single_files) == 5
    assert single_files == sorted(p.relative_to(dist_out) for p in dist_out.rglob('*.txt'))
    for rel in single_files:
        assert (single_out / rel).read_bytes() == (dist_out / rel).read_bytes(), rel
    assert Path(str(single_out) + '_pr_curves.json').read_bytes() == Path(str(dist_out) + '_pr_curves.json') \
        .read_bytes()


def test_resume_after_kill_matches_uninterrupted(reference, setup):
    work_dir, probe_dir = setup['root'] / 'resumed', setup['root'] / 'resumed_probe'
    killed = dist_train(setup, work_dir, probe_dir, KILL_AFTER_EPOCH=HALF)
    assert killed.returncode != 0
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [f'epoch_{HALF}.pth']
    resumed = dist_train(setup, work_dir, probe_dir, '--resume')
    assert resumed.returncode == 0, _failure_excerpt(resumed.log)
    assert re.search(rf'resumed epoch: {HALF}, iter: {2 * HALF}', resumed.log), resumed.log[-3000:]
    assert {int(e) for e in re.findall(r'Epoch\(train\)\s+\[(\d+)\]', resumed.log)} == set(
        range(HALF + 1, MAX_EPOCHS + 1))
    # the same iterations with the same learning rates as the uninterrupted run's second half
    reference_rows = [r for r in train_rows(reference['work_dir']) if r[0] > HALF]
    resumed_rows = [r for run_dir in sorted(work_dir.iterdir()) if run_dir.is_dir()
                    for r in train_rows_of(run_dir) if r[0] > HALF]
    assert len(reference_rows) == 2 * HALF and len({r[2] for r in reference_rows}) == 2 * HALF
    assert resumed_rows == reference_rows
    assert_same_weights(work_dir / f'epoch_{MAX_EPOCHS}.pth', reference['work_dir'] / f'epoch_{MAX_EPOCHS}.pth')


def train_rows_of(run_dir):
    scalars = run_dir / 'vis_data' / 'scalars.json'
    if not scalars.exists():
        return []
    return [(r['epoch'], r['iter'], r['lr']) for r in map(json.loads, scalars.read_text().splitlines()) if 'lr' in r]


def test_two_nodes_match_one_node(reference, setup):
    """NNODES=2 NODE_RANK=0|1 tools/dist_train.sh CONFIG 1, started twice on this machine: one 2-rank job."""
    work_dir, probe_dir = setup['root'] / 'two_nodes', setup['root'] / 'two_nodes_probe'
    port = free_port()
    cmd = ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(setup['config']), '1', '--work-dir', str(work_dir),
           '--cfg-options', 'train_cfg.val_interval=1000']
    nodes = [subprocess.Popen(cmd, env=run_env(setup, probe_dir, NNODES=2, NODE_RANK=rank, PORT=port,
                                               MASTER_ADDR='127.0.0.1'),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(REPO))
             for rank in (0, 1)]
    logs = [node.communicate(timeout=TIMEOUT)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], ''.join(_failure_excerpt(log) for log in logs)
    assert sorted(probes(probe_dir)) == [0, 1]
    assert exits(probe_dir) == {0: False, 1: False}  # each rank ended its process group before exiting
    assert_same_weights(work_dir / f'epoch_{MAX_EPOCHS}.pth', reference['work_dir'] / f'epoch_{MAX_EPOCHS}.pth')


def test_slurm_scripts_match_torchrun(reference, setup):
    """tools/slurm_train.sh and tools/slurm_test.sh through a stand-in srun (2 tasks, SLURM_* variables) and
    scontrol: the launcher reads SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID / SLURM_NODELIST itself."""
    work_dir, probe_dir = setup['root'] / 'slurm', setup['root'] / 'slurm_probe'
    env = run_env(setup, probe_dir, GPUS=2, GPUS_PER_NODE=2, GRES='', CPUS_PER_TASK=1, MASTER_PORT=free_port())
    train = run(['bash', str(REPO / 'tools' / 'slurm_train.sh'), 'cpu', 'toy', str(setup['config']), str(work_dir),
                 '--cfg-options', 'train_cfg.val_interval=1000'], env)
    assert train.returncode == 0, _failure_excerpt(train.log)
    assert sorted(probes(probe_dir)) == [0, 1]
    assert exits(probe_dir) == {0: False, 1: False}  # each rank ended its process group before exiting
    assert_same_weights(work_dir / f'epoch_{MAX_EPOCHS}.pth', reference['work_dir'] / f'epoch_{MAX_EPOCHS}.pth')

    out_dir, test_probe = setup['root'] / 'sub_slurm', setup['root'] / 'slurm_test_probe'
    test_probe.mkdir()
    test = run(['bash', str(REPO / 'tools' / 'slurm_test.sh'), 'cpu', 'toy', str(setup['config']),
                str(reference['work_dir'] / f'epoch_{MAX_EPOCHS}.pth'), '--work-dir', str(setup['root'] / 'test_slurm'),
                '--out', str(out_dir)], dict(env, MASTER_PORT=str(free_port()), PROBE_DIR=str(test_probe)))
    assert test.returncode == 0, _failure_excerpt(test.log)
    assert exits(test_probe) == {0: False, 1: False}
    same_metrics(printed_metrics(test.stdout),
                 val_metrics(reference['work_dir'])[-1])
    assert len(list(out_dir.rglob('*.txt'))) == 5


def test_one_rank_failing_ends_the_job(setup):
    work_dir, probe_dir = setup['root'] / 'crash', setup['root'] / 'crash_probe'
    out = dist_train(setup, work_dir, probe_dir, CRASH_RANK=1)
    assert out.returncode != 0
    assert out.elapsed < 60, out.elapsed  # process start-up included; no collective waits for the dead rank
    assert 'rank 1 fails on purpose at iteration 1' in out.log
    root_cause = out.log[out.log.index('Root Cause'):]
    assert 'rank 1 fails on purpose' in root_cause and re.search(r'rank\s*:\s*1', root_cause), root_cause[:2000]
    shutil.rmtree(work_dir, ignore_errors=True)


def test_work_dir_refusal_is_one_decision(reference, setup):
    """A new run in a work dir that holds another run's checkpoints: rank 0 decides, both ranks stop before
    writing anything, and the reason is printed once."""
    work_dir = reference['work_dir']
    before = sorted(p.relative_to(work_dir) for p in work_dir.rglob('*'))
    out = dist_train(setup, work_dir, setup['root'] / 'refused_probe')
    assert out.returncode != 0
    assert out.log.count('already holds the checkpoints of another run') == 1, out.log[-3000:]
    assert 'Traceback' not in out.log.split('already holds')[0]
    assert sorted(p.relative_to(work_dir) for p in work_dir.rglob('*')) == before


def _children(pid):
    """The ids of the processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid):
    """Whether ``pid`` is a live process (a zombie waiting for its new parent to reap it has ended)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_ranks_end_when_the_launcher_is_killed(setup, tool):
    """SIGKILL of the torchrun launcher of dist_train.sh / dist_test.sh (as a lost SSH session or an OOM killer
    does): both ranks end within seconds, and a training writes no further checkpoint. Before: the orphaned ranks
    went on training, validating and writing checkpoints into the work dir."""
    work_dir, probe_dir = setup['root'] / f'orphans_{tool}', setup['root'] / f'orphans_{tool}_probe'
    env = run_env(setup, probe_dir, PORT=free_port(), HOLD_TEST=1)
    if tool == 'train':
        cmd = ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(setup['config']), str(NPROC),
               '--work-dir', str(work_dir)]
    else:  # held at its first image (DistProbeHook, HOLD_TEST=1)
        from mmdet_face.apis.inference import init_face_detector
        checkpoint = setup['root'] / 'orphans_untrained.pth'
        torch.save(dict(state_dict=init_face_detector(str(TOY_CONFIG)).state_dict()), checkpoint)
        cmd = ['bash', str(REPO / 'tools' / 'dist_test.sh'), str(setup['config']), str(checkpoint), str(NPROC),
               '--work-dir', str(work_dir)]
    log = setup['root'] / f'orphans_{tool}.log'
    with open(log, 'w') as out:
        launcher = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO))
    ranks = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all((probe_dir / f'rank{r}.jsonl').exists() for r in range(NPROC)) and launcher.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        ranks = _children(launcher.pid)  # bash execs dist_run.sh, which execs torchrun: the same pid
        assert launcher.poll() is None and len(ranks) == NPROC, (ranks, log.read_text()[-3000:])
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        killed = time.monotonic()
        while any(map(_running, ranks)) and time.monotonic() - killed < 20:
            time.sleep(0.1)
        assert not any(map(_running, ranks)), 'ranks still running 20 s after their launcher was killed'
        assert time.monotonic() - killed < 5
        # each rank says so, unless its peer's exit ended it first (a gloo connection error)
        assert f'its launcher (pid {launcher.pid}) has ended; stopping this rank' in log.read_text()
        time.sleep(1)
        assert not list(work_dir.glob('*.pth'))
    finally:
        for pid in ranks:  # the orphans of a failing run
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
