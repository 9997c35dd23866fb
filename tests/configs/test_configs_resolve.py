"""Every config under configs/ resolves, uses the face transform names only, and the shared blocks land where they
should (toy data root and WIDER ground truth, original-size RetinaFace test, toy networks = published networks)."""
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2] / 'configs'
ALL = sorted(p for p in ROOT.rglob('*.py'))
MODELS = sorted(p for p in ALL if '_base_' not in p.parts)
TOYS = sorted((ROOT / 'toy').glob('*.py'))
# mmdet's names for the geometry that would leave the landmarks behind (PackFaceInputs refuses them)
FORBIDDEN = {'Resize', 'RandomFlip', 'mmdet.Resize', 'mmdet.RandomFlip'}


def _name(p):
    return str(p.relative_to(ROOT))


def _types(node):
    if isinstance(node, dict):
        if 'type' in node:
            yield node['type']
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types(value)


def _pipelines(cfg):
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if key in cfg:
            yield key, cfg[key]['dataset']['pipeline']


@pytest.mark.parametrize('path', ALL, ids=_name)
def test_config_resolves_with_face_transform_names(path):
    cfg = Config.fromfile(str(path)).to_dict()
    used = set(_types(cfg))
    assert not used & FORBIDDEN, f'{_name(path)} uses {used & FORBIDDEN}: write FaceResize / FaceRandomFlip'


@pytest.mark.parametrize('path', MODELS, ids=_name)
def test_published_and_toy_configs_are_complete(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmdet_face' and cfg.model.type in {'SCRFD', 'SRN', 'RetinaFace', 'DSFD'}
    if path.stem.endswith('_release_widerface'):  # test-only: a released model with no training recipe
        assert cfg.train_dataloader is None and cfg.train_cfg is None and cfg.optim_wrapper is None
    else:
        train = cfg.train_dataloader.dataset.pipeline
        assert [t['type'] for t in train][:2] == ['LoadImageFromFile', 'LoadFaceAnnotations']
        assert train[-1]['type'] == 'PackFaceInputs' and 'FaceRandomFlip' in [t['type'] for t in train]
    assert cfg.test_dataloader == cfg.val_dataloader and cfg.test_evaluator == cfg.val_evaluator
    test = [t['type'] for t in cfg.val_dataloader.dataset.pipeline]
    assert test[0] == 'LoadImageFromFile' and test[-2:] == ['LoadFaceAnnotations', 'PackFaceInputs']
    assert set(test) <= {'LoadImageFromFile', 'FaceResize', 'LoadFaceAnnotations', 'PackFaceInputs'}


@pytest.mark.parametrize('path', TOYS, ids=_name)
def test_toy_configs_use_the_toy_set(path):
    cfg = Config.fromfile(str(path))
    assert cfg.data_root == 'data/toy_widerface/' and cfg.img_scale == (320, 320)
    for key, pipeline in _pipelines(cfg):
        assert cfg[key].dataset.data_root == 'data/toy_widerface/', key
        resize = [t for t in pipeline if t['type'] == 'FaceResize']
        assert len(resize) == 1 and tuple(resize[0]['scale']) == (320, 320), key
    assert cfg.train_dataloader.batch_size == 8 and cfg.val_dataloader.batch_size == 4
    evaluators = cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else [cfg.val_evaluator]
    wider = [e for e in evaluators if e['type'] == 'WiderFaceMetric']
    assert len(wider) == 1 and wider[0]['gt_dir'] == 'data/toy_widerface/val/gt/'
    has_kps = cfg.model.type == 'RetinaFace' or cfg.model.bbox_head.get('use_kps', False)
    assert ('FaceKeypointMetric' in [e['type'] for e in evaluators]) == has_kps
    # the toy schedule is 12 epochs; toy DSFD stops at 6 (its Easy AP is 0.999 there, 12 take twice the CPU time)
    epochs = 6 if path.stem == 'dsfd_toy' else 12
    assert cfg.max_epochs == epochs and cfg.train_cfg.max_epochs == epochs and cfg.train_cfg.val_interval == epochs
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.default_hooks.logger.interval == 10
    assert cfg.default_hooks.checkpoint.interval == (epochs if path.stem == 'dsfd_toy' else 4)


@pytest.mark.parametrize('toy, published', [
    ('toy/retinaface_toy_mnet025.py', 'retinaface/retinaface_mnet025_1xb32-250e_widerface.py'),
    ('toy/scrfd_toy_kps.py', 'scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py'),
])
def test_toy_network_is_the_published_one(toy, published):
    assert Config.fromfile(str(ROOT / toy)).model == Config.fromfile(str(ROOT / published)).model


def test_toy_srn_differs_from_srn_only_in_size():
    toy = Config.fromfile(str(ROOT / 'toy/srn_toy.py')).model.to_dict()
    srn = Config.fromfile(str(ROOT / 'srn/srn_r50_fpn_4xb8-130e_widerface.py')).model.to_dict()
    assert toy['backbone']['depth'] == 18 and toy['neck']['out_channels'] == 48
    for part in ('backbone', 'neck', 'bbox_head', 'test_cfg'):
        toy.pop(part), srn.pop(part)
    assert toy == srn


def test_widerface_configs_use_widerface():
    for path in MODELS:
        if path.parent.name == 'toy':
            continue
        cfg = Config.fromfile(str(path))
        assert cfg.data_root == 'data/widerface/', _name(path)
        assert cfg.val_evaluator == dict(type='WiderFaceMetric', gt_dir='data/widerface/val/gt/'), _name(path)


def test_original_size_test_only_for_retinaface_and_releases():
    for path in MODELS:
        if path.parent.name == 'toy':
            continue
        cfg = Config.fromfile(str(path))
        test = [t['type'] for t in cfg.val_dataloader.dataset.pipeline]
        # the RetinaFace and DSFD releases test at the original image size
        if path.parent.name == 'retinaface' or path.stem.endswith('_release_widerface'):
            assert test == ['LoadImageFromFile', 'LoadFaceAnnotations', 'PackFaceInputs'], _name(path)
        else:  # VGA test scale: long side 640, aspect ratio kept, ground truth in original pixels
            resize = cfg.val_dataloader.dataset.pipeline[1]
            assert resize['type'] == 'FaceResize' and resize['keep_ratio'] and tuple(resize['scale']) == (640, 640)
