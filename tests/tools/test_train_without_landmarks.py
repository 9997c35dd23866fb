"""Training the landmark families (SCRFD with keypoints, RetinaFace) on data without landmarks and on data that mixes
faces with and without them: a few iterations of each toy config through tools/checks/check_train_steps.py (the
config's own pipeline, model and optimizer on one fixed batch of the small toy set, 160 px images at the toy configs'
320 x 320 training size)."""
import math

import pytest

from tests.helpers.paths import REPO_ROOT
from tests.helpers.tools import load_tool
from tests.helpers.toy_data import make_small_toy_set

FAMILIES = {'scrfd': 'configs/toy/scrfd_toy_kps.py', 'retinaface': 'configs/toy/retinaface_toy_mnet025.py'}
BATCH = 4


@pytest.fixture(scope='module')
def toy_sets(tmp_path_factory):
    return {mode: make_small_toy_set(tmp_path_factory.mktemp(f'toy_{mode}_landmarks'), landmarks=mode)
            for mode in ('none', 'mixed')}


def _weights_of_the_batch(tool, config, data_root):
    """The ``keypoints_weights`` (N, 5) of every face in the fixed batch check_train_steps trains on."""
    import torch
    from mmengine.registry import DefaultScope

    from mmdet_face.engine.cli import read_tool_config
    cfg = read_tool_config(str(REPO_ROOT / config), None)
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        data = tool.fixed_batch(cfg, str(data_root) + '/', BATCH, 0)
    return torch.cat([s.gt_instances.keypoints_weights for s in data['data_samples']])


def _train(config, data_root, extra=()):
    tool = load_tool('tools/checks/check_train_steps.py')
    args = tool.parse_args([str(REPO_ROOT / config), '--iters', '4', '--batch', str(BATCH), '--threads', '1',
                            '--data-root', str(data_root), *extra])
    return tool, tool.run(args)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_no_landmarks_at_all(family, toy_sets, capsys):
    """Every face's landmarks are "-1": the keypoint loss is exactly 0 at every iteration, every loss is finite and
    the total loss falls (boxes and scores still learn)."""
    tool, result = _train(FAMILIES[family], toy_sets['none'])
    weights = _weights_of_the_batch(tool, FAMILIES[family], toy_sets['none'])
    assert len(weights) > 0 and not weights.any()
    assert result['finite'] and result['fell'], result['history']
    assert [h['loss_kps'] for h in result['history']] == [0.0] * 4
    assert all(h['loss_bbox'] > 0 for h in result['history'])
    assert '(fell)' in capsys.readouterr().out


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_mixed_landmarks(family, toy_sets):
    """Faces with all, some and no landmarks in one batch: every loss finite, the keypoint loss positive (the faces
    with landmarks train the landmark branch), the total loss falls."""
    tool, result = _train(FAMILIES[family], toy_sets['mixed'])
    per_face = _weights_of_the_batch(tool, FAMILIES[family], toy_sets['mixed']).sum(dim=1)
    assert (per_face == 0).any() and (per_face == 5).any() and (per_face == 3).any(), per_face
    assert result['finite'] and result['fell'], result['history']
    assert all(h['loss_kps'] > 0 and math.isfinite(h['loss_kps']) for h in result['history'])
    if family == 'scrfd':
        # the same first step with the keypoint loss divided by the positives with landmarks only: larger by the
        # ratio of the score sums (all positives / positives with landmarks), and still falling
        _, own = _train(FAMILIES[family], toy_sets['mixed'],
                        ('--cfg-options', 'model.bbox_head.kps_avg_factor=keypoint_positives'))
        assert own['finite'] and own['fell'], own['history']
        assert own['history'][0]['loss_kps'] > 1.05 * result['history'][0]['loss_kps']
        assert own['history'][0]['loss_bbox'] == result['history'][0]['loss_bbox']


CONFIG = """
_base_ = [{base!r}]
data_root = {root!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='FaceResize', scale=(160, 160), keep_ratio=False), dict(type='FaceRandomFlip', prob=0.5),
                  dict(type='PackFaceInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/'), dict(type='FaceKeypointMetric')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, save_best=None),
                     visualization=dict(draw=False))
randomness = dict(seed=0)
"""


@pytest.mark.slow
def test_train_and_validate_on_a_set_without_landmarks(toy_sets, tmp_path, monkeypatch):
    """tools/train.py's config building and runner on a toy set whose train and val faces have no landmarks: the
    epoch trains (keypoint loss 0, losses finite) and validates: WIDER AP is a number, the landmark error is NaN
    with a warning that there are no faces with landmarks, and the run does not stop over it."""
    import numpy as np
    from mmengine.runner import Runner

    from mmdet_face.evaluation.metrics import keypoint_metric
    logged = []
    monkeypatch.setattr(keypoint_metric, 'print_log', lambda msg, **kw: logged.append(msg))
    train_tool = load_tool('tools/train.py')
    config = tmp_path / 'cfg.py'
    config.write_text(CONFIG.format(base=str(REPO_ROOT / FAMILIES['scrfd']), root=str(toy_sets['none']) + '/'))
    cfg = train_tool.build_config(train_tool.parse_args([str(config), '--work-dir', str(tmp_path / 'wd')]))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.message_hub.get_scalar('train/loss_kps').data[0].tolist() == [0.0, 0.0]
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').data[0]).all()
    metrics = runner.val_loop.run()
    assert np.isnan(metrics['landmarks/nme']) and np.isnan(metrics['landmarks/matched'])
    assert 0 <= metrics['widerface/hard'] <= 1
    assert logged and all('no faces with landmarks: none of the' in msg for msg in logged)
    assert (tmp_path / 'wd' / 'epoch_1.pth').exists()
