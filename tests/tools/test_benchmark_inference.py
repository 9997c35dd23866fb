"""tools/analysis/benchmark_inference.py runs for every family (before: RetinaFace / SRN configs crashed in the SCRFD
exporter), with the ONNX column only where an exporter exists."""
import re
import runpy

import numpy as np
import pytest

from tests.helpers.paths import REPO_ROOT

cv2 = pytest.importorskip('cv2')
pytest.importorskip('onnxruntime')

TOOL = REPO_ROOT / 'tools/analysis/benchmark_inference.py'
NUM = r'\d+\.\d\d'


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(str(TOOL))


@pytest.fixture
def image(tmp_path):
    path = tmp_path / 'photo.jpg'
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return path


def _rows(out):
    return [line.split() for line in out.splitlines() if re.match(r'\s+1\s+\d+x\d+\s', line)]


@pytest.mark.parametrize('config, onnx', [('retinaface_toy_mnet025.py', True), ('srn_toy.py', False)])
def test_runs_for_each_family(tool, image, capsys, config, onnx):
    tool['main']([str(REPO_ROOT / 'configs/toy' / config), '--image', str(image), '--threads', '1',
                  '--sizes', '64x48', '--repeat', '1', '--no-cuda'])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 1, out
    assert '\ncpu: ' in out and 'logical CPUs' in out
    threads, size, pre, torch_ms, opt_ms, ours, post, opt_onnx, post_net, faces = rows[0]
    assert size == '64x48' and faces.isdigit()
    for value in (pre, torch_ms, opt_ms, post):
        assert re.fullmatch(NUM, value) and float(value) > 0, out
    if onnx:
        assert re.fullmatch(NUM, ours) and float(ours) > 0 and re.fullmatch(NUM, opt_onnx), out
        assert 'no ONNX export' not in out
    else:
        assert ours == 'n/a' and opt_onnx == 'n/a' and 'ours.onnx: n/a (no ONNX export for SRNHead)' in out


def test_blob_follows_the_data_preprocessor(tool):
    """RetinaFace: BGR minus (104, 117, 123), no scaling; SRN: RGB ImageNet mean / std, padded to 128."""
    from mmdet_face.apis.inference import init_face_detector
    img = np.full((30, 40, 3), (10, 20, 30), np.uint8)  # B, G, R
    retina = tool['Preprocess'](init_face_detector(str(REPO_ROOT / 'configs/toy/retinaface_toy_mnet025.py')))
    blob, scale, resized = tool['letterbox_blob'](img, 48, 64, retina)
    assert blob.shape == (1, 3, 48, 64) and resized == (48, 64) and scale == pytest.approx(1.6)
    np.testing.assert_allclose(blob[0, :, 0, 0], [10 - 104, 20 - 117, 30 - 123])
    srn = tool['Preprocess'](init_face_detector(str(REPO_ROOT / 'configs/toy/srn_toy.py')))
    blob, _, _ = tool['letterbox_blob'](img, 48, 64, srn)
    assert blob.shape == (1, 3, 128, 128)
    np.testing.assert_allclose(blob[0, :, 0, 0], (np.array([30, 20, 10]) - [123.675, 116.28, 103.53])
                               / [58.395, 57.12, 57.375], rtol=1e-5)
    np.testing.assert_allclose(blob[0, :, 127, 127], -np.array([123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375],
                               rtol=1e-5)  # the padding is black


def test_post_processing_column_without_detections(tool, image, capsys):
    """``--score-thr 0.9999`` on RetinaFace: the post-processing is timed on no candidates and 0 faces are counted
    (before: RetinaFace's keypoint decoding failed on zero candidates)."""
    tool['main']([str(REPO_ROOT / 'configs/toy/retinaface_toy_mnet025.py'), '--image', str(image), '--threads', '1',
                  '--sizes', '64x48', '--repeat', '1', '--no-cuda', '--score-thr', '0.9999'])
    out = capsys.readouterr().out
    (row,) = _rows(out)
    assert re.fullmatch(NUM, row[6]) and row[-1] == '0', out
