"""The numbers the launcher scripts take from the environment (tools/dist_run.sh: NNODES, NODE_RANK, PORT;
tools/slurm_run.sh: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, MASTER_PORT) are checked before torchrun / srun starts: exit
status 2 and a message naming the variable."""
import os
import subprocess

import pytest

from tests.helpers.paths import REPO_ROOT as REPO


@pytest.mark.parametrize('script, args, name, value, message', [
    ('dist_run.sh', ['2', 'tools/train.py'], 'NNODES', '0', 'NNODES must be a positive whole number'),
    ('dist_run.sh', ['2', 'tools/train.py'], 'NODE_RANK', '1', 'NODE_RANK must be a whole number below NNODES (1)'),
    ('dist_run.sh', ['2', 'tools/train.py'], 'NODE_RANK', '-1', 'NODE_RANK must be a whole number below NNODES'),
    ('dist_run.sh', ['2', 'tools/train.py'], 'PORT', '70000', 'PORT must be a port number (1..65535)'),
    ('dist_run.sh', ['2', 'tools/train.py'], 'PORT', 'http', 'PORT must be a port number'),
    ('slurm_run.sh', ['part', 'job', 'tools/train.py'], 'GPUS', '0', 'GPUS must be a positive whole number'),
    ('slurm_run.sh', ['part', 'job', 'tools/train.py'], 'GPUS', 'eight', 'GPUS must be a positive whole number'),
    ('slurm_run.sh', ['part', 'job', 'tools/train.py'], 'GPUS_PER_NODE', '0', 'GPUS_PER_NODE must be a positive'),
    ('slurm_run.sh', ['part', 'job', 'tools/train.py'], 'CPUS_PER_TASK', 'x', 'CPUS_PER_TASK must be a positive'),
    ('slurm_run.sh', ['part', 'job', 'tools/train.py'], 'MASTER_PORT', '0', 'MASTER_PORT must be a port number'),
])
def test_bad_environment_number_is_refused(script, args, name, value, message):
    variables = ('NNODES', 'NODE_RANK', 'PORT', 'GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'MASTER_PORT')
    env = {k: v for k, v in os.environ.items() if k not in variables}
    env[name] = value
    out = subprocess.run(['bash', f'tools/{script}', *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith(f'{script}: {message}') and out.stderr.strip().endswith(f"got '{value}'")
