"""The built-in demo (make demo, tools/toy_demo.py) never mixes a second run into the first one's work dir, nor
deletes it."""
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO_ROOT as REPO
from tests.helpers.tools import load_tool

_demo = load_tool('tools/toy_demo.py')
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
HOLDER = """
import sys, time
from mmdet_face.engine.run_dir import WorkDirLock
WorkDirLock(sys.argv[1]).acquire().record('tools/toy_demo.py (first)')
print('held', flush=True)
time.sleep(300)
"""


def test_a_running_demo_is_not_moved_aside(tmp_path):
    """Before: a second demo renamed the first one's work dir while it was training, and took its place."""
    from mmdet_face.engine.run_dir import WorkDirInUseError
    work_dir = tmp_path / 'demo'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    first = subprocess.Popen([sys.executable, '-c', HOLDER, str(work_dir)], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert first.stdout.readline().strip() == 'held'
        (work_dir / 'epoch_1.pth').write_bytes(b'first run')
        with pytest.raises(WorkDirInUseError, match=rf'demo is in use by another run \(pid {first.pid} on .*'
                                                    r'tools/toy_demo.py \(first\)'):
            _demo.take_work_dir(str(work_dir))
        assert sorted(p.name for p in tmp_path.iterdir()) == ['demo']
        assert (work_dir / 'epoch_1.pth').read_bytes() == b'first run'
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    lock, previous = _demo.take_work_dir(str(work_dir))  # the first run ended: moved aside, as before
    assert previous and open(os.path.join(previous, 'epoch_1.pth'), 'rb').read() == b'first run'
    assert sorted(os.listdir(work_dir)) == ['run.lock']
    lock.release()
