"""FaceDetector's onnxruntime backend against its PyTorch backend, family by family.

Each toy config gets seeded random weights (tests/helpers/onnx_backend.py), a dynamic export, and both detectors
run on real photos (longest side 320) and on a batch of three images of different sizes (one padded batch through
the dynamic height / width). Detections are paired order-free (tests/helpers/detections.py).

Tolerances. Scores: 1e-5. Boxes and keypoints: 1e-4 px, or 4 float32 units in the last place of the largest
coordinate where that is more (1 ulp is 6.1e-5 px between 512 and 1024 px and 1.2e-4 px between 1024 and 2048 px,
so 1e-4 px cannot be asked of float32 coordinates on a 1024-px photo; onnxruntime and PyTorch differ in the
summation order of their convolutions), or twice what PyTorch itself moves the boxes by with its exact rewrites
(``optimize=True``: BatchNorm folded, channels-last) against the model as built, where that is more: the random SRN's
box deltas pass through two chained ``exp`` decodings, which turn float32 rounding of the network into about 2e-3 px
on 600-px boxes for PyTorch's own rewrites as for onnxruntime. The measured maxima are printed (``-s``) and listed
in the README.
"""
import threading

import cv2
import numpy as np
import pytest

from mmdet_face.apis import FaceDetector
from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
from tests.helpers.detections import assert_identical, assert_same
from tests.helpers.onnx_backend import TOY_CONFIGS, export, random_checkpoint
from tests.helpers.paths import REPO_ROOT, shared_path

pytest.importorskip('onnxruntime')
pytestmark = pytest.mark.slow  # an export and three detectors per family: 5-10 s each

PHOTOS = ('0_Parade_marchingband_1_765.jpg', '11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg', 'test.jpg')
FAMILIES = dict(TOY_CONFIGS, scrfd_no_kps=TOY_CONFIGS['scrfd_kps'])
# per family: config overrides and the score threshold that keeps tens to hundreds of the random model's boxes;
# no max_per_img cap, so that no two near-equal scores sit at the cut
UNCAPPED = {'model.test_cfg.max_per_img': -1}
OPTIONS = dict(scrfd_no_kps={'model.bbox_head.use_kps': False}, dsfd=UNCAPPED, srn=UNCAPPED, ainnoface=UNCAPPED)
SCORE_THR = dict(scrfd_kps=0.55, scrfd_no_kps=0.55, retinaface=0.55, dsfd=0.65, srn=0.95, ainnoface=0.9)


def mixed_sizes():
    """Three images of different sizes and aspect ratios (cut from the real photos)."""
    photo = cv2.imread(str(shared_path('real', 'images', PHOTOS[0])))
    other = cv2.imread(str(shared_path('real', 'images', PHOTOS[2])))
    return [photo[:300, :420], other[100:560, 200:450], photo[200:, 300:]]


@pytest.fixture(scope='module', params=list(FAMILIES))
def family(request, tmp_path_factory):
    """``(name, config, PyTorch detector, onnxruntime detector)`` of one family's random-weight toy model."""
    name = request.param
    config = str(REPO_ROOT / FAMILIES[name])
    options = OPTIONS.get(name)
    folder = tmp_path_factory.mktemp(name)
    model = random_checkpoint(FAMILIES[name], folder / 'random.pth', cfg_options=options)
    export(model, folder / 'model.onnx', shape=(320, 320), dynamic=True)
    from mmdet_face.apis.inference import load_config
    cfg = load_config(config, options)
    pytorch = FaceDetector(cfg, str(folder / 'random.pth'))
    onnx = OnnxFaceDetector(cfg, str(folder / 'model.onnx'), ort_threads=1)
    plain = FaceDetector(cfg, str(folder / 'random.pth'), optimize=False)
    return name, cfg, pytorch, onnx, plain


def test_network_stage_gives_the_head_maps(family):
    """run_network of the onnxruntime backend = the PyTorch head's forward (the inverse layout, activations
    inverted), on a padded batch of three sizes."""
    name, _, pytorch, onnx, plain = family
    inputs, metas = pytorch.preprocess(mixed_sizes(), max_size=320)
    assert len({meta['img_shape'] for meta in metas}) == 3
    expected, got = pytorch.run_network(inputs), onnx.run_network(inputs)
    assert len(expected) == len(got)
    for branch, (ref, out) in enumerate(zip(expected, got)):
        if ref is None or (name == 'scrfd_no_kps' and branch == 2):
            assert out is None or all(level is None for level in out)
            continue
        assert [tuple(level.shape) for level in out] == [tuple(level.shape) for level in ref]
        for ref_level, out_level in zip(ref, out):
            if branch == 0 and name in ('retinaface', 'dsfd'):  # log-probabilities: equal up to a shift per prior
                ref_level, out_level = softmax_per_prior(ref_level), softmax_per_prior(out_level)
            np.testing.assert_allclose(out_level.numpy(), ref_level.numpy(), rtol=1e-3, atol=2e-4)


def softmax_per_prior(maps, classes=2):
    """``(B, A * C, h, w)`` scores -> the softmax over each anchor's ``C`` classes, same shape."""
    b, channels, h, w = maps.shape
    return maps.reshape(b, channels // classes, classes, h, w).softmax(dim=2).reshape(b, channels, h, w)


def test_real_photos_match_pytorch(family):
    name, _, pytorch, onnx, plain = family
    photos = [str(shared_path('real', 'images', p)) for p in PHOTOS]
    call = dict(score_thr=SCORE_THR[name], max_size=320, batch_size=1)
    for photo, a, b, c in zip(PHOTOS, pytorch(photos, **call), onnx(photos, **call), plain(photos, **call)):
        assert_same(a, b, f'{name} {photo}', c)
        assert (a.keypoints is not None) == (name in ('scrfd_kps', 'retinaface'))


def test_batch_of_three_sizes_matches_pytorch(family):
    """One padded batch of three images of different sizes through the dynamic export, against PyTorch's same
    batch."""
    name, _, pytorch, onnx, plain = family
    images = mixed_sizes()
    call = dict(score_thr=SCORE_THR[name], max_size=320)
    batched = onnx(images, batch_size=3, **call)
    for i, (a, b, c) in enumerate(zip(pytorch(images, batch_size=3, **call), batched,
                                      plain(images, batch_size=3, **call))):
        assert_same(a, b, f'{name} batch-3 image {i}', c)


def test_inputs_path_array_pil_list(family):
    name, _, _, onnx, _ = family
    if name != 'scrfd_kps':
        pytest.skip('the input handling is shared by every family; one is enough')
    from PIL import Image
    path = str(shared_path('real', 'images', PHOTOS[2]))
    array = cv2.imread(path)
    call = dict(score_thr=SCORE_THR[name], max_size=320)
    reference = onnx(path, **call)
    assert len(reference) > 0
    pil = Image.fromarray(array[:, :, ::-1])
    for other in [onnx(array, **call), onnx(pil, **call)] + onnx([path, array, pil], **call):
        np.testing.assert_array_equal(other.bboxes, reference.bboxes)
        np.testing.assert_array_equal(other.scores, reference.scores)
        np.testing.assert_array_equal(other.keypoints, reference.keypoints)


def test_threads_share_one_detector(family):
    """Calls from four threads at once, with different thresholds, each get their own call's result."""
    name, _, _, onnx, _ = family
    if name != 'retinaface':
        pytest.skip('the thread-safety is the backend\'s, not a family\'s; one is enough')
    image = mixed_sizes()[2]
    expected = {thr: onnx(image, score_thr=thr, max_size=320) for thr in (0.5, 0.6)}
    results, errors = {}, []

    def work(k):
        try:
            thr = (0.5, 0.6)[k % 2]
            results[k] = (thr, onnx(image, score_thr=thr, max_size=320))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert len(expected[0.5]) > len(expected[0.6]) > 0
    for thr, faces in results.values():
        np.testing.assert_array_equal(faces.bboxes, expected[thr].bboxes)


def test_direct_decoding_equals_the_head_maps(family):
    """decode_outputs (SCRFD: candidates read from the output rows) gives bit for bit what the head's
    predict_by_feat gives on the maps, for real photos and a padded batch of three sizes; the other families and
    the test configs the direct path does not cover (a cutting nms_pre, score_thr 0) take the maps."""
    name, _, pytorch, onnx, _ = family
    photos = [cv2.imread(str(shared_path('real', 'images', p))) for p in PHOTOS]
    batches = [[photo] for photo in photos] + [mixed_sizes()]
    covered = name.startswith('scrfd')
    for thr in (SCORE_THR[name], 0.3):
        cfg = onnx._call_cfg(thr, 0.4)
        for k, images in enumerate(batches):
            inputs, metas = onnx.preprocess(images, max_size=320)
            outputs = onnx.network.run(inputs.numpy())
            hw = tuple(inputs.shape[2:])
            assert (onnx.network.to_candidates(outputs, hw, cfg) is not None) == covered
            direct = onnx.decode_outputs(outputs, hw, metas, cfg)
            maps = onnx.decode(onnx.network.to_head_inputs(outputs, hw), metas, cfg)
            assert len(direct) == len(images)
            for i, (a, b) in enumerate(zip(direct, maps)):
                assert_identical(a, b, f'{name} score_thr={thr} batch {k} image {i}')
            assert sum(len(faces) for faces in direct) > 0
    inputs, metas = onnx.preprocess(mixed_sizes()[:1], max_size=320)
    outputs, hw = onnx.network.run(inputs.numpy()), tuple(inputs.shape[2:])
    for option in (dict(nms_pre=10), dict(score_thr=0.0)):
        cfg = onnx._call_cfg(SCORE_THR[name], 0.4)
        cfg.update(option)
        assert onnx.network.to_candidates(outputs, hw, cfg) is None, option
        assert_identical(onnx.decode_outputs(outputs, hw, metas, cfg)[0],
                         onnx.decode(onnx.network.to_head_inputs(outputs, hw), metas, cfg)[0], f'{name} {option}')
