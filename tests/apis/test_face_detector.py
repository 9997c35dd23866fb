"""FaceDetector input handling and output types (random weights; real weights where ../shared has them)."""
from pathlib import Path

import numpy as np
import pytest

from mmdet_face.apis.face_detector import FaceDetections, FaceDetector
from tests.conftest import shared_path

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
