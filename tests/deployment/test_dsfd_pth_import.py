"""The DSFD release -> mmdet-face converter: key coverage on a state dict with the release's exact key set and
shapes (built here from the release's layout and checked against the figures
measured on the release's own module: 967 tensors without ``num_batches_tracked``, 1,126 with, 120,058,406
parameters), the three layouts (plain, ``module.``, with ``num_batches_tracked``), and clear errors.

Tensors are zero-stride views of one scalar (``expand``), so the 120 M-parameter state dict costs no memory, and
``torch.save`` writes one number per tensor."""
import logging
import re
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

from mmdet_face.deployment.dsfd_pth_import import (convert_dsfd_checkpoint, convert_dsfd_state_dict, convert_key,
                                                   load_release_checkpoint)
from mmdet_face.utils.output_file import OutputExistsError
from tests.helpers.paths import REPO_ROOT

CONFIG = REPO_ROOT / 'configs/dsfd/dsfd_r152_release_widerface.py'
TOOL = REPO_ROOT / 'tools/model_converters/dsfd_pth2mmdet.py'
RELEASE_PARAMS = 120_058_406


def release_state_dict(with_counters: bool = False, prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """The key set and shapes of Tencent/FaceDetection-DSFD ``SSD(widerface_640)`` (ResNet-152), from its layout:
    ``layer1`` = Sequential(conv1, bn1, relu, maxpool, resnet.layer1), ``layer2..4`` = Sequential(resnet.layerN),
    ``layer5/6`` = Sequential(conv, BN, ReLU, conv, BN, ReLU) with conv biases, ``latlayer*`` / ``smooth*`` 1x1
    convs, six FEMs ``cpm*.cpm1..5`` and per-level ``loc`` / ``conf`` heads ``conv1..4``."""
    sd = OrderedDict()
    value = 0.0

    def tensor(*shape):
        nonlocal value
        value += 1.0   # a different number per tensor, so a swapped key would show
        return torch.tensor(value).expand(*shape)

    def conv(name, out, inp, k, bias=True):
        sd[f'{name}.weight'] = tensor(out, inp, k, k)
        if bias:
            sd[f'{name}.bias'] = tensor(out)

    def bn(name, c):
        for p in ('weight', 'bias', 'running_mean', 'running_var'):
            sd[f'{name}.{p}'] = tensor(c)
        if with_counters:
            sd[f'{name}.num_batches_tracked'] = torch.tensor(7)

    conv('layer1.0', 64, 3, 7, bias=False)
    bn('layer1.1', 64)
    inplanes = 64
    for prefix_, blocks, planes in (('layer1.4', 3, 64), ('layer2.0', 8, 128), ('layer3.0', 36, 256),
                                    ('layer4.0', 3, 512)):
        for b in range(blocks):
            cin = inplanes if b == 0 else planes * 4
            conv(f'{prefix_}.{b}.conv1', planes, cin, 1, bias=False)
            bn(f'{prefix_}.{b}.bn1', planes)
            conv(f'{prefix_}.{b}.conv2', planes, planes, 3, bias=False)
            bn(f'{prefix_}.{b}.bn2', planes)
            conv(f'{prefix_}.{b}.conv3', planes * 4, planes, 1, bias=False)
            bn(f'{prefix_}.{b}.bn3', planes * 4)
            if b == 0:
                conv(f'{prefix_}.{b}.downsample.0', planes * 4, inplanes, 1, bias=False)
                bn(f'{prefix_}.{b}.downsample.1', planes * 4)
        inplanes = planes * 4
    for layer, cin, mid, out in (('layer5', 2048, 512, 512), ('layer6', 512, 128, 256)):
        conv(f'{layer}.0', mid, cin, 1)
        bn(f'{layer}.1', mid)
        conv(f'{layer}.3', out, mid, 3)
        bn(f'{layer}.4', out)
    channels = [256, 512, 1024, 2048, 512, 256]
    for n in (3, 2, 1):
        conv(f'latlayer{n}', channels[n - 1], channels[n], 1)
    for n in (3, 2, 1):
        conv(f'smooth{n}', channels[n - 1], channels[n - 1], 1)
    for name, c in zip(('cpm3_3', 'cpm4_3', 'cpm5_3', 'cpm7', 'cpm6_2', 'cpm7_2'), channels):
        conv(f'{name}.cpm1', 256, c, 3)
        conv(f'{name}.cpm2', 256, c, 3)
        conv(f'{name}.cpm3', 128, 256, 3)
        conv(f'{name}.cpm4', 128, 256, 3)
        conv(f'{name}.cpm5', 128, 128, 3)
    for head, outs in (('loc', [4, 8, 12, 12, 12, 12]), ('conf', [4, 6, 8, 8, 8, 8])):
        for level, out in enumerate(outs):
            conv(f'{head}.{level}.conv1', 256, 512, 3)
            conv(f'{head}.{level}.conv2', 256, 256, 3)
            conv(f'{head}.{level}.conv3', 256, 256, 3)
            conv(f'{head}.{level}.conv4', out, 256, 1)
    return OrderedDict((prefix + k, v) for k, v in sd.items())


def test_release_layout_matches_the_measured_release():
    sd = release_state_dict()
    assert len(sd) == 967 and len(release_state_dict(with_counters=True)) == 1126
    params = sum(v.numel() for k, v in sd.items() if not k.endswith(('running_mean', 'running_var')))
    assert params == RELEASE_PARAMS


@pytest.mark.parametrize('release, ours', [
    ('layer1.0.weight', 'backbone.body.conv1.weight'),
    ('layer1.1.running_var', 'backbone.body.bn1.running_var'),
    ('layer1.4.2.conv3.weight', 'backbone.body.layer1.2.conv3.weight'),
    ('layer3.0.35.bn2.bias', 'backbone.body.layer3.35.bn2.bias'),
    ('layer4.0.0.downsample.1.num_batches_tracked', 'backbone.body.layer4.0.downsample.1.num_batches_tracked'),
    ('layer5.0.bias', 'backbone.extras.0.0.bias'),
    ('layer6.4.running_mean', 'backbone.extras.1.4.running_mean'),
    ('latlayer3.weight', 'neck.lateral_convs.2.weight'),
    ('smooth1.bias', 'neck.smooth_convs.0.bias'),
    ('cpm7.cpm4.weight', 'neck.enhance_blocks.3.branch_c1.weight'),
    ('cpm7_2.cpm2.bias', 'neck.enhance_blocks.5.trunk.bias'),
    ('loc.5.conv1.weight', 'bbox_head.reg_branches.5.convs.0.weight'),
    ('conf.0.conv4.bias', 'bbox_head.cls_branches.0.out_conv.bias'),
])
def test_convert_key(release, ours):
    assert convert_key(release) == ours


@pytest.mark.parametrize('bad', ['layer1.2.weight', 'layer5.2.weight', 'cpm8.cpm1.weight', 'loc.6.conv1.weight',
                                 'conf.0.conv5.bias', 'backbone.body.conv1.weight'])
def test_unexpected_key_is_an_error(bad):
    with pytest.raises(KeyError, match='DSFD release'):
        convert_key(bad)


@pytest.fixture(scope='module')
def model_state():
    from mmdet_face.apis.inference import init_face_detector
    model = init_face_detector(str(CONFIG))
    return {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize('layout', ['plain', 'module', 'counters'])
def test_every_release_key_lands_on_our_model(model_state, layout, caplog):
    sd = release_state_dict(with_counters=layout == 'counters', prefix='module.' if layout == 'module' else '')
    converted, dropped = convert_dsfd_state_dict(sd)
    assert {k: v.shape for k, v in converted.items()} == model_state     # every key, exact shapes
    # loc: 4 channels on level 1, 8 on levels 2..5; conf: 2 and 4; each a 256-input 1x1 conv row + bias
    assert dropped == dict(channels=(4 + 8 * 4) + (2 + 4 * 4), numbers=257 * 54)
    # values travel with their keys; the head convs keep their face rows
    assert converted['backbone.body.layer3.35.bn2.bias'].flatten()[0] == sd[
        ('module.' if layout == 'module' else '') + 'layer3.0.35.bn2.bias'].flatten()[0]
    counter = converted['backbone.body.bn1.num_batches_tracked']
    assert counter.dtype == torch.long and int(counter) == (7 if layout == 'counters' else 0)
    assert converted['bbox_head.reg_branches.3.out_conv.weight'].shape == (4, 256, 1, 1)


@pytest.mark.parametrize('layout', ['plain', 'module', 'counters'])
def test_file_converts_and_loads_strictly_into_the_release_config(tmp_path, layout, caplog):
    src = tmp_path / 'WIDERFace_DSFD_RES152.pth'
    sd = release_state_dict(with_counters=layout == 'counters', prefix='module.' if layout == 'module' else '')
    torch.save(sd if layout != 'module' else {'state_dict': sd}, src)
    dst = tmp_path / 'out.pth'
    with caplog.at_level(logging.INFO, logger='mmdet_face.deployment.dsfd_pth_import'):
        ckpt = convert_dsfd_checkpoint(str(src), str(dst), str(CONFIG))   # builds + strict load
    assert 'dropped' in caplog.text and 'PyramidBox head/body' in caplog.text and '54 channels' in caplog.text
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert len(saved['state_dict']) == 1126
    assert saved['meta'] == dict(converted_from=str(src), converter='mmdet_face.deployment.dsfd_pth_import',
                                 config=str(CONFIG))
    assert set(ckpt) == {'state_dict', 'meta'}


def test_wrong_files_are_clear_errors(tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_release_checkpoint(str(missing))
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='notes.pth: not a readable PyTorch checkpoint'):
        load_release_checkpoint(str(text))
    retina = tmp_path / 'retina.pth'
    torch.save({'body.stage1.0.0.weight': torch.zeros(1)}, retina)
    with pytest.raises(ValueError, match=r'retina.pth: is a bare state dict of the RetinaFace release layout '
                                         r'\(biubug6/Pytorch_Retinaface\), not the DSFD release layout .*; convert '
                                         r'it with tools/model_converters/retinaface_pth2mmdet\.py'):
        load_release_checkpoint(str(retina))
    converted = tmp_path / 'converted.pth'
    torch.save({'state_dict': {'backbone.body.conv1.weight': torch.zeros(1)}}, converted)
    with pytest.raises(ValueError, match='converted.pth: unexpected key'):
        load_release_checkpoint(str(converted))


@pytest.mark.slow
def test_tool_refuses_an_existing_output_without_force(tmp_path):
    src = tmp_path / 'release.pth'
    sd = release_state_dict()
    torch.save(sd, src)
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'keep me')
    with pytest.raises(OutputExistsError):
        convert_dsfd_checkpoint(str(src), str(dst))
    assert dst.read_bytes() == b'keep me'
    proc = subprocess.run([sys.executable, str(TOOL), str(src), str(dst)], capture_output=True, text=True,
                          cwd=REPO_ROOT)
    assert proc.returncode != 0 and 'already exists' in proc.stderr and dst.read_bytes() == b'keep me'
    proc = subprocess.run([sys.executable, str(TOOL), str(src), str(dst), '--force'], capture_output=True,
                          text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 1126 tensors' in proc.stdout and 'PyramidBox' in proc.stderr
    assert len(torch.load(dst, weights_only=True)['state_dict']) == 1126


@pytest.mark.slow
@pytest.mark.parametrize('damage', ['missing', 'shape'])
def test_incomplete_release_is_refused_without_config(tmp_path, damage):
    """The tool without --config checks the conversion against the release's own model (the library function
    against the config it is given): a file that lacks a tensor or has one of another shape is refused, naming it,
    and nothing is written. Before, the tool converted and saved it, and the mismatch only showed when the
    checkpoint was loaded for testing."""
    sd = release_state_dict()
    if damage == 'missing':
        del sd['layer3.0.5.conv2.weight']
    else:
        sd['cpm7.cpm2.weight'] = torch.zeros(256, 2048, 1, 1)  # the release's is (256, 2048, 3, 3)
    src, dst = tmp_path / 'truncated.pth', tmp_path / 'out.pth'
    torch.save(sd, src)
    expected = ('1 missing: backbone.body.layer3.5.conv2.weight' if damage == 'missing' else
                r'1 wrong shape: neck.enhance_blocks.3.trunk.weight \(256, 2048, 1, 1\) \(model: \(256, 2048, 3, 3\)\)')
    with pytest.raises(ValueError, match=r'truncated.pth: the converted weights do not fit the model of .*'
                                         r'dsfd_r152_release_widerface.py: ' + expected):
        convert_dsfd_checkpoint(str(src), str(dst), str(CONFIG))
    assert not dst.exists()
    proc = subprocess.run([sys.executable, str(TOOL), str(src), str(dst)], capture_output=True, text=True,
                          cwd=REPO_ROOT)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert re.search(r'error: .*truncated.pth: the converted weights do not fit the model of .*'
                     r'configs/dsfd/dsfd_r152_release_widerface.py: ' + expected, proc.stderr), proc.stderr[-2000:]
    assert not dst.exists()
