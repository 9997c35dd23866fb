"""Which checkpoint --resume continues from, and refusing to mix two runs in one work dir."""
import os
import signal
import subprocess
import sys

import pytest
import torch

from mmdet_face.engine.run_dir import (ResumeError, WorkDirError, WorkDirInUseError, WorkDirLock, check_new_run,
                                       inspect_checkpoint, recorded_last_checkpoint, resolve_resume, run_checkpoints)
from tests.helpers.paths import REPO_ROOT as REPO


def _full_ckpt(path, epoch):
    torch.save(dict(state_dict={'w': torch.full((2,), float(epoch))}, optimizer={'state': {}},
                    meta=dict(epoch=epoch, iter=epoch * 10)), path)
    return str(path)


def test_checkpoints_newest_first(tmp_path):
    for e in (2, 10, 1):
        _full_ckpt(tmp_path / f'epoch_{e}.pth', e)
    (tmp_path / 'best_widerface_hard_epoch_2.pth').write_bytes(b'')
    assert [os.path.basename(p) for p in run_checkpoints(str(tmp_path))] == ['epoch_10.pth', 'epoch_2.pth',
                                                                              'epoch_1.pth']


def test_last_checkpoint_resolved_in_copied_work_dir(tmp_path):
    # mmengine writes an absolute path; a copy of the work dir must resume from its own file
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    original.mkdir()
    copy.mkdir()
    _full_ckpt(original / 'epoch_3.pth', 3)
    _full_ckpt(copy / 'epoch_3.pth', 3)
    (copy / 'last_checkpoint').write_text(str(original / 'epoch_3.pth'))
    assert recorded_last_checkpoint(str(copy)) == str(copy / 'epoch_3.pth')
    assert resolve_resume(str(copy)) == str(copy / 'epoch_3.pth')
    (copy / 'last_checkpoint').write_text('epoch_3.pth')  # relative: relative to the work dir
    assert recorded_last_checkpoint(str(copy)) == str(copy / 'epoch_3.pth')
    # the original keeps resolving to itself
    (original / 'last_checkpoint').write_text(str(original / 'epoch_3.pth'))
    assert recorded_last_checkpoint(str(original)) == str(original / 'epoch_3.pth')


def test_corrupt_latest_falls_back_to_newest_intact(tmp_path):
    _full_ckpt(tmp_path / 'epoch_1.pth', 1)
    _full_ckpt(tmp_path / 'epoch_2.pth', 2)
    latest = _full_ckpt(tmp_path / 'epoch_3.pth', 3)
    data = open(latest, 'rb').read()
    open(latest, 'wb').write(data[:len(data) // 2])  # killed during the save
    (tmp_path / 'last_checkpoint').write_text(latest)
    said = []
    assert resolve_resume(str(tmp_path), log=said.append) == str(tmp_path / 'epoch_2.pth')
    assert len(said) == 1 and 'epoch_3.pth (not a readable PyTorch checkpoint' in said[0]
    assert 'resuming from' in said[0]
    assert said[0].rstrip().endswith('the newest intact checkpoint') and 'epoch_2.pth' in said[0]


def test_nothing_to_resume_is_an_error_unless_if_possible(tmp_path):
    empty = tmp_path / 'mistyped'
    with pytest.raises(ResumeError, match='no checkpoint in .*mistyped .*mistyped'):
        resolve_resume(str(empty))
    said = []
    assert resolve_resume(str(empty), if_possible=True, log=said.append) is None
    assert 'starting a NEW run' in said[0]


def test_weights_only_checkpoint_cannot_be_resumed(tmp_path):
    converted = tmp_path / 'converted.pth'
    torch.save(dict(state_dict={'w': torch.zeros(2)}, meta=dict(converted_from='x.onnx')), converted)
    ok, why = inspect_checkpoint(str(converted))
    assert not ok and 'weights only' in why
    with pytest.raises(ResumeError, match=r'converted.pth: holds weights only.*load_from='):
        resolve_resume(str(tmp_path), str(converted))
    with pytest.raises(ResumeError, match='no such checkpoint file'):
        resolve_resume(str(tmp_path), str(tmp_path / 'nope.pth'))
    full = _full_ckpt(tmp_path / 'epoch_4.pth', 4)
    assert resolve_resume(str(tmp_path), full) == full


def test_new_run_refuses_a_work_dir_with_checkpoints(tmp_path):
    check_new_run(str(tmp_path / 'absent'))
    (tmp_path / 'logs.txt').write_text('x')
    check_new_run(str(tmp_path))  # no checkpoints: fine
    _full_ckpt(tmp_path / 'epoch_1.pth', 1)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ResumeError, match=r'already holds the checkpoints of another run \(epoch_1.pth\)'):
        check_new_run(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == before


HOLDER = """
import sys, time
from mmdet_face.engine.run_dir import WorkDirLock
WorkDirLock(sys.argv[1]).acquire().record('tools/train.py first.py --work-dir ' + sys.argv[1])
print('held', flush=True)
time.sleep(300)
"""


def hold_work_dir(work_dir):
    """A live process holding ``work_dir``'s lock (as a training run does); the caller kills it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work_dir)], stdout=subprocess.PIPE, text=True,
                              env=env)
    assert holder.stdout.readline().strip() == 'held'
    return holder


def test_lock_refuses_a_second_run_and_is_freed_by_killing_the_first(tmp_path):
    work_dir = tmp_path / 'wd'
    holder = hold_work_dir(work_dir)
    try:
        with pytest.raises(WorkDirInUseError) as info:
            WorkDirLock(str(work_dir)).acquire()
        message = str(info.value)
        assert message.startswith(f'{work_dir} is in use by another run (pid {holder.pid} on ')
        assert f'tools/train.py first.py --work-dir {work_dir}; lock file {work_dir}/run.lock)' in message
        assert 'nothing was changed' in message
        assert isinstance(info.value, ResumeError)  # the train tool's refusals are one family
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    lock = WorkDirLock(str(work_dir)).acquire()  # a killed run leaves no stuck lock
    lock.record('second')
    assert '"command": "second"' in (work_dir / 'run.lock').read_text()
    lock.release()


def test_lock_within_one_process_and_undo(tmp_path):
    work_dir = tmp_path / 'a' / 'b'
    first = WorkDirLock(str(work_dir)).acquire()
    with pytest.raises(WorkDirInUseError, match='its details are not recorded yet'):  # a second open file: refused
        WorkDirLock(str(work_dir)).acquire()
    first.release(undo=True)  # refused before recording: what acquire created is removed
    assert sorted(os.listdir(tmp_path)) == []
    kept = WorkDirLock(str(work_dir)).acquire()
    kept.record()
    kept.release(undo=True)  # a recorded run owns its work dir: nothing is removed
    assert (work_dir / 'run.lock').is_file()


def test_unusable_work_dir_and_unlockable_file_system(tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(WorkDirError, match=rf'--work-dir {tmp_path}/file/wd: cannot be used as a work dir \(Not a '
                                           'directory'):
        WorkDirLock(str(tmp_path / 'file' / 'wd')).acquire()
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(fcntl, 'flock', no_locks)
    lock = WorkDirLock(str(tmp_path / 'wd')).acquire()  # the run goes on, and the tool can say why it is unlocked
    assert lock.unsupported == f'{tmp_path}/wd/run.lock cannot be locked on this file system (No locks available)'
    lock.record()
    lock.release()


class _Payload:
    """Pickles as a call: the safe loader must refuse it; an unsafe one would run it."""
    ran = []

    def __reduce__(self):
        return _Payload.ran.append, ('ran',)


def test_crafted_checkpoint_is_not_resumed(tmp_path):
    """Before: '--resume X: unreadable (UnpicklingError: Weights only load failed. This file can still be loaded,
    ...' (torch's advice to load it unsafely), then 'use --cfg-options load_from=X'."""
    crafted = tmp_path / 'epoch_3.pth'
    torch.save(dict(state_dict={'w': torch.zeros(2)}, optimizer={'state': {}}, meta=dict(epoch=3, iter=30),
                    note=_Payload()), crafted)
    with pytest.raises(ResumeError) as info:
        resolve_resume(str(tmp_path), str(crafted))
    message = str(info.value)
    assert message.startswith(f'--resume {crafted}: contains objects that are not allowed to load (')
    assert 'weights_only=False' not in message and 'load_from' not in message and _Payload.ran == []
