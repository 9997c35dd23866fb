"""Training through tools/train.py on a tiny generated face set: loss finite and falling, kill then resume."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers.paths import REPO_ROOT as REPO

TOY_CONFIG = REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py'


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_kill_then_resume(toy_data, tmp_path):
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=4, augment=True)
    (tmp_path / 'killer_hook.py').write_text(KILLER_HOOK)
    with open(config, 'a') as f:
        f.write("custom_imports = dict(imports=['mmdet_face.all_modules', 'killer_hook'], allow_failed_imports=False)\n"
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


def _train_tool():
    sys.path.insert(0, str(REPO / 'tools'))
    import train as train_tool
    return train_tool


def _refusal(argv):
    """The message tools/train.py stops with (SystemExit), run in this process."""
    with pytest.raises(SystemExit) as info:
        _train_tool().main(argv)
    assert isinstance(info.value.code, str), info.value.code  # a message, not a bare status
    return info.value.code


@pytest.fixture(scope='module')
def toy_states():
    """State dicts of the toy SCRFD (the config the tests train) and of the toy RetinaFace (another family)."""
    from mmdet_face.apis.inference import init_face_detector
    return {name: init_face_detector(str(REPO / 'configs' / 'toy' / f'{name}.py')).state_dict()
            for name in ('scrfd_toy_kps', 'retinaface_toy_mnet025')}


def _training_checkpoint(path, state):
    """A checkpoint as mmengine writes one (weights, optimizer state, epoch / iteration, message hub)."""
    import torch
    from mmengine.logging import MessageHub
    params = [torch.nn.Parameter(v.clone()) for v in state.values() if v.is_floating_point()]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    torch.save(dict(state_dict=state, optimizer=optimizer.state_dict(), meta=dict(epoch=1, iter=2),
                    message_hub=MessageHub.get_instance('toy_checkpoint').state_dict()), path)
    return str(path)


def test_load_from_another_family_is_refused(toy_data, toy_states, tmp_path):
    """Before: the RetinaFace weights started an SCRFD run from random initialisation, exit 0 (mmengine logged the
    key lists)."""
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=1, augment=False)
    ckpt = tmp_path / 'retinaface.pth'
    import torch
    torch.save(dict(state_dict=toy_states['retinaface_toy_mnet025']), ckpt)
    work_dir = tmp_path / 'wd'
    message = _refusal([str(config), '--work-dir', str(work_dir), '--cfg-options', f'load_from={ckpt}'])
    assert message.startswith(f'tools/train.py: load_from {ckpt} does not fit the model of {config}: ')
    assert '284 of 284 model weights are missing from the checkpoint (backbone.stem.0.0.weight,' in message
    assert 'checkpoint weights are not in the model (backbone.stage1.0.conv.weight,' in message
    assert message.endswith('start from the weights that fit on purpose (--partial-load, or partial_load = True '
                            'in the config).')
    assert not work_dir.exists()  # refused before anything was written
    # nothing fits: not even a deliberate partial start is allowed
    message = _refusal([str(config), '--work-dir', str(work_dir), '--partial-load', '--cfg-options',
                        f'load_from={ckpt}'])
    assert message.startswith(f'tools/train.py: load_from {ckpt}: none of the checkpoint\'s weights fits')
    assert not work_dir.exists()


class _Payload:
    """Pickles as a call: the safe loader must refuse it; an unsafe one would run it."""
    ran = []

    def __reduce__(self):
        return _Payload.ran.append, ('ran',)


def test_load_from_unsafe_pickle_is_refused(toy_data, toy_states, tmp_path):
    """Before: torch's 'Weights only load failed ... Re-running torch.load with weights_only set to False will
    likely succeed' (advice that runs the file's code)."""
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=1, augment=False)
    crafted = tmp_path / 'crafted.pth'
    import torch
    torch.save(dict(state_dict=toy_states['scrfd_toy_kps'], meta=dict(note=_Payload())), crafted)
    message = _refusal([str(config), '--work-dir', str(tmp_path / 'wd'), '--cfg-options', f'load_from={crafted}'])
    assert message.startswith(f'tools/train.py: load_from {crafted}: contains objects that are not allowed to load (')
    assert 'weights_only' not in message and not (tmp_path / 'wd').exists()
    assert _Payload.ran == []


def test_resume_another_architecture_names_the_shapes(toy_data, toy_states, tmp_path):
    """Before: the run ended on an optimizer parameter-group error after loading the weights that happened to
    match."""
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=2, augment=False)
    work_dir = tmp_path / 'wd'
    work_dir.mkdir()
    wider_head = {k: v.repeat(2, *[1] * (v.dim() - 1)) if k.startswith('bbox_head.') and v.dim() else v
                  for k, v in toy_states['scrfd_toy_kps'].items()}  # the same model with a twice as wide head
    ckpt = _training_checkpoint(work_dir / 'epoch_1.pth', wider_head)
    before = sorted(p.name for p in work_dir.iterdir())
    for argv in (['--resume'], ['--resume', ckpt]):
        message = _refusal([str(config), '--work-dir', str(work_dir), *argv])
        assert message.startswith(f'tools/train.py: --resume {ckpt} does not fit the model of {config}: ')
        assert re.search(r': \d+ weights differ in shape \(bbox_head\.[^:]+: checkpoint \(32, 1, 3, 3\) vs model '
                         r'\(16, 1, 3, 3\)', message), message
        assert message.endswith('A checkpoint is resumed by the config it was trained with.')
        assert 'missing' not in message and 'partial' not in message
        assert 'param' not in message.split('does not fit')[0]
        assert sorted(p.name for p in work_dir.iterdir()) == before  # no lock file, no log folder left behind


def test_partial_load_states_how_many_weights(toy_data, toy_states, tmp_path):
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=1, augment=False)
    no_head = {k: v for k, v in toy_states['scrfd_toy_kps'].items() if not k.startswith('bbox_head.')}
    ckpt = tmp_path / 'backbone_neck.pth'
    import torch
    torch.save(dict(state_dict=no_head), ckpt)
    work_dir = tmp_path / 'wd'
    message = _refusal([str(config), '--work-dir', str(work_dir), '--cfg-options', f'load_from={ckpt}'])
    assert f'{len(toy_states["scrfd_toy_kps"]) - len(no_head)} of 284 model weights are missing' in message
    with open(config, 'a') as f:
        f.write(f'load_from = {str(ckpt)!r}\npartial_load = True\n')  # the config's own way
    _train_tool().main([str(config), '--work-dir', str(work_dir)])
    (log,) = work_dir.glob('*/*.log')
    assert f'partial load: loaded {len(no_head)} of 284 weights from {ckpt}.' in log.read_text()
    trained = torch.load(work_dir / 'epoch_1.pth', map_location='cpu', weights_only=True)['state_dict']
    assert len(trained) == 284


GATE_HOOK = """
import os
import time

from mmengine.hooks import Hook

from mmdet_face.registry import HOOKS


@HOOKS.register_module()
class WaitForGate(Hook):
    \"\"\"Hold the run before its first iteration (its log folder is written) until the file GATE exists.\"\"\"

    def before_train(self, runner):
        while not os.path.exists(os.environ['GATE']):
            time.sleep(0.1)
"""


@pytest.mark.slow
def test_second_run_into_a_busy_work_dir_is_refused(toy_data, tmp_path):
    """Before: two runs started together into one work dir both exited 0, one log folder with both runs' lines, one
    run's epoch_1.pth overwritten by the other's."""
    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=2, augment=False)
    (tmp_path / 'gate_hook.py').write_text(GATE_HOOK)
    with open(config, 'a') as f:
        f.write("custom_imports = dict(imports=['mmdet_face.all_modules', 'gate_hook'], allow_failed_imports=False)\n"
                "custom_hooks = [dict(type='WaitForGate')]\n")
    work_dir, gate = tmp_path / 'wd', tmp_path / 'gate'
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), str(config), '--work-dir', str(work_dir)]
    env = dict(os.environ, PYTHONUNBUFFERED='1', GATE=str(gate),
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO), os.environ.get('PYTHONPATH', '')]))
    first_log = tmp_path / 'first.log'
    with open(first_log, 'w') as out:
        first = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not list(work_dir.glob('*/*.log')) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(work_dir.glob('*/*.log')), first_log.read_text()[-3000:]  # the first run has started
        second = subprocess.run(cmd, env=dict(env, GATE=str(config)), capture_output=True, text=True, timeout=300)
        assert second.returncode == 1, second.stderr[-3000:]
        assert second.stderr.strip().endswith(
            'give this run its own --work-dir (nothing was changed).'), second.stderr[-2000:]
        assert f'tools/train.py: {work_dir} is in use by another run (pid {first.pid} on ' in second.stderr
        assert f'{config} --work-dir {work_dir}; lock file {work_dir / "run.lock"})' in second.stderr
        assert 'Traceback' not in second.stderr
        assert not list(work_dir.glob('*.pth'))
        assert len([p for p in work_dir.iterdir() if p.is_dir()]) == 1  # the first run's log folder only
    finally:
        gate.write_text('')
        first.wait(timeout=300)
    assert first.returncode == 0, first_log.read_text()[-3000:]
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_1.pth', 'epoch_2.pth']


def test_validation_without_the_official_lists_keeps_the_best_by_widerface_all(toy_data, tmp_path):
    """The shared runtime keeps the best widerface/hard; a validation without gt_dir (the users' own data) reports
    widerface/all only, which made mmengine's CheckpointHook stop the run at the first validation (KeyError)."""
    sys.path.insert(0, str(REPO / 'tools'))
    import train as train_tool
    from mmengine.runner import Runner

    config = _write_config(tmp_path / 'cfg.py', toy_data, max_epochs=1, augment=False)
    config.write_text(config.read_text() + """
val_evaluator = [dict(type='WiderFaceMetric')]
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(checkpoint=dict(save_best='widerface/hard'))
""")
    cfg = train_tool.build_config(train_tool.parse_args([str(config), '--work-dir', str(tmp_path / 'wd')]))
    Runner.from_cfg(cfg).train()
    assert [p.name for p in (tmp_path / 'wd').glob('best_*.pth')] == ['best_widerface_all_epoch_1.pth']
