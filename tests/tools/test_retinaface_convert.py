"""The release -> mmdet-face RetinaFace weight converter."""
import subprocess
import sys

import pytest
import torch

from mmdet_face.deployment.retinaface_pth_import import (MOBILENET, RESNET50, check_release_state, convert_key,
                                                         convert_retinaface_checkpoint, convert_retinaface_state_dict,
                                                         detect_release, read_release_checkpoint, release_layout)
from tests.helpers.paths import REPO_ROOT, shared_path

CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py'


@pytest.mark.parametrize('release, ours', [
    ('body.stage1.0.0.weight', 'backbone.stage1.0.conv.weight'),
    ('body.stage1.0.1.running_var', 'backbone.stage1.0.bn.running_var'),
    ('body.stage1.3.0.weight', 'backbone.stage1.3.depthwise_conv.conv.weight'),
    ('body.stage2.0.4.num_batches_tracked', 'backbone.stage2.0.pointwise_conv.bn.num_batches_tracked'),
    ('body.stage3.1.3.weight', 'backbone.stage3.1.pointwise_conv.conv.weight'),
    ('fpn.output3.0.weight', 'neck.0.lateral_convs.2.conv.weight'),
    ('fpn.merge1.1.bias', 'neck.0.merge_convs.0.bn.bias'),
    ('ssh2.conv3X3.0.weight', 'neck.1.levels.1.conv3x3.conv.weight'),
    ('ssh3.conv7x7_3.1.running_mean', 'neck.1.levels.2.conv7x7_3.bn.running_mean'),
    ('ssh1.conv5X5_1.1.weight', 'neck.1.levels.0.conv5x5_1.bn.weight'),
    ('ClassHead.2.conv1x1.bias', 'bbox_head.cls_convs.2.bias'),
    ('BboxHead.0.conv1x1.weight', 'bbox_head.reg_convs.0.weight'),
    ('LandmarkHead.1.conv1x1.weight', 'bbox_head.kps_convs.1.weight'),
    ('body.conv1.weight', 'backbone.conv1.weight'),  # ResNet-50 release: torchvision names kept
    ('body.layer3.5.downsample.1.running_mean', 'backbone.layer3.5.downsample.1.running_mean'),
])
def test_convert_key(release, ours):
    assert convert_key(release) == ours


def test_unexpected_key_is_an_error():
    with pytest.raises(KeyError, match='body.stage4'):
        convert_key('body.stage4.0.0.weight')
    with pytest.raises(KeyError):
        convert_key('body.stage1.1.2.weight')  # an activation has no parameters
    with pytest.raises(KeyError):
        convert_key('body.fc.weight')


def test_wrappers_and_module_prefix():
    t = torch.ones(2)
    plain = {'ClassHead.0.conv1x1.bias': t}
    for ckpt in (plain, {'module.ClassHead.0.conv1x1.bias': t}, {'state_dict': {'module.ClassHead.0.conv1x1.bias': t}}):
        out = convert_retinaface_state_dict(ckpt)
        assert list(out) == ['bbox_head.cls_convs.0.bias'] and out['bbox_head.cls_convs.0.bias'] is t


def test_released_file_converts_and_loads_strictly(tmp_path):
    src = shared_path('real', 'weights', 'retinaface_mobilenet025.pth')
    release = torch.load(src, map_location='cpu', weights_only=True)
    wrapped = tmp_path / 'wrapped.pth'
    torch.save({'state_dict': {'module.' + k: v for k, v in release.items()}}, wrapped)
    dst = tmp_path / 'out.pth'
    ckpt = convert_retinaface_checkpoint(str(wrapped), str(dst), str(CONFIG))  # builds + strict load
    assert set(ckpt) == {'state_dict', 'meta'} and len(ckpt['state_dict']) == len(release) == 300
    loaded = torch.load(dst, map_location='cpu', weights_only=True)
    assert torch.equal(loaded['state_dict']['backbone.stage1.0.conv.weight'], release['body.stage1.0.0.weight'])


@pytest.mark.slow
def test_command_line(tmp_path):
    src = shared_path('real', 'weights', 'retinaface_mobilenet025.pth')
    dst = tmp_path / 'cli.pth'
    proc = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/model_converters/retinaface_pth2mmdet.py'),
                           str(src), str(dst), '--config', str(CONFIG)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 300 tensors' in proc.stdout and dst.exists()


def test_resnet50_release_layout_covers_our_r50_model():
    """The R50 release = torchvision ResNet-50 under ``body.`` + the same FPN / SSH / head names as MobileNet-0.25."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet_face.registry import MODELS
    release = torch.load(shared_path('real', 'weights', 'retinaface_mobilenet025.pth'), map_location='cpu',
                         weights_only=True)
    init_default_scope('mmdet_face')
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/retinaface/retinaface_r50_4xb6-100e_widerface.py'))
    cfg.model.backbone.init_cfg = None
    ours = MODELS.build(cfg.model).state_dict()
    release_keys = ['body.' + k[len('backbone.'):] for k in ours if k.startswith('backbone.')]
    release_keys += [k for k in release if not k.startswith('body.')]
    assert sorted(convert_key(k) for k in release_keys) == sorted(ours)


# ----------------------------------------------------------------------------- release detection and the R50 release
R50_CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_r50_4xb6-100e_widerface.py'


def _release_state(release, num_batches_tracked=True, prefix=''):
    """A state dict with the release's exact keys and shapes; values: the position of the key (checks the copy)."""
    return {prefix + name: torch.full(shape, float(i)) if shape else torch.tensor(i)
            for i, (name, shape) in enumerate(release_layout(release, num_batches_tracked).items())}


def test_release_layout_sizes():
    """Counts of the release modules (compared key by key with the modules themselves in
    tests/models/parity/test_retinaface_r50_parity.py): 300 / 456 keys, of which 47 / 73 num_batches_tracked."""
    counts = {r: (len(release_layout(r)), len(release_layout(r, num_batches_tracked=False))) for r in
              (MOBILENET, RESNET50)}
    assert counts == {MOBILENET: (300, 253), RESNET50: (456, 383)}
    r50 = release_layout(RESNET50)
    assert r50['fpn.output1.0.weight'] == (256, 512, 1, 1) and r50['fpn.output3.0.weight'] == (256, 2048, 1, 1)
    assert r50['ssh1.conv3X3.0.weight'] == (128, 256, 3, 3) and r50['ssh1.conv5X5_1.0.weight'] == (64, 256, 3, 3)
    assert r50['ClassHead.0.conv1x1.weight'] == (4, 256, 1, 1) and r50['LandmarkHead.2.conv1x1.bias'] == (20,)
    assert r50['body.layer3.0.downsample.0.weight'] == (1024, 512, 1, 1) and 'body.fc.weight' not in r50
    mnet = release_layout(MOBILENET)
    assert mnet['body.stage3.1.3.weight'] == (256, 256, 1, 1) and mnet['fpn.output2.0.weight'] == (64, 128, 1, 1)
    with pytest.raises(ValueError, match='unknown RetinaFace release'):
        release_layout('resnet152')


def test_mobilenet_layout_is_the_released_file():
    release = torch.load(shared_path('real', 'weights', 'retinaface_mobilenet025.pth'), map_location='cpu',
                         weights_only=True)
    layout = release_layout(MOBILENET)
    assert list(release) == list(layout)  # same keys, same order
    assert {k: tuple(v.shape) for k, v in release.items()} == dict(layout)
    assert check_release_state(release) == MOBILENET


def test_detect_release():
    assert detect_release(_release_state(MOBILENET)) == MOBILENET
    assert detect_release(_release_state(RESNET50, num_batches_tracked=False)) == RESNET50
    with pytest.raises(ValueError, match='already converted mmdet-face checkpoint'):
        detect_release({'backbone.conv1.weight': torch.ones(1)})
    with pytest.raises(ValueError, match='neither RetinaFace release'):
        detect_release({'ClassHead.0.conv1x1.bias': torch.ones(4)})
    with pytest.raises(ValueError, match='both MobileNet'):
        detect_release({'body.stage1.0.0.weight': torch.ones(1), 'body.layer1.0.conv1.weight': torch.ones(1)})


def test_incomplete_or_misshaped_release_is_refused(tmp_path):
    state = _release_state(RESNET50, prefix='module.')
    del state['module.body.layer4.2.bn3.running_var']
    state['module.fpn.output1.0.weight'] = torch.zeros(256, 256, 1, 1)  # the layer2 width of another net
    src = tmp_path / 'broken.pth'
    torch.save(state, src)
    with pytest.raises(ValueError) as err:
        read_release_checkpoint(str(src))
    msg = str(err.value)
    assert msg.startswith(f'{src}: not a complete RetinaFace ResNet-50 release')
    assert '1 missing: body.layer4.2.bn3.running_var' in msg
    assert '1 wrong shape: fpn.output1.0.weight (256, 256, 1, 1) (release: (256, 512, 1, 1))' in msg


@pytest.mark.parametrize('num_batches_tracked', [True, False])
def test_resnet50_release_converts_and_loads_strictly(tmp_path, num_batches_tracked):
    """The R50 release layout as ``Resnet50_Final.pth`` has it (``module.``, 456 or 383 tensors) -> strict load
    into the R50 config; every tensor lands under its converted name unchanged."""
    state = _release_state(RESNET50, num_batches_tracked, prefix='module.')
    assert len(state) == (456 if num_batches_tracked else 383)
    src, dst = tmp_path / 'Resnet50_Final.pth', tmp_path / 'r50.pth'
    torch.save(state, src)
    ckpt = convert_retinaface_checkpoint(str(src), str(dst), str(R50_CONFIG))  # builds + strict load
    assert ckpt['meta']['release'] == RESNET50 and len(ckpt['state_dict']) == 456  # num_batches_tracked added
    loaded = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    for name, value in state.items():
        assert torch.equal(loaded[convert_key(name[len('module.'):])], value)
    if not num_batches_tracked:
        assert torch.equal(loaded['backbone.layer4.2.bn3.num_batches_tracked'], torch.tensor(0))
    # and the project's own (key-set strict) loader takes it: before, a file without num_batches_tracked converted
    # but its checkpoint was refused with "73 of 456 model weights are missing"
    from mmdet_face.apis.inference import init_face_detector
    model = init_face_detector(str(R50_CONFIG), str(dst))
    assert torch.equal(model.state_dict()['neck.1.levels.2.conv7x7_3.bn.running_mean'],
                       state['module.ssh3.conv7x7_3.1.running_mean'])


def test_release_with_the_other_config_names_the_right_one(tmp_path):
    src = tmp_path / 'Resnet50_Final.pth'
    torch.save(_release_state(RESNET50, prefix='module.'), src)
    with pytest.raises(ValueError) as err:
        convert_retinaface_checkpoint(str(src), str(tmp_path / 'out.pth'), str(CONFIG))
    msg = str(err.value)
    assert 'the RetinaFace ResNet-50 release (Resnet50_Final.pth) does not fit the model of' in msg
    assert 'use configs/retinaface/retinaface_r50_4xb6-100e_widerface.py' in msg and 'wrong shape' in msg
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.slow
def test_command_line_names_the_release(tmp_path):
    src = tmp_path / 'Resnet50_Final.pth'
    torch.save({'state_dict': _release_state(RESNET50, prefix='module.')}, src)
    proc = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/model_converters/retinaface_pth2mmdet.py'),
                           str(src), str(tmp_path / 'r50.pth')],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f'{src}: RetinaFace ResNet-50 release (Resnet50_Final.pth)' in proc.stdout
    assert 'wrote 456 tensors' in proc.stdout and 'retinaface_r50_4xb6-100e_widerface.py' in proc.stdout
