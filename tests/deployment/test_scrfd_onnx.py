"""SCRFD ONNX export round trip (GN and BN heads), ``simplify``, and import of released / model-pack ONNX files."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment import (SCRFDOnnxMismatch, convert_scrfd_onnx, export_scrfd_onnx,
                                   load_scrfd_onnx_weights)
from mmdet_face.deployment.onnx_export import torch_outputs
from mmdet_face.deployment.scrfd_onnx_export import SCRFDExportWrapper
from tests.helpers.paths import shared_path

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'scrfd'
GN_CONFIG = CONFIGS / 'scrfd_500m_4xb8-640e_widerface.py'
BN_CONFIG = CONFIGS / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'
CANDIDATES = sorted(str(p) for p in CONFIGS.glob('*.py'))  # what tools/model_converters/scrfd_onnx2mmdet.py passes


def scrfd_outputs_flat(model, x):
    """PyTorch reference of the exported outputs, ``{name: tensor}`` in export order."""
    return torch_outputs(SCRFDExportWrapper(model), x)


def _random_model(config):
    torch.manual_seed(0)
    model = init_face_detector(str(config))
    with torch.no_grad():  # move norms off their identity init so the check sees them
        for name, p in model.named_parameters():
            if 'bn' in name or 'gn' in name or p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))


@pytest.mark.parametrize('config,dynamic', [(GN_CONFIG, False), (BN_CONFIG, True)])
def test_export_round_trip(tmp_path, config, dynamic):
    model = _random_model(config)
    out = tmp_path / 'model.onnx'
    names = export_scrfd_onnx(model, str(out), shape=(64, 96), dynamic=dynamic)
    kinds = ['score', 'bbox', 'kps'] if 'kps' in config.name else ['score', 'bbox']
    assert names == [f'{k}_{s}' for k in kinds for s in (8, 16, 32)]
    graph = onnx.load(str(out)).graph
    ops = {n.op_type for n in graph.node}
    if config is GN_CONFIG:
        assert 'GroupNormalization' in ops and 'InstanceNormalization' not in ops
    assert 'BatchNormalization' not in ops or config is BN_CONFIG
    x = torch.randn(2, 3, *((96, 64) if dynamic else (64, 96)))  # batch 2; another shape when dynamic
    ref = scrfd_outputs_flat(model, x)
    got = _run(out, x.numpy())
    assert list(got) == names
    for name in names:
        channels = {'score': 1, 'bbox': 4, 'kps': 10}[name.split('_')[0]]
        stride = int(name.split('_')[1])
        assert got[name].shape == (2, x.shape[2] // stride * x.shape[3] // stride * 2, channels)
        np.testing.assert_allclose(got[name], ref[name].numpy(), atol=1e-4, err_msg=name)


def test_mismatch_names_matching_config():
    path = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    model = init_face_detector(str(GN_CONFIG))
    with pytest.raises(SCRFDOnnxMismatch, match='scrfd_500m_bnkps_4xb16-640e_widerface.py'):
        load_scrfd_onnx_weights(model, onnx.load(str(path)), 'scrfd_500m GN', candidate_configs=CANDIDATES)


def _model_pack_variant(src, dst):
    """The older insightface model-pack layout: numeric output names, symbolic H/W, no batch dimension."""
    from onnx import helper
    m = onnx.load(str(src))
    g = m.graph
    inp = g.input[0]
    inp.type.tensor_type.shape.dim[2].dim_param = '?'
    inp.type.tensor_type.shape.dim[3].dim_param = '?'
    renames = {out.name: str(400 + i) for i, out in enumerate(g.output)}
    for node in g.node:
        node.output[:] = [o + '_b' if o in renames else o for o in node.output]
    for old, new in renames.items():
        g.node.append(helper.make_node('Squeeze', [old + '_b'], [new], axes=[0]))  # opset 11: axes attribute
    new_outputs = list(renames.values())
    del g.output[:]
    for new in new_outputs:
        g.output.append(helper.make_tensor_value_info(new, onnx.TensorProto.FLOAT, None))
    onnx.save(m, str(dst))


def test_convert_released_and_model_pack_files(tmp_path):
    src = shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')
    legacy = tmp_path / 'det_500m.onnx'
    _model_pack_variant(src, legacy)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 640, 640)).astype(np.float32)
    legacy_out = _run(legacy, x)
    assert list(legacy_out) == [str(400 + i) for i in range(9)] and legacy_out['400'].shape == (12800, 1)
    ref = _run(src, x)
    for a, b in zip(ref.values(), legacy_out.values()):
        np.testing.assert_array_equal(a[0], b)
    states = [convert_scrfd_onnx(str(p), str(BN_CONFIG), str(tmp_path / f'{i}.pth'))['state_dict']
              for i, p in enumerate((src, legacy))]
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    model = init_face_detector(str(BN_CONFIG))
    model.load_state_dict(torch.load(tmp_path / '0.pth', weights_only=False)['state_dict'])
    ours = scrfd_outputs_flat(model, torch.from_numpy(x))
    for name, value in ref.items():
        np.testing.assert_allclose(ours[name].numpy(), value, atol=1e-4 if 'score' in name else 1e-3,
                                   err_msg=name)


@pytest.mark.parametrize('simplifier', ['onnxsim', 'onnxruntime'])
@pytest.mark.parametrize('config,dynamic', [(GN_CONFIG, True), (BN_CONFIG, False)])
def test_export_simplify(tmp_path, monkeypatch, config, dynamic, simplifier):
    """``simplify=True`` with onnxsim, and without it (onnxruntime's basic offline optimisation): the file still
    loads, has the same input / output names and gives the same outputs."""
    import mmdet_face.deployment.onnx_utils as onnx_utils
    if simplifier == 'onnxsim':
        pytest.importorskip('onnxsim')
    else:
        monkeypatch.setitem(sys.modules, 'onnxsim', None)  # import onnxsim -> ImportError: the fallback runs
    ran = []
    for name in onnx_utils.SIMPLIFIERS:
        original = getattr(onnx_utils, f'_simplify_{name}')
        monkeypatch.setattr(onnx_utils, f'_simplify_{name}',
                            lambda *a, _n=name, _f=original: ran.append(_n) or _f(*a))
    model = _random_model(config)
    plain, simple = tmp_path / 'plain.onnx', tmp_path / 'simple.onnx'
    names = export_scrfd_onnx(model, str(plain), shape=(64, 96), dynamic=dynamic)
    assert export_scrfd_onnx(model, str(simple), shape=(64, 96), dynamic=dynamic, simplify=True) == names
    assert ran[-1] == simplifier
    simplified = onnx.load(str(simple))
    onnx.checker.check_model(simplified)
    assert [i.name for i in simplified.graph.input] == ['input.1']
    plain_nodes = onnx.load(str(plain)).graph.node
    if config is GN_CONFIG:  # the single GroupNormalization nodes survive (onnxruntime would expand them: kept)
        assert {n.op_type for n in simplified.graph.node} >= {'GroupNormalization'}
    if simplifier == 'onnxruntime' and config is BN_CONFIG:
        assert len(simplified.graph.node) < len(plain_nodes)
    assert len(simplified.graph.node) <= len(plain_nodes)
    x = torch.randn(2, 3, *((96, 128) if dynamic else (64, 96))).numpy()
    ref, got = _run(plain, x), _run(simple, x)
    assert list(got) == list(ref) == names
    for name in names:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-5, err_msg=name)


def test_simplify_reports_failures(tmp_path):
    from mmdet_face.deployment.onnx_utils import simplify_onnx
    path = tmp_path / 'model.onnx'
    export_scrfd_onnx(_random_model(BN_CONFIG), str(path), shape=(32, 32))
    before = path.read_bytes()
    with pytest.raises(ValueError, match='unknown simplifier'):
        simplify_onnx(str(path), ['polygraphy'])
    with pytest.raises(RuntimeError, match='could not simplify'):
        simplify_onnx(str(path), [])
    assert path.read_bytes() == before
    assert simplify_onnx(str(path), ['onnxruntime']) == 'onnxruntime'
    # opset-21 GroupNormalization: onnxruntime would expand each node into its function body -> file kept as is
    gn_model = _random_model(GN_CONFIG)
    export_scrfd_onnx(gn_model, str(path), shape=(64, 64), overwrite=True)  # same file again: allowed explicitly
    before = path.read_bytes()
    assert simplify_onnx(str(path), ['onnxruntime']) == 'none'
    assert path.read_bytes() == before
    export_scrfd_onnx(gn_model, str(path), shape=(64, 64), opset=17, overwrite=True)  # InstanceNorm decomposition
    assert simplify_onnx(str(path), ['onnxruntime']) == 'onnxruntime'


def _official_like_model(config):
    """A model with every norm and Scale moved off its init (released GN-head files carry trained GN affines and
    per-level box scales; a converter that ignored them would still pass on an untrained model)."""
    from mmcv.cnn import Scale
    model = _random_model(config)
    with torch.no_grad():
        for i, m in enumerate(model.modules()):
            if isinstance(m, Scale):
                m.scale.fill_(0.6 + 0.1 * (i % 7))
            elif isinstance(m, (torch.nn.GroupNorm, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.slow
@pytest.mark.parametrize('name,opset,simplify', [
    ('scrfd_500m_4xb8-640e_widerface.py', 11, True),      # MobileNet, depthwise GN head shared by strides
    ('scrfd_2.5g_4xb8-640e_widerface.py', 11, False),     # ResNet (BN folded), GN head, per-level Scale
    ('scrfd_2.5g_bnkps_4xb8-640e_widerface.py', 11, True),  # BN head with keypoints and Scale
    ('scrfd_10g_4xb8-640e_widerface.py', 21, False),      # single GroupNormalization nodes
    ('scrfd_1g_4xb8-640e_widerface.py', 18, False),       # GroupNormalization-18 + per-channel Mul/Add
    ('scrfd_34g_4xb8-640e_widerface.py', 17, False),
])
def test_convert_gn_and_resnet_variants(tmp_path, name, opset, simplify):
    """The released GN-head and ResNet-family files were written by torch 1.x at opset 11 (GroupNorm as
    Reshape/InstanceNormalization/Reshape/Mul/Add) and simplified with onnxsim; we write the same kind of file from
    a model with known weights and convert it back."""
    from mmcv.cnn import Scale
    config = CONFIGS / name
    model = _official_like_model(config)
    path = tmp_path / 'release.onnx'
    export_scrfd_onnx(model, str(path), shape=(64, 64), opset=opset, simplify=simplify)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert 'BatchNormalization' not in ops  # folded, as in the released files
    if 'bnkps' not in name:
        assert ('GroupNormalization' in ops) == (opset >= 18) and ('InstanceNormalization' in ops) == (opset < 18)
    scales = [m for m in model.modules() if isinstance(m, Scale)]
    assert scales or '500m' in name or '10g' in name or '34g' in name

    ckpt = convert_scrfd_onnx(str(path), str(config), str(tmp_path / 'converted.pth'))
    converted = init_face_detector(str(config))
    converted.load_state_dict(ckpt['state_dict'])
    if not simplify:  # the Mul is in the file: the Scale values come back (onnxsim folds them into the convs)
        for ours, theirs in zip(scales, [m for m in converted.modules() if isinstance(m, Scale)]):
            assert theirs.scale.item() == pytest.approx(ours.scale.item(), rel=1e-6)
    for ours, theirs in zip([m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)],
                            [m for m in converted.modules() if isinstance(m, torch.nn.GroupNorm)]):
        torch.testing.assert_close(theirs.weight, ours.weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(theirs.bias, ours.bias, rtol=1e-5, atol=1e-5)
    x = torch.randn(1, 3, 64, 64)
    ref, got = scrfd_outputs_flat(model, x), scrfd_outputs_flat(converted, x)
    onnx_out = _run(path, x.numpy())
    for key in ref:
        np.testing.assert_allclose(got[key].numpy(), ref[key].numpy(), atol=1e-4, rtol=1e-4, err_msg=key)
        np.testing.assert_allclose(got[key].numpy(), onnx_out[key], atol=1e-4, rtol=1e-4, err_msg=key)


def test_per_group_group_normalization_opset18(tmp_path):
    """Opset 18's GroupNormalization has one scale/bias per group: expanded to channels on import."""
    from onnx import numpy_helper
    config = CONFIGS / 'scrfd_10g_4xb8-640e_widerface.py'
    model = _official_like_model(config)
    with torch.no_grad():  # group-constant affines, expressible per group
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                per = m.num_channels // m.num_groups
                m.weight.copy_(m.weight.view(m.num_groups, per)[:, :1].expand(-1, per).reshape(-1))
                m.bias.copy_(m.bias.view(m.num_groups, per)[:, :1].expand(-1, per).reshape(-1))
    path = tmp_path / 'gn21.onnx'
    export_scrfd_onnx(model, str(path), shape=(64, 64), opset=21)
    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    rewritten = 0
    for node in proto.graph.node:
        if node.op_type == 'GroupNormalization':
            groups = next(a.i for a in node.attribute if a.name == 'num_groups')
            for k, suffix in ((1, 'scale'), (2, 'bias')):
                value = numpy_helper.to_array(inits[node.input[k]]) if node.input[k] in inits else None
                assert value is not None
                per_group = value.reshape(groups, -1)[:, 0].copy()
                name = f'{node.name}_{suffix}_g{rewritten}'
                proto.graph.initializer.append(numpy_helper.from_array(per_group, name))
                node.input[k] = name
            rewritten += 1
    assert rewritten > 0
    ckpt = convert_scrfd_onnx_proto(proto, config)
    converted = init_face_detector(str(config))
    converted.load_state_dict(ckpt)
    x = torch.randn(1, 3, 64, 64)
    ref, got = scrfd_outputs_flat(model, x), scrfd_outputs_flat(converted, x)
    for key in ref:
        np.testing.assert_allclose(got[key].numpy(), ref[key].numpy(), atol=1e-4, rtol=1e-4, err_msg=key)


def convert_scrfd_onnx_proto(proto, config):
    model = init_face_detector(str(config))
    load_scrfd_onnx_weights(model, proto, config.name)
    return model.state_dict()


def test_gn_file_with_bn_config_names_the_gn_config(tmp_path):
    model = _official_like_model(GN_CONFIG)
    path = tmp_path / 'gn.onnx'
    export_scrfd_onnx(model, str(path), shape=(64, 64), opset=11)
    bn_twin = CONFIGS / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'
    with pytest.raises(SCRFDOnnxMismatch, match='scrfd_500m_4xb8-640e_widerface.py'):
        convert_scrfd_onnx(str(path), str(bn_twin), candidate_configs=CANDIDATES)
    # a config with the same convs but no GroupNorm: the message says what differs
    from mmengine.config import Config

    from mmdet_face.deployment.scrfd_onnx_import import _OnnxGraph, _plan_onnx_load
    cfg = Config.fromfile(str(GN_CONFIG))
    cfg.model.bbox_head.norm_cfg = None
    problem = _plan_onnx_load(init_face_detector(cfg), _OnnxGraph(onnx.load(str(path))), 'plain')
    assert isinstance(problem, str) and problem.endswith('is followed by GroupNorm in the ONNX graph but not in plain')
