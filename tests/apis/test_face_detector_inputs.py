"""FaceDetector inputs: truncated files, array dtypes and value ranges, PIL images, call arguments and letterbox
boxes are either handled exactly as documented or refused with a clear error, never turned into wrong detections."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdet_face.apis.face_detector import FaceDetector, _jpeg_is_complete, read_image
from tests.helpers.paths import shared_path
from tests.helpers.paths import REPO_ROOT as REPO

TOY = str(REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py')
KPS_CONFIG = REPO / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


@pytest.fixture(scope='module')
def detector():
    return FaceDetector(TOY)


def _photo(seed=0, shape=(120, 160, 3)):
    """A smooth random picture (JPEG-friendly) as BGR uint8."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (5, 5), 0)


def _jpeg(img, **params):
    flags = [v for k, val in params.items() for v in (getattr(cv2, k), val)]
    ok, encoded = cv2.imencode('.jpg', img, flags)
    assert ok
    return encoded.tobytes()


# ---------------------------------------------------------------- truncated files
def test_truncated_jpeg_is_refused(tmp_path, detector):
    """Before: libjpeg filled the missing half with grey and the detector ran on it (exit code 0)."""
    data = _jpeg(_photo())
    whole = tmp_path / 'whole.jpg'
    whole.write_bytes(data)
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:len(data) // 2])
    assert cv2.imread(str(cut)) is not None  # OpenCV alone accepts it
    assert len(detector(str(whole), score_thr=0.0)) > 0
    with pytest.raises(ValueError, match=f'{cut}: truncated or damaged JPEG'):
        detector(str(cut), score_thr=0.0)
    with pytest.raises(ValueError, match='cut.jpg: truncated'):  # in a list too, naming the bad file
        detector([str(whole), str(cut)])


def test_truncated_real_photo_is_refused(tmp_path, detector):
    data = shared_path('real', 'images', 'test.jpg').read_bytes()
    cut = tmp_path / 'test_half.jpg'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=f'{cut}: truncated or damaged JPEG'):
        detector(str(cut))


def test_jpeg_completeness_check():
    img = _photo(1)
    plain = _jpeg(img)
    progressive = _jpeg(img, IMWRITE_JPEG_PROGRESSIVE=1)
    restarts = _jpeg(img, IMWRITE_JPEG_RST_INTERVAL=2)
    # an EXIF-like APP1 segment holding a thumbnail JPEG (with its own FF D9) before the image's scan
    thumb = b'Exif\x00\x00' + _jpeg(img[:16, :16])
    with_thumb = plain[:2] + b'\xff\xe1' + (len(thumb) + 2).to_bytes(2, 'big') + thumb + plain[2:]
    for data in (plain, progressive, restarts, with_thumb):
        assert _jpeg_is_complete(data)
        assert _jpeg_is_complete(data + b'\x00' * 16 + b'appended video data')  # data after the end marker
        assert not _jpeg_is_complete(data[:-2])  # exactly the end marker missing
        assert not _jpeg_is_complete(data[:len(data) * 3 // 4])
    assert not _jpeg_is_complete(with_thumb[:len(with_thumb) - len(plain) // 2])  # the thumbnail's marker ignored


def test_truncated_png_is_refused(tmp_path, detector):
    ok, encoded = cv2.imencode('.png', _photo(2))
    data = encoded.tobytes()
    for name, cut in (('half.png', data[:len(data) // 2]), ('no_end.png', data[:-12])):
        path = tmp_path / name
        path.write_bytes(cut)
        with pytest.raises(ValueError, match=f'{path}: not a readable image'):
            detector(str(path))


def test_not_an_image_file(tmp_path, detector):
    path = tmp_path / 'notes.jpg'
    path.write_text('hello')
    with pytest.raises(ValueError, match=f'{path}: not a readable image'):
        detector(str(path))
    with pytest.raises(FileNotFoundError, match='nothere.png: no such image file'):
        detector(tmp_path / 'nothere.png')  # a pathlib.Path works as a path


# ---------------------------------------------------------------- array dtypes and ranges
def test_float_and_uint16_are_scaled_like_uint8(detector):
    """Before: a float image in 0..1 was clipped to 0/1 and a uint16 image to 255, so both found nothing."""
    img = _photo(3)
    ref = detector(img, score_thr=0.05)
    assert len(ref) > 0
    variants = {
        'float32 0..1': img.astype(np.float32) / 255,
        'float64 0..1': img.astype(np.float64) / 255,
        'float32 0..255': img.astype(np.float32),
        'float16 0..1': (img.astype(np.float32) / 255).astype(np.float16),
        'uint16': img.astype(np.uint16) * 257,
        'int64 0..255': img.astype(np.int64),
    }
    for name, array in variants.items():
        np.testing.assert_array_equal(read_image(array), img, err_msg=name)
        got = detector(array, score_thr=0.05)
        np.testing.assert_array_equal(got.scores, ref.scores, err_msg=name)
        np.testing.assert_array_equal(got.bboxes, ref.bboxes, err_msg=name)


def test_conversion_values():
    np.testing.assert_array_equal(read_image(np.array([[0, 128, 256, 65535]], np.uint16))[..., 0],
                                  [[0, 0, 1, 255]])
    np.testing.assert_array_equal(read_image(np.array([[0.0, 0.5, 1.0]], np.float32))[..., 0], [[0, 128, 255]])
    np.testing.assert_array_equal(read_image(np.array([[0.0, 2.4, 254.6]], np.float32))[..., 0], [[0, 2, 255]])
    bgra = np.dstack([_photo(4), np.full((120, 160), 7, np.uint8)])
    np.testing.assert_array_equal(read_image(bgra), bgra[..., :3])


@pytest.mark.parametrize('array, error, message', [
    (np.full((8, 8, 3), 1.5) * [1, 1, 200], ValueError, r'0\.\.1 or 0\.\.255, got 1\.5\.\.300'),
    (np.full((8, 8, 3), -0.25), ValueError, r'got -0\.25\.\.-0\.25'),
    (np.where(np.eye(8)[..., None] > 0, np.nan, 0.5) * np.ones(3), ValueError, 'NaN or infinite'),
    (np.full((8, 8, 3), np.inf, np.float32), ValueError, 'NaN or infinite'),
    (np.full((8, 8, 3), 300, np.int32), ValueError, 'int32 must hold values in 0..255, got 300..300'),
    (np.full((8, 8, 3), -1, np.int8), ValueError, 'int8 must hold values in 0..255, got -1..-1'),
    (np.ones((8, 8, 3), bool), TypeError, 'bool array'),
    (np.ones((8, 8, 3), np.complex64), TypeError, 'dtype complex64'),
    (np.full((8, 8, 3), None, object), TypeError, 'dtype object'),
    (np.zeros((8, 8, 2), np.uint8), ValueError, r'got shape \(8, 8, 2\)'),
    (np.zeros((3, 8, 8, 3), np.uint8), ValueError, r'got shape \(3, 8, 8, 3\)'),
    (np.zeros((0, 8, 3), np.uint8), ValueError, 'empty image'),
    ([[0, 1], [2, 3]], TypeError, 'got list'),
])
def test_bad_arrays_are_refused(detector, array, error, message):
    with pytest.raises(error, match=message):
        detector(array)


# ---------------------------------------------------------------- PIL images
def test_pil_images_are_converted_from_their_mode(detector):
    """Before: np.asarray(PIL RGB image) was taken as BGR, so red and blue were swapped."""
    Image = pytest.importorskip('PIL.Image')
    bgr = _photo(5)
    rgb = Image.fromarray(bgr[..., ::-1].copy(), 'RGB')
    np.testing.assert_array_equal(read_image(rgb), bgr)
    np.testing.assert_array_equal(read_image(rgb.convert('RGBA')), bgr)
    np.testing.assert_array_equal(read_image(rgb.convert('RGBX')), bgr)
    ref = detector(bgr, score_thr=0.05)
    got = detector(rgb, score_thr=0.05)
    assert len(ref) > 0
    np.testing.assert_array_equal(got.scores, ref.scores)
    np.testing.assert_array_equal(got.bboxes, ref.bboxes)

    gray = bgr[..., 1]
    np.testing.assert_array_equal(read_image(Image.fromarray(gray, 'L')), np.repeat(gray[..., None], 3, 2))
    np.testing.assert_array_equal(read_image(Image.fromarray(gray, 'L').convert('LA')),
                                  np.repeat(gray[..., None], 3, 2))
    sixteen = Image.fromarray(gray.astype(np.uint16) * 257)
    assert sixteen.mode.startswith('I;16')
    np.testing.assert_array_equal(read_image(sixteen), np.repeat(gray[..., None], 3, 2))
    palette = rgb.convert('P', palette=Image.Palette.ADAPTIVE, colors=16)
    np.testing.assert_array_equal(read_image(palette), np.asarray(palette.convert('RGB'))[..., ::-1])
    np.testing.assert_array_equal(read_image(Image.fromarray(gray, 'L').convert('1'))[..., 0] % 255, 0)
    with pytest.raises(ValueError, match='0..1 or 0..255'):
        read_image(Image.fromarray(np.full((4, 4), 400.0, np.float32), 'F'))


# ---------------------------------------------------------------- call arguments
@pytest.mark.parametrize('kwargs, message', [
    (dict(max_size=0), 'max_size must be a positive int'),
    (dict(max_size=-320), 'max_size must be a positive int'),
    (dict(max_size=320.0), 'max_size must be a positive int'),
    (dict(max_size=True), 'max_size must be a positive int'),
    (dict(batch_size=0), 'batch_size must be a positive int'),
    (dict(batch_size=2.5), 'batch_size must be a positive int'),
    (dict(nms_thr=-0.1), r'nms_thr must be an IoU threshold in \[0, 1\]'),
    (dict(nms_thr=1.5), r'nms_thr must be an IoU threshold in \[0, 1\]'),
    (dict(nms_thr=float('nan')), r'nms_thr must be an IoU threshold in \[0, 1\], got nan'),
    (dict(score_thr=float('nan')), 'score_thr must be a number, got nan'),
    (dict(score_thr='0.5'), 'score_thr must be a number'),
])
def test_bad_call_arguments_fail_before_any_work(detector, kwargs, message):
    """Checked before the images are read: a missing file does not get the chance to raise first."""
    with pytest.raises(ValueError, match=message):
        detector('/nonexistent/photo.jpg', **kwargs)


def test_letterbox_must_be_positive():
    for bad in (0, -640, 640.0):
        with pytest.raises(ValueError, match='letterbox must be a positive int'):
            FaceDetector(TOY, letterbox=bad)


# ---------------------------------------------------------------- letterbox boxes inside the image
def test_letterbox_boxes_clipped_to_image(detector, monkeypatch):
    """50 x 90 at letterbox 64: resized to 64 x 35, scale 0.7 from the height, so the clipped input width maps back
    to 64 / 0.7 = 91.4 px. Before: boxes reached 91.4 on the 90-px-wide image. Keypoints are not clipped (as in the
    config's pipeline), and boxes inside the image are unchanged."""
    import torch
    det = FaceDetector(TOY, letterbox=64)
    with torch.no_grad():  # boxes of 2 strides on each side: those near the right edge cross it
        for conv in det.head.stride_reg.values():
            conv.bias.fill_(2.0)
    img = _photo(6, (50, 90, 3))
    faces = det(img, score_thr=0.0)
    assert len(faces) > 0
    assert faces.bboxes[:, [0, 2]].min() >= 0 and faces.bboxes[:, [0, 2]].max() == 90
    assert faces.bboxes[:, [1, 3]].min() >= 0 and faces.bboxes[:, [1, 3]].max() <= 50
    monkeypatch.setattr(det, 'clip_boxes', False)  # the head's boxes, clipped to the network input only
    raw = det(img, score_thr=0.0)
    assert raw.bboxes[:, 2].max() == pytest.approx(64 / 0.7, abs=1e-3)
    np.testing.assert_array_equal(faces.scores, raw.scores)
    np.testing.assert_array_equal(faces.keypoints, raw.keypoints)
    np.testing.assert_array_equal(faces.bboxes, np.clip(raw.bboxes, 0, [90, 50, 90, 50]))


def test_letterbox_real_photo_boxes_inside(tmp_path):
    """The released SCRFD-500M on a 1024 x 687 WIDER photo at letterbox 640: before, a face at the right edge
    ended at x = 1024.9."""
    pytest.importorskip('onnx')
    from mmdet_face.deployment import convert_scrfd_onnx
    onnx_path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    img_path = shared_path('real', 'images', '0_Parade_Parade_0_873.jpg')
    ckpt = tmp_path / 'scrfd.pth'
    convert_scrfd_onnx(str(onnx_path), str(KPS_CONFIG), str(ckpt))
    faces = FaceDetector(str(KPS_CONFIG), str(ckpt), letterbox=640)(str(img_path), score_thr=0.3)
    assert len(faces) > 50
    assert faces.bboxes[:, [0, 2]].min() >= 0 and faces.bboxes[:, [1, 3]].min() >= 0
    assert faces.bboxes[:, 2].max() == 1024 and faces.bboxes[:, 3].max() <= 687
