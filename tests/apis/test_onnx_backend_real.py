"""The onnxruntime backend on released weights and real photos: the official SCRFD-500M ONNX file (fixed 1 x 3 x 640 x
640 input: letterboxed automatically, run image by image) against its weights converted into our model, and the
released RetinaFace MobileNet-0.25 converted and exported with a dynamic shape, against PyTorch. Same count, scores
within 1e-5, boxes and landmarks within 1e-4 px or 4 float32 ulps of the coordinate (see test_onnx_backend.py)."""
import numpy as np
import pytest

from mmdet_face.apis import FaceDetector
from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
from tests.helpers.detections import assert_same
from tests.helpers.paths import REPO_ROOT, shared_path

pytest.importorskip('onnxruntime')

SCRFD_CONFIG = str(REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py')
RETINAFACE_CONFIG = str(REPO_ROOT / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py')
PHOTOS = ('0_Parade_Parade_0_873.jpg', '11_Meeting_Meeting_11_Meeting_Meeting_11_176.jpg', 'test.jpg')


def photos():
    return [str(shared_path('real', 'images', p)) for p in PHOTOS]


@pytest.mark.slow
def test_released_scrfd_onnx_matches_its_converted_weights(tmp_path):
    from mmdet_face.deployment import convert_scrfd_onnx
    released = str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx'))
    convert_scrfd_onnx(released, SCRFD_CONFIG, str(tmp_path / 'scrfd.pth'))
    pytorch = FaceDetector(SCRFD_CONFIG, str(tmp_path / 'scrfd.pth'), letterbox=640)
    onnx = OnnxFaceDetector(SCRFD_CONFIG, released, ort_threads=1)
    assert onnx.letterbox == 640 and onnx.network.fixed_batch == 1  # read from the file's input shape
    for thr in (0.5, 0.05):
        # a batch of three through a graph of batch 1: run image by image
        for photo, a, b in zip(PHOTOS, pytorch(photos(), score_thr=thr, batch_size=3),
                               onnx(photos(), score_thr=thr, batch_size=3)):
            assert_same(a, b, f'released SCRFD-500M {photo} score_thr={thr}')
            assert a.keypoints.shape[1:] == (5, 2)


def test_released_scrfd_onnx_refuses_another_input_size():
    released = str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx'))
    onnx = OnnxFaceDetector(SCRFD_CONFIG, released, letterbox=320)
    with pytest.raises(ValueError, match=r'scrfd_500m_bnkps.onnx: the ONNX graph takes 640 x 640 inputs only \(a '
                                         r'static export\), got 320 x 320; use letterbox=640'):
        onnx(photos()[0])


@pytest.mark.slow
def test_released_retinaface_exported_matches_pytorch(tmp_path):
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
    checkpoint, exported = str(tmp_path / 'retinaface.pth'), str(tmp_path / 'retinaface.onnx')
    convert_retinaface_checkpoint(str(shared_path('real', 'weights', 'retinaface_mobilenet025.pth')), checkpoint,
                                  RETINAFACE_CONFIG)
    export_retinaface_onnx(init_face_detector(RETINAFACE_CONFIG, checkpoint), exported, dynamic=True)
    pytorch = FaceDetector(RETINAFACE_CONFIG, checkpoint)
    onnx = OnnxFaceDetector(RETINAFACE_CONFIG, exported, ort_threads=1)
    for thr in (0.5, 0.05):
        for photo, a, b in zip(PHOTOS, pytorch(photos(), score_thr=thr, max_size=640, batch_size=3),
                               onnx(photos(), score_thr=thr, max_size=640, batch_size=3)):
            assert_same(a, b, f'released RetinaFace {photo} score_thr={thr}')


@pytest.mark.parametrize('compiled', [True, False])
def test_released_scrfd_direct_decoding_equals_the_head_maps(compiled, monkeypatch):
    """The released SCRFD-500M file on the real photos at the evaluation threshold and at 0.5: the candidates read
    straight from its output rows give bit for bit the detections of the head's predict_by_feat on the maps, with
    the row gathering compiled by numba and in plain Python (what runs without numba)."""
    from mmdet_face.apis.face_detector import read_image
    from mmdet_face.deployment import scrfd_onnx_export
    if compiled:
        pytest.importorskip('numba')
        assert scrfd_onnx_export._gather_kept is not None
    else:
        monkeypatch.setattr(scrfd_onnx_export, '_gather_kept', None)
    onnx = OnnxFaceDetector(SCRFD_CONFIG, str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')),
                            ort_threads=1)
    for photo in photos() + [str(shared_path('real', 'images', '0_Parade_marchingband_1_765.jpg'))]:
        inputs, metas = onnx.preprocess([read_image(photo)])
        outputs, hw = onnx.network.run(inputs.numpy()), tuple(inputs.shape[2:])
        for thr in (0.02, 0.5):
            cfg = onnx._call_cfg(thr, 0.4)
            assert onnx.network.to_candidates(outputs, hw, cfg) is not None
            direct = onnx.decode_outputs(outputs, hw, metas, cfg)[0]
            maps = onnx.decode(onnx.network.to_head_inputs(outputs, hw), metas, cfg)[0]
            assert len(direct) == len(maps) > (500 if thr == 0.02 else 5), (photo, thr)
            for field in ('bboxes', 'scores', 'keypoints'):
                assert np.array_equal(getattr(direct, field), getattr(maps, field)), (photo, thr, field)
            assert direct.keypoints.shape == (len(direct), 5, 2)
