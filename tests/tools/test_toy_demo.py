"""The built-in demo (make demo, tools/toy_demo.py) never mixes a second run into the first one's work dir, nor
deletes it."""
import importlib.util
import os
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location('toy_demo', Path(__file__).resolve().parents[2] / 'tools' / 'toy_demo.py')
_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_demo)
move_previous_run = _demo.move_previous_run


def test_previous_run_moved_aside(tmp_path):
    work_dir = tmp_path / 'demo'
    assert move_previous_run(str(work_dir)) is None  # absent
    work_dir.mkdir()
    assert move_previous_run(str(work_dir)) is None  # empty: used as it is
    (work_dir / 'epoch_12.pth').write_bytes(b'first run')
    moved = move_previous_run(str(work_dir))
    assert moved and moved.startswith(str(work_dir) + '.') and not work_dir.exists()
    assert open(os.path.join(moved, 'epoch_12.pth'), 'rb').read() == b'first run'
    work_dir.mkdir()
    (work_dir / 'epoch_12.pth').write_bytes(b'second run')
    os.utime(work_dir, (os.path.getmtime(moved), os.path.getmtime(moved)))  # same second: a distinct name
    moved2 = move_previous_run(str(work_dir))
    assert moved2 != moved and open(os.path.join(moved2, 'epoch_12.pth'), 'rb').read() == b'second run'


def test_work_dir_holding_the_data_is_refused(tmp_path, capsys):
    """--work-dir equal to (or above) --data: moving the earlier run aside used to move the data with it."""
    for work_dir in (tmp_path / 'data', tmp_path):
        with pytest.raises(SystemExit):
            _demo.parse_args(['--data', str(tmp_path / 'data'), '--work-dir', str(work_dir)])
        assert f'--work-dir {work_dir}: is or holds the --data folder' in capsys.readouterr().err
    args = _demo.parse_args(['--data', str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'data_runs')])
    assert args.work_dir == str(tmp_path / 'data_runs')
