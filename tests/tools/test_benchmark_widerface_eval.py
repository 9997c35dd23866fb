"""tools/analysis/benchmark_widerface_eval.py on a tiny generated ground truth: both evaluators run and agree."""
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

import mmdet_face.evaluation.functional as wf
from tests.helpers.paths import REPO_ROOT as ROOT

TOOL = 'tools/analysis/benchmark_widerface_eval.py'


@pytest.fixture
def tiny_gt(tmp_path):
    rng = np.random.default_rng(0)
    boxes = {f'{e}--Event': {f'{e}_img_{i}': np.c_[rng.integers(0, 500, (6, 2)), rng.integers(8, 80, (6, 2))]
                             for i in range(3)} for e in range(2)}
    settings = {s: {e: {name: np.arange(k + 2) for name in images} for e, images in boxes.items()}
                for k, s in enumerate(wf.SETTINGS)}
    wf.write_gt_mats(str(tmp_path / 'gt'), boxes, settings)
    return tmp_path / 'gt'


def _aps(line):
    return {s: float(v) for s, v in re.findall(r'(easy|medium|hard) (\d\.\d+)', line)}


def test_benchmark_times_both_evaluators_and_they_agree(tiny_gt):
    done = subprocess.run([sys.executable, TOOL, '--gt-dir', str(tiny_gt), '--fp-per-image', '3'], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.match(r'\d+ predictions on 6 images$', lines[0]), lines
    ours = _aps(next(line for line in lines if line.startswith('ours:')))
    kit = _aps(next(line for line in lines if line.startswith('kit port:')))
    assert set(ours) == set(wf.SETTINGS) and ours == kit
    assert all(0 < ap < 1 for ap in ours.values())
    assert 'max |AP difference|: 0' in done.stdout and 'speedup: ' in done.stdout


def test_benchmark_missing_ground_truth_is_a_message(tmp_path):
    done = subprocess.run([sys.executable, TOOL, '--gt-dir', str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and 'Traceback' not in done.stderr
    assert done.stderr.startswith('benchmark_widerface_eval.py: --gt-dir WIDER FACE ground truth file not found: ')
