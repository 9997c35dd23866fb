"""Our SCRFD-0.5GF-kps reproduces the released ONNX model's outputs once its (BN-folded) weights are loaded.

The check covers the whole architecture (backbone, PAFPN, per-stride BN head, anchor layout and output order):
each ONNX conv's weight goes to our conv executed at the same position, and its folded bias to the conv's bias
or, for a conv followed by BN, to an identity BN's bias (``mmdet_face.deployment.load_scrfd_onnx_weights``).
The end-to-end test runs ``FaceDetector(letterbox=640)`` on the real photos against onnxruntime + insightface's
decoding written out here.
"""

import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment import convert_scrfd_onnx, load_scrfd_onnx_weights
from tests.helpers.paths import REPO_ROOT, shared_path

CONFIG = REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


def test_outputs_match_released_onnx():
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    model = init_face_detector(str(CONFIG))
    load_scrfd_onnx_weights(model, onnx.load(str(path)))

    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 640, 640)).astype(np.float32))
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x.numpy()})))
    with torch.no_grad():
        cls_scores, bbox_preds, kps_preds = model._forward(x)
    for level, stride in enumerate((8, 16, 32)):
        flat = [t.permute(0, 2, 3, 1).reshape(1, -1, c).numpy()
                for t, c in ((cls_scores[level], 1), (bbox_preds[level], 4), (kps_preds[level], 10))]
        np.testing.assert_allclose(1 / (1 + np.exp(-flat[0])), ref[f'score_{stride}'], atol=1e-4)
        np.testing.assert_allclose(flat[1], ref[f'bbox_{stride}'], atol=1e-3)
        np.testing.assert_allclose(flat[2], ref[f'kps_{stride}'], atol=1e-3)


def official_preprocess(img, size=640):
    """insightface ``SCRFD.detect``: letterbox into the top-left of a black canvas, (x - 127.5) / 128, RGB."""
    import cv2
    h, w = img.shape[:2]
    ratio = float(h) / w
    if ratio > 1.0:
        new_h, new_w = size, int(size / ratio)
    else:
        new_w, new_h = size, int(size * ratio)
    scale = float(new_h) / h
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
    blob = ((canvas[..., ::-1].astype(np.float32) - 127.5) / 128).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(blob), scale, (new_h, new_w)


def reference_decode(outputs, score_thr, nms_thr, scale, size=640, clip_shape=None, image_shape=None):
    """SCRFD's own post-processing of the ONNX outputs (insightface's python ``SCRFD.detect``), in numpy:
    2 anchors per location centred at (x * s, y * s), distances and keypoint offsets times the stride, score >=
    thr, rescale to the original image, greedy NMS with the +1-pixel area convention. ``clip_shape`` (h, w):
    clip boxes to the resized image first, as mmdet-face (and SCRFD's mmdet code) do. ``image_shape`` (h, w):
    then clip the kept boxes to the original image (FaceDetector's letterbox mode maps the clipped width back with
    the height's scale factor, past the image edge)."""
    boxes, scores, kpss = [], [], []
    for level, stride in enumerate((8, 16, 32)):
        score, dist, kps = (outputs[level][0], outputs[level + 3][0] * stride, outputs[level + 6][0] * stride)
        n = size // stride
        ys, xs = np.mgrid[:n, :n]
        centers = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, 2, axis=0).astype(np.float32)
        keep = score[:, 0] >= score_thr
        c = centers[keep]
        boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], 1))
        kpss.append(c[:, None] + kps[keep].reshape(-1, 5, 2))
        scores.append(score[keep, 0])
    boxes, scores, kpss = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kpss)
    if clip_shape is not None:
        boxes = np.clip(boxes, 0, [clip_shape[1], clip_shape[0]] * 2)
    boxes, kpss = (boxes / scale).astype(np.float32), kpss / scale  # NMS runs in original-image pixels
    order, keep = scores.argsort()[::-1], []
    area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)  # noqa: E731
    while order.size:
        i, order = order[0], order[1:]
        keep.append(i)
        tl = np.maximum(boxes[i, :2], boxes[order, :2])
        br = np.minimum(boxes[i, 2:], boxes[order, 2:])
        inter = np.prod(np.clip(br - tl + 1, 0, None), axis=1)
        order = order[inter / (area(boxes[i]) + area(boxes[order]) - inter) <= nms_thr]
    boxes = boxes[keep]
    if image_shape is not None:
        boxes = np.clip(boxes, 0, [image_shape[1], image_shape[0]] * 2)
    return boxes, scores[keep], kpss[keep]


IMAGES = ['0_Parade_Parade_0_873.jpg', '0_Parade_marchingband_1_765.jpg', '1.jpg',
          '11_Meeting_Meeting_11_Meeting_Meeting_11_176.jpg', '11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg',
          'example_det.jpg', 'test.jpg']


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    pytest.importorskip('onnx')
    path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    ckpt = tmp_path_factory.mktemp('scrfd') / 'scrfd_500m_bnkps.pth'
    convert_scrfd_onnx(str(path), str(CONFIG), str(ckpt))
    return path, ckpt


@pytest.mark.parametrize('score_thr', [0.5, 0.3])
def test_face_detector_matches_official_onnx_pipeline(converted, score_thr):
    """FaceDetector (letterbox mode) on the real photos == onnxruntime on the released file + official decoding:
    boxes within 0.01 px, scores within 1e-4, keypoints within 0.01 px, same number of faces."""
    ort = pytest.importorskip('onnxruntime')
    cv2 = pytest.importorskip('cv2')
    from mmdet_face.apis.face_detector import FaceDetector
    onnx_path, ckpt = converted
    sess = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    detector = FaceDetector(str(CONFIG), str(ckpt), letterbox=640)
    detector.head.test_cfg.nms['offset'] = 1  # insightface's NMS counts +1 pixel in widths and heights
    total = 0
    for name in IMAGES:
        img = cv2.imread(str(shared_path('real', 'images', name)))
        blob, scale, resized_shape = official_preprocess(img)
        ref_boxes, ref_scores, ref_kps = reference_decode(
            sess.run(None, {sess.get_inputs()[0].name: blob}), score_thr, 0.4, scale, clip_shape=resized_shape,
            image_shape=img.shape[:2])
        faces = detector(img, score_thr=score_thr, nms_thr=0.4)
        assert len(faces) == len(ref_scores), name
        np.testing.assert_allclose(faces.scores, ref_scores, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(faces.bboxes, ref_boxes, atol=1e-2, err_msg=name)
        np.testing.assert_allclose(faces.keypoints, ref_kps, atol=1e-2, err_msg=name)
        total += len(faces)
    assert total > 100
