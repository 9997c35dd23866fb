"""Every SRN / AInnoFace config builds and gives finite losses and predictions on a tiny input."""
from pathlib import Path

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet_face.models.detectors import SRN
from mmdet_face.models.utils.complexity import build_detector_from_config

ROOT = Path(__file__).resolve().parents[2] / 'configs'
CONFIGS = ['toy/srn_toy.py', 'srn/srn_r50_fpn_4xb8-130e_widerface.py',
           'ainnoface/ainnoface_r50_fpn_4xb8-130e_widerface.py',
           'ainnoface/ainnoface_r152_fpn_4xb8-130e_widerface.py']


def sample(size=64):
    ds = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.),
                                     pad_shape=(size, size), batch_input_shape=(size, size)))
    ds.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 30., 36.]]), labels=torch.tensor([0]))
    ds.ignored_instances = InstanceData(bboxes=torch.tensor([[40., 40., 50., 52.]]), labels=torch.tensor([0]))
    return ds


@pytest.mark.parametrize('name', CONFIGS)
def test_config_forward_and_loss(name):
    cfg = Config.fromfile(str(ROOT / name))
    cfg.model.backbone.init_cfg = None  # no download in tests
    torch.manual_seed(0)
    model = build_detector_from_config(cfg)
    model.bbox_head.init_weights()
    assert isinstance(model, SRN)
    head = model.bbox_head
    assert head.stc_levels == (0, 1, 2) and head.str_levels == (3, 4, 5) and head.stc_threshold == 0.99
    if 'ainnoface' in name:
        assert head.reg_decoded_bbox and type(head.loss_bbox).__name__ == 'GIoULoss' and head.maxout_levels
    x = torch.rand(1, 3, 64, 64) * 255
    data = model.data_preprocessor(dict(inputs=[x[0]], data_samples=[sample()]), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_stc_cls', 'loss_str_bbox', 'loss_cls', 'loss_bbox'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        pred = model.predict(data['inputs'], data['data_samples'])[0].pred_instances
    assert torch.isfinite(pred.bboxes).all() and 'keypoints' not in pred
