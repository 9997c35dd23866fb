"""docs/adding_a_head.md: its example head and config, run as written (the page's first python block is the head
file, the second the config)."""
import re
import warnings

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet_face.registry import MODELS
from tests.helpers.paths import REPO_ROOT as ROOT

DOC = ROOT / 'docs' / 'adding_a_head.md'


def _python_blocks():
    return re.findall(r'```python\n(.*?)```', DOC.read_text(encoding='utf-8'), re.S)


@pytest.fixture(scope='module')
def tiny_head():
    """The page's head class, registered while this module's tests run."""
    namespace = {}
    exec(compile(_python_blocks()[0], str(DOC), 'exec'), namespace)
    yield namespace['TinyFaceHead']
    MODELS.module_dict.pop('TinyFaceHead', None)


def test_the_head_file_is_layers_loss_and_decode(tiny_head):
    methods = {name for name, value in vars(tiny_head).items() if callable(value)}
    assert methods == {'__init__', 'forward', 'loss_by_feat', 'decode_image'}


def _head_with_unit_weights(cls, **kwargs):
    """in_channels 1, stride 8: the face logit is the feature value, every distance exp(0) = 1 stride."""
    head = cls(in_channels=1, strides=(8,), **kwargs)
    with torch.no_grad():
        for conv in (*head.cls_convs, *head.reg_convs):
            conv.weight.zero_()
            conv.bias.zero_()
        head.cls_convs[0].weight[0, 0, 1, 1] = 1.0
    return head


def test_decode_and_tail_by_hand(tiny_head):
    # 16 x 16 input -> one 2 x 2 map, locations at (4, 4), (12, 4), (4, 12), (12, 12); boxes of +-8 px
    head = _head_with_unit_weights(tiny_head, test_cfg=dict(score_thr=0.3, nms=dict(type='nms', iou_threshold=0.4)))
    feats = (torch.tensor([[[[2.0, -1.0], [-3.0, 0.5]]]]),)
    meta = dict(img_shape=(16, 16), scale_factor=(0.5, 0.5))
    (result,) = head.predict_by_feat(*head(feats), batch_img_metas=[meta], rescale=True)
    # sigmoid(2) = 0.881 and sigmoid(0.5) = 0.622 pass 0.3; boxes [-4, -4, 12, 12] and [4, 4, 20, 20] clipped to
    # 16 x 16 (IoU 64 / 224: both kept), then doubled
    assert result.bboxes.tolist() == [[0., 0., 24., 24.], [8., 8., 32., 32.]]
    np.testing.assert_allclose(result.scores.numpy(), [1 / (1 + np.exp(-2)), 1 / (1 + np.exp(-0.5))], rtol=1e-6)
    assert result.labels.tolist() == [0, 0]


def test_loss_by_hand(tiny_head):
    # logits 0 everywhere: 4 * log 2; the face [2, 2, 10, 10] holds only (4, 4): target (2, 2, 6, 6) / 8 against
    # predicted (1, 1, 1, 1): L1 = 0.75 + 0.75 + 0.25 + 0.25 = 2; one positive
    head = _head_with_unit_weights(tiny_head)
    gt = InstanceData(bboxes=torch.tensor([[2., 2., 10., 10.]]), labels=torch.tensor([0]))
    losses = head.loss_by_feat(*head((torch.zeros(1, 1, 2, 2),)), [gt], [dict(img_shape=(16, 16))])
    assert float(losses['loss_cls'].detach()) == pytest.approx(4 * np.log(2), rel=1e-6)
    assert float(losses['loss_bbox'].detach()) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.slow
def test_the_config_trains_and_detects(tiny_head, tmp_path):
    from mmdet_face.apis.face_detector import FaceDetector, RandomWeightsWarning
    config = tmp_path / 'tiny_head_toy.py'
    base = ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'
    config.write_text(_python_blocks()[1].replace("'./scrfd_toy_kps.py'", repr(str(base))))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        detector = FaceDetector(Config.fromfile(str(config)), optimize=False)
    assert type(detector.head) is tiny_head
    img = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    faces = detector(img, score_thr=0.0)
    assert len(faces) > 0 and faces.keypoints is None
    assert faces.bboxes[:, 0::2].min() >= 0 and faces.bboxes[:, 0::2].max() <= 80
    assert faces.bboxes[:, 1::2].min() >= 0 and faces.bboxes[:, 1::2].max() <= 60
    model = detector.model
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64), scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[8., 8., 40., 40.]]), labels=torch.tensor([0]))
    data = model.data_preprocessor(dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8)],
                                        data_samples=[sample]), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox'} and all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_bbox']) > 0
