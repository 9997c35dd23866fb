"""What the onnxruntime backend refuses, and its session options: an ONNX file of another family or variant, a
truncated or empty file, contradictory arguments; the session options belong to the detector's session only."""
import numpy as np
import pytest
import torch

from mmdet_face.deployment.onnx_layouts import OnnxLayoutError
from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
from tests.helpers.onnx_backend import TOY_CONFIGS, export
from tests.helpers.paths import REPO_ROOT

ort = pytest.importorskip('onnxruntime')

SCRFD = str(REPO_ROOT / TOY_CONFIGS['scrfd_kps'])
RETINAFACE = str(REPO_ROOT / TOY_CONFIGS['retinaface'])


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Small exports of the toy SCRFD (dynamic) and RetinaFace (static 64 x 64) with their initial weights."""
    from mmdet_face.apis.inference import init_face_detector
    folder = tmp_path_factory.mktemp('onnx')
    export(init_face_detector(SCRFD), folder / 'scrfd.onnx', shape=(64, 64), dynamic=True)
    export(init_face_detector(RETINAFACE), folder / 'retinaface.onnx', shape=(64, 64))
    return folder


def test_a_file_of_another_family_names_the_expected_outputs(exported):
    with pytest.raises(OnnxLayoutError) as info:
        OnnxFaceDetector(SCRFD, str(exported / 'retinaface.onnx'))
    assert str(info.value) == (
        f'{exported / "retinaface.onnx"}: the ONNX file has outputs loc, conf, landms (a RetinaFace export); {SCRFD} '
        'builds a SCRFDHead (SCRFD), whose export has outputs score_8, score_16, score_32, bbox_8, bbox_16, bbox_32, '
        'kps_8, kps_16, kps_32; use the RetinaFace config the file was exported from')


def test_a_file_of_another_variant_is_refused(exported):
    """An SCRFD file with keypoints and a config without them: the file's variant is named."""
    from mmdet_face.apis.inference import load_config
    cfg = load_config(SCRFD, {'model.bbox_head.use_kps': False})
    with pytest.raises(OnnxLayoutError, match=r'\(a SCRFD with keypoints export\); .* whose export has outputs '
                                              r'score_8, score_16, score_32, bbox_8, bbox_16, bbox_32; use the SCRFD '
                                              r'with keypoints config'):
        OnnxFaceDetector(cfg, str(exported / 'scrfd.onnx'))


def test_a_file_of_other_levels_is_refused(exported):
    """Same output names, other anchors: the row counts are checked, not trusted."""
    from mmdet_face.apis.inference import load_config
    cfg = load_config(SCRFD, {'model.bbox_head.anchor_generator.scales': [1, 2, 3]})
    detector = OnnxFaceDetector(cfg, str(exported / 'scrfd.onnx'))
    with pytest.raises(OnnxLayoutError, match=r'outputs score_\*: \[640, 160, 40\] rows for an input of 128 x 160, '
                                              r'expected \[960, 240, 60\] \(3 priors per location'):
        detector(np.zeros((100, 160, 3), np.uint8), max_size=160)  # 100 x 160, padded to 128 x 160


@pytest.mark.parametrize('damage', ['truncated', 'empty'])
def test_a_damaged_file_is_a_clear_error(exported, tmp_path, damage):
    data = (exported / 'scrfd.onnx').read_bytes()
    path = tmp_path / 'damaged.onnx'
    path.write_bytes(data[:len(data) // 2] if damage == 'truncated' else b'')
    with pytest.raises(ValueError, match=rf'{path}: not an ONNX model \(.*expected an ONNX export of {SCRFD}'):
        OnnxFaceDetector(SCRFD, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['damaged.onnx']  # nothing written


def test_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'{tmp_path / "none.onnx"}: file not found'):
        OnnxFaceDetector(SCRFD, str(tmp_path / 'none.onnx'))


@pytest.mark.parametrize('kwargs, message', [
    (dict(letterbox=0), 'letterbox must be a positive int'),
    (dict(clip_boxes=1), 'clip_boxes must be True or False, got 1'),
])
def test_detector_arguments_as_face_detector(exported, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        OnnxFaceDetector(SCRFD, str(exported / 'scrfd.onnx'), **kwargs)


def test_session_options_are_the_sessions_own(exported):
    threads = torch.get_num_threads()
    detector = OnnxFaceDetector(SCRFD, str(exported / 'scrfd.onnx'), ort_threads=2,
                                ort_inter_op_threads=1, ort_graph_optimization='disable')
    options = detector.network.session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert detector.network.session.get_providers() == ['CPUExecutionProvider']
    default = OnnxFaceDetector(SCRFD, str(exported / 'scrfd.onnx'))
    assert default.network.session.get_session_options().graph_optimization_level == \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert torch.get_num_threads() == threads
    # the stages run one by one give what a call gives
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    inputs, metas = detector.preprocess([image])
    staged = detector.decode(detector.run_network(inputs), metas, detector._call_cfg(0.3, 0.4))[0]
    called = detector(image, score_thr=0.3)
    assert len(called) > 0
    np.testing.assert_array_equal(staged.bboxes, called.bboxes)


@pytest.mark.parametrize('kwargs, message', [
    (dict(ort_graph_optimization='max'), "graph_optimization must be one of disable, basic, extended, all, got 'max'"),
    (dict(ort_threads=0), 'intra_op_threads: expected a positive int or None, got 0'),
])
def test_bad_session_options(exported, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OnnxFaceDetector(SCRFD, str(exported / 'scrfd.onnx'), **kwargs)


def test_a_static_square_file_letterboxes_to_its_size(exported):
    detector = OnnxFaceDetector(RETINAFACE, str(exported / 'retinaface.onnx'))
    assert detector.letterbox == 64 and detector.network.fixed_hw == (64, 64)
    faces = detector(np.full((30, 50, 3), 128, np.uint8), score_thr=0.0)
    assert len(faces) > 0 and faces.keypoints.shape[1:] == (5, 2)
    with pytest.raises(ValueError, match=r'takes 64 x 64 inputs only \(a static export\), got 96 x 96; use '
                                         r'letterbox=64, or export the model with --dynamic'):
        detector(np.full((30, 50, 3), 128, np.uint8), max_size=96)
    # a static non-square export has no letterbox to offer (the message read "got 96 x 96, or export ...")
    detector.network.fixed_hw = (48, 64)
    with pytest.raises(ValueError, match=r'got 96 x 96; export the model with --dynamic$'):
        detector.network.check_input_size((96, 96))
