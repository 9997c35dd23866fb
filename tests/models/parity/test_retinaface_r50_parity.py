"""The RetinaFace ResNet-50 release's own modules vs our converted R50 model, on random weights.

The release's weights (``Resnet50_Final.pth``) cannot be downloaded here, so the parity is shown on random ones: the
release's ``RetinaFace(cfg=cfg_re50)`` (torchvision ResNet-50 + FPN + SSH, the copy in ``face-detection==0.2.2``)
is built in the reference child process (tools/analysis/release_reference.py), given random BN affines and BN statistics
calibrated on the inputs (uncalibrated random ResNets blow up), and saved as ``Resnet50_Final.pth`` is laid out
(``module.`` prefix, here without ``num_batches_tracked``). That file goes through our converter into
``configs/retinaface/retinaface_r50_4xb6-100e_widerface.py`` (strict load), and both models see the same BGR image
minus (104, 117, 123) at two sizes, 200 x 320 and 257 x 383 (not a multiple of the 32 stride: ceil grids).

Compared: the network outputs (box deltas, softmaxed scores, landmark deltas) within 1e-5 relative; the decoded
boxes and landmarks (the package's ``PriorBox`` / ``batched_decode`` / ``decode_landm``, scaled to pixels as the
release does); and the final detections of the release's WIDER test procedure (biubug6 ``test_widerface.py``:
score > 0.02, best 5000, greedy NMS 0.4 with +1-pixel areas, 750 kept), restated in the child, against our
``test_step`` with the config's test settings. Not compared through the package's ``RetinaNetResNet50`` detector:
it subtracts (104, 117, 123) from the RGB array and only then swaps to BGR, i.e. B - 123 and R - 104, the reverse
of the release's training and ``detect.py`` (so its end-to-end output is not the release's).
"""
import numpy as np
import pytest
import torch

from tests.helpers.paths import REPO_ROOT
from tests.helpers.release import require_reference, run_reference

R50_CONFIG = REPO_ROOT / 'configs/retinaface/retinaface_r50_4xb6-100e_widerface.py'
SIZES = [(200, 320), (257, 383)]

REFERENCE_SCRIPT = '''
import numpy as np
import torch
from face_detection.box_utils import batched_decode
from face_detection.retinaface.config import cfg_mnet, cfg_re50
from face_detection.retinaface.models.retinaface import RetinaFace
from face_detection.retinaface.prior_box import PriorBox
from face_detection.retinaface.utils import decode_landm

torch.manual_seed(0)
layouts = {name: [(k, tuple(v.shape)) for k, v in RetinaFace(cfg=cfg).state_dict().items()]
           for name, cfg in (('mobilenet0.25', cfg_mnet), ('resnet50', cfg_re50))}
net = RetinaFace(cfg=cfg_re50)
images = torch.load(OUT / 'images.pth', weights_only=True)  # uint8 (H, W, 3) BGR
mean = torch.tensor([104., 117., 123.])  # BGR, as biubug6 train.py / detect.py
inputs = [(img.float() - mean).permute(2, 0, 1)[None].contiguous() for img in images]
calibrate_batchnorm(net, inputs, affine_seed=1)
with torch.no_grad():  # spread the face scores so that the 0.02 threshold and the NMS have work to do
    for conv in net.ClassHead:
        conv.conv1x1.weight.mul_(8.0)
state = {'module.' + k: v for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')}
torch.save(state, OUT / 'Resnet50_Final.pth')


def release_nms(dets, thresh):
    """Greedy NMS as biubug6 utils/nms/py_cpu_nms.py: +1-pixel areas, drop IoU > thresh."""
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order, keep = scores.argsort()[::-1], []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        order = order[np.where(inter / (areas[i] + areas[order[1:]] - inter) <= thresh)[0] + 1]
    return keep


results = []
with torch.no_grad():
    for x in inputs:
        h, w = x.shape[-2:]
        loc, conf, landms = net(x)
        priors = PriorBox(cfg_re50, image_size=(h, w)).forward()
        boxes = batched_decode(loc, priors, cfg_re50['variance'])[0] * torch.tensor([w, h, w, h])
        lms = decode_landm(landms, priors, cfg_re50['variance'])[0] * torch.tensor([w, h] * 5)
        # biubug6 test_widerface.py, origin_size: threshold, top-k, NMS, keep
        b, s, l = boxes.numpy(), conf[0, :, 1].numpy(), lms.numpy()
        inds = np.where(s > 0.02)[0]
        b, s, l = b[inds], s[inds], l[inds]
        order = s.argsort()[::-1][:5000]
        b, s, l = b[order], s[order], l[order]
        dets = np.hstack((b, s[:, None])).astype(np.float32, copy=False)
        keep = release_nms(dets, 0.4)
        dets, l = dets[keep][:750], l[keep][:750]
        results.append(dict(loc=loc[0], conf=conf[0], landms=landms[0], boxes=boxes, landmarks=lms,
                            dets=torch.from_numpy(dets), det_landmarks=torch.from_numpy(l).view(-1, 5, 2)))
torch.save(dict(layouts=layouts, results=results), OUT / 'reference.pth')
'''


pytestmark = pytest.mark.usefixtures('on_the_reference_thread_count')  # bitwise-equal sums (conftest)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    require_reference()
    out = tmp_path_factory.mktemp('retinaface_r50_reference')
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.uint8) for h, w in SIZES]
    torch.save(images, out / 'images.pth')
    run_reference(REFERENCE_SCRIPT, out_dir=out, timeout=300)
    ref = torch.load(out / 'reference.pth', weights_only=True)
    return dict(ref, images=images, weights=out / 'Resnet50_Final.pth')


@pytest.fixture(scope='module')
def ours(reference, tmp_path_factory):
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    dst = tmp_path_factory.mktemp('retinaface_r50_ours') / 'retinaface_r50.pth'
    ckpt = convert_retinaface_checkpoint(str(reference['weights']), str(dst), str(R50_CONFIG))  # strict load
    assert ckpt['meta']['release'] == 'resnet50' and len(ckpt['state_dict']) == 456
    return init_face_detector(str(R50_CONFIG), str(dst)).eval()  # loads dst strictly again


@pytest.mark.slow
def test_release_modules_have_our_layouts(reference):
    """The key lists and shapes the converter checks against are the release modules' own (order included)."""
    from mmdet_face.deployment.retinaface_pth_import import release_layout
    for release, layout in reference['layouts'].items():
        assert layout == list(release_layout(release).items()), release
    assert len(reference['layouts']['resnet50']) == 456 and len(reference['layouts']['mobilenet0.25']) == 300


def _close(actual, expected, rtol=1e-5):
    """Within ``rtol`` of the reference, relative to the reference's largest magnitude (deltas cross zero)."""
    scale = float(expected.abs().max())
    assert scale > 0 and torch.isfinite(actual).all()
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize('index', range(len(SIZES)))
def test_network_outputs_and_decoding_match(reference, ours, index):
    head = ours.bbox_head
    ref = reference['results'][index]
    x = (reference['images'][index].float() - torch.tensor([104., 117., 123.])).permute(2, 0, 1)[None]
    with torch.no_grad():
        cls_scores, bbox_preds, kps_preds = head(ours.extract_feat(x))
    loc = head._flatten(bbox_preds, 4)[0]
    conf = head._flatten(cls_scores, 2)[0].softmax(-1)
    landms = head._flatten(kps_preds, 10)[0]
    h, w = SIZES[index]
    num_priors = 2 * sum(-(-h // s) * -(-w // s) for s in (8, 16, 32))
    assert loc.shape == ref['loc'].shape == (num_priors, 4) and landms.shape == (num_priors, 10)
    _close(loc, ref['loc'])
    _close(conf, ref['conf'])
    _close(landms, ref['landms'])
    # a meaningful test: activations stayed finite and the scores are spread around the 0.02 threshold
    assert 0.05 < float((ref['conf'][:, 1] > 0.02).float().mean()) < 0.95

    priors = head._priors(cls_scores)
    _close(head.bbox_coder.decode(priors, loc), ref['boxes'])
    _close(head.bbox_coder.decode_keypoints(priors, landms).reshape(-1, 10), ref['landmarks'])


@pytest.mark.parametrize('index', range(len(SIZES)))
def test_final_detections_match_the_release_procedure(reference, ours, index):
    from mmdet.structures import DetDataSample
    img = reference['images'][index]
    ref = reference['results'][index]
    h, w = img.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        pred = ours.test_step(dict(inputs=[img.permute(2, 0, 1)], data_samples=[sample]))[0].pred_instances
    boxes, scores, kps = pred.bboxes.numpy(), pred.scores.numpy(), pred.keypoints.numpy()
    ref_dets, ref_kps = ref['dets'].numpy(), ref['det_landmarks'].numpy()
    assert 20 < len(ref_dets) and len(scores) == len(ref_dets)
    ours_order = np.lexsort((boxes[:, 0], -scores))
    ref_order = np.lexsort((ref_dets[:, 0], -ref_dets[:, 4]))
    np.testing.assert_allclose(scores[ours_order], ref_dets[ref_order, 4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(boxes[ours_order], ref_dets[ref_order, :4], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(kps[ours_order], ref_kps[ref_order], rtol=1e-5, atol=1e-3)
