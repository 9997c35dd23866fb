"""engine.train_config.fit_save_best: the best checkpoint is kept by a key the validation metric gives."""
import pytest
from mmengine.config import Config

from mmdet_face.engine.train_config import fit_save_best


def _cfg(save_best='widerface/hard', evaluator=None, val=True):
    cfg = dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', save_best=save_best)))
    if val:
        cfg.update(val_dataloader=dict(batch_size=1), val_cfg=dict(type='ValLoop'),
                   val_evaluator=evaluator if evaluator is not None else dict(type='WiderFaceMetric'))
    return Config(cfg)


@pytest.mark.parametrize('evaluator', [dict(type='WiderFaceMetric'), [dict(type='WiderFaceMetric', gt_dir=None),
                                                                     dict(type='FaceKeypointMetric')],
                                       dict(type='Evaluator', metrics=[dict(type='mmdet_face.WiderFaceMetric')])])
def test_without_the_official_lists_the_best_is_kept_by_widerface_all(evaluator):
    cfg = _cfg(evaluator=evaluator)
    note = fit_save_best(cfg)
    assert cfg.default_hooks.checkpoint.save_best == 'widerface/all'
    assert 'no gt_dir' in note and 'instead of widerface/hard' in note


@pytest.mark.parametrize('cfg', [
    _cfg(evaluator=dict(type='WiderFaceMetric', gt_dir='data/widerface/val/gt/')),  # official lists: hard exists
    _cfg(save_best='landmarks/nme'),  # another key: the user's choice
    _cfg(save_best=None),
    _cfg(val=False),  # no validation
    _cfg(evaluator=dict(type='FaceCocoMetric')),  # no WiderFaceMetric: nothing to infer
    _cfg(evaluator=dict(type='WiderFaceMetric', prefix='mine')),  # its keys are mine/...: not ours to rename
])
def test_other_configs_are_left_alone(cfg):
    before = cfg.default_hooks.checkpoint.save_best
    assert fit_save_best(cfg) is None
    assert cfg.default_hooks.checkpoint.save_best == before
