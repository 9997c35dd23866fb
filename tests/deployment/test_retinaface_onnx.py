"""RetinaFace ONNX export in the PyTorch release's layout (``loc``, ``conf``, ``landms``).

The ONNX outputs are checked against the PyTorch reference (batch 1, batch 2, dynamic shape, simplified), and
decoded here with the release's own prior-box / decoding / NMS math (written independently of our head) to give the
detections of our head's ``predict_by_feat`` and of ``FaceDetector`` -- with random weights and with the released
MobileNet-0.25 weights converted by ``retinaface_pth_import``.
"""
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.onnx_export import torch_outputs
from mmdet_face.deployment.retinaface_onnx_export import RetinaFaceExportWrapper, export_retinaface_onnx
from tests.helpers.paths import shared_path

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
cv2 = pytest.importorskip('cv2')

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py'
MEAN_BGR = np.array([104, 117, 123], np.float32)
HW = (312, 512)  # half of test.jpg; not a multiple of 32, so the ceil(H / s) prior grid is exercised


def retinaface_outputs_flat(model, x):
    """PyTorch reference of the exported outputs: ``{'loc', 'conf', 'landms'}``."""
    return torch_outputs(RetinaFaceExportWrapper(model), x)


def _random_model():
    """mnet025 with seeded random weights, moved off the default init so every output is non-trivial.

    BatchNorm statistics are calibrated on a photo first (as training would): with the default running stats the
    random backbone washes the image out and large regions give bit-identical scores.
    """
    torch.manual_seed(0)
    model = init_face_detector(str(CONFIG))
    head = model.bbox_head
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batch
        model.train()
        model._forward(torch.from_numpy(_to_input(_bgr_image(HW, 5), _bgr_image(HW, 6))))
        model.eval()
        for bn in bns:  # no near-empty channels: they would amplify float32 rounding far beyond a trained net's
            bn.running_var.clamp_(min=0.1 * float(bn.running_var.mean()))
        # deltas of O(0.3): this random net's float32 rounding (~1e-4 relative, torch as well as onnxruntime) stays
        # well inside the 1e-4 tolerance; face logits spread wide, ~20% of the priors above the 0.02 threshold
        for conv in [*head.reg_convs, *head.kps_convs]:
            conv.weight.mul_(0.5)
        for conv in head.cls_convs:  # channels (background, face) per anchor
            conv.weight.mul_(2)
            conv.bias[1::2] -= 4.5
    return model


def _bgr_image(hw=HW, index=0, noise=True):
    """A real photo (test.jpg, the release's detect.py image, or another) resized to ``hw``, or a synthetic one.

    ``noise``: add mild seeded pixel noise. Random weights see no faces, only texture: in flat regions every
    location then scores exactly the same, and which of those tied boxes an NMS keeps is arbitrary.
    """
    try:
        images = sorted(shared_path('real', 'images').glob('*.jpg'))
        names = ['test.jpg', '0_Parade_Parade_0_873.jpg']
        paths = [p for n in names for p in images if p.name == n] or images
        img = cv2.imread(str(paths[index % len(paths)]), cv2.IMREAD_COLOR)
    except pytest.skip.Exception:
        img = None
    if img is None:  # synthetic: smooth gradients plus bright ellipses
        rng = np.random.default_rng(index)
        yy, xx = np.mgrid[:hw[0], :hw[1]]
        img = np.stack([(xx * 255 // hw[1]), (yy * 255 // hw[0]), ((xx + yy) % 256)], -1).astype(np.uint8)
        for _ in range(6):
            c = (int(rng.integers(20, hw[1] - 20)), int(rng.integers(20, hw[0] - 20)))
            cv2.ellipse(img, c, (int(rng.integers(8, 30)), int(rng.integers(10, 40))), 0, 0, 360,
                        tuple(int(v) for v in rng.integers(100, 255, 3)), -1)
    if img.shape[:2] != tuple(hw):
        img = cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
    if noise:
        rng = np.random.default_rng(100 + index)
        img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    return img


def _to_input(*images):
    """BGR uint8 images -> (B, 3, H, W) float32 with the config's mean subtracted (the exported input)."""
    return np.stack([(img.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1) for img in images])


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    assert [i.name for i in sess.get_inputs()] == ['input']
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {'input': x})))


def _num_priors(h, w):
    return sum(2 * -(-h // s) * -(-w // s) for s in (8, 16, 32))


def _check_outputs(got, ref, batch, hw, atol=1e-4):
    assert list(got) == ['loc', 'conf', 'landms']
    n = _num_priors(*hw)
    for name, channels in zip(got, (4, 2, 10)):
        assert got[name].shape == (batch, n, channels), name
        np.testing.assert_allclose(got[name], ref[name].numpy(), atol=atol, err_msg=name)
    np.testing.assert_allclose(got['conf'].sum(-1), 1.0, atol=1e-5)


# ---------------------------------------------------------------- the release's post-processing, written anew
def _release_priors(h, w):
    """(N, 4) (cx, cy, s_x, s_y) normalised by the image size, level -> row -> column -> anchor."""
    rows = []
    for step, sizes in zip((8, 16, 32), ((16, 32), (64, 128), (256, 512))):
        for i, j in product(range(-(-h // step)), range(-(-w // step))):
            for size in sizes:
                rows.append(((j + 0.5) * step / w, (i + 0.5) * step / h, size / w, size / h))
    return np.array(rows, np.float64)


def _py_nms(dets, thresh):
    """Greedy NMS on (N, 5) [x1, y1, x2, y2, score] with +1-pixel areas; indices kept."""
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= thresh]
    return np.array(keep, np.int64)


def _release_detect(loc, conf, landms, hw, score_thr=0.02, nms_thr=0.4, top_k=5000, keep_top_k=750):
    """One image's ONNX outputs -> (boxes (K, 4), scores (K,), landmarks (K, 5, 2)) in input pixels."""
    h, w = hw
    priors = _release_priors(h, w)
    loc, landms = loc.astype(np.float64), landms.astype(np.float64)
    centres = priors[:, :2] + loc[:, :2] * 0.1 * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * 0.2)
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1) * [w, h, w, h]
    points = (priors[:, None, :2] + landms.reshape(-1, 5, 2) * 0.1 * priors[:, None, 2:]) * [w, h]
    scores = conf[:, 1].astype(np.float64)
    idx = np.where(scores > score_thr)[0]
    idx = idx[scores[idx].argsort()[::-1][:top_k]]
    keep = idx[_py_nms(np.hstack([boxes[idx], scores[idx, None]]), nms_thr)][:keep_top_k]
    return boxes[keep], scores[keep], points[keep]


def _check_detections(onnx_out, image_index, ours, hw):
    """The release-decoded ONNX detections == ours, as sets: near-equal scores may come out in either order."""
    boxes, scores, points = _release_detect(*(onnx_out[k][image_index] for k in ('loc', 'conf', 'landms')), hw)
    assert len(scores) > 0
    assert len(scores) == len(ours['scores'])
    # outputs agree to ~1e-4 (float32 in two runtimes); a 1e-4 delta moves a 512 px prior's box by < 1e-2 px
    dist = np.abs(boxes[:, None, :] - ours['bboxes'][None, :, :]).max(-1)
    match = dist.argmin(1)
    assert len(set(match.tolist())) == len(match), 'detections do not pair up one to one'
    np.testing.assert_allclose(dist[np.arange(len(match)), match], 0, atol=1e-2)
    np.testing.assert_allclose(scores, ours['scores'][match], atol=1e-4)
    np.testing.assert_allclose(points, ours['keypoints'][match], atol=1e-2)


def _head_predictions(model, x):
    with torch.no_grad():
        results = model.bbox_head.predict_by_feat(*model._forward(torch.from_numpy(x)),
                                                  batch_img_metas=[{}] * len(x), rescale=False)
    return [{k: r[k].numpy().astype(np.float64) for k in ('bboxes', 'scores', 'keypoints')} for r in results]


# ---------------------------------------------------------------- tests
@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The random model and its fixed-shape export (traced with batch 1), shared by the batch 1 / 2 tests."""
    model = _random_model()
    out = tmp_path_factory.mktemp('retinaface_onnx') / 'retinaface.onnx'
    names = export_retinaface_onnx(model, str(out), shape=HW, batch_size=1)
    assert names == ['loc', 'conf', 'landms']
    return model, out


@pytest.mark.parametrize('batch', [1, 2])
def test_export_matches_pytorch_and_head(exported, batch):
    model, out = exported
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ['input']
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch even when traced with 1
    declared = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output]
    assert declared == [['batch', _num_priors(*HW), c] for c in (4, 2, 10)]
    x = _to_input(*[_bgr_image(index=i) for i in range(batch)])
    got = _run(out, x)
    ref = retinaface_outputs_flat(model, torch.from_numpy(x))
    _check_outputs(got, ref, batch, HW)
    assert 0 < (got['conf'][..., 1] > 0.02).sum() < got['conf'][..., 1].size  # non-trivial scores
    assert got['loc'].std() > 0.2 and got['landms'].std() > 0.2
    for i, ours in enumerate(_head_predictions(model, x)):
        _check_detections(got, i, ours, HW)


def test_dynamic_shape_and_simplify(tmp_path, monkeypatch):
    model = _random_model()
    out = tmp_path / 'dynamic.onnx'
    export_retinaface_onnx(model, str(out), shape=(160, 224), dynamic=True)
    hw = (250, 330)  # another shape than the trace, not a multiple of 32
    x = _to_input(_bgr_image(hw, 0), _bgr_image(hw, 1))
    got = _run(out, x)
    ref = retinaface_outputs_flat(model, torch.from_numpy(x))
    _check_outputs(got, ref, 2, hw)
    for i, ours in enumerate(_head_predictions(model, x)):
        _check_detections(got, i, ours, hw)

    # --simplify without onnxsim: onnxruntime's basic offline optimisation, same names and numbers
    import mmdet_face.deployment.onnx_utils as onnx_utils
    monkeypatch.setitem(sys.modules, 'onnxsim', None)  # import onnxsim -> ImportError
    used = []
    original = onnx_utils._simplify_onnxruntime
    monkeypatch.setattr(onnx_utils, '_simplify_onnxruntime', lambda *a: used.append(a) or original(*a))
    simplified = tmp_path / 'dynamic_sim.onnx'
    export_retinaface_onnx(model, str(simplified), shape=(160, 224), dynamic=True, simplify=True)
    assert len(used) == 1
    sim_model = onnx.load(str(simplified))
    onnx.checker.check_model(sim_model)
    assert {o.domain for o in sim_model.opset_import} <= {'', 'ai.onnx'}
    assert len(sim_model.graph.node) <= len(onnx.load(str(out)).graph.node)
    got_sim = _run(simplified, x)
    assert list(got_sim) == list(got)
    for name in got:
        np.testing.assert_allclose(got_sim[name], got[name], atol=1e-5, err_msg=name)


def test_released_weights_export(tmp_path):
    """The release's MobileNet-0.25 weights, converted: ONNX == PyTorch, and its decoded detections ==
    ``FaceDetector``'s on a real photo."""
    src = shared_path('real', 'weights', 'retinaface_mobilenet025.pth')
    from mmdet_face.apis import FaceDetector
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    ckpt = tmp_path / 'retinaface_mnet025.pth'
    convert_retinaface_checkpoint(str(src), str(ckpt), str(CONFIG))
    detector = FaceDetector(str(CONFIG), str(ckpt), clip_boxes=False)  # the release does not clip
    out = tmp_path / 'release.onnx'
    export_retinaface_onnx(detector.model, str(out), shape=(320, 320), dynamic=True)
    img = _bgr_image(HW, 0, noise=False)
    x = _to_input(img)
    got = _run(out, x)
    _check_outputs(got, retinaface_outputs_flat(detector.model, torch.from_numpy(x)), 1, HW)
    faces = detector(img, score_thr=0.02, nms_thr=0.4)
    ours = dict(bboxes=faces.bboxes.astype(np.float64), scores=faces.scores.astype(np.float64),
                keypoints=faces.keypoints.astype(np.float64))
    _check_detections(got, 0, ours, HW)
    assert (faces.scores > 0.9).sum() >= 3  # a crowd photo: real faces found with the real weights


def _export_tool(monkeypatch, *argv):
    import runpy
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setattr(sys, 'argv', ['export_onnx.py', *map(str, argv)])
    runpy.run_path(str(root / 'tools' / 'deployment' / 'export_onnx.py'), run_name='__main__')


def test_export_tool_dispatch(tmp_path, monkeypatch, capsys):
    """``tools/deployment/export_onnx.py`` picks the exporter from the config's head."""
    configs = Path(__file__).resolve().parents[2] / 'configs'
    out = tmp_path / 'toy.onnx'
    _export_tool(monkeypatch, configs / 'toy' / 'retinaface_toy_mnet025.py', out, '--shape', 64, 96, '--simplify')
    assert 'outputs loc, conf, landms' in capsys.readouterr().out
    sess = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [o.name for o in sess.get_outputs()] == ['loc', 'conf', 'landms']
    assert sess.get_outputs()[0].shape[1:] == [_num_priors(64, 96), 4]
    assert onnx.load(str(out)).opset_import[0].version == 17  # RetinaFace's default opset, not SCRFD's 21
    _export_tool(monkeypatch, configs / 'toy' / 'srn_toy.py', tmp_path / 'srn.onnx', '--shape', 64, 64)
    assert 'outputs score_first, bbox_first, score_second, bbox_second' in capsys.readouterr().out
    assert onnx.load(str(tmp_path / 'srn.onnx')).opset_import[0].version == 17
