"""The shared export skeleton (``onnx_export.export_onnx``): the caller's model and ``nn.GroupNorm`` are never
modified, the written file is checked with onnxruntime, and the SCRFD importer only searches the configs it is
given (the package does not read the repository's ``configs/``)."""
import runpy
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment import (OnnxCheckError, SCRFDOnnxMismatch, convert_scrfd_onnx, export_retinaface_onnx,
                                   export_scrfd_onnx)
from mmdet_face.deployment.scrfd_onnx_export import ExportGroupNorm, swap_group_norms
from tests.helpers.paths import REPO_ROOT as ROOT

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
GN_CONFIG = ROOT / 'configs' / 'scrfd' / 'scrfd_500m_4xb8-640e_widerface.py'
SCRFD_TOY = ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'
RETINA_TOY = ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py'


def _snapshot(model):
    return ([type(m) for m in model.modules()], {k: v.clone() for k, v in model.state_dict().items()},
            model.training)


@pytest.mark.parametrize('opset', [21, 18, 17])
def test_group_norm_swap_touches_only_the_private_copy(tmp_path, monkeypatch, opset):
    original_forward = nn.GroupNorm.forward
    model = init_face_detector(str(GN_CONFIG)).train()  # train mode: the caller's mode must survive as well
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    before = _snapshot(model)
    seen = []
    real_export = torch.onnx.export

    def spy(module, *args, **kwargs):
        seen.append(dict(forward=nn.GroupNorm.forward,
                         export_norms=sum(isinstance(m, ExportGroupNorm) for m in module.modules()),
                         torch_norms=sum(isinstance(m, nn.GroupNorm) for m in module.modules()),
                         shares_caller_weights=any(p is q for p in module.parameters() for q in model.parameters())))
        return real_export(module, *args, **kwargs)

    monkeypatch.setattr(torch.onnx, 'export', spy)
    export_scrfd_onnx(model, str(tmp_path / 'gn.onnx'), shape=(64, 64), opset=opset)
    assert len(seen) == 1
    assert seen[0]['forward'] is original_forward and nn.GroupNorm.forward is original_forward
    assert not seen[0]['shares_caller_weights']
    if opset >= 18:  # the copy's norms are the export modules; at 17 torch's decomposition is kept
        assert seen[0]['export_norms'] > 0 and seen[0]['torch_norms'] == 0
    else:
        assert seen[0]['export_norms'] == 0 and seen[0]['torch_norms'] > 0
    after = _snapshot(model)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1].keys() == before[1].keys()
    assert all(torch.equal(after[1][k], before[1][k]) for k in before[1])


def test_swap_keeps_numbers_and_sharing():
    torch.manual_seed(0)
    shared = nn.GroupNorm(2, 4)
    with torch.no_grad():
        shared.weight.uniform_(0.5, 1.5)
        shared.bias.uniform_(-1, 1)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared), nn.GroupNorm(2, 4, affine=False))
    x = torch.randn(2, 4, 3, 5)
    ref = model(x)
    assert not swap_group_norms(model, 17)
    assert swap_group_norms(model, 21)
    assert isinstance(model[0][0], ExportGroupNorm) and model[0][0] is model[1][0]
    assert model[0][0].weight is shared.weight
    assert type(model[2]) is nn.GroupNorm  # no affine: left to torch
    torch.testing.assert_close(model(x), ref)


def test_failed_check_leaves_no_file(tmp_path, monkeypatch):
    """An export whose graph computes something else than the model is an error, and nothing is written."""
    import mmdet_face.deployment.onnx_export as onnx_export
    model = init_face_detector(str(RETINA_TOY))
    real_export = torch.onnx.export

    def tampered(module, *args, **kwargs):  # the traced copy differs from the one the check runs
        with torch.no_grad():
            module.head.reg_convs[0].bias.add_(1.0)
        try:
            return real_export(module, *args, **kwargs)
        finally:
            with torch.no_grad():
                module.head.reg_convs[0].bias.sub_(1.0)

    monkeypatch.setattr(torch.onnx, 'export', tampered)
    out = tmp_path / 'wrong.onnx'
    with pytest.raises(OnnxCheckError, match='output loc: onnxruntime differs from PyTorch'):
        export_retinaface_onnx(model, str(out), shape=(32, 32))
    assert list(tmp_path.iterdir()) == []
    export_retinaface_onnx(model, str(out), shape=(32, 32), check=False)  # the check is what caught it
    assert out.exists()
    monkeypatch.setattr(torch.onnx, 'export', real_export)
    ran = []
    original = onnx_export.check_onnx_outputs
    monkeypatch.setattr(onnx_export, 'check_onnx_outputs', lambda *a, **k: ran.append(1) or original(*a, **k))
    export_retinaface_onnx(model, str(out), shape=(32, 32), overwrite=True)
    assert ran == [1]


def test_static_export_declares_output_sizes(tmp_path):
    """Both families: a fixed-shape export states every output size but the batch."""
    path = tmp_path / 'scrfd.onnx'
    names = export_scrfd_onnx(init_face_detector(str(SCRFD_TOY)), str(path), shape=(64, 96))
    dims = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
            for o in onnx.load(str(path)).graph.output}
    rows = {s: 64 // s * 96 // s * 2 for s in (8, 16, 32)}
    channels = {'score': 1, 'bbox': 4, 'kps': 10}
    for name in names:
        kind, stride = name.split('_')
        assert dims[name][0] and dims[name][1:] == [rows[int(stride)], channels[kind]]


@pytest.mark.slow
def test_import_searches_only_the_given_configs(tmp_path, monkeypatch):
    """A mismatch names the matching configs among ``candidate_configs``; without candidates it says only what
    differs (no search of a folder the package would have to find by itself)."""
    torch.manual_seed(0)
    path = tmp_path / 'toy.onnx'
    export_scrfd_onnx(init_face_detector(str(SCRFD_TOY)), str(path), shape=(64, 64))
    with pytest.raises(SCRFDOnnxMismatch) as plain:
        convert_scrfd_onnx(str(path), str(GN_CONFIG))
    assert 'use ' not in str(plain.value) and 'candidate' not in str(plain.value)
    candidates = sorted(str(p) for p in (ROOT / 'configs' / 'toy').glob('*.py'))
    # the search's toy template and the toy fine-tuning recipe have the same network, so they are named too
    with pytest.raises(SCRFDOnnxMismatch, match=r'; use \S*scrfd_toy_kps\.py or \S*scrfd_toy_kps_from_release\.py '
                                                r'or \S*search_scrfd_toy\.py$'):
        convert_scrfd_onnx(str(path), str(GN_CONFIG), candidate_configs=candidates)
    with pytest.raises(SCRFDOnnxMismatch, match='none of the 1 candidate configs matches'):
        convert_scrfd_onnx(str(path), str(GN_CONFIG), candidate_configs=[str(RETINA_TOY)])
    # the command-line tool passes a folder (--candidates, default configs/scrfd)
    tool = runpy.run_path(str(ROOT / 'tools' / 'model_converters' / 'scrfd_onnx2mmdet.py'))['main']
    with pytest.raises(SystemExit, match=r'scrfd_toy_kps\.py') as exc:
        tool([str(path), str(GN_CONFIG), str(tmp_path / 'out.pth'), '--candidates', str(ROOT / 'configs' / 'toy')])
    assert str(exc.value).startswith(f'error: {path}: ')
    assert not (tmp_path / 'out.pth').exists()


def test_package_does_not_locate_the_repository():
    import mmdet_face.deployment as deployment
    folder = Path(deployment.__file__).parent
    for source in folder.glob('*.py'):
        text = source.read_text()
        assert "'configs'" not in text and '__file__' not in text, source.name
