"""search_tools/dist_search.sh and slurm_search.sh with stand-ins for python and sbatch: which workers start, on
which GPUs, with which arguments; and the usage errors."""
import os
import shlex
import stat
import subprocess

import pytest

from tests.helpers.paths import REPO_ROOT as REPO

DIST = REPO / 'search_tools' / 'dist_search.sh'
SLURM = REPO / 'search_tools' / 'slurm_search.sh'

RECORDER = """#!/usr/bin/env bash
# stands in for python / sbatch: one line per call with the GPUs it was given and its arguments
echo "CUDA=${CUDA_VISIBLE_DEVICES:-none} OMP=${OMP_NUM_THREADS:-none} ARGS=$*" >> "$RECORD"
"""


def stand_in(tmp_path, name):
    path = tmp_path / name
    path.write_text(RECORDER)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def study(tmp_path):
    folder = tmp_path / 'study'
    folder.mkdir()
    (folder / 'study.json').write_text('{}')
    return folder


def run(script, *args, **env):
    full = dict(os.environ, **{k: str(v) for k, v in env.items()})
    return subprocess.run(['bash', str(script), *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=full)


def calls(record):
    return sorted(record.read_text().splitlines())


@pytest.mark.slow
def test_dist_search_one_worker_per_gpu_slice(tmp_path):
    folder, record = study(tmp_path), tmp_path / 'calls.txt'
    python = stand_in(tmp_path, 'python')
    out = run(DIST, folder, 4, 2, '--trials', 3, PYTHON=python, RECORD=record, CUDA_VISIBLE_DEVICES='4,5,6,7')
    assert out.returncode == 0, out.stderr
    search = REPO / 'search_tools' / 'search.py'
    args = f'-u {search} run --study {folder} --gpus 2 --trials 3'
    got = calls(record)
    assert len(got) == 2
    assert got[0].startswith('CUDA=4,5 ') and got[0].endswith(args)
    assert got[1].startswith('CUDA=6,7 ') and got[1].endswith(args)
    assert len(list((folder / 'workers').glob('*-0.log'))) == 1


@pytest.mark.slow
def test_dist_search_cpu_workers_and_usage_errors(tmp_path):
    folder, record = study(tmp_path), tmp_path / 'calls.txt'
    python = stand_in(tmp_path, 'python')
    env = {k: v for k, v in os.environ.items() if k not in ('CUDA_VISIBLE_DEVICES', 'OMP_NUM_THREADS')}
    out = subprocess.run(['bash', str(DIST), str(folder), '2'], capture_output=True, text=True, timeout=60,
                         env=dict(env, PYTHON=str(python), RECORD=str(record), CPU_WORKERS='1'))
    assert out.returncode == 0, out.stderr
    got = calls(record)
    assert len(got) == 2 and all(c.startswith('CUDA=none ') and '--gpus 1' in c for c in got)

    bad = run(DIST, folder, 3, 2, PYTHON=python, RECORD=record)
    assert bad.returncode == 2 and 'must be a positive multiple of GPUS_PER_TRIAL' in bad.stderr
    # a negative GPUS_PER_TRIAL is refused too (it was passed on to every worker as a search.py option)
    negative = run(DIST, folder, 4, -1, PYTHON=python, RECORD=record)
    assert negative.returncode == 2 and 'GPUS_PER_TRIAL (-1)' in negative.stderr
    missing = run(DIST, tmp_path / 'nowhere', 2, PYTHON=python, RECORD=record)
    assert missing.returncode == 2 and 'study.json not found' in missing.stderr
    short = run(DIST, folder, 4, PYTHON=python, RECORD=record, CUDA_VISIBLE_DEVICES='0,1')
    assert short.returncode == 2 and '4 GPUs asked, CUDA_VISIBLE_DEVICES lists 2' in short.stderr
    assert run(DIST).returncode == 2


def test_slurm_search_submits_an_array_of_workers(tmp_path):
    folder, record = study(tmp_path), tmp_path / 'calls.txt'
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    stand_in(bindir, 'sbatch')
    out = run(SLURM, 'gpu', 'search', folder, '--trials', 64, PATH=f'{bindir}:{os.environ["PATH"]}',
              RECORD=record, WORKERS=4, PARALLEL=2, GPUS_PER_TRIAL=2, PYTHON='mypython')
    assert out.returncode == 0, out.stderr
    [call] = calls(record)
    for part in ('-p gpu', '--job-name=search', '--array=1-4%2', '--gres=gpu:2', '--cpus-per-task=10',
                 '--signal=B:USR1@600', '--requeue', f'--output={folder}/workers/slurm-%A_%a.log'):
        assert part in call, part
    wrapped = call.split('--wrap=', 1)[1]
    assert 'exec mypython -u' in wrapped and wrapped.split()[5] == str(REPO / 'search_tools' / 'search.py')
    assert shlex.split(wrapped.split('exec ', 1)[1])[3:] == ['run', '--study', str(folder), '--gpus', '2',
                                                            '--trials', '64']
    assert run(SLURM, 'gpu').returncode == 2


def test_slurm_search_refuses_bad_counts(tmp_path):
    """WORKERS=0 submitted an empty array (--array=1-0), GPUS_PER_TRIAL=0 queued workers that failed on start."""
    folder, record = study(tmp_path), tmp_path / 'calls.txt'
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    stand_in(bindir, 'sbatch')
    env = dict(PATH=f'{bindir}:{os.environ["PATH"]}', RECORD=record)
    for name, value in (('WORKERS', '0'), ('PARALLEL', '-2'), ('GPUS_PER_TRIAL', '0'), ('GPUS_PER_TRIAL', 'two'),
                        ('CPUS_PER_TASK', '1.5'), ('SIGNAL_BEFORE', 'soon')):
        out = run(SLURM, 'gpu', 'search', folder, **env, **{name: value})
        assert out.returncode == 2 and f"{name} must be a positive integer, got '{value}'" in out.stderr, out.stderr
    assert not record.exists()  # nothing was submitted
