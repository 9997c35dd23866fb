"""search_tools/benchmark_sampling.py on two small cases: one table row per case with the figures it promises."""
import re

from tests.helpers.tools import run_tool


def test_prints_one_row_per_case():
    done = run_tool('search_tools/benchmark_sampling.py', '--raw', 30, '--candidates', 2, '--scrfd-full-candidates',
                    1, '--case', 'resnet:backbone:2.5', '--case', 'mobilenet:backbone:0.5', '--repeats', 1, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r'input 480x640, tolerance 2\.0%, seed 0, one core \(CPU \d+\)', lines[0]), lines[0]
    assert lines[1].split() == ['space', 'step', 'GF', 'raw/s', 'met', 'raw', 'accepted', 'cand/s', 'cand/CPU-s',
                                'infeasible', 'n']
    rows = [line.split() for line in lines[3:]]
    assert [row[:3] for row in rows] == [['resnet', 'backbone', '2.50'], ['mobilenet', 'backbone', '0.50']]
    for row in rows:
        assert float(row[3]) > 0 and re.fullmatch(r'\d+\.\d+%', row[4]) and row[-1] == '2'
        assert float(row[6]) > 0 and float(row[7]) > 0  # candidates per second of wall and of CPU time


def test_scrfd_rows_count_the_released_batches():
    done = run_tool('search_tools/benchmark_sampling.py', '--raw', 20000, '--candidates', 3, '--scrfd-full-candidates',
                    2, '--case', 'scrfd:backbone:2.5', '--case', 'scrfd:full:2.5', '--repeats', 1, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[3:]]
    assert [row[:3] + row[-1:] for row in rows] == [['scrfd', 'backbone', '2.50', '3'], ['scrfd', 'full', '2.50', '2']]
    backbone, full = ([float(v.rstrip('%')) for v in row[3:6]] for row in rows)
    # raw/s of the batches; met raw and accepted: ~0.7 % in step 1 (the same share), the lock cuts step 2's
    assert backbone[0] > 0 and 0.4 < backbone[1] < 1.0 and full[1] > 0.1
    assert full[2] < 0.1
