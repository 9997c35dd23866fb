"""INT8 static quantisation of an exported toy SCRFD (mmdet_face.deployment.quantize_onnx and its CLI): folder and
config calibration give a runnable INT8 file with finite outputs; bad calibration data, a truncated input, an
existing output and an INT8 result with non-finite outputs are refused with nothing written."""
import os

import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.quantize_onnx import (SCRFD_LAYOUT, BlobReader, QuantizationCheckError, QuantizationError,
                                                 blob_layout, first_conv_and_heads, image_blob, quantize_onnx,
                                                 read_onnx)
from mmdet_face.utils.letterbox import letterbox
from mmdet_face.utils.output_file import OutputExistsError
from tests.helpers.paths import REPO_ROOT
from tests.helpers.tools import run_tool
from tests.helpers.toy_data import make_small_toy_set

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
TOY_CONFIG = REPO_ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'
SIZE = (96, 128)  # H, W of the exported toy graph
TOOL = 'tools/deployment/quantize_onnx.py'


@pytest.fixture(scope='module')
def toy_onnx(tmp_path_factory):
    """The toy SCRFD-with-keypoints config, seeded random weights, exported at 96x128 (static)."""
    from mmdet_face.deployment import export_scrfd_onnx
    torch.manual_seed(0)
    model = init_face_detector(str(TOY_CONFIG))
    with torch.no_grad():  # away from the identity init of the norms, so activations have real ranges
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path_factory.mktemp('toy_onnx') / 'toy_fp32.onnx'
    export_scrfd_onnx(model, str(path), shape=SIZE, opset=17)
    return path


@pytest.fixture(scope='module')
def toy_set(tmp_path_factory):
    return make_small_toy_set(tmp_path_factory.mktemp('toy_set'))


def _outputs(path, blob):
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: blob})))


def _ops(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_letterbox_sizes_and_blob_values():
    img = np.full((50, 200, 3), (10, 20, 30), np.uint8)  # BGR
    canvas, _, _, scale = letterbox(img, 96, 128)
    assert canvas.shape == (96, 128, 3) and scale == 128 / 200  # width limits: 200 -> 128, 50 -> int(32.0)
    assert (canvas[:32] == (10, 20, 30)).all() and (canvas[32:] == 0).all()
    blob = image_blob(img, SCRFD_LAYOUT, 96, 128)
    assert blob.shape == (1, 3, 96, 128) and blob.dtype == np.float32
    np.testing.assert_allclose(blob[0, :, 0, 0], [(30 - 127.5) / 128, (20 - 127.5) / 128, (10 - 127.5) / 128])
    np.testing.assert_allclose(blob[0, :, -1, -1], [-127.5 / 128] * 3)  # black padding


def test_blob_reader_protocol():
    blobs = [np.zeros((1, 3, 2, 2), np.float32), np.ones((1, 3, 2, 2), np.float32)]
    reader = BlobReader('input.1', blobs)
    assert reader.get_next()['input.1'] is blobs[0] and reader.get_next()['input.1'] is blobs[1]
    assert reader.get_next() is None
    reader.rewind()
    assert reader.get_next()['input.1'] is blobs[0]


def test_layout_and_excluded_nodes(toy_onnx):
    model = onnx.load(str(toy_onnx))
    assert blob_layout(model) is SCRFD_LAYOUT
    names = first_conv_and_heads(model)
    convs = [n.name for n in model.graph.node if n.op_type == 'Conv']
    assert names[0] == convs[0]
    assert len(names) == 1 + 9  # score, bbox and kps convs at three strides


@pytest.mark.parametrize('fmt,per_channel', [('qdq', False), ('qoperator', True)])
def test_folder_calibration_writes_a_runnable_int8_file(toy_onnx, toy_set, tmp_path, fmt, per_channel):
    out = tmp_path / 'int8.onnx'
    report = quantize_onnx(toy_onnx, out, toy_set / 'val', num_images=3, quant_format=fmt, per_channel=per_channel)
    assert report.num_calibration == 3 and report.input_size == SIZE
    assert report.pre_process == 'quant_pre_process'
    assert report.excluded_nodes == first_conv_and_heads(onnx.load(str(toy_onnx)))[:1]
    ops = _ops(out)
    assert ('QLinearConv' in ops) if fmt == 'qoperator' else ('DequantizeLinear' in ops)
    blob = np.random.default_rng(0).normal(size=(1, 3, *SIZE)).astype(np.float32)
    fp32, int8 = _outputs(toy_onnx, blob), _outputs(out, blob)
    assert list(int8) == list(fp32) == list(report.max_abs_diff)
    for name in fp32:
        assert int8[name].shape == fp32[name].shape and np.isfinite(int8[name]).all()
    # int8 scores stay near the float ones (sigmoid outputs, so bounded by 1 in any case)
    assert all(report.max_abs_diff[f'score_{s}'] < 0.25 for s in (8, 16, 32))
    assert not [f for f in os.listdir(tmp_path) if f != 'int8.onnx']  # no temporary left


def test_config_calibration(toy_onnx, toy_set, tmp_path):
    from mmdet_face.apis.inference import load_config
    cfg = load_config(str(TOY_CONFIG))
    cfg.test_dataloader.dataset.data_root = f'{toy_set}/'
    cfg.test_dataloader.dataset.pipeline[1].scale = (96, 96)  # FaceResize: fits the 96x128 graph
    out = tmp_path / 'int8.onnx'
    report = quantize_onnx(toy_onnx, out, cfg, num_images=2, exclude=())
    assert report.num_calibration == 2 and report.excluded_nodes == []
    assert 'test / val set' in report.calibration_source
    got = _outputs(out, np.zeros((1, 3, *SIZE), np.float32))
    assert all(np.isfinite(v).all() for v in got.values())


def test_config_blob_larger_than_the_input_is_refused(toy_onnx, toy_set, tmp_path):
    from mmdet_face.apis.inference import load_config
    cfg = load_config(str(TOY_CONFIG))
    cfg.test_dataloader.dataset.data_root = f'{toy_set}/'  # its 320x320 resize does not fit 96x128
    with pytest.raises(QuantizationError, match='larger than the model input 96x128'):
        quantize_onnx(toy_onnx, tmp_path / 'int8.onnx', cfg, num_images=1)
    assert not os.listdir(tmp_path)


def test_folder_without_images_is_refused(toy_onnx, tmp_path):
    empty = tmp_path / 'calib'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'notes.txt').write_text('no image here')
    with pytest.raises(QuantizationError, match='no calibration images'):
        quantize_onnx(toy_onnx, tmp_path / 'int8.onnx', empty)
    assert not (tmp_path / 'int8.onnx').exists()


def test_undecodable_image_is_named(toy_onnx, toy_set, tmp_path):
    calib = tmp_path / 'calib'
    calib.mkdir()
    good = next((toy_set / 'val' / 'images').rglob('*.jpg'))
    (calib / 'a.jpg').write_bytes(good.read_bytes())
    (calib / 'b.jpg').write_bytes(good.read_bytes()[:300])  # cut off
    with pytest.raises(QuantizationError, match=r'1 of the 2 calibration images.*b\.jpg'):
        quantize_onnx(toy_onnx, tmp_path / 'int8.onnx', calib)
    assert not (tmp_path / 'int8.onnx').exists()


def test_truncated_input_is_refused(toy_onnx, toy_set, tmp_path):
    cut = tmp_path / 'cut.onnx'
    data = toy_onnx.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(QuantizationError, match=r'cut\.onnx: not a complete ONNX model'):
        read_onnx(str(cut))
    with pytest.raises(QuantizationError, match='not a complete ONNX model'):
        quantize_onnx(cut, tmp_path / 'int8.onnx', toy_set / 'val')
    assert sorted(os.listdir(tmp_path)) == ['cut.onnx']


def test_existing_output_is_kept(toy_onnx, toy_set, tmp_path):
    out = tmp_path / 'int8.onnx'
    out.write_bytes(b'mine')
    with pytest.raises(OutputExistsError):
        quantize_onnx(toy_onnx, out, toy_set / 'val', num_images=1)
    assert out.read_bytes() == b'mine'


def test_non_finite_int8_outputs_are_refused(toy_onnx, toy_set, tmp_path, monkeypatch):
    """An INT8 graph that computes inf (here: its first output multiplied by inf) fails the check; nothing is
    written."""
    import onnxruntime.quantization as quantization
    real = quantization.quantize_static

    def poisoned(model_input, model_output, *args, **kwargs):
        real(model_input, model_output, *args, **kwargs)
        model = onnx.load(model_output)
        first = model.graph.output[0]
        for node in model.graph.node:
            node.output[:] = [f'{o}_raw' if o == first.name else o for o in node.output]
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(np.inf, np.float32), 'inf_const'))
        model.graph.node.append(onnx.helper.make_node('Mul', [f'{first.name}_raw', 'inf_const'], [first.name]))
        onnx.save(model, model_output)

    monkeypatch.setattr(quantization, 'quantize_static', poisoned)
    with pytest.raises(QuantizationCheckError, match='non-finite'):
        quantize_onnx(toy_onnx, tmp_path / 'int8.onnx', toy_set / 'val', num_images=1)
    assert not os.listdir(tmp_path)


def test_cli_quantizes_and_refuses(toy_onnx, toy_set, tmp_path):
    out = tmp_path / 'int8.onnx'
    result = run_tool(TOOL, toy_onnx, out, '--calib', toy_set / 'val', '--num', '2', '--format', 'qoperator',
                      '--time', '2')
    assert result.returncode == 0, result.stderr
    assert 'calibrated on 2 images' in result.stdout and 'max |INT8 - FP32|' in result.stdout
    assert 'FP32' in result.stdout.splitlines()[-1] and 'INT8' in result.stdout.splitlines()[-1]
    assert 'logical CPUs' in result.stdout.splitlines()[-1]  # INT8 speed depends on the CPU's instruction sets
    assert 'QLinearConv' in _ops(out)
    before = out.read_bytes()
    again = run_tool(TOOL, toy_onnx, out, '--calib', toy_set / 'val')
    assert again.returncode != 0 and 'already exists' in again.stderr and 'Traceback' not in again.stderr
    assert out.read_bytes() == before
    empty = tmp_path / 'empty'
    empty.mkdir()
    refused = run_tool(TOOL, toy_onnx, tmp_path / 'other.onnx', '--calib', empty)
    assert refused.returncode != 0 and 'no calibration images' in refused.stderr
    assert 'Traceback' not in refused.stderr and not (tmp_path / 'other.onnx').exists()


def _identity_graph(input_name, output_names, dims):
    """A one-input ONNX graph (Identity per output) with the given names and input dimensions."""
    from onnx import TensorProto, helper
    nodes = [helper.make_node('Identity', [input_name], [name]) for name in output_names]
    graph = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in output_names])
    return helper.make_model(graph)


def test_layouts_of_the_families():
    from mmdet_face.deployment.quantize_onnx import BGR_MEAN_LAYOUT
    assert blob_layout(_identity_graph('input', ['loc', 'conf', 'landms'], [1, 3, 8, 8])) is BGR_MEAN_LAYOUT
    assert blob_layout(_identity_graph('input', ['loc', 'conf'], [1, 3, 8, 8])) is BGR_MEAN_LAYOUT
    assert blob_layout(_identity_graph('images', ['output0'], [1, 3, 8, 8])) is None  # e.g. a YOLO file
    img = np.full((8, 8, 3), (10, 20, 30), np.uint8)
    np.testing.assert_allclose(image_blob(img, BGR_MEAN_LAYOUT, 8, 8)[0, :, 0, 0], [10 - 104, 20 - 117, 30 - 123])


def test_unknown_layout_needs_a_config(tmp_path, toy_set):
    path = tmp_path / 'yolo.onnx'
    onnx.save(_identity_graph('images', ['output0'], [1, 3, 8, 8]), str(path))
    with pytest.raises(QuantizationError, match='calibrate with the model.s CONFIG'):
        quantize_onnx(path, tmp_path / 'int8.onnx', toy_set / 'val')
    assert not (tmp_path / 'int8.onnx').exists()


def test_input_size_of_symbolic_and_fixed_graphs():
    from mmdet_face.deployment.quantize_onnx import resolve_input_size
    dynamic = _identity_graph('input.1', ['score_8'], [1, 3, 'height', 'width'])
    with pytest.raises(QuantizationError, match=r'symbolic.*--input-size H W'):
        resolve_input_size(dynamic, None)
    assert resolve_input_size(dynamic, (96, 128)) == (96, 128)
    fixed = _identity_graph('input.1', ['score_8'], [1, 3, 64, 96])
    assert resolve_input_size(fixed, None) == (64, 96)
    with pytest.raises(QuantizationError, match='fixed at 64x96'):
        resolve_input_size(fixed, (96, 128))


def test_unnamed_nodes_are_named_before_exclusion(toy_onnx, toy_set, tmp_path):
    """Model-pack files may carry nodes without names; the quantiser excludes by name, so they get names first and
    the first conv still stays in float."""
    model = onnx.load(str(toy_onnx))
    for node in model.graph.node:
        node.name = ''
    unnamed = tmp_path / 'unnamed.onnx'
    onnx.save(model, str(unnamed))
    report = quantize_onnx(unnamed, tmp_path / 'int8.onnx', toy_set / 'val', num_images=1, quant_format='qoperator')
    assert len(report.excluded_nodes) == 1 and report.excluded_nodes[0].startswith('Conv_')
    ops = [n.op_type for n in onnx.load(str(tmp_path / 'int8.onnx')).graph.node]
    assert ops.count('Conv') == 1 and 'QLinearConv' in ops  # the first conv in float, the others integer
    with pytest.raises(QuantizationError, match=r"no node named \['no_such_node'\]"):
        quantize_onnx(toy_onnx, tmp_path / 'other.onnx', toy_set / 'val', num_images=1, exclude=['no_such_node'])
    assert not (tmp_path / 'other.onnx').exists()


def test_config_without_its_data_is_a_clear_error(toy_onnx, tmp_path):
    from mmdet_face.apis.inference import load_config
    cfg = load_config(str(TOY_CONFIG))
    cfg.test_dataloader.dataset.data_root = f'{tmp_path}/missing/'
    with pytest.raises(QuantizationError, match=r'test / val dataset, the calibration data, cannot be read.*missing'):
        quantize_onnx(toy_onnx, tmp_path / 'int8.onnx', cfg, num_images=1)
    assert not (tmp_path / 'int8.onnx').exists()
