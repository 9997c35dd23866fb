"""DSFD ONNX export (second shot): onnxruntime's ``loc`` / ``conf`` equal PyTorch's head outputs to 1e-4, static and
dynamic; decoding them with the documented prior rule gives our head's boxes and scores; the first shot of a
training config never enters the graph; the export tool picks the DSFD exporter. A small DSFD (the toy config: a
quarter-width ResNet-18 with both shots) keeps it quick."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.dsfd_onnx_export import DSFDExportWrapper, export_dsfd_onnx
from tests.helpers.paths import REPO_ROOT

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

CONFIG = REPO_ROOT / 'configs/toy/dsfd_toy.py'
HW = (90, 130)   # not multiples of the strides: ceil grids and the prior clamps


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    model = init_face_detector(str(CONFIG))
    assert model.bbox_head.with_first_shot   # a training config: the export must leave the first shot out
    with torch.no_grad():
        for branch in model.bbox_head.cls_branches:   # spread the scores
            branch.out_conv.weight.mul_(20)
    return model.eval()


def _input(seed, hw=HW):
    return torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(seed)) * 50


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {'input': x.numpy()})))


def _close(actual, expected, tol=1e-4):
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(1.0, float(np.abs(expected).max())))


def _decode(loc, conf, hw):
    """The module docstring's rule, written out: priors with the release's clamp, SSD decode; (N, 4), (N,)."""
    h, w = hw
    priors = []
    for k, s in enumerate((4, 8, 16, 32, 64, 128)):
        a = 16 * 2 ** k
        for i in range(math.ceil(h / s)):
            for j in range(math.ceil(w / s)):
                priors.append([min((j + 0.5) * s, w), min((i + 0.5) * s, h),
                               min(a / math.sqrt(1.5), w), min(a * math.sqrt(1.5), h)])
    p = np.array(priors)
    centre = p[:, :2] + loc[:, :2] * 0.1 * p[:, 2:]
    size = p[:, 2:] * np.exp(loc[:, 2:] * 0.2)
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1), conf[:, 1]


def test_static_export_equals_pytorch_and_decodes_to_our_head(model, tmp_path):
    out = tmp_path / 'dsfd.onnx'
    assert export_dsfd_onnx(model, str(out), shape=HW) == ['loc', 'conf']
    x = _input(1)
    got = _run(out, x)
    with torch.no_grad():
        cls_scores, bbox_preds = model.bbox_head(model.extract_feat(x))
        boxes, scores = model.bbox_head.decode(cls_scores, bbox_preds, [dict(batch_input_shape=HW)])
    n = sum(math.ceil(HW[0] / s) * math.ceil(HW[1] / s) for s in (4, 8, 16, 32, 64, 128))
    assert got['loc'].shape == (1, n, 4) and got['conf'].shape == (1, n, 2)
    _close(got['loc'][0], model.bbox_head._flatten(bbox_preds, 4)[0])
    _close(got['conf'][0, :, 1], scores[0])
    assert 0.05 < float(scores.std())   # non-trivial scores
    np.testing.assert_allclose(got['conf'].sum(-1), 1, atol=1e-5)
    dec_boxes, dec_scores = _decode(got['loc'][0].astype(np.float64), got['conf'][0].astype(np.float64), HW)
    _close(dec_boxes, boxes[0])
    _close(dec_scores, scores[0])
    # no first-shot weights in the graph (they take the original levels' 16..128 channels)
    first = {tuple(p.shape) for n_, p in model.named_parameters() if 'first_shot' in n_}
    second = {tuple(p.shape) for n_, p in model.named_parameters() if 'first_shot' not in n_}
    initialisers = {tuple(onnx.numpy_helper.to_array(i).shape) for i in onnx.load(str(out)).graph.initializer}
    assert first - second and not (first - second) & initialisers


def test_dynamic_export_runs_other_sizes_and_batches(model, tmp_path):
    out = tmp_path / 'dsfd_dynamic.onnx'
    export_dsfd_onnx(model, str(out), shape=(64, 64), dynamic=True)
    x = torch.cat([_input(2, (77, 101)), _input(3, (77, 101))])
    got = _run(out, x)
    ref = dict(zip(DSFDExportWrapper.output_names(), DSFDExportWrapper(model)(x)))
    for name in ('loc', 'conf'):
        _close(got[name], ref[name].detach())


@pytest.mark.slow
def test_export_tool_picks_the_dsfd_exporter(tmp_path):
    out = tmp_path / 'tool.onnx'
    proc = subprocess.run([sys.executable, 'tools/deployment/export_onnx.py', str(CONFIG), str(out),
                           '--shape', '64', '96'], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'outputs loc, conf' in proc.stdout
    assert [o.name for o in onnx.load(str(out)).graph.output] == ['loc', 'conf']
