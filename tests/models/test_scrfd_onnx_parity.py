"""Our SCRFD-0.5GF-kps reproduces the released ONNX model's outputs once its (BN-folded) weights are loaded.

The check covers the whole architecture (backbone, PAFPN, per-stride BN head, anchor layout and output order):
each ONNX conv's weight goes to our conv executed at the same position, and its folded bias to the conv's bias
or, for a conv followed by BN, to an identity BN's bias.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmdet_face.models.utils.complexity import build_detector_from_config
from tests.conftest import shared_path

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


def execution_order(model, x):
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    with torch.no_grad():
        model._forward(x)
    for h in hooks:
        h.remove()
    return order


def load_folded_onnx(model, graph, numpy_helper):
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    onnx_convs = [n for n in graph.node if n.op_type == 'Conv']
    order = execution_order(model, torch.zeros(1, 3, 64, 64))
    convs = [m for m in order if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(onnx_convs)
    for node, conv in zip(onnx_convs, convs):
        w = weights[node.input[1]]
        assert tuple(w.shape) == tuple(conv.weight.shape), node.name
        b = weights[node.input[2]] if len(node.input) > 2 else torch.zeros(conv.out_channels)
        conv.weight.data.copy_(w)
        if conv.bias is not None:
            conv.bias.data.copy_(b)
            continue
        bn = order[order.index(conv) + 1]
        assert isinstance(bn, nn.BatchNorm2d)
        bn.weight.data.fill_(1.0)
        bn.bias.data.copy_(b)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # (x - 0) / sqrt(var + eps) == x


def test_outputs_match_released_onnx():
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    graph = onnx.load(str(path)).graph
    model = build_detector_from_config(str(CONFIG)).eval()
    load_folded_onnx(model, graph, onnx.numpy_helper)

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


def reference_decode(outputs, score_thr, nms_thr, scale):
    """SCRFD's own post-processing of the ONNX outputs (insightface's python ``SCRFD.detect``), in numpy."""
    boxes, scores, kpss = [], [], []
    for level, stride in enumerate((8, 16, 32)):
        score, dist, kps = (outputs[level][0], outputs[level + 3][0] * stride, outputs[level + 6][0] * stride)
        n = 640 // stride
        ys, xs = np.mgrid[:n, :n]
        centers = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, 2, axis=0).astype(np.float32)
        keep = score[:, 0] >= score_thr
        c = centers[keep]
        boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], 1))
        kpss.append(c[:, None] + kps[keep].reshape(-1, 5, 2))
        scores.append(score[keep, 0])
    boxes, scores, kpss = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kpss)
    order, keep = scores.argsort()[::-1], []
    while order.size:
        i, order = order[0], order[1:]
        keep.append(i)
        tl = np.maximum(boxes[i, :2], boxes[order, :2])
        br = np.minimum(boxes[i, 2:], boxes[order, 2:])
        inter = np.prod(np.clip(br - tl, 0, None), axis=1)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        order = order[inter / (area(boxes[i]) + area(boxes[order]) - inter) <= nms_thr]
    return boxes[keep] / scale, scores[keep], kpss[keep] / scale


def test_predictions_match_reference_post_processing():
    """Decoding, NMS and rescaling of boxes and keypoints agree with SCRFD's own code on a real photo."""
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    cv2 = pytest.importorskip('cv2')
    from mmdet.structures import DetDataSample
    path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    img = cv2.imread(str(shared_path('real', 'images', 'test.jpg')))
    h, w = img.shape[:2]
    scale = 640 / max(h, w)
    resized = cv2.resize(img, (round(w * scale), round(h * scale)))
    canvas = np.zeros((640, 640, 3), np.uint8)
    canvas[:resized.shape[0], :resized.shape[1]] = resized
    x = np.ascontiguousarray(((canvas[..., ::-1].astype(np.float32) - 127.5) / 128).transpose(2, 0, 1)[None])

    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    ref_boxes, ref_scores, ref_kps = reference_decode(sess.run(None, {sess.get_inputs()[0].name: x}), 0.5, 0.45,
                                                      scale)

    model = build_detector_from_config(str(CONFIG)).eval()
    load_folded_onnx(model, onnx.load(str(path)).graph, onnx.numpy_helper)
    model.bbox_head.test_cfg.score_thr = 0.5
    sample = DetDataSample(metainfo=dict(img_shape=resized.shape[:2], ori_shape=(h, w),
                                         scale_factor=(scale, scale), pad_shape=(640, 640)))
    with torch.no_grad():
        res = model.predict(torch.from_numpy(x), [sample], rescale=True)[0].pred_instances
    assert len(res) == len(ref_scores) > 20
    np.testing.assert_allclose(res.scores.numpy(), ref_scores, atol=1e-4)
    # boxes are clipped to the resized image in mmdet-face (SCRFD clips in its mmdet code too)
    np.testing.assert_allclose(res.bboxes.numpy(), np.clip(ref_boxes, 0, [w, h, w, h]), atol=0.05)
    np.testing.assert_allclose(res.keypoints.numpy(), ref_kps, atol=0.05)
