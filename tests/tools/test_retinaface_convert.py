"""The release -> mmdet-face RetinaFace weight converter."""
import subprocess
import sys

import pytest
import torch

from mmdet_face.deployment.retinaface_pth_import import (convert_key, convert_retinaface_checkpoint,
                                                         convert_retinaface_state_dict)
from tests.conftest import REPO_ROOT, shared_path

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
