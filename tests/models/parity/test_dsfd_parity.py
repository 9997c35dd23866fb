"""Random-weight parity with the released DSFD modules.

The release's network, as the ``face-detection==0.2.2`` package ships it (``face_detection.dsfd.face_ssd.SSD`` with
``resnet152_model_config``, key-for-key the Tencent release), runs in a child process through
``tools/analysis/release_reference.py``. The weights cannot be downloaded, so it gets random ones: seeded init,
BN statistics calibrated on random images like the test's (so the 152 layers stay finite), BN affines drawn from
tame ranges, and the last score convs scaled x20 so the scores spread over (0, 1). Its state dict (saved without
``num_batches_tracked``, as the torch-0.3.1 release file) goes through our converter into
``configs/dsfd/dsfd_r152_release_widerface.py`` (strict load), and both networks see the same BGR mean-subtracted
tensor, at 200 x 320 and 257 x 383: neither is a multiple of 128, so the last centres of the coarse levels are
clamped onto the border, and both are shorter than the 512 prior's 627 px height, which is clamped too.
Compared within 1e-5 relative (to each tensor's largest value): the six FEM outputs, the max-in-out logits, the
decoded boxes and the face scores. Then the final detections:

* against the package's own ``DSFDDetector.detect`` (score >= 0.01, NMS 0.3, no top-k, no cap: ours with
  ``nms_pre`` and ``max_per_img`` off),
* against the release's test rule (Tencent ``layers/functions/detection.py``: score > 0.01, the 5000 best, NMS 0.3;
  750 kept), written out in the child on the release module's decoded output, with our default ``test_cfg``;

and the release's multi-scale + flip WIDER test (``widerface_val.py``, written out in the child on the release
module, all 11 views of an 80 x 112 image) against our ``DSFDReleaseTTA`` + ``DSFDReleaseTTAModel``.

Skips, with the reason, where the reference package cannot be fetched or imported.
"""
import numpy as np
import pytest
import torch

from tests.helpers.paths import REPO_ROOT
from tests.helpers.release import require_reference, run_reference

CONFIG = REPO_ROOT / 'configs/dsfd/dsfd_r152_release_widerface.py'
SIZES = [(200, 320), (257, 383)]

REFERENCE = r'''
import sys
import numpy as np
import torch
import face_detection
import face_detection.dsfd.detect as dsfd_detect

gen = torch.Generator().manual_seed(1)
net = dsfd_release_net(gen, affine_seed=2)   # calibrated on what the test feeds: uniform random images minus the mean
with torch.no_grad():
    for level in range(6):
        net.conf[level].conv4.weight.mul_(20.0)
state = net.state_dict()
torch.save({k: v for k, v in state.items() if not k.endswith('num_batches_tracked')}, OUT / 'release.pth')
torch.save(dict(params=sum(p.numel() for p in net.parameters())), OUT / 'meta.pth')

hooks = {}
for name in ('cpm3_3', 'cpm4_3', 'cpm5_3', 'cpm7', 'cpm6_2', 'cpm7_2'):
    getattr(net, name).register_forward_hook(lambda m, i, o, name=name: hooks.__setitem__(name, o))
for level in range(6):
    net.conf[level].register_forward_hook(lambda m, i, o, level=level: hooks.__setitem__(('conf', level), o))

dsfd_detect.load_state_dict_from_url = lambda *args, **kwargs: state   # the release URLs are dead; no network
detector = face_detection.build_detector('DSFDDetector', confidence_threshold=0.01, nms_iou_threshold=0.3,
                                         device=torch.device('cpu'))
for size in sys.argv[1:]:
    h, w = (int(v) for v in size.split('x'))
    rgb = torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.uint8).numpy()
    # the package's preprocessing (RGB minus (123, 117, 104), then channels to BGR) = BGR minus (104, 117, 123)
    x = torch.from_numpy(rgb[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32))
    x = x.permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        out = net(x, None, None)                        # (1, P, 5): normalised x1y1x2y2 + face probability
    mio = [net.mio_module(hooks[('conf', level)], level)[:, :2] for level in range(6)]
    fem = [hooks[name] for name in ('cpm3_3', 'cpm4_3', 'cpm5_3', 'cpm7', 'cpm6_2', 'cpm7_2')]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    boxes, scores = out[0, :, :4] * scale, out[0, :, 4]
    # the release's test rule (Tencent layers/functions/detection.py): > 0.01, the 5000 best, NMS 0.3; 750 kept
    keep = scores > 0.01
    b, s = boxes[keep], scores[keep]
    order = torch.argsort(s, descending=True, stable=True)[:5000]
    b, s = b[order], s[order]
    kept = cpu_nms(b, s, 0.3)[:750]
    release_dets = torch.cat([b[kept], s[kept, None]], dim=1)
    package_dets = torch.from_numpy(detector.detect(rgb))   # pixels, score >= 0.01, NMS 0.3
    torch.save(dict(rgb=torch.from_numpy(rgb.copy()), x=x, fem=fem, mio=mio, boxes=boxes, scores=scores,
                    release_dets=release_dets, package_dets=package_dets), OUT / f'ref_{h}x{w}.pth')

# The release's multi-scale test (Tencent widerface_val.py), written out on the release module: every view resized
# with cv2 INTER_LINEAR, detected with the release's rule (> 0.01, the 5000 best, NMS 0.3, all kept), boxes divided
# by the scale; the flip of the original image mirrored back; the 30 px / 100 px filters (+1 sides); bbox_vote.
import cv2


def detect_face(image, shrink):
    x = image if shrink == 1 else cv2.resize(image, None, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_LINEAR)
    h, w = x.shape[:2]
    t = torch.from_numpy(x.astype(np.float32) - np.array([104, 117, 123], np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = net(t.contiguous(), None, None)[0]
    boxes, scores = out[:, :4] * torch.tensor([w, h, w, h], dtype=torch.float32), out[:, 4]
    keep = scores > 0.01
    b, s = boxes[keep], scores[keep]
    order = torch.argsort(s, descending=True, stable=True)[:5000]
    b, s = b[order], s[order]
    kept = cpu_nms(b, s, 0.3)
    det = np.concatenate([b[kept].double().numpy() / shrink, s[kept, None].double().numpy()], axis=1)
    return det if len(det) else np.array([[0, 0, 0, 0, 0.001]])


def flip_test(image, shrink):
    det = detect_face(cv2.flip(image, 1), shrink)
    out = det.copy()
    out[:, 0], out[:, 2] = image.shape[1] - det[:, 2], image.shape[1] - det[:, 0]
    return out


def sides(det):
    return det[:, 2] - det[:, 0] + 1, det[:, 3] - det[:, 1] + 1


def long_over_30(det):
    w, h = sides(det)
    return det[np.maximum(w, h) > 30]


def short_under_100(det):
    w, h = sides(det)
    return det[np.minimum(w, h) < 100]


def bbox_vote(det):
    det = det[det[:, 4].argsort()[::-1]]
    out = []
    while len(det):
        w = np.maximum(0.0, np.minimum(det[0, 2], det[:, 2]) - np.maximum(det[0, 0], det[:, 0]) + 1)
        h = np.maximum(0.0, np.minimum(det[0, 3], det[:, 3]) - np.maximum(det[0, 1], det[:, 1]) + 1)
        area = (det[:, 2] - det[:, 0] + 1) * (det[:, 3] - det[:, 1] + 1)
        iou = w * h / (area[0] + area - w * h)
        group, det = det[iou >= 0.3], det[iou < 0.3]
        if len(group) > 1:
            box = (group[:, :4] * group[:, 4:]).sum(0) / group[:, 4].sum()
            out.append(np.append(box, group[:, 4].max()))
    return np.array(out).reshape(-1, 5)[:750]


# unsaturated scores for this check (ties at 1.0 would make the NMS order arbitrary): undo the x20
with torch.no_grad():
    for level in range(6):
        net.conf[level].conv4.weight.div_(20.0)
tta_h, tta_w = 80, 112
tta_image = torch.randint(0, 256, (tta_h, tta_w, 3), generator=gen, dtype=torch.uint8).numpy()   # BGR
m = min(3.0, (0x7fffffff / 200.0 / (tta_h * tta_w)) ** 0.5)
shrink = min(m, 1.0)
parts = [detect_face(tta_image, shrink), flip_test(tta_image, shrink)]
st = 0.5 if m >= 0.75 else 0.5 * m
det_s = detect_face(tta_image, st)
if m > 0.75:
    det_s = np.vstack([det_s, detect_face(tta_image, 0.75)])
parts.append(long_over_30(det_s))
bt = min(2, m) if m > 1 else (st + m) / 2
det_b = detect_face(tta_image, bt)
if m > 1.5:
    det_b = np.vstack([det_b, detect_face(tta_image, 1.5)])
if m > 2:
    bt *= 2
    while bt < m:
        det_b = np.vstack([det_b, detect_face(tta_image, bt)])
        bt *= 2
    det_b = np.vstack([det_b, detect_face(tta_image, m)])
parts.append(short_under_100(det_b) if bt > 1 else long_over_30(det_b))
det_p = long_over_30(detect_face(tta_image, 0.25))
for scale in (1.25, 1.75, 2.25):
    if scale <= m:
        det_p = np.vstack([det_p, short_under_100(detect_face(tta_image, scale))])
parts.append(det_p)
torch.save(dict(image=torch.from_numpy(tta_image.copy()), dets=torch.from_numpy(bbox_vote(np.vstack(parts)))),
           OUT / 'tta.pth')
'''


pytestmark = pytest.mark.usefixtures('on_the_reference_thread_count')  # bitwise-equal sums (conftest)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    require_reference()
    out = tmp_path_factory.mktemp('dsfd_reference')
    run_reference(REFERENCE, out_dir=out, args=[f'{h}x{w}' for h, w in SIZES], timeout=900)
    return out


@pytest.fixture(scope='module')
def ours(reference):
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.dsfd_pth_import import load_release_checkpoint
    model = init_face_detector(str(CONFIG))
    model.load_state_dict(load_release_checkpoint(str(reference / 'release.pth')), strict=True)
    return model.eval()


def _close(actual, expected, rtol=1e-5):
    """Equal within ``rtol`` relative to the reference tensor's largest magnitude (elementwise relative error is
    meaningless for values near zero)."""
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * float(expected.abs().max()))


def _sorted(dets):
    """(N, 5) detections ordered by decreasing score, ties by x1."""
    dets = np.asarray(dets, dtype=np.float64)
    return dets[np.lexsort((dets[:, 0], -dets[:, 4]))]


def _run(model, rgb, cfg=None):
    from mmdet.structures import DetDataSample
    h, w = rgb.shape[:2]
    bgr = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(2, 0, 1)
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[bgr], data_samples=[sample]), False)
        metas = [s.metainfo for s in data['data_samples']]
        x = data['inputs']
        enhanced = model.extract_feat(x)
        cls_scores, bbox_preds = model.bbox_head(enhanced)
        boxes, scores = model.bbox_head.decode(cls_scores, bbox_preds, metas)
        (dets,) = model.bbox_head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, cfg=cfg)
    return x, enhanced, cls_scores, boxes[0], scores[0], torch.cat([dets.bboxes, dets.scores[:, None]], dim=1)


@pytest.mark.slow
def test_parameter_count_is_the_release_minus_the_dropped_head_body_outputs(reference, ours):
    release = torch.load(reference / 'meta.pth', weights_only=True)['params']
    assert release == 120_058_406
    assert sum(p.numel() for p in ours.parameters()) == release - 257 * 54


@pytest.mark.slow
@pytest.mark.parametrize('size', SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
def test_random_weight_parity_with_the_release(reference, ours, size):
    ref = torch.load(reference / f'ref_{size[0]}x{size[1]}.pth', weights_only=True)
    rgb = ref['rgb'].numpy()
    x, enhanced, cls_scores, boxes, scores, dets = _run(ours, rgb)
    torch.testing.assert_close(x, ref['x'], rtol=0, atol=0)            # same preprocessing
    assert [tuple(f.shape) for f in enhanced] == [tuple(f.shape) for f in ref['fem']]
    for level, (a, b) in enumerate(zip(enhanced, ref['fem'])):
        _close(a, b)
    for level, (a, b) in enumerate(zip(cls_scores, ref['mio'])):
        _close(a, b.flip(1))                                              # ours (face, bg), release (bg, face)
    _close(boxes, ref['boxes'])
    priors = ours.bbox_head.get_priors(cls_scores, [dict(batch_input_shape=size)])
    assert float((boxes - priors).abs().max()) > 5, 'the random deltas should move the boxes off the priors'
    _close(scores, ref['scores'])
    # the random weights put scores on both sides of the 0.01 threshold and well above it
    assert bool((ref['scores'] < 0.01).any()) and bool((ref['scores'] > 0.5).any())

    # the release's test rule with our default test_cfg (> 0.01, top 5000, NMS 0.3, 750)
    release = _sorted(ref['release_dets'])
    assert len(release) > 50
    got = _sorted(dets)
    assert got.shape == release.shape
    np.testing.assert_allclose(got, release, rtol=0, atol=1e-3)

    # the package's detect(): no top-k, no cap
    *_, dets_all = _run(ours, rgb, cfg=dict(score_thr=0.01, nms_pre=-1, nms=dict(type='nms', iou_threshold=0.3),
                                            max_per_img=-1))
    package = _sorted(ref['package_dets'])
    got = _sorted(dets_all)
    assert got.shape == package.shape and len(package) > 50
    np.testing.assert_allclose(got, package, rtol=0, atol=1e-3)


@pytest.mark.slow
def test_release_tta_protocol_matches_the_release_script(reference, ours):
    """Our DSFDReleaseTTA views + DSFDReleaseTTAModel merge against the release's widerface_val.py procedure run on
    the release module (the child above) for an 80 x 112 image (m = 3: all 11 views, 0.25x to 3x)."""
    import copy

    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmdet_face.models.test_time_augs import DSFDReleaseTTAModel
    ref = torch.load(reference / 'tta.pth', weights_only=True)
    image, expected = ref['image'].numpy(), ref['dets'].numpy()
    assert len(expected) > 5
    model = copy.deepcopy(ours)
    with torch.no_grad():
        for branch in model.bbox_head.cls_branches:   # as the child: the release's x20 score conv undone
            branch.out_conv.weight.div_(20.0)
    tta = DSFDReleaseTTAModel(module=model, tta_cfg=dict(release_rounding=False)).eval()
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        pipeline = Compose([dict(type='DSFDReleaseTTA', transforms=[dict(
            type='PackFaceInputs', meta_keys=('img_id', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                                              'flip_direction', 'dsfd_size_filter'))])])
    h, w = image.shape[:2]
    data = pipeline(dict(img=image, img_id=0, img_shape=(h, w), ori_shape=(h, w)))
    assert len(data['inputs']) == 11
    with torch.no_grad():
        (result,) = tta.test_step(dict(inputs=[[x] for x in data['inputs']],
                                       data_samples=[[s] for s in data['data_samples']]))
    pred = result.pred_instances
    got = _sorted(torch.cat([pred.bboxes, pred.scores[:, None]], dim=1))
    assert got.shape == expected.shape
    # random weights decode some absurd boxes (1e15 px): equal to float32 rounding, relative
    np.testing.assert_allclose(got, _sorted(expected), rtol=1e-5, atol=1e-3)
