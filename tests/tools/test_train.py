"""Training through tools/train.py on a tiny generated face set: loss finite and falling, kill then resume."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmdet_face.datasets.toy import make_toy_widerface

REPO = Path(__file__).resolve().parents[2]
TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_widerface')
    make_toy_widerface(str(root), num_train=8, num_val=4, size=160, seed=3)
    return root


def _write_config(path, data_root, max_epochs, augment):
    """A config inheriting the toy one: 8 training images, batch 4, no warm-up, fixed lr."""
    train_pipeline = ("[dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'), "
                      + ("dict(type='RandomSquareCrop', crop_choice=[0.8, 1.0, 1.2]), " if augment else '')
                      + "dict(type='FaceResize', scale=(160, 160), keep_ratio=False), dict(type='PackFaceInputs')]")
    path.write_text(f"""
_base_ = [{str(TOY_CONFIG)!r}]
data_root = {str(data_root) + '/'!r}
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(data_root=data_root, pipeline={train_pipeline}))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/'), dict(type='FaceKeypointMetric')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={max_epochs}, val_interval=1000)
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=2e-3))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=10, save_best=None),
                     visualization=dict(draw=False))
randomness = dict(seed=0)
""")
    return path


def test_a_few_iterations_loss_finite_and_falling(toy_data, tmp_path):
    sys.path.insert(0, str(REPO / 'tools'))
    import train as train_tool
    from mmengine.runner import Runner

    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=8, augment=False)
    cfg = train_tool.build_config(train_tool.parse_args([str(config), '--work-dir', str(tmp_path / 'wd')]))
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 16  # 8 epochs x 2 iterations
    assert np.all(np.isfinite(losses))
    assert losses[-4:].mean() < 0.8 * losses[:4].mean(), losses
    box_losses = runner.message_hub.get_scalar('train/loss_bbox').data[0]
    assert box_losses[-4:].mean() < box_losses[:4].mean()


KILLER_HOOK = """
import os
import signal

from mmengine.hooks import Hook

from mmdet_face.registry import HOOKS


@HOOKS.register_module()
class KillAfterEpoch(Hook):
    \"\"\"SIGKILL the training process right after epoch ``epoch``'s checkpoint (when KILL_AFTER_EPOCH=1).\"\"\"
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch and os.environ.get('KILL_AFTER_EPOCH') == '1':
            os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_then_resume(toy_data, tmp_path):
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=4, augment=True)
    (tmp_path / 'killer_hook.py').write_text(KILLER_HOOK)
    with open(config, 'a') as f:
        f.write("custom_imports = dict(imports=['mmdet_face.register', 'killer_hook'], allow_failed_imports=False)\n"
                "custom_hooks = [dict(type='KillAfterEpoch', epoch=2)]\n")
    work_dir = tmp_path / 'wd'
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), str(config), '--work-dir', str(work_dir)]
    env = dict(os.environ, PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))

    killed = subprocess.run(cmd, env=dict(env, KILL_AFTER_EPOCH='1'), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_1.pth', 'epoch_2.pth']

    out = subprocess.run(cmd + ['--resume'], env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    resumed = re.search(r'resumed epoch: (\d+), iter: (\d+)', log)
    assert resumed and resumed.groups() == ('2', '4'), log[-3000:]
    assert (work_dir / 'epoch_4.pth').exists()
    # the resumed run trained only the epochs after the checkpoint
    logged_epochs = {int(e) for e in re.findall(r'Epoch\(train\)\s+\[(\d+)\]', log)}
    assert logged_epochs == {3, 4}
