"""The converted release weights reproduce the release's WIDER-test inference on real photos.

The reference below is an independent, functional re-statement of the release's inference (biubug6
``test_widerface.py`` with ``origin_size``): it reads the *original* state dict by key name, runs the network with
``torch.nn.functional`` ops, builds priors in normalised (cx, cy, w, h) as the release does, decodes with variances
0.1 / 0.2, keeps ``score > 0.02``, the best 5000, greedy NMS at 0.4 with +1-pixel areas in numpy, the best 750.
"""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers.paths import REPO_ROOT, shared_path

CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py'
IMAGES = ['test.jpg', '0_Parade_marchingband_1_765.jpg']


# ----------------------------------------------------------------------------- reference (release semantics)
def _conv_bn(x, sd, prefix, stride=1, groups=1, slope=None, conv='0', bn='1'):
    w = sd[f'{prefix}.{conv}.weight']
    x = F.conv2d(x, w, None, stride, w.shape[-1] // 2, 1, groups)
    x = F.batch_norm(x, sd[f'{prefix}.{bn}.running_mean'], sd[f'{prefix}.{bn}.running_var'],
                     sd[f'{prefix}.{bn}.weight'], sd[f'{prefix}.{bn}.bias'], False, 0.0, 1e-5)
    return x if slope is None else F.leaky_relu(x, slope)


def _reference_forward(sd, img):
    x = img
    strides = {'stage1': [2, 1, 2, 1, 2, 1], 'stage2': [2, 1, 1, 1, 1, 1], 'stage3': [2, 1]}
    feats = []
    for stage, stage_strides in strides.items():
        for i, s in enumerate(stage_strides):
            p = f'body.{stage}.{i}'
            if stage == 'stage1' and i == 0:
                x = _conv_bn(x, sd, p, stride=s, slope=0.1)
            else:
                x = _conv_bn(x, sd, p, stride=s, groups=x.shape[1], slope=0.1)
                x = _conv_bn(x, sd, p, slope=0.1, conv='3', bn='4')
        feats.append(x)
    o1, o2, o3 = (_conv_bn(f, sd, f'fpn.output{k + 1}', slope=0.1) for k, f in enumerate(feats))
    o2 = _conv_bn(o2 + F.interpolate(o3, size=o2.shape[-2:], mode='nearest'), sd, 'fpn.merge2', slope=0.1)
    o1 = _conv_bn(o1 + F.interpolate(o2, size=o1.shape[-2:], mode='nearest'), sd, 'fpn.merge1', slope=0.1)
    outs = []
    for k, f in enumerate([o1, o2, o3]):
        p = f'ssh{k + 1}'
        c3 = _conv_bn(f, sd, f'{p}.conv3X3')
        c5_1 = _conv_bn(f, sd, f'{p}.conv5X5_1', slope=0.1)
        c5 = _conv_bn(c5_1, sd, f'{p}.conv5X5_2')
        c7 = _conv_bn(_conv_bn(c5_1, sd, f'{p}.conv7X7_2', slope=0.1), sd, f'{p}.conv7x7_3')
        outs.append(F.relu(torch.cat([c3, c5, c7], 1)))

    def head(name, per_anchor):
        return torch.cat([
            F.conv2d(f, sd[f'{name}.{k}.conv1x1.weight'], sd[f'{name}.{k}.conv1x1.bias'])
            .permute(0, 2, 3, 1).reshape(1, -1, per_anchor) for k, f in enumerate(outs)], 1)

    return head('BboxHead', 4)[0], F.softmax(head('ClassHead', 2), dim=-1)[0], head('LandmarkHead', 10)[0]


def _reference_priors(h, w):
    anchors = []
    for min_sizes, step in zip([[16, 32], [64, 128], [256, 512]], [8, 16, 32]):
        for i, j in itertools.product(range(math.ceil(h / step)), range(math.ceil(w / step))):
            for m in min_sizes:
                anchors += [(j + 0.5) * step / w, (i + 0.5) * step / h, m / w, m / h]
    return torch.tensor(anchors, dtype=torch.float32).view(-1, 4)


def _reference_nms(dets, thresh):
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def reference_detect(sd, img_bgr):
    """Release inference at original size -> (boxes (N, 4), scores (N,), landmarks (N, 5, 2)) numpy."""
    h, w = img_bgr.shape[:2]
    x = torch.from_numpy(np.float32(img_bgr) - np.float32([104, 117, 123])).permute(2, 0, 1)[None]
    with torch.no_grad():
        loc, conf, landms = _reference_forward(sd, x)
    priors = _reference_priors(h, w)
    v0, v1 = 0.1, 0.2
    boxes = torch.cat((priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:], priors[:, 2:] * torch.exp(loc[:, 2:] * v1)), 1)
    boxes[:, :2] -= boxes[:, 2:] / 2
    boxes[:, 2:] += boxes[:, :2]
    boxes = (boxes * torch.tensor([w, h, w, h], dtype=torch.float32)).numpy()
    scores = conf[:, 1].numpy()
    lm = torch.cat([priors[:, :2] + landms[:, 2 * k:2 * k + 2] * v0 * priors[:, 2:] for k in range(5)], 1)
    lm = (lm * torch.tensor([w, h] * 5, dtype=torch.float32)).numpy()
    inds = np.where(scores > 0.02)[0]
    boxes, lm, scores = boxes[inds], lm[inds], scores[inds]
    order = scores.argsort()[::-1][:5000]
    boxes, lm, scores = boxes[order], lm[order], scores[order]
    dets = np.hstack((boxes, scores[:, None])).astype(np.float32, copy=False)
    keep = _reference_nms(dets, 0.4)
    dets, lm = dets[keep][:750], lm[keep][:750]
    return dets[:, :4], dets[:, 4], lm.reshape(-1, 5, 2)


# ----------------------------------------------------------------------------- ours
@pytest.fixture(scope='module')
def converted_model():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_state_dict
    from mmdet_face.registry import MODELS
    weights = shared_path('real', 'weights', 'retinaface_mobilenet025.pth')
    release = torch.load(weights, map_location='cpu', weights_only=True)
    cfg = Config.fromfile(str(CONFIG))
    init_default_scope('mmdet_face')
    model = MODELS.build(cfg.model)
    model.load_state_dict(convert_retinaface_state_dict(release), strict=True)
    return model.eval(), release


def our_detect(model, img_bgr):
    from mmdet.structures import DetDataSample
    h, w = img_bgr.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    inputs = torch.from_numpy(np.ascontiguousarray(img_bgr)).permute(2, 0, 1)
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[inputs], data_samples=[sample]))[0].pred_instances
    return pred.bboxes.numpy(), pred.scores.numpy(), pred.keypoints.numpy()


@pytest.mark.parametrize('name', IMAGES)
def test_converted_release_matches_reference(converted_model, name):
    import cv2
    model, release = converted_model
    img = cv2.imread(str(shared_path('real', 'images', name)), cv2.IMREAD_COLOR)
    ref_boxes, ref_scores, ref_kps = reference_detect(release, img)
    boxes, scores, kps = our_detect(model, img)
    assert len(ref_scores) > 10  # crowd photos: many faces
    assert len(scores) == len(ref_scores)
    # both are sorted by decreasing score; order equal scores by box for a stable comparison
    ours = np.lexsort((boxes[:, 0], -scores))
    refs = np.lexsort((ref_boxes[:, 0], -ref_scores))
    np.testing.assert_allclose(scores[ours], ref_scores[refs], atol=1e-4, rtol=0)
    np.testing.assert_allclose(boxes[ours], ref_boxes[refs], atol=1e-2, rtol=0)
    np.testing.assert_allclose(kps[ours], ref_kps[refs], atol=1e-2, rtol=0)
