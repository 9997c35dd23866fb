"""tools/checks/gpu_check.sh on a machine without a GPU: every GPU step is skipped with a line saying why, exit 0;
an interpreter without torch is a FAIL line and exit 1."""
import os
import sys

import pytest

from tests.helpers.tools import run_tool

TOOL = 'tools/checks/gpu_check.sh'


@pytest.mark.slow
def test_without_a_gpu_every_step_is_skipped_with_the_reason():
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='')
    env.pop('GPU_CHECK_ON_CPU', None)
    done = run_tool(TOOL, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert 'GPUs: none' in lines[0]
    skips = [line for line in lines if line.startswith('[gpu_check] SKIP ')]
    assert [line.split()[2] for line in skips] == ['1.', '2.', '3.', '4.', '5.', '6.']
    assert all('no CUDA GPU visible' in line for line in skips)
    assert lines[-1] == '[gpu_check] done: no step failed'
    assert not any(' FAIL ' in line or ' PASS ' in line for line in lines)


def test_interpreter_without_torch_fails(tmp_path):
    done = run_tool(TOOL, env=dict(os.environ, PYTHON=str(tmp_path / 'no-python')), timeout=60)
    assert done.returncode == 1
    assert done.stdout.strip() == f'[gpu_check] FAIL: {tmp_path / "no-python"} cannot import torch'
