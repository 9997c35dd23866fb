"""tools/analysis/get_flops.py on a toy config: prints the shape, parameters and FLOPs of the model counter."""
import re

import pytest

from mmdet_face.engine.cli import read_tool_config
from mmdet_face.models.utils import get_model_complexity
from tests.helpers.tools import REPO_ROOT, run_tool

CONFIG = 'configs/toy/scrfd_toy_kps.py'


@pytest.mark.slow
def test_prints_the_counter_figures():
    done = run_tool('tools/analysis/get_flops.py', CONFIG, '--shape', '64', '96', timeout=120)
    assert done.returncode == 0, done.stderr
    shape, params, gflops = re.fullmatch(r'Input shape: (\S+)\nParams: (\S+) M\nFLOPs:  (\S+) G\n',
                                         done.stdout).groups()
    expected = get_model_complexity(read_tool_config(str(REPO_ROOT / CONFIG)), (64, 96))
    assert shape == '64x96'
    assert float(params) == round(expected['params_m'], 4) and float(gflops) == round(expected['gflops'], 4)
    assert float(params) > 0.1 and float(gflops) > 0


@pytest.mark.slow
def test_one_side_is_a_square_input():
    done = run_tool('tools/analysis/get_flops.py', CONFIG, '--shape', '64', timeout=120)
    assert done.returncode == 0 and done.stdout.startswith('Input shape: 64x64\n'), done.stderr
