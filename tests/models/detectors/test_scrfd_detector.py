
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet_face.models.detectors import SCRFD
from mmdet_face.apis.inference import init_face_detector
from tests.helpers.paths import REPO_ROOT

CONFIG = REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


def sample(h=96, w=128, scale=1.0):
    ds = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(round(h / scale), round(w / scale)),
                                     scale_factor=(scale, scale), pad_shape=(h, w)))
    ds.gt_instances = InstanceData(
        bboxes=torch.tensor([[30., 20., 70., 66.]]), labels=torch.tensor([0]),
        keypoints=torch.tensor([[[42., 38.], [58., 38.], [50., 46.], [44., 56.], [56., 56.]]]),
        keypoints_weights=torch.ones(1, 5))
    ds.ignored_instances = InstanceData(bboxes=torch.tensor([[100., 60., 120., 90.]]),
                                        labels=torch.tensor([0]), keypoints=torch.zeros(1, 5, 2),
                                        keypoints_weights=torch.zeros(1, 5))
    return ds


def build():
    model = init_face_detector(str(CONFIG)).train()
    model.init_weights()
    return model


def test_config_builds_scrfd_with_keypoint_head():
    cfg = Config.fromfile(str(CONFIG))
    assert cfg.model.data_preprocessor.mean == [127.5] * 3 and cfg.model.data_preprocessor.std == [128.0] * 3
    model = build()
    assert isinstance(model, SCRFD) and model.bbox_head.use_kps
    assert type(model.backbone).__name__ == 'MobileNetV1'


def test_train_and_predict_carry_keypoints():
    model = build()
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)], data_samples=[sample()])
    model.train()
    batch = model.data_preprocessor(data, training=True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert {'loss_cls', 'loss_bbox', 'loss_kps'} <= set(losses)
    total = sum(sum(v) for v in losses.values())
    assert torch.isfinite(total)
    total.backward()

    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0  # an untrained head scores ~0.01 everywhere
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)],
                data_samples=[sample(scale=0.5)])
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        # predict() writes into the data samples it is given, so keep each result before the next call
        res = model.predict(batch['inputs'], batch['data_samples'], rescale=True)[0].pred_instances.clone()
        raw = model.predict(batch['inputs'], batch['data_samples'], rescale=False)[0].pred_instances
    assert len(res) > 0
    assert res.keypoints.shape == (len(res), 5, 2) and res.bboxes.shape == (len(res), 4)
    # rescale=True maps boxes and keypoints back to the original image (scale factor 0.5 -> x2)
    assert len(raw) == len(res) and torch.equal(raw.scores, res.scores)
    assert torch.allclose(res.bboxes, raw.bboxes * 2, atol=1e-4)
    assert torch.allclose(res.keypoints, raw.keypoints * 2, atol=1e-4)


def test_train_step_with_optim_wrapper():
    from mmengine.optim import OptimWrapper
    model = build()
    model.train()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4))
    data = dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8) for _ in range(2)],
                data_samples=[sample(), sample()])
    log_vars = model.train_step(data, optim_wrapper)
    assert {'loss', 'loss_cls', 'loss_bbox', 'loss_kps'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss'])
