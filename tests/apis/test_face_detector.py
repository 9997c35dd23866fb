"""FaceDetector input handling and output types (random weights; real weights where ../shared has them)."""
from pathlib import Path

import numpy as np
import pytest

from mmdet_face.apis.face_detector import FaceDetections, FaceDetector
from tests.helpers.paths import shared_path

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'scrfd'
KPS_CONFIG = CONFIGS / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'
NO_KPS_CONFIG = CONFIGS / 'scrfd_500m_4xb8-640e_widerface.py'


@pytest.fixture(scope='module')
def detector():
    return FaceDetector(str(KPS_CONFIG))


def _check(faces, with_keypoints=True):
    assert isinstance(faces, FaceDetections)
    n = len(faces)
    assert faces.bboxes.shape == (n, 4) and faces.bboxes.dtype == np.float32
    assert faces.scores.shape == (n,) and faces.scores.dtype == np.float32
    if with_keypoints:
        assert faces.keypoints.shape == (n, 5, 2) and faces.keypoints.dtype == np.float32
    else:
        assert faces.keypoints is None
    if n:
        assert np.all(np.diff(faces.scores) <= 1e-6)  # sorted by score


def _noise(h, w, channels=3, seed=0):
    shape = (h, w) if channels is None else (h, w, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_single_image_and_path(detector, tmp_path):
    cv2 = pytest.importorskip('cv2')
    img = _noise(120, 160)
    faces = detector(img, score_thr=0.0)
    _check(faces)
    assert len(faces) > 0  # score_thr 0 keeps everything NMS leaves
    assert faces.bboxes[:, [0, 2]].max() <= 160 and faces.bboxes[:, [1, 3]].max() <= 120
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), img)
    from_path = detector(str(path), score_thr=0.0)
    np.testing.assert_allclose(from_path.scores, faces.scores, atol=1e-6)


def test_list_returns_list(detector):
    images = [_noise(100, 90, seed=1), _noise(64, 200, seed=2), _noise(48, 48, seed=3)]
    results = detector(images, score_thr=0.0, batch_size=2)
    assert isinstance(results, list) and len(results) == 3
    for faces, img in zip(results, images):
        _check(faces)
    single = detector(images[1], score_thr=0.0)
    np.testing.assert_allclose(results[1].scores[:5], single.scores[:5], atol=1e-4)
    assert detector([], score_thr=0.5) == []


def test_no_faces(detector):
    faces = detector(np.full((96, 128, 3), 127, np.uint8), score_thr=1.01)  # nothing can pass
    _check(faces)
    assert len(faces) == 0


def test_no_faces_real_weights(tmp_path):
    pytest.importorskip('onnx')
    from mmdet_face.deployment import convert_scrfd_onnx
    onnx_path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    ckpt = tmp_path / 'scrfd.pth'
    convert_scrfd_onnx(str(onnx_path), str(KPS_CONFIG), str(ckpt))
    faces = FaceDetector(str(KPS_CONFIG), str(ckpt))(np.full((240, 320, 3), 127, np.uint8), score_thr=0.5)
    _check(faces)
    assert len(faces) == 0


@pytest.mark.parametrize('shape', [(80, 100), (80, 100, 1)])
def test_grayscale(detector, shape):
    gray = _noise(80, 100, channels=None).reshape(shape)
    faces = detector(gray, score_thr=0.0)
    _check(faces)
    color = detector(np.repeat(gray.reshape(80, 100, 1), 3, axis=2), score_thr=0.0)
    np.testing.assert_allclose(faces.scores, color.scores, atol=1e-6)


def test_image_smaller_than_stride(detector):
    for h, w in [(5, 7), (1, 1), (31, 20)]:
        faces = detector(_noise(h, w), score_thr=0.0)
        _check(faces)


def test_letterbox_mode():
    det = FaceDetector(str(KPS_CONFIG), letterbox=64)
    _check(det(_noise(50, 90), score_thr=0.0))
    _check(det([_noise(90, 50), _noise(3, 3)], score_thr=0.0)[1])


def test_config_without_keypoints():
    det = FaceDetector(str(NO_KPS_CONFIG))
    faces = det(_noise(64, 64), score_thr=0.0)
    _check(faces, with_keypoints=False)
    _check(det(_noise(64, 64), score_thr=1.01), with_keypoints=False)


def test_bad_input(detector):
    with pytest.raises(FileNotFoundError):
        detector('/nonexistent/photo.jpg')
    with pytest.raises(ValueError):
        detector(np.zeros((4, 4, 2), np.uint8))


def _photo_or_noise():
    cv2 = pytest.importorskip('cv2')
    photo = shared_path('real', 'images', 'test.jpg')
    if photo is not None and Path(photo).is_file():
        return cv2.imread(str(photo))
    rng = np.random.default_rng(7)
    img = cv2.GaussianBlur(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8), (7, 7), 0)
    return img


@pytest.mark.slow
def test_optimized_model_matches_plain_model():
    """BN folding + channels-last change nothing but float rounding, and really happen."""
    import torch
    img = _photo_or_noise()
    plain = FaceDetector(str(KPS_CONFIG), optimize=False)
    torch.manual_seed(0)
    for m in plain.model.modules():  # non-trivial BN statistics, so folding has something to fold
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    fast = FaceDetector(str(KPS_CONFIG), optimize=False)
    fast.model.load_state_dict(plain.model.state_dict())
    from mmdet_face.apis.cpu_runtime import optimize_for_inference
    fast.model = optimize_for_inference(fast.model, torch.device('cpu'))
    fast.head = fast.model.bbox_head
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.model.modules())
    import copy

    from mmcv.cnn import fuse_conv_bn
    folded_keys = set(fuse_conv_bn(copy.deepcopy(plain.model).eval()).state_dict())
    assert set(fast.model.state_dict()) == folded_keys  # the ReLU fusion keeps every module in place
    from mmdet_face.apis.cpu_runtime import ConvReLU2d, fused_conv_relu_available
    if fused_conv_relu_available():  # every ReLU of SCRFD-500M follows a conv: all run inside the conv call
        assert not any(type(m) is torch.nn.ReLU for m in fast.model.modules())
        assert sum(type(m) is ConvReLU2d for m in fast.model.modules()) == 41
    convs = [m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    a = plain(img, score_thr=0.05)
    b = fast(img, score_thr=0.05)
    assert len(a) > 10 and len(a) == len(b)
    np.testing.assert_allclose(b.scores, a.scores, atol=1e-4)
    # random weights give many near-equal scores, whose order may differ: match every box to its twin
    rows_a = np.concatenate([a.bboxes, a.keypoints.reshape(len(a), -1)], 1)
    rows_b = np.concatenate([b.bboxes, b.keypoints.reshape(len(b), -1)], 1)
    dist = np.abs(rows_a[:, None, :] - rows_b[None, :, :]).max(-1)
    assert dist.min(1).max() < 1e-2 and dist.min(0).max() < 1e-2


def test_fp16_autocast_runs_and_agrees():
    """fp16=True runs the network under float16 autocast (the CUDA default; checked here on the CPU)."""
    import torch
    img = _photo_or_noise()
    ref = FaceDetector(str(KPS_CONFIG))
    half = FaceDetector(str(KPS_CONFIG), fp16=True)
    half.model.load_state_dict(ref.model.state_dict())
    assert half.fp16 and not ref.fp16
    dtypes = []
    conv = next(m for m in half.model.modules() if isinstance(m, torch.nn.Conv2d))
    hook = conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    try:
        _check(half(img, score_thr=0.0))
    finally:
        hook.remove()
    assert dtypes == [torch.float16]
    x = torch.from_numpy(np.ascontiguousarray(img[:256, :256].transpose(2, 0, 1))).float()[None] / 128 - 1
    with torch.no_grad():
        full = ref.model._forward(x)
        with torch.autocast('cpu', dtype=torch.float16):
            low = half.model._forward(x)
    for level_full, level_low in zip(full[1], low[1]):  # box regression: values of order 1
        assert level_low.dtype == torch.float16
        err = (level_low.float() - level_full).abs().max().item()
        assert err < 2e-2 * max(1.0, level_full.abs().max().item())


ALL_CONFIGS = sorted(p for p in (CONFIGS.parent).glob('*/*.py') if p.parent.name != '_base_')


@pytest.mark.parametrize('config', ALL_CONFIGS, ids=lambda p: f'{p.parent.name}/{p.stem}')
def test_every_config_runs(config):
    """FaceDetector works for every face config (optimised: BN folded, channels-last)."""
    det = FaceDetector(str(config))
    faces = det(_noise(90, 120, seed=4), score_thr=0.0, max_size=128)
    has_kps = getattr(det.head, 'use_kps', False) or type(det.head).__name__ == 'RetinaFaceHead'
    _check(faces, with_keypoints=has_kps)
    assert len(faces) > 0 and np.isfinite(faces.bboxes).all()
    # the RetinaFace and DSFD releases do not clip boxes; we match them
    if type(det.head).__name__ not in ('RetinaFaceHead', 'DSFDHead'):
        assert (faces.bboxes[:, [0, 2]] <= 120 + 1e-3).all() and (faces.bboxes[:, [1, 3]] <= 90 + 1e-3).all()


def test_conv_relu_fusion_falls_back(monkeypatch):
    """Without the fused op nothing is fused; a fused conv given float64 or run under autocast computes conv + ReLU
    the plain way."""
    import torch
    from mmdet_face.apis import cpu_runtime as rt
    available = rt.fused_conv_relu_available()
    monkeypatch.setattr(rt, 'fused_conv_relu_available', lambda: False)
    det = FaceDetector(str(KPS_CONFIG))
    assert sum(type(m) is torch.nn.ReLU for m in det.model.modules()) == 41
    assert not any(isinstance(m, rt.ConvReLU2d) for m in det.model.modules())

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(1, 4, 5, 7)
    ref = torch.relu(conv(x)).detach()
    conv.__class__ = rt.ConvReLU2d
    calls = []
    fused = rt._fused_conv_relu
    monkeypatch.setattr(rt, '_fused_conv_relu', lambda c, t: calls.append(t.shape) or fused(c, t))
    with torch.no_grad():
        torch.testing.assert_close(conv(x), ref, atol=1e-5, rtol=1e-5)  # small input: conv + ReLU
        assert calls == [] and (ref == 0).any()
        monkeypatch.setattr(rt.ConvReLU2d, 'FUSE_MIN_NUMEL', 0)
        if available:
            torch.testing.assert_close(conv(x), ref, atol=1e-5, rtol=1e-5)  # the fused oneDNN call
            assert calls == [x.shape]
        conv64 = conv.double()
        torch.testing.assert_close(conv64(x.double()), ref.double(), atol=1e-5, rtol=1e-5)
        conv.float()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = conv(x)
        assert low.dtype == torch.bfloat16  # autocast applied: the plain path ran
        assert len(calls) <= 1
        torch.testing.assert_close(low.float(), ref, atol=5e-2, rtol=5e-2)
