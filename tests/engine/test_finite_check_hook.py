"""A diverging training stops at the first non-finite loss, names the iteration and the term, saves nothing."""
import math
import subprocess
import sys

import pytest
import torch

from mmdet_face.datasets.toy import make_toy_widerface
from mmdet_face.engine.hooks import FiniteCheckHook, TrainingDivergedError
from tests.helpers.paths import REPO_ROOT as REPO

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'


@pytest.fixture(scope='module')
def toy_config(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_widerface(str(root / 'data'), num_train=8, num_val=3, size=128, seed=1)
    data_root = str(root / 'data') + '/'
    config = root / 'cfg.py'
    config.write_text(f"""
_base_ = [{str(TOY_CONFIG)!r}]
data_root = {data_root!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='FaceResize', scale=(128, 128), keep_ratio=False), dict(type='PackFaceInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=3, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=3, val_interval=1)
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=2e-3), clip_grad=None)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1),
                     visualization=dict(draw=False))
randomness = dict(seed=0)
""")
    return config


@pytest.mark.slow
def test_diverging_training_stops_and_saves_nothing(toy_config, tmp_path):
    work_dir = tmp_path / 'wd'
    out = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), str(toy_config), '--work-dir',
                          str(work_dir), '--cfg-options', 'optim_wrapper.optimizer.lr=1e8'],
                         capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode != 0, log[-3000:]
    assert 'TrainingDivergedError: training diverged at epoch 1, iteration ' in log, log[-3000:]
    assert '= nan' in log or '= inf' in log
    assert not list(work_dir.glob('*.pth')), sorted(p.name for p in work_dir.iterdir())


class _Runner:
    """The few runner attributes the hook reads."""

    def __init__(self, model, amp=False):
        self.model, self.epoch, self.iter, self.work_dir = model, 0, 4, 'wd'
        self.optim_wrapper = type('AmpOptimWrapper' if amp else 'OptimWrapper', (), {})()
        self.warnings = []
        self.logger = type('L', (), {'warning': lambda _, msg: self.warnings.append(msg)})()


def test_hook_names_the_term_and_checks_bn_statistics():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    hook, runner = FiniteCheckHook(), _Runner(model)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.5), 'loss_cls': torch.tensor(0.5)})
    with pytest.raises(TrainingDivergedError, match=r'epoch 1, iteration 5: loss_bbox = nan'):
        hook.after_train_iter(runner, 0, outputs={'loss_cls': torch.tensor(0.5),
                                                  'loss_bbox': torch.tensor(math.nan)})
    model[1].running_var[2] = math.inf
    with pytest.raises(TrainingDivergedError, match=r'normalisation statistics are not finite \(1.running_var\)'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    with pytest.raises(TrainingDivergedError, match='refusing to save or rank'):
        hook.after_val_epoch(runner, {'widerface/hard': 0.5})
    with pytest.raises(TrainingDivergedError, match=r'not saved: non-finite weights \(1.running_var\)'):
        hook.before_save_checkpoint(runner, {'state_dict': model.state_dict()})


def test_hook_tolerates_skipped_amp_steps_for_a_while():
    model = torch.nn.Linear(2, 2)
    hook, runner = FiniteCheckHook(amp_tolerance=3), _Runner(model, amp=True)
    for _ in range(2):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(math.inf)})
    assert len(runner.warnings) == 2 and 'AMP loss scaler skips' in runner.warnings[0]
    with pytest.raises(TrainingDivergedError, match='loss = inf'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(math.inf)})
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})  # a finite step resets the count
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(math.inf)})
