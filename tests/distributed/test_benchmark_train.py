"""tools/analysis/benchmark_train.py in one process on the toy config: every phase timed, figures printed."""

import pytest
import torch

from tests.helpers.paths import REPO_ROOT as REPO
from tests.helpers.tools import load_tool


def _tool():
    return load_tool('tools/analysis/benchmark_train.py')


def test_toy_config_on_generated_faces(capsys):
    tool = _tool()
    per_rank = tool.main([str(REPO / 'configs/toy/scrfd_toy_kps.py'), '--toy-data', '--batch', '2', '--iters', '2',
                          '--warmup', '1', '--workers', '0'])
    (times, device, peak_mib, threads), = per_rank
    assert len(times) == 2 and all(len(t) == 4 and min(t) >= 0 for t in times)
    assert device == ('cuda' if torch.cuda.is_available() else 'cpu') and peak_mib > 0
    out = capsys.readouterr().out
    for figure in ('images/s', 'waiting for data', 'forward', 'backward', 'optimizer', 'peak memory'):
        assert figure in out, out


def test_summary_arithmetic():
    tool = _tool()
    # two ranks, 2 iterations of (data, forward, backward, optimizer) seconds
    per_rank = [([(0.1, 0.2, 0.6, 0.1)] * 2, 'cpu', 100.0, 1), ([(0.3, 0.2, 0.4, 0.1)] * 2, 'cpu', 120.0, 1)]
    text = tool.summarize(per_rank, batch=4)
    assert 'throughput: 8.00 images/s (1000 ms per iteration)' in text  # 2 ranks x 4 images x 2 its / 2 s
    assert 'waiting for data: 20.0%' in text and 'backward 50.0%' in text
    assert '100 MiB, 120 MiB' in text


def test_refuses_bad_values():
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', '--iters', '0'])
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', '--toy-data', '--data-root', 'x'])
