"""FaceDetector loads checkpoints strictly: weights of another architecture, NaN weights or a file that is no
checkpoint are refused with a message naming the file and the keys; partial loading is an explicit opt-in."""
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdet_face.apis import CheckpointMismatchError, FaceDetector

TOY = Path(__file__).resolve().parents[2] / 'configs' / 'toy'
SCRFD_TOY = str(TOY / 'scrfd_toy_kps.py')
RETINAFACE_TOY = str(TOY / 'retinaface_toy_mnet025.py')


@pytest.fixture(scope='module')
def scrfd_state():
    """The state dict of a toy SCRFD with non-trivial BN statistics, saved before any BN folding."""
    det = FaceDetector(SCRFD_TOY, optimize=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in det.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return {k: v.clone() for k, v in det.model.state_dict().items()}


def _image(seed=0, shape=(96, 128, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path, state, **meta):
    torch.save({'state_dict': state, 'meta': meta}, path)
    return str(path)


def test_other_architecture_is_refused(tmp_path, scrfd_state):
    """Before: strict=False loaded the few matching keys and a random RetinaFace head detected thousands of
    'faces'. Now the error names the file, the config, missing and unexpected keys and the recorded origin."""
    ckpt = _save(tmp_path / 'scrfd.pth', scrfd_state, experiment_name='scrfd_toy_kps_20240101_120000')
    with pytest.raises(CheckpointMismatchError) as info:
        FaceDetector(RETINAFACE_TOY, ckpt)
    message = str(info.value)
    assert message.startswith(f'{ckpt} does not fit the model of {RETINAFACE_TOY}')
    # no key is shared: every RetinaFace weight is missing, every SCRFD weight unexpected, and both are named
    n_model, n_ckpt = 300, len(scrfd_state)
    assert f'{n_model} of {n_model} model weights are missing from the checkpoint (backbone.stage1.0.conv.weight' \
        in message
    assert f'{n_ckpt} checkpoint weights are not in the model (backbone.stem.0.0.weight' in message
    assert 'trained as scrfd_toy_kps.' in message
    assert '--partial-load' in message
    # nothing of it fits, so even an explicit partial load is refused instead of running a random model
    expected = f"{ckpt}: none of the checkpoint's weights fits the model of {RETINAFACE_TOY}, not even as a partial"
    with pytest.raises(CheckpointMismatchError, match=expected):
        FaceDetector(RETINAFACE_TOY, ckpt, strict=False)


def test_own_config_loads_exactly(tmp_path, scrfd_state):
    ckpt = _save(tmp_path / 'scrfd.pth', scrfd_state)
    loaded = FaceDetector(SCRFD_TOY, ckpt, optimize=False)
    for key, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, scrfd_state[key], rtol=0, atol=0, msg=key)
    # the optimised detector (BN folded after loading) gives the same detections as the plain one
    fast = FaceDetector(SCRFD_TOY, ckpt)
    img = _image()
    a, b = loaded(img, score_thr=0.05), fast(img, score_thr=0.05)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=1e-4)


def test_ddp_prefix_and_bare_state_dict(tmp_path, scrfd_state):
    path = tmp_path / 'bare.pth'
    torch.save({f'module.{k}': v for k, v in scrfd_state.items()}, path)
    det = FaceDetector(SCRFD_TOY, str(path), optimize=False)
    key = 'bbox_head.cls_stride_convs.(8, 8).0.depthwise_conv.bn.running_mean'
    torch.testing.assert_close(det.model.state_dict()[key], scrfd_state[key], rtol=0, atol=0)


def test_partial_load_on_purpose(tmp_path, scrfd_state):
    """strict=False loads the matching weights and warns with the missing keys; strict (default) refuses."""
    no_head = {k: v for k, v in scrfd_state.items() if not k.startswith('bbox_head.')}
    ckpt = _save(tmp_path / 'backbone_only.pth', no_head)
    with pytest.raises(CheckpointMismatchError, match=r'of \d+ model weights are missing .*\(bbox_head\.'):
        FaceDetector(SCRFD_TOY, ckpt)
    from mmengine.logging import MMLogger
    logged = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = MMLogger.get_current_instance()  # print_log(logger='current') writes here
    logger.addHandler(handler)
    try:
        det = FaceDetector(SCRFD_TOY, ckpt, strict=False, optimize=False)
    finally:
        logger.removeHandler(handler)
    assert len(logged) == 1 and logged[0].startswith(f'partial load: loaded 194 of 284 weights from {ckpt}. {ckpt} '
                                                     'does not fit')
    logged = logged[0]
    assert '90 of 284 model weights are missing from the checkpoint (bbox_head.' in logged
    state = det.model.state_dict()
    backbone_key = next(k for k in no_head if k.startswith('backbone.') and k.endswith('running_mean'))
    torch.testing.assert_close(state[backbone_key], no_head[backbone_key], rtol=0, atol=0)
    assert len(det(_image(), score_thr=0.0)) > 0


def test_nan_weight_is_refused(tmp_path, scrfd_state):
    state = dict(scrfd_state)
    key = next(k for k in state if k.endswith('conv.weight'))
    state[key] = state[key].clone()
    state[key].view(-1)[3] = float('nan')
    ckpt = _save(tmp_path / 'diverged.pth', state)
    for strict in (True, False):  # no partial mode makes a NaN weight usable
        with pytest.raises(CheckpointMismatchError, match=rf'{ckpt}: 1 weight tensor\(s\) hold NaN or inf .*{key}'):
            FaceDetector(SCRFD_TOY, ckpt, strict=strict)


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('these are not weights\n')
    with pytest.raises(CheckpointMismatchError, match=f'{text}: not a readable PyTorch checkpoint'):
        FaceDetector(SCRFD_TOY, str(text))
    no_tensors = tmp_path / 'meta_only.pth'
    torch.save({'meta': {'epoch': 3}}, no_tensors)
    with pytest.raises(CheckpointMismatchError, match=f'{no_tensors}: holds no weights'):
        FaceDetector(SCRFD_TOY, str(no_tensors))
    with pytest.raises(FileNotFoundError, match='missing.pth: no such checkpoint file'):
        FaceDetector(SCRFD_TOY, str(tmp_path / 'missing.pth'))


class _Payload:
    """Pickles as a call: the safe loader must refuse it; an unsafe one would run it."""
    ran = []

    def __reduce__(self):
        return _Payload.ran.append, ('ran',)


def test_unsafe_pickle_is_refused_without_unsafe_advice(tmp_path, scrfd_state):
    """Before: 'not a readable PyTorch checkpoint (UnpicklingError: Weights only load failed. This file can still
    be loaded ...' — torch's advice to load it unsafely."""
    crafted = tmp_path / 'crafted.pth'
    torch.save({'state_dict': dict(scrfd_state), 'meta': {'note': _Payload()}}, crafted)
    with pytest.raises(CheckpointMismatchError) as info:
        FaceDetector(SCRFD_TOY, str(crafted))
    message = str(info.value)
    assert message.startswith(f'{crafted}: contains objects that are not allowed to load (')
    assert 'weights_only=False' not in message and 'can still be loaded' not in message
    assert _Payload.ran == []


def test_blocked_module_global_and_garbage_are_told_apart(tmp_path):
    """A pickle of os.system (a blocked module: torch words it differently from an unlisted global) is refused as
    unsafe; bytes that are no pickle at all are 'not a readable checkpoint', never 'objects not allowed', and
    neither message carries torch's advice to load unsafely (the garbage case was called unsafe before)."""
    import os
    import pickle
    blocked = tmp_path / 'blocked.pth'
    blocked.write_bytes(pickle.dumps({'state_dict': os.system}, protocol=2))
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(bytes(range(200, 256)) * 4)
    with pytest.raises(CheckpointMismatchError) as info:
        FaceDetector(SCRFD_TOY, str(blocked))
    assert str(info.value).startswith(f'{blocked}: contains objects that are not allowed to load (')
    assert 'system' in str(info.value)
    with pytest.raises(CheckpointMismatchError) as info:
        FaceDetector(SCRFD_TOY, str(garbage))
    assert str(info.value) == f'{garbage}: not a readable PyTorch checkpoint (UnpicklingError: Unsupported operand 200)'


def test_shape_mismatch_is_refused(tmp_path, scrfd_state):
    state = dict(scrfd_state)
    key = next(k for k in state if k.startswith('bbox_head.') and k.endswith('conv.weight'))
    state[key] = torch.zeros((1,) + tuple(state[key].shape[1:]))
    ckpt = _save(tmp_path / 'reshaped.pth', state)
    with pytest.raises(CheckpointMismatchError, match=r'1 weights differ in shape \(' + key.replace('(', r'\(')
                       .replace(')', r'\)').replace('.', r'\.')):
        FaceDetector(SCRFD_TOY, ckpt)


def test_no_checkpoint_warns_once(tmp_path, scrfd_state):
    """Before: FaceDetector(config) ran the random initial weights without a word."""
    from mmengine.config import Config

    from mmdet_face.apis import RandomWeightsWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        FaceDetector(SCRFD_TOY)
        FaceDetector(Config.fromfile(RETINAFACE_TOY))
        FaceDetector(SCRFD_TOY, _save(tmp_path / 'scrfd.pth', scrfd_state))  # trained weights given: no warning
    random_weights = [w for w in caught if issubclass(w.category, RandomWeightsWarning)]
    assert [str(w.message).split(',')[0] for w in random_weights] == ['FaceDetector: no checkpoint given'] * 2
    assert f'the model of {SCRFD_TOY} runs with its initial (random) weights' in str(random_weights[0].message)
    assert f'the model of {RETINAFACE_TOY} runs' in str(random_weights[1].message)
    assert all(w.filename == __file__ for w in random_weights)  # points at the caller's line


def test_onnx_file_is_refused_with_the_converter_named(tmp_path):
    """FaceDetector runs PyTorch weights: an .onnx model gets the way to convert it, not torch's unpickling error."""
    onnx = pytest.importorskip('onnx')
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'g',
                              [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])])
    path = tmp_path / 'model.onnx'
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(CheckpointMismatchError, match=f'{path}: an ONNX model, not a PyTorch checkpoint; convert a '
                                                      r'released SCRFD .onnx first \(tools/model_converters/'):
        FaceDetector(SCRFD_TOY, str(path))
