"""tools/train.py turns its command-line options into the right config entries."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import train as train_tool  # noqa: E402

CONFIG = str(REPO / 'configs' / 'scrfd' / 'scrfd_2.5g_bnkps_4xb8-640e_widerface.py')


def _cfg(*argv):
    return train_tool.build_config(train_tool.parse_args([CONFIG, *argv]))


def test_defaults():
    cfg = _cfg()
    assert cfg.work_dir == 'work_dirs/scrfd_2.5g_bnkps_4xb8-640e_widerface'
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert cfg.auto_scale_lr.enable is False and cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.resume is False and 'sync_bn' not in cfg


def test_amp_auto_scale_lr_sync_bn():
    cfg = _cfg('--amp', '--auto-scale-lr', '--sync-bn', '--work-dir', '/tmp/x')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.sync_bn == 'torch'
    assert cfg.work_dir == '/tmp/x'


def test_resume_latest_and_explicit():
    cfg = _cfg('--resume')
    assert cfg.resume is True and cfg.load_from is None
    cfg = _cfg('--resume', 'work_dirs/x/epoch_3.pth')
    assert cfg.resume is True and cfg.load_from == 'work_dirs/x/epoch_3.pth'


def test_cfg_options_override():
    cfg = _cfg('--cfg-options', 'train_cfg.max_epochs=3', 'train_dataloader.batch_size=2')
    assert cfg.train_cfg.max_epochs == 3 and cfg.train_dataloader.batch_size == 2


def test_auto_scale_lr_needs_base_batch(tmp_path):
    config = tmp_path / 'no_scale.py'
    config.write_text(f"_base_ = [{CONFIG!r}]\nauto_scale_lr = dict(_delete_=True, enable=False)\n")
    with pytest.raises(ValueError, match='no_scale.py: --auto-scale-lr needs auto_scale_lr.base_batch_size'):
        train_tool.build_config(train_tool.parse_args([str(config), '--auto-scale-lr']))


def test_partial_load_needs_a_new_run_from_load_from(tmp_path, capsys):
    """Before there was no --partial-load; now it is refused where it would do nothing."""
    assert _cfg('--partial-load', '--cfg-options', 'load_from=x.pth').partial_load is True
    # the config's equivalent, given on the command line, is a key the tool reads (not refused as a config variable)
    assert _cfg('--cfg-options', 'load_from=x.pth', 'partial_load=True').partial_load is True
    with pytest.raises(SystemExit):
        train_tool.parse_args([CONFIG, '--partial-load', '--resume'])
    assert '--partial-load applies to load_from (a new run)' in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        train_tool.main([CONFIG, '--partial-load', '--work-dir', str(tmp_path / 'wd')])
    assert info.value.code == 'tools/train.py: --partial-load: there is no load_from to load (set load_from in the ' \
        'config or give --cfg-options load_from=CKPT)'
    assert not (tmp_path / 'wd').exists()
