"""Which checkpoint --resume continues from, and refusing to mix two runs in one work dir."""
import os

import pytest
import torch

from mmdet_face.engine.run_dir import (ResumeError, check_new_run, inspect_checkpoint, recorded_last_checkpoint,
                                       resolve_resume, run_checkpoints)


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
    assert len(said) == 1 and 'epoch_3.pth (unreadable' in said[0] and 'resuming from' in said[0]
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
