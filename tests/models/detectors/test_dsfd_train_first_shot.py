"""DSFD's first shot and Progressive Anchor Loss exist only in training.

- the release / test graph has no first-shot modules; a training config's ``forward`` / ``predict`` / ONNX export
  never run them, a training step does (and they get gradients);
- the first shot's anchors are half the second shot's; lambda scales the second shot only;
- a release-layout checkpoint (the release's exact keys through DSFD-MODEL's converter) loads into the R152 and
  R50 training configs with only the first-shot weights missing (fine-tuning from the release);
- a trained checkpoint loads strictly into the test config after ``dsfd_publish`` (and not before).
"""
import copy
import subprocess
import sys

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import mmdet_face  # noqa: F401
from mmdet_face.apis.checkpoint import CheckpointMismatchError, compare_state_dicts, load_face_checkpoint
from mmdet_face.deployment.dsfd_strip_first_shot import is_first_shot_key, publish_dsfd_checkpoint, strip_first_shot
from mmdet_face.utils.output_file import OutputExistsError
from mmdet_face.registry import MODELS
from tests.helpers.paths import REPO_ROOT

CONFIGS = REPO_ROOT / 'configs'
TOY_CONFIG = str(CONFIGS / 'toy/dsfd_toy.py')


def _model_cfg(name, **head):
    cfg = Config.fromfile(str(CONFIGS / name)).model
    cfg.bbox_head.update(head)
    return cfg


def _build(cfg, device=None):
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        if device is None:
            return MODELS.build(cfg)
        with torch.device(device):  # shapes and keys only: no memory, no initialisation cost
            return MODELS.build(cfg)


def _toy(**head):
    torch.manual_seed(0)
    return _build(_model_cfg('toy/dsfd_toy.py', **head))


def _batch(model, n=2, size=64, train=True):
    torch.manual_seed(1)
    samples = []
    for _ in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=HorizontalBoxes(torch.tensor([[8., 10., 30., 40.], [36., 30., 50., 52.]])),
                                      labels=torch.zeros(2, dtype=torch.long))
        s.ignored_instances = InstanceData(bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                                           labels=torch.zeros(0, dtype=torch.long))
        samples.append(s)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(n)]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), train)


def _count_first_shot_calls(model):
    calls = []
    for name, module in model.named_modules():
        if name.startswith('bbox_head.first_shot_') and name.count('.') == 2:  # one branch per level
            module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_release_config_has_no_first_shot():
    model = _build(Config.fromfile(str(CONFIGS / 'dsfd' / 'dsfd_r152_release_widerface.py')).model, device='meta')
    assert not model.bbox_head.with_first_shot
    assert not [k for k in model.state_dict() if 'first_shot' in k]
    assert not [n for n, _ in model.named_modules() if 'first_shot' in n]


def test_first_shot_runs_in_training_only():
    model = _toy()
    calls = _count_first_shot_calls(model)
    assert len([n for n, _ in model.named_modules() if n.startswith('bbox_head.first_shot_')]) > 0
    model.eval()
    with torch.no_grad():
        data = _batch(model, train=False)
        preds = model(**data, mode='predict')
        raw = model(data['inputs'], mode='tensor')   # what ONNX export traces
    assert calls == [] and len(preds) == 2
    # the test graph's outputs: second shot only, (scores, deltas) over the six levels, 2 logits / 4 deltas a prior
    assert len(raw) == 2 and [len(r) for r in raw] == [6, 6]
    assert {t.shape[1] for t in raw[0]} == {2} and {t.shape[1] for t in raw[1]} == {4}

    model.train()
    losses = model(**_batch(model), mode='loss')
    assert len(calls) == 2 * 6   # score + box branch on every level
    assert set(losses) == {'loss_cls_first', 'loss_bbox_first', 'loss_cls', 'loss_bbox'}
    sum(losses.values()).backward()
    grads = {name: param.grad for name, param in model.bbox_head.named_parameters() if name.startswith('first_shot_')}
    # every first-shot weight is in the loss graph; levels whose priors the mining did not select get zero
    assert grads and all(g is not None for g in grads.values())
    assert sum(float(g.abs().sum()) for g in grads.values()) > 0


def test_onnx_export_of_a_training_model_holds_no_first_shot(tmp_path):
    pytest.importorskip('onnx', reason='onnx is not installed')
    import onnx
    model = _toy().eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def forward(self, x):
            scores, deltas = self.detector._forward(x)
            return tuple(scores) + tuple(deltas)

    out = tmp_path / 'dsfd_toy.onnx'
    with torch.no_grad():
        torch.onnx.export(Wrapper(model), torch.zeros(1, 3, 64, 64), str(out), opset_version=17, dynamo=False)
    graph = onnx.load(str(out)).graph
    names = [init.name for init in graph.initializer] + [node.name for node in graph.node]
    assert len(graph.output) == 12
    assert not [n for n in names if 'first_shot' in n]
    # the exported weights: exactly the second shot's and the trunk's (every non-first-shot conv weight is there)
    exported = {tuple(onnx.numpy_helper.to_array(i).shape) for i in graph.initializer}
    assert tuple(model.bbox_head.cls_branches[0].out_conv.weight.shape) in exported


def test_first_shot_anchors_are_half_the_second_shots():
    head = _toy().bbox_head
    first, second = head.first_shot_prior_generator, head.prior_generator
    assert first.strides == second.strides == [4, 8, 16, 32, 64, 128]
    assert second.base_sizes == [16, 32, 64, 128, 256, 512]
    assert first.base_sizes == [a / 2 for a in second.base_sizes]
    assert first.ratio == second.ratio == 1.5
    cfg = Config.fromfile(str(CONFIGS / 'dsfd' / 'dsfd_r152_4xb4-60k_widerface.py')).model.bbox_head
    assert cfg.first_shot.prior_generator.base_sizes == [8, 16, 32, 64, 128, 256]


def test_pal_lambda_scales_the_second_shot_only():
    base, heavy = _toy(), _toy(second_shot_weight=2.5)
    heavy.load_state_dict(base.state_dict())
    with torch.no_grad():
        a = base(**_batch(base), mode='loss')
        b = heavy(**_batch(heavy), mode='loss')
    for key in ('loss_cls_first', 'loss_bbox_first'):
        torch.testing.assert_close(b[key], a[key])
    for key in ('loss_cls', 'loss_bbox'):
        torch.testing.assert_close(b[key], 2.5 * a[key])
        assert a[key] > 0


def test_head_loss_needs_the_original_levels_and_an_assigner():
    model = _toy()
    data = _batch(model)
    feats = model.extract_feat(data['inputs'])
    with pytest.raises(ValueError, match='original_feats'):
        model.bbox_head.loss(feats, data['data_samples'])
    release_like = _build(_model_cfg('toy/dsfd_toy.py', first_shot=None), device=None)
    release_like.bbox_head.assigner = None
    with pytest.raises(ValueError, match='train_cfg.assigner'):
        release_like(**_batch(release_like), mode='loss')


def test_first_shot_config_errors_name_the_field():
    cfg = _model_cfg('toy/dsfd_toy.py')
    cfg.bbox_head.first_shot.in_channels = [16, 32, 64]
    with pytest.raises(ValueError, match='first_shot.in_channels'):
        _build(cfg)


def _only_first_shot_missing(model_state, checkpoint_state):
    report = compare_state_dicts(model_state, checkpoint_state)
    first_shot = [k for k in model_state if is_first_shot_key(k)]
    assert first_shot and sorted(report['missing']) == sorted(first_shot)
    assert report['unexpected'] == [] and report['shape'] == []


def test_release_checkpoint_loads_into_the_r152_training_config_with_only_first_shot_missing():
    from mmdet_face.deployment.dsfd_pth_import import convert_dsfd_state_dict
    from tests.deployment.test_dsfd_pth_import import release_state_dict

    # the release's exact 967 keys and shapes, through DSFD-MODEL's converter
    converted, _ = convert_dsfd_state_dict(release_state_dict())
    model = _build(_model_cfg('dsfd/dsfd_r152_4xb4-60k_widerface.py'), device='meta')
    _only_first_shot_missing(model.state_dict(), converted)


def test_r50_test_graph_checkpoint_loads_into_the_r50_training_config_with_only_first_shot_missing():
    # no DSFD-R50 weights were ever released: the R50 test graph (the training config without its first shot)
    test_graph = _build(_model_cfg('dsfd/dsfd_r50_4xb4-60k_widerface.py', first_shot=None), device='meta')
    model = _build(_model_cfg('dsfd/dsfd_r50_4xb4-60k_widerface.py'), device='meta')
    # meta tensors have no values: zero-stride real stand-ins of the same shapes (the loader's checks read values)
    stand_ins = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in test_graph.state_dict().items()}
    _only_first_shot_missing(model.state_dict(), stand_ins)


def test_publish_drops_first_shot_and_loads_strictly_into_the_test_config(tmp_path):
    trained = _toy().eval()
    src = tmp_path / 'iter_100.pth'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict(experiment_name='dsfd_toy_20260101_000000'),
                    optimizer=dict(state={})), str(src))
    test_model = _build(_model_cfg('toy/dsfd_toy.py', first_shot=None)).eval()
    # the raw training checkpoint does not fit the test graph (strict loading names the first-shot keys)
    with pytest.raises(CheckpointMismatchError, match='first_shot'):
        load_face_checkpoint(test_model, str(src))
    dst = tmp_path / 'dsfd_toy_published.pth'
    published = publish_dsfd_checkpoint(str(src), str(dst), TOY_CONFIG)
    dropped = [k for k in trained.state_dict() if k.startswith('bbox_head.first_shot_')]
    assert published['meta']['dsfd_publish']['dropped_first_shot_tensors'] == len(dropped) > 0
    assert set(published) == {'state_dict', 'meta'} and published['meta']['experiment_name']
    load_face_checkpoint(test_model, str(dst))   # strict
    data = _batch(test_model, train=False)
    with torch.no_grad():
        ours, theirs = trained(data['inputs'], mode='tensor'), test_model(data['inputs'], mode='tensor')
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # an existing output is left alone without overwrite
    with pytest.raises(OutputExistsError):
        publish_dsfd_checkpoint(str(src), str(dst), TOY_CONFIG)


def test_strip_first_shot_keeps_order_and_matches_only_first_shot_modules():
    state = {'bbox_head.cls_branches.0.w': torch.zeros(1), 'bbox_head.first_shot_cls_branches.0.w': torch.zeros(1),
             'module.bbox_head.first_shot_reg_branches.1.b': torch.zeros(1), 'neck.not_first_shot.w': torch.zeros(1)}
    kept, dropped = strip_first_shot(state)
    assert list(kept) == ['bbox_head.cls_branches.0.w', 'neck.not_first_shot.w']
    assert dropped == ['bbox_head.first_shot_cls_branches.0.w', 'module.bbox_head.first_shot_reg_branches.1.b']


@pytest.mark.slow
def test_publish_tool_refuses_a_file_without_weights(tmp_path):
    bad = tmp_path / 'bad.pth'
    torch.save(dict(meta={}), str(bad))
    done = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/model_converters/dsfd_publish.py'), str(bad),
                           str(tmp_path / 'out.pth')], capture_output=True, text=True)
    assert done.returncode != 0 and 'bad.pth' in done.stderr and 'state_dict' in done.stderr
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.slow
@pytest.mark.parametrize('content', [b'not a checkpoint\n', b'PK\x03\x04 truncated zip'], ids=['text', 'zip'])
def test_publish_tool_names_an_unreadable_file(tmp_path, content):
    """A file torch.load cannot read is an error naming it (not a traceback), and nothing is written."""
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(content)
    done = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/model_converters/dsfd_publish.py'), str(bad),
                           str(tmp_path / 'out.pth')], capture_output=True, text=True)
    assert done.returncode != 0 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    assert 'bad.pth: not a readable PyTorch checkpoint' in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / 'out.pth').exists()


def test_publish_refuses_non_finite_weights(tmp_path):
    """A diverged checkpoint is not published as an inference checkpoint: the error names the NaN weights."""
    src, dst = tmp_path / 'nan.pth', tmp_path / 'out.pth'
    torch.save(dict(state_dict={'bbox_head.cls_branches.0.out_conv.bias': torch.tensor([0.5, float('nan')]),
                                'bbox_head.first_shot_cls_branches.0.out_conv.bias': torch.zeros(2)}), str(src))
    with pytest.raises(ValueError, match=r'nan\.pth: 1 weights are not finite \(bbox_head\.cls_branches\.0\.out_conv'
                                         r'\.bias\)'):
        publish_dsfd_checkpoint(str(src), str(dst), TOY_CONFIG)
    assert not dst.exists()
