"""Every SRN / AInnoFace config builds and gives finite losses and predictions on a tiny input; AInnoFace uses the
UnitBox IoU loss (switchable to GIoU / DIoU by the documented override) and PyramidBox data-anchor-sampling."""
import argparse

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmdet_face.datasets.transforms import DataAnchorSampling, RandomSquareCrop
from mmdet_face.models.detectors import SRN
from mmdet_face.apis.inference import init_face_detector
from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT / 'configs'
CONFIGS = ['toy/srn_toy.py', 'toy/ainnoface_toy.py', 'srn/srn_r50_fpn_4xb8-130e_widerface.py',
           'ainnoface/ainnoface_r50_fpn_4xb8-130e_widerface.py',
           'ainnoface/ainnoface_r152_fpn_4xb8-130e_widerface.py']


def sample(size=64):
    ds = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.),
                                     pad_shape=(size, size), batch_input_shape=(size, size)))
    ds.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 30., 36.]]), labels=torch.tensor([0]))
    ds.ignored_instances = InstanceData(bboxes=torch.tensor([[40., 40., 50., 52.]]), labels=torch.tensor([0]))
    return ds


def _losses(cfg):
    cfg.model.backbone.init_cfg = None  # no download in tests
    torch.manual_seed(0)
    model = init_face_detector(cfg).train()
    model.bbox_head.init_weights()
    x = torch.rand(1, 3, 64, 64) * 255
    data = model.data_preprocessor(dict(inputs=[x[0]], data_samples=[sample()]), training=True)
    return model, data, model.loss(data['inputs'], data['data_samples'])


def _assert_positive_box_loss(model, data):
    """At init every first-step face probability is the prior 0.01, i.e. background 0.99 sits on the STC cut and
    the tiny sample's positives can all be filtered (loss_bbox = 0); keep every anchor so the decoded-box loss
    really runs on positives."""
    threshold = model.bbox_head.stc_threshold
    model.bbox_head.stc_threshold = 1.0
    try:
        losses = model.loss(data['inputs'], data['data_samples'])
    finally:
        model.bbox_head.stc_threshold = threshold
    assert torch.isfinite(losses['loss_bbox']) and losses['loss_bbox'].item() > 0
    losses['loss_bbox'].backward()


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_config_forward_and_loss(name):
    cfg = Config.fromfile(str(ROOT / name))
    model, data, losses = _losses(cfg)
    assert isinstance(model, SRN)
    head = model.bbox_head
    assert head.stc_levels == (0, 1, 2) and head.str_levels == (3, 4, 5) and head.stc_threshold == 0.99
    if 'ainnoface' in name:
        # UnitBox: -ln(IoU) on decoded boxes in the second step; smooth L1 on deltas in the first
        assert head.reg_decoded_bbox and type(head.loss_bbox).__name__ == 'IoULoss' and head.loss_bbox.mode == 'log'
        assert type(head.loss_bbox_first).__name__ == 'SmoothL1Loss' and head.maxout_levels
        # -ln IoU: [0, 0, 10, 10] against [0, 0, 10, 20] has IoU 1/2 -> ln 2
        loss = head.loss_bbox(torch.tensor([[0., 0., 10., 10.]]), torch.tensor([[0., 0., 10., 20.]]))
        assert loss.item() == pytest.approx(np.log(2), rel=1e-5)
        _assert_positive_box_loss(model, data)
    else:
        assert type(head.loss_bbox).__name__ == 'SmoothL1Loss'
    assert set(losses) == {'loss_stc_cls', 'loss_str_bbox', 'loss_cls', 'loss_bbox'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        pred = model.predict(data['inputs'], data['data_samples'])[0].pred_instances
    assert torch.isfinite(pred.bboxes).all() and 'keypoints' not in pred


@pytest.mark.parametrize('loss_type', ['GIoULoss', 'DIoULoss'])
def test_ainnoface_iou_loss_switch_by_cfg_options(loss_type):
    """The one-line override documented in the R-152 config, parsed as tools/train.py parses --cfg-options."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'model.bbox_head.loss_bbox._delete_=True',
                              f'model.bbox_head.loss_bbox.type={loss_type}',
                              'model.bbox_head.loss_bbox.loss_weight=1.0'])
    cfg = Config.fromfile(str(ROOT / 'ainnoface/ainnoface_r50_fpn_4xb8-130e_widerface.py'))
    cfg.merge_from_dict(args.cfg_options)
    assert cfg.model.bbox_head.loss_bbox == dict(type=loss_type, loss_weight=1.0)
    model, data, losses = _losses(cfg)
    assert type(model.bbox_head.loss_bbox).__name__ == loss_type and model.bbox_head.reg_decoded_bbox
    assert all(torch.isfinite(v) for v in losses.values())
    _assert_positive_box_loss(model, data)


def _toy_results():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40, 50, 80, 100], [200, 60, 230, 96], [150, 150, 170, 172]], dtype=np.float32)
    kps = np.stack([np.stack([b[:2] + (b[2:] - b[:2]) * f for f in
                              ((.3, .35), (.7, .35), (.5, .55), (.35, .75), (.65, .75))]) for b in boxes])
    return dict(img=img, img_shape=(240, 320), ori_shape=(240, 320), img_id='0--Toy/x', img_path='x.jpg',
                gt_bboxes=HorizontalBoxes(boxes), gt_bboxes_labels=np.zeros(3, np.int64),
                gt_ignore_flags=np.array([False, False, True]), gt_keypoints=kps.astype(np.float32),
                gt_keypoints_weights=np.ones((3, 5), np.float32))


@pytest.mark.parametrize('name', ['ainnoface/ainnoface_r50_fpn_4xb8-130e_widerface.py',
                                  'ainnoface/ainnoface_r152_fpn_4xb8-130e_widerface.py'])
def test_ainnoface_pipeline_has_data_anchor_sampling(name):
    cfg = Config.fromfile(str(ROOT / name))
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert cfg.train_pipeline == pipeline
    types = [t['type'] for t in pipeline]
    assert types == ['LoadImageFromFile', 'LoadFaceAnnotations', 'RandomChoice', 'FaceResize', 'FaceRandomFlip',
                     'PhotoMetricDistortion', 'PackFaceInputs']
    choice = pipeline[2]
    assert choice['prob'] == [0.5, 0.5]
    (das, ), (square, ) = choice['transforms']
    assert das['type'] == 'DataAnchorSampling' and das['crop_size'] == 1024
    assert tuple(das['anchor_scales']) == (16, 32, 64, 128, 256, 512)
    assert square['type'] == 'RandomSquareCrop' and pipeline[3]['scale'] == (1024, 1024)
    # build everything after the loaders in scope mmdet_face and run both branches on a synthetic image
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        compose = Compose(pipeline[2:])
    branches = compose.transforms[0].transforms
    assert isinstance(branches[0].transforms[0], DataAnchorSampling)
    assert isinstance(branches[1].transforms[0], RandomSquareCrop)
    np.random.seed(3)
    seen = set()
    for _ in range(8):
        out = compose(_toy_results())
        assert tuple(out['inputs'].shape) == (3, 1024, 1024)
        inst = out['data_samples'].gt_instances
        assert torch.isfinite(inst.bboxes.tensor).all() and (inst.bboxes.tensor >= 0).all()
        assert (inst.bboxes.tensor <= 1024).all()
        seen.add(len(inst) + len(out['data_samples'].ignored_instances) > 0)
    assert True in seen
