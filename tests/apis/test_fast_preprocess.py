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
