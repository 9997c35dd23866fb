"""A converted BN-folded SCRFD release is a trainable checkpoint of the BN config (docs/finetune.md).

On the real ``scrfd_500m_bnkps.onnx`` where ``../shared`` has it, else on random weights in its layout (BN folded
into the convolutions, ``tests/helpers/release_weights.py``): the converted checkpoint loads strictly into
``configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py``; every BN is an identity BN; the model's outputs before any
training step are the ONNX file's (onnxruntime); after :func:`calibrate_folded_batchnorms` they still are, and the
training-mode forward on the calibration batch is the release's too (without calibration it is not); a training
step from it has finite losses and gradients and changes the weights.
"""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_face.apis.checkpoint import load_face_checkpoint
from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment import convert_scrfd_onnx
from mmdet_face.engine.hooks import calibrate_folded_batchnorms, identity_batchnorms
from tests.helpers.paths import SHARED_DIR
from tests.helpers.release_weights import SCRFD_BN_CONFIG, scrfd_release_onnx

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
REAL = SHARED_DIR / 'real' / 'weights' / 'scrfd_500m_bnkps.onnx'
SIZE = 640  # the released file's fixed input size


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """(ONNX file, converted checkpoint): the real release, else random weights in its layout."""
    folder = tmp_path_factory.mktemp('scrfd_release')
    onnx_path = REAL if REAL.exists() else scrfd_release_onnx(folder / 'scrfd_500m_bnkps.onnx')
    ckpt = folder / 'scrfd_500m_bnkps.pth'
    convert_scrfd_onnx(str(onnx_path), str(SCRFD_BN_CONFIG), str(ckpt))
    return onnx_path, ckpt


def _model(ckpt):
    model = init_face_detector(str(SCRFD_BN_CONFIG))
    load_face_checkpoint(model, str(ckpt), strict=True)  # what tools/train.py's load_from check accepts
    return model.eval()


def _images(seed, n=2):
    """``n`` random images, normalised as the data preprocessor does."""
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32))


def _onnx_outputs(onnx_path, x):
    sess = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    name = sess.get_inputs()[0].name
    runs = [sess.run(None, {name: x[i:i + 1].numpy()}) for i in range(len(x))]  # the file's batch is 1
    names = [o.name for o in sess.get_outputs()]
    return {n: np.concatenate([run[k] for run in runs]) for k, n in enumerate(names)}


def _ours(model, x):
    """Our outputs in the file's layout: ``{score_s: (B, N, 1) sigmoid, bbox_s: (B, N, 4), kps_s: (B, N, 10)}``."""
    with torch.no_grad():
        cls_scores, bbox_preds, kps_preds = model._forward(x)
    out = {}
    for level, stride in enumerate((8, 16, 32)):
        for kind, t, c in (('score', cls_scores[level], 1), ('bbox', bbox_preds[level], 4),
                           ('kps', kps_preds[level], 10)):
            flat = t.permute(0, 2, 3, 1).reshape(len(x), -1, c).numpy()
            out[f'{kind}_{stride}'] = 1 / (1 + np.exp(-flat)) if kind == 'score' else flat
    return out


def _assert_release(ours, ref):
    for name, value in ref.items():
        np.testing.assert_allclose(ours[name], value, atol=1e-4 if name.startswith('score') else 1e-3, err_msg=name)


def _calibrate(model, x):
    return calibrate_folded_batchnorms(model, [x], lambda net, batch: net._forward(batch))


def test_converted_release_loads_strictly_with_identity_batchnorms(release):
    model = _model(release[1])
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 41 and identity_batchnorms(model) == bns
    for bn in bns:  # eval BN(x) = (x - 0) / sqrt(1 - eps + eps) * 1 + beta = x + beta, exactly
        x = torch.randn(2, bn.num_features, 3, 3)
        assert torch.equal(bn(x), x + bn.bias.detach()[None, :, None, None])


@pytest.mark.slow  # parity with the release through onnxruntime at 640 x 640
def test_outputs_before_training_are_the_release_and_stay_after_calibration(release):
    onnx_path, ckpt = release
    x = _images(0)
    ref = _onnx_outputs(onnx_path, x)
    model = _model(ckpt)
    _assert_release(_ours(model, x), ref)

    # training-mode BN normalises by the batch: the identity BNs then compute another network
    uncalibrated = _ours(_model(ckpt).train(), x)
    assert max(np.abs(uncalibrated[k] - ref[k]).max() for k in ref if k.startswith('bbox')) > 0.1

    assert _calibrate(model, x) == 41 and not identity_batchnorms(model)
    _assert_release(_ours(model, x), ref)
    model.train()  # on the calibration batch the batch statistics are the calibrated ones: the release again
    _assert_release(_ours(model, x), ref)


def _training_batch(model, n=2, size=320):
    """Packed inputs of ``n`` random images with two faces (boxes and five landmarks) each."""
    samples = []
    for _ in range(n):
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                             scale_factor=(1.0, 1.0)))
        boxes = torch.tensor([[40., 50., 120., 150.], [180., 60., 260., 160.]])
        keypoints = torch.stack([torch.stack([b[0] + (b[2] - b[0]) * fx, b[1] + (b[3] - b[1]) * fy])
                                 for b in boxes for fx, fy in ((.3, .4), (.7, .4), (.5, .6), (.35, .8), (.65, .8))])
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.zeros(2, dtype=torch.long),
                                           keypoints=keypoints.reshape(2, 5, 2), keypoints_weights=torch.ones(2, 5))
        sample.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator) for _ in range(n)]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


@pytest.mark.parametrize('calibrate', [False, True], ids=['identity_bn', 'calibrated'])
def test_a_training_step_from_the_release_is_finite(release, calibrate):
    model = _model(release[1])
    data = _training_batch(model)
    if calibrate:
        calibrate_folded_batchnorms(model, [data], lambda net, batch: net._forward(batch['inputs']))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_kps'} <= set(losses)
    total, log_vars = model.parse_losses(losses)  # what the runner's optimiser step uses
    values = [float(torch.as_tensor(log_vars[k]).detach()) for k in ('loss_cls', 'loss_bbox', 'loss_kps')]
    assert all(np.isfinite(v) and v > 0 for v in values), values
    optimizer.zero_grad()
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    optimizer.step()
    after = model.state_dict()
    assert all(bool(torch.isfinite(v).all()) for v in after.values() if v.is_floating_point())
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.endswith('conv.weight') or '.weight' in k for k in changed)


@pytest.mark.parametrize('change, skipped', [
    # data without landmarks: every weight of the model loads, the release's keypoint convs are left over
    (dict(use_kps=False), dict(unexpected=6, shape=0)),
    # one anchor per location instead of two: the output convs of each stride change shape and stay new
    (dict(anchor_generator=dict(scales=[1])), dict(unexpected=0, shape=18)),
], ids=['no_keypoints', 'one_anchor'])
def test_partial_load_into_a_changed_head(release, change, skipped):
    """docs/finetune.md, "Other changes": what --partial-load loads from the release into a changed head."""
    from mmengine.config import Config

    from mmdet_face.apis.checkpoint import CheckpointMismatchError, compare_state_dicts, fitting_weights, \
        read_checkpoint
    cfg = Config.fromfile(str(SCRFD_BN_CONFIG))
    cfg.model.bbox_head.update(change)
    model = init_face_detector(cfg)
    checkpoint = read_checkpoint(str(release[1]))
    with pytest.raises(CheckpointMismatchError):  # refused without --partial-load
        fitting_weights(model.state_dict(), checkpoint, 'release.pth')
    report = compare_state_dicts(model.state_dict(), checkpoint['state_dict'])
    assert len(report['unexpected']) == skipped['unexpected'] and len(report['shape']) == skipped['shape']
    assert not report['missing']
    notes = []
    loaded = fitting_weights(model.state_dict(), checkpoint, 'release.pth', strict=False, logger=notes.append)
    assert len(loaded) == len(model.state_dict()) - skipped['shape']
    assert notes[0].startswith(f'partial load: loaded {len(loaded)} of {len(model.state_dict())} weights')
    assert all(k.startswith('bbox_head.stride_') for k in report['unexpected'] + report['shape'])
