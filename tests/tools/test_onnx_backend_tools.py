"""The tools with the onnxruntime backend: tools/deployment/export_onnx.py writes SRN / AInnoFace files,
tools/image_demo.py --backend onnxruntime --onnx draws what the PyTorch backend draws, tools/test.py CONFIG --onnx
scores an ONNX file through the same test path as CONFIG CHECKPOINT (same APs); a file of another family is refused
with nothing written."""
import json
import sys

import cv2
import numpy as np
import pytest

from tests.helpers.onnx_backend import TOY_CONFIGS, random_checkpoint
from tests.helpers.paths import REPO_ROOT, shared_path
from tests.helpers.tools import load_tool

pytest.importorskip('onnxruntime')
sys.path.insert(0, str(REPO_ROOT / 'tools'))
import image_demo as demo_tool  # noqa: E402

export_tool = load_tool('tools/deployment/export_onnx.py')
test_tool = load_tool('tools/test.py')
SRN = str(REPO_ROOT / TOY_CONFIGS['srn'])
SCRFD = str(REPO_ROOT / TOY_CONFIGS['scrfd_kps'])
RELEASE_CONFIG = str(REPO_ROOT / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py')


@pytest.fixture(scope='module')
def srn_files(tmp_path_factory):
    """A random-weight toy SRN checkpoint and its dynamic ONNX export written by the export tool."""
    folder = tmp_path_factory.mktemp('srn')
    random_checkpoint(TOY_CONFIGS['srn'], folder / 'srn.pth')
    export_tool.main([SRN, str(folder / 'srn.pth'), str(folder / 'srn.onnx'), '--dynamic'])
    return folder


def test_export_tool_writes_an_srn_file(srn_files, capsys):
    import onnx
    model = onnx.load(str(srn_files / 'srn.onnx'))
    assert [o.name for o in model.graph.output] == ['score_first', 'bbox_first', 'score_second', 'bbox_second']
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']


def test_image_demo_onnxruntime_draws_what_pytorch_draws(srn_files, tmp_path):
    photo = np.ascontiguousarray(cv2.imread(str(shared_path('real', 'images', 'test.jpg')))[:240, :320])
    cv2.imwrite(str(tmp_path / 'photo.png'), photo)
    common = ['--score-thr', '0.9', '--max-size', '256']
    pytorch = demo_tool.main([SRN, str(srn_files / 'srn.pth'), str(tmp_path / 'photo.png'), '--out',
                              str(tmp_path / 'pytorch.png'), *common])
    onnx = demo_tool.main([SRN, str(tmp_path / 'photo.png'), '--backend', 'onnxruntime', '--onnx',
                           str(srn_files / 'srn.onnx'), '--ort-threads', '1', '--out', str(tmp_path / 'onnx.png'),
                           *common])
    drawn_pytorch, drawn_onnx = cv2.imread(pytorch), cv2.imread(onnx)
    assert (drawn_pytorch != photo).any()  # boxes were drawn
    np.testing.assert_array_equal(drawn_onnx, drawn_pytorch)


def test_image_demo_refuses_a_file_of_another_family(srn_files, tmp_path):
    from mmdet_face.deployment.onnx_layouts import OnnxLayoutError
    cv2.imwrite(str(tmp_path / 'photo.png'), np.zeros((40, 60, 3), np.uint8))
    with pytest.raises(OnnxLayoutError, match=r'srn.onnx: the ONNX file has outputs score_first, bbox_first, '
                                              r'score_second, bbox_second \(a SRN / AInnoFace export\)'):
        demo_tool.main([SCRFD, str(tmp_path / 'photo.png'), '--backend', 'onnxruntime', '--onnx',
                        str(srn_files / 'srn.onnx'), '--out', str(tmp_path / 'out.png')])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['photo.png']  # nothing written


@pytest.mark.parametrize('args, message', [
    (['--backend', 'onnxruntime'], '--backend onnxruntime needs --onnx FILE'),
    (['w.pth', '--backend', 'onnxruntime', '--onnx', 'm.onnx'], 'give CONFIG INPUT without a CHECKPOINT'),
    (['w.pth', '--onnx', 'm.onnx'], '--onnx and --ort-threads apply to --backend onnxruntime'),
    (['--backend', 'onnxruntime', '--onnx', 'm.onnx', '--tune-allocator'], '--tune-allocator applies to the PyTorch'),
    (['--backend', 'onnxruntime', '--onnx', 'm.onnx', '--device', 'cuda'], '--device cuda applies to the PyTorch'),
])
def test_image_demo_backend_arguments(args, message, capsys):
    with pytest.raises(SystemExit):
        demo_tool.parse_args([SRN, *args[:1], 'in.jpg', *args[1:]] if args[0] == 'w.pth' else [SRN, 'in.jpg', *args])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('args, message', [
    (['w.pth', '--onnx', 'm.onnx'], '--onnx m.onnx: the ONNX file holds the weights'),
    (['--onnx', 'm.onnx', '--tta'], '--tta is not available with --onnx'),
    (['w.pth', '--ort-threads', '2'], '--ort-threads applies to --onnx'),
])
def test_test_tool_onnx_arguments(args, message, capsys):
    with pytest.raises(SystemExit):
        test_tool.parse_args([SRN, *args])
    assert message in capsys.readouterr().err


def _toy_val(tmp_path):
    from mmdet_face.datasets.toy import make_toy_widerface
    root = tmp_path / 'toy'
    make_toy_widerface(str(root), num_train=1, num_val=3, size=160, seed=0, num_events=1)
    return root


def _test_run(config, root, out, *model_args):
    return test_tool.main([config, *model_args, '--gt-dir', str(root / 'val' / 'gt'), '--out', str(out),
                           '--work-dir', str(out) + '_work', '--cfg-options',
                           f'test_dataloader.dataset.data_root={root}/', 'test_dataloader.num_workers=0',
                           'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=2'])


@pytest.mark.parametrize('damage', ['another family', 'truncated'])
def test_test_tool_refuses_a_bad_file_before_writing(srn_files, tmp_path, damage):
    root = _toy_val(tmp_path)
    if damage == 'truncated':
        config, path = SRN, tmp_path / 'cut.onnx'
        data = (srn_files / 'srn.onnx').read_bytes()
        path.write_bytes(data[:len(data) // 3])
        message = f'{path}: not an ONNX model ('
    else:
        config, path = SCRFD, srn_files / 'srn.onnx'
        message = 'srn.onnx: the ONNX file has outputs score_first, bbox_first, score_second, bbox_second'
    with pytest.raises(SystemExit) as info:
        _test_run(config, root, tmp_path / 'sub', '--onnx', str(path))
    assert message in str(info.value.code)
    assert not (tmp_path / 'sub').exists() and not (tmp_path / 'sub_work').exists()


@pytest.mark.slow
def test_test_tool_scores_an_onnx_file_as_its_checkpoint(tmp_path):
    """The released RetinaFace MobileNet-0.25 on three toy images: the APs, PR curves and submission files of
    CONFIG CHECKPOINT and of CONFIG --onnx (its dynamic export) agree."""
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    root = _toy_val(tmp_path)
    ckpt, exported = tmp_path / 'retinaface.pth', tmp_path / 'retinaface.onnx'
    convert_retinaface_checkpoint(str(shared_path('real', 'weights', 'retinaface_mobilenet025.pth')), str(ckpt),
                                  RELEASE_CONFIG)
    export_retinaface_onnx(init_face_detector(RELEASE_CONFIG, str(ckpt)), str(exported), dynamic=True)
    pytorch = _test_run(RELEASE_CONFIG, root, tmp_path / 'pytorch', str(ckpt))
    onnx = _test_run(RELEASE_CONFIG, root, tmp_path / 'onnx', '--onnx', str(exported))
    assert set(pytorch) == set(onnx) and pytorch['widerface/hard'] > 0.1
    for key, value in pytorch.items():
        assert onnx[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
    files = sorted(p.relative_to(tmp_path / 'pytorch') for p in (tmp_path / 'pytorch').rglob('*.txt'))
    assert files and files == sorted(p.relative_to(tmp_path / 'onnx') for p in (tmp_path / 'onnx').rglob('*.txt'))
    for name in files:
        a = (tmp_path / 'pytorch' / name).read_text().splitlines()
        b = (tmp_path / 'onnx' / name).read_text().splitlines()
        assert a[:2] == b[:2]  # image name, detection count
        np.testing.assert_allclose(np.loadtxt(a[2:], ndmin=2), np.loadtxt(b[2:], ndmin=2), atol=2e-3)
    curves = [json.loads((tmp_path / f'{kind}_pr_curves.json').read_text()) for kind in ('pytorch', 'onnx')]
    assert curves[0].keys() == curves[1].keys()
