"""Toy DSFD training decreases every loss term: the toy config's model and optimizer (configs/toy/dsfd_toy.py)
overfit one fixed batch of two tiny images for a few iterations; first-shot and second-shot classification and box
losses all fall."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import mmdet_face  # noqa: F401
from mmdet_face.registry import MODELS
from tests.helpers.paths import REPO_ROOT

TERMS = ('loss_cls_first', 'loss_bbox_first', 'loss_cls', 'loss_bbox')


def _fixed_batch(model, size=96):
    """Two images with bright 'faces' on a dark noisy background (a learnable signal), boxes in pixels."""
    g = torch.Generator().manual_seed(0)
    boxes = [torch.tensor([[10., 12., 34., 44.], [56., 50., 72., 72.]]), torch.tensor([[40., 20., 80., 76.]])]
    inputs, samples = [], []
    for b in boxes:
        img = torch.randint(0, 60, (3, size, size), generator=g, dtype=torch.uint8)
        for x1, y1, x2, y2 in b.int().tolist():
            img[:, y1:y2, x1:x2] = 200
        inputs.append(img)
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=HorizontalBoxes(b), labels=torch.zeros(len(b), dtype=torch.long))
        s.ignored_instances = InstanceData(bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                                           labels=torch.zeros(0, dtype=torch.long))
        samples.append(s)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


def test_toy_config_training_steps_decrease_every_loss_term():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'toy' / 'dsfd_toy.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    data = _fixed_batch(model)
    history = []
    for _ in range(12):
        losses = model(**data, mode='loss')
        history.append({k: float(losses[k].detach()) for k in TERMS})
        optim.update_params(sum(losses.values()))
    assert set(losses) == set(TERMS)
    for term in TERMS:
        first = history[0][term]
        last = sum(h[term] for h in history[-3:]) / 3
        assert first > 0 and last < 0.5 * first, (term, [round(h[term], 3) for h in history])
