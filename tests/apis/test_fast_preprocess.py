"""mmdet_face.apis.fast_preprocess gives bitwise the batch and metas of mmdet's DetDataPreprocessor at inference
(SCRFD: RGB, (x - 127.5) / 128, pad to 32; RetinaFace: BGR minus the mean, std 1; SRN: ImageNet mean / std, pad to
128), for a batch of two sizes, and FaceDetector uses it only where it applies."""
import numpy as np
import pytest
import torch

from mmdet_face.apis import fast_preprocess
from tests.helpers.paths import REPO_ROOT


def _preprocessor(config):
    from mmdet_face.apis.inference import init_face_detector
    return init_face_detector(str(REPO_ROOT / config)).data_preprocessor


@pytest.mark.parametrize('config', ['configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py',
                                    'configs/toy/retinaface_toy_mnet025.py', 'configs/toy/srn_toy.py'])
def test_same_batch_as_det_data_preprocessor(config):
    from mmdet.structures import DetDataSample
    prep = _preprocessor(config)
    assert fast_preprocess.is_plain_det_preprocessor(prep)
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)) for h, w in ((37, 50), (61, 29))]
    meta = [dict(img_shape=tuple(img.shape[1:]), ori_shape=tuple(img.shape[1:])) for img in images]
    expected = prep(dict(inputs=images, data_samples=[DetDataSample(metainfo=m) for m in meta]), False)
    assert fast_preprocess.applies_to(images)
    inputs, samples = fast_preprocess.normalize_and_pad(images, [DetDataSample(metainfo=m) for m in meta], prep)
    assert inputs.dtype == torch.float32 and inputs.shape == expected['inputs'].shape
    assert torch.equal(inputs, expected['inputs'])  # bitwise, padding included
    for got, want in zip(samples, expected['data_samples']):
        assert got.batch_input_shape == want.batch_input_shape and got.pad_shape == want.pad_shape


def test_applies_only_to_plain_cpu_uint8_images():
    from mmdet.models.data_preprocessors import DetDataPreprocessor

    class Subclass(DetDataPreprocessor):
        pass
    assert not fast_preprocess.is_plain_det_preprocessor(Subclass())
    assert fast_preprocess.is_plain_det_preprocessor(DetDataPreprocessor())
    assert not fast_preprocess.applies_to([torch.zeros(3, 4, 4)])  # float
    assert not fast_preprocess.applies_to([torch.zeros(1, 4, 4, dtype=torch.uint8)])  # one channel
    # the fused pipelines take BGR uint8 (H, W, 3) arrays only
    assert fast_preprocess.fusable([np.zeros((4, 5, 3), np.uint8)] * 2)
    assert not fast_preprocess.fusable([np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 3), np.float32)])
    assert not fast_preprocess.fusable([np.zeros((4, 5), np.uint8)])
    assert not fast_preprocess.fusable([torch.zeros(4, 5, 3, dtype=torch.uint8)])


def test_face_detector_batch_unchanged():
    """FaceDetector.preprocess (letterbox and config pipeline) gives what the data preprocessor gives."""
    import warnings

    from mmdet_face.apis import FaceDetector, RandomWeightsWarning
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        detector = FaceDetector(str(REPO_ROOT / 'configs/toy/scrfd_toy_kps.py'))
    assert detector._plain_preprocessor
    img = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for letterbox in (None, 64):
        detector.letterbox = letterbox
        fast, fast_metas = detector.preprocess([img, img[:30]], max_size=64)
        detector._plain_preprocessor = False
        slow, slow_metas = detector.preprocess([img, img[:30]], max_size=64)
        detector._plain_preprocessor = True
        assert torch.equal(fast, slow) and fast_metas == slow_metas


def _generic_preprocess(detector, images, max_size, first_id=0):
    """The batch and metas of the config's pipeline and data preprocessor as mmdet runs them (no fast path)."""
    detector._plain_preprocessor = False
    try:
        return detector.preprocess(images, max_size, first_id)
    finally:
        detector._plain_preprocessor = True


@pytest.mark.parametrize('config, max_size, letterbox', [
    ('configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py', 640, None),   # resize, RGB, pad to 32
    ('configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py', None, 640),   # the released letterbox
    ('configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py', None, None),  # no resize, BGR, std 1
    ('configs/toy/srn_toy.py', 200, None),  # ImageNet mean / std, pad to 128
    ('configs/toy/srn_toy.py', None, 100),  # letterbox canvas inside a batch padded to 128
])
@pytest.mark.parametrize('compiled', [True, False])
def test_fused_pipeline_same_batch_and_metas_on_real_photos(config, max_size, letterbox, compiled, monkeypatch):
    """The fused resize / letterbox + normalisation gives bitwise the batch and the same metas as the pipeline and
    DetDataPreprocessor, for a batch of three real photos of different sizes (one portrait), with the tables applied
    by the compiled HWC -> CHW pass and by cv2.LUT on the planes (what runs without numba)."""
    import warnings
    if compiled:
        pytest.importorskip('numba')
        assert fast_preprocess._lut_hwc_to_chw is not None
    else:
        monkeypatch.setattr(fast_preprocess, '_lut_hwc_to_chw', None)

    from mmdet_face.apis import FaceDetector, RandomWeightsWarning
    from mmdet_face.apis.face_detector import read_image
    from tests.helpers.paths import shared_path
    images = [read_image(str(shared_path('real', 'images', name))) for name in
              ('0_Parade_marchingband_1_765.jpg', 'test.jpg')]
    images.append(np.ascontiguousarray(images[1][:, :500].transpose(1, 0, 2)))  # portrait 500 x 624
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        detector = FaceDetector(str(REPO_ROOT / config), letterbox=letterbox)
    if letterbox is None:
        assert fast_preprocess.plain_pipeline(detector._pipeline(max_size).transforms) is not None
    fast, fast_metas = detector.preprocess(images, max_size, first_id=4)
    slow, slow_metas = _generic_preprocess(detector, images, max_size, first_id=4)
    assert fast.dtype == torch.float32 and fast.shape == slow.shape
    assert torch.equal(fast, slow)  # bitwise, padding included
    assert fast_metas == slow_metas and [m['img_id'] for m in fast_metas] == [4, 5, 6]


def test_other_pipelines_are_not_fused():
    """A pipeline with any other step, a resize that does not keep the ratio or interpolates otherwise, is run by
    mmdet as it is; FaceDetector then gives the generic batch."""
    import warnings

    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmdet_face.apis import FaceDetector, RandomWeightsWarning

    def built(*steps):
        with DefaultScope.overwrite_default_scope('mmdet_face'):
            return Compose([dict(type='mmdet.LoadImageFromNDArray'), *steps,
                            dict(type='PackFaceInputs')]).transforms
    assert fast_preprocess.plain_pipeline(built()) == fast_preprocess.PlainPipeline(None)
    assert fast_preprocess.plain_pipeline(
        built(dict(type='FaceResize', scale=(64, 48), keep_ratio=True))) == fast_preprocess.PlainPipeline((64, 48))
    for steps in ([dict(type='FaceResize', scale=(64, 64), keep_ratio=False)],
                  [dict(type='FaceResize', scale=(64, 64), keep_ratio=True, interpolation='nearest')],
                  [dict(type='FaceResize', scale=(64, 64), keep_ratio=True),
                   dict(type='mmdet.Pad', size_divisor=64)],
                  [dict(type='FaceResize', scale_factor=0.5, keep_ratio=True)]):
        assert fast_preprocess.plain_pipeline(built(*steps)) is None, steps
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        detector = FaceDetector(str(REPO_ROOT / 'configs/toy/scrfd_toy_kps.py'))
    pipeline = detector.cfg.test_dataloader.dataset.pipeline
    detector._base_pipeline = detector._inference_pipeline(
        list(pipeline[:-1]) + [dict(type='mmdet.Pad', size_divisor=64)] + [pipeline[-1]])
    img = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    inputs, metas = detector.preprocess([img], max_size=100)
    assert detector._plain_pipelines[100] is None
    assert inputs.shape == (1, 3, 128, 128)  # the Pad step ran: 72 x 100 padded to 128 x 128 (not to 32)
    slow, slow_metas = _generic_preprocess(detector, [img], 100)
    assert torch.equal(inputs, slow) and metas == slow_metas
