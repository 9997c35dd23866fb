"""Images on which nothing passes the score threshold: every family and every way of running a model gives empty
results of the right shapes -- boxes ``(0, 4)``, scores ``(0,)``, keypoints ``(0, 5, 2)`` where the head has
landmarks -- and the images with faces in the same batch keep theirs.

Random-weight toy models cover the families (a threshold of 1.0 keeps nothing, 0 keeps every candidate); the
released RetinaFace MobileNet-0.25 and SCRFD-500M weights (from ../shared) cover the reported crash: a blank image,
``score_thr=0.9999`` on a photo, and a batch mixing the two.
"""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_face.apis.face_detector import FaceDetector
from mmdet_face.models.task_modules.retinaface_coder import RetinaFaceBoxCoder
from mmdet_face.models.test_time_augs import FaceTTAModel
from mmdet_face.models.test_time_augs.dsfd_release_tta import VIEW_TEST_CFG, DSFDReleaseTTAModel
from tests.helpers.paths import REPO_ROOT, shared_path
from tests.helpers.small_dsfd import small_dsfd_config

TOY = REPO_ROOT / 'configs' / 'toy'
# family -> (config, whether its head predicts landmarks)
FAMILIES = {
    'scrfd_kps': (TOY / 'scrfd_toy_kps.py', True),
    'scrfd': (REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_4xb8-640e_widerface.py', False),
    'retinaface': (TOY / 'retinaface_toy_mnet025.py', True),
    'srn': (TOY / 'srn_toy.py', False),
    'ainnoface': (TOY / 'ainnoface_toy.py', False),
    'dsfd': (TOY / 'dsfd_toy.py', False),
    'dsfd_release': (None, False),  # tests/helpers/small_dsfd.py: the release config, narrowed
}
RETINAFACE_RELEASE_CONFIG = REPO_ROOT / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py'
SCRFD_RELEASE_CONFIG = REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


def blank(h=64, w=64):
    return np.zeros((h, w, 3), np.uint8)


def noise(seed=0, h=96, w=128):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def check_faces(faces, with_keypoints):
    """Consistent numpy shapes for ``len(faces)`` detections, also for none."""
    n = len(faces)
    assert faces.bboxes.shape == (n, 4) and faces.bboxes.dtype == np.float32
    assert faces.scores.shape == (n,)
    if with_keypoints:
        assert faces.keypoints.shape == (n, 5, 2)
    else:
        assert faces.keypoints is None


# ----------------------------------------------------------------------------- the shared decoding
def test_retinaface_coder_keypoints_of_no_priors():
    coder = RetinaFaceBoxCoder()
    assert coder.decode_keypoints(torch.zeros(0, 4), torch.zeros(0, 10)).shape == (0, 5, 2)
    assert coder.encode_keypoints(torch.zeros(0, 4), torch.zeros(0, 5, 2)).shape == (0, 10)
    # one prior: centre (5, 5), size 10 -> x_k = 5 + d * 0.1 * 10
    prior = torch.tensor([[0., 0., 10., 10.]])
    deltas = torch.arange(10.)[None]
    keypoints = coder.decode_keypoints(prior, deltas)
    torch.testing.assert_close(keypoints, (5 + torch.arange(10.)).reshape(1, 5, 2))
    torch.testing.assert_close(coder.encode_keypoints(prior, keypoints), deltas)


# ----------------------------------------------------------------------------- every family, through the API
@pytest.fixture(scope='module', params=list(FAMILIES))
def family_detector(request):
    """(random-weight FaceDetector, whether its head has landmarks), built once per family."""
    config, with_keypoints = FAMILIES[request.param]
    return FaceDetector(small_dsfd_config() if config is None else str(config)), with_keypoints


@pytest.mark.parametrize('score_thr', [0.0, 0.9999, 1.0])
def test_api_single_image_and_mixed_batch(family_detector, score_thr):
    detector, with_keypoints = family_detector
    single = detector(blank(), score_thr=score_thr, max_size=128)
    batch = detector([blank(), noise()], score_thr=score_thr, max_size=128, batch_size=2)
    for faces in [single, *batch]:
        check_faces(faces, with_keypoints)
        if score_thr == 1.0:  # no probability exceeds 1
            assert len(faces) == 0
        elif score_thr == 0.0:  # random weights: candidates everywhere
            assert len(faces) > 0


@pytest.mark.parametrize('family', ['scrfd_kps', 'retinaface', 'dsfd'])
@pytest.mark.parametrize('score_thr', [0.0, 0.9999, 1.0])
def test_api_fp16_on_the_cpu(family, score_thr):
    """float16 autocast: the NMS gets float16 boxes (before: mmcv's CPU NMS refused them whenever it ran, i.e.
    always for RetinaFace's +1 NMS and below 200 candidates for the others)."""
    detector = FaceDetector(str(FAMILIES[family][0]), fp16=True)
    for faces in detector([blank(), noise()], score_thr=score_thr, max_size=128):
        check_faces(faces, FAMILIES[family][1])
        if score_thr == 1.0:
            assert len(faces) == 0


@pytest.mark.parametrize('family', ['scrfd_kps', 'retinaface'])
def test_api_letterbox_without_detections(family):
    detector = FaceDetector(str(FAMILIES[family][0]), letterbox=64)
    for faces in detector([blank(), noise()], score_thr=1.0):
        check_faces(faces, with_keypoints=True)
        assert len(faces) == 0


# ----------------------------------------------------------------------------- test-time augmentation merges
def _view(n, with_keypoints, flip, width=100):
    sample = DetDataSample(metainfo=dict(ori_shape=(50, width), flip=flip,
                                         flip_direction='horizontal' if flip else None))
    boxes = torch.tensor([[10., 10., 30., 30.]]).repeat(n, 1)
    fields = dict(bboxes=boxes, scores=torch.full((n,), 0.9), labels=torch.zeros(n, dtype=torch.long))
    if with_keypoints:
        fields['keypoints'] = torch.full((n, 5, 2), 20.)
    sample.pred_instances = InstanceData(**fields)
    return sample


@pytest.mark.parametrize('merge', ['nms', 'vote'])
@pytest.mark.parametrize('with_keypoints', [True, False])
def test_face_tta_merge_of_empty_views(merge, with_keypoints):
    model = FaceTTAModel.__new__(FaceTTAModel)  # the merge needs no network
    model.tta_cfg = dict(merge=merge, iou_threshold=0.4, max_per_img=750)
    merged = model._merge_single_sample([_view(0, with_keypoints, False), _view(0, with_keypoints, True)])
    pred = merged.pred_instances
    assert pred.bboxes.shape == (0, 4) and pred.scores.shape == (0,) and pred.labels.shape == (0,)
    assert (pred.keypoints.shape == (0, 5, 2)) if with_keypoints else ('keypoints' not in pred)
    # one view empty, the other with two copies of a face: the face survives the merge
    merged = model._merge_single_sample([_view(0, with_keypoints, False), _view(2, with_keypoints, False)])
    assert merged.pred_instances.bboxes.shape == (1, 4)


def test_dsfd_release_tta_merge_of_empty_views():
    model = DSFDReleaseTTAModel.__new__(DSFDReleaseTTAModel)
    model.tta_cfg = dict(iou_threshold=0.3, max_per_img=750, release_rounding=True)
    pred = model._merge_single_sample([_view(0, False, False), _view(0, False, True)]).pred_instances
    assert pred.bboxes.shape == (0, 4) and pred.scores.shape == (0,) and pred.labels.shape == (0,)
    # the same face in the plain view and mirrored back from the flipped one (W = 100): one voted box
    flipped = _view(1, False, True)
    flipped.pred_instances.bboxes = torch.tensor([[70., 10., 90., 30.]])
    pred = model._merge_single_sample([_view(0, False, False), _view(1, False, False), flipped]).pred_instances
    assert pred.bboxes.shape == (1, 4)


# ----------------------------------------------------------------------------- the released weights
@pytest.fixture(scope='module')
def retinaface_release(tmp_path_factory):
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    ckpt = tmp_path_factory.mktemp('retinaface') / 'retinaface_mnet025.pth'
    convert_retinaface_checkpoint(str(shared_path('real', 'weights', 'retinaface_mobilenet025.pth')), str(ckpt),
                                  str(RETINAFACE_RELEASE_CONFIG))
    return str(RETINAFACE_RELEASE_CONFIG), str(ckpt)


@pytest.fixture(scope='module')
def scrfd_release(tmp_path_factory):
    pytest.importorskip('onnx')
    from mmdet_face.deployment import convert_scrfd_onnx
    ckpt = tmp_path_factory.mktemp('scrfd') / 'scrfd_500m_bnkps.pth'
    convert_scrfd_onnx(str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx')), str(SCRFD_RELEASE_CONFIG),
                       str(ckpt))
    return str(SCRFD_RELEASE_CONFIG), str(ckpt)


@pytest.mark.parametrize('release', ['retinaface_release', 'scrfd_release'])
def test_release_on_images_without_faces(request, release):
    config, checkpoint = request.getfixturevalue(release)
    detector = FaceDetector(config, checkpoint)
    photo = str(shared_path('real', 'images', 'test.jpg'))
    faces = detector(blank(300, 300))  # the default threshold, 0.5
    check_faces(faces, with_keypoints=True)
    assert len(faces) == 0
    faces = detector(photo, score_thr=0.9999)
    check_faces(faces, with_keypoints=True)
    assert len(faces) == 0
    # a batch mixing the two: the blank image finds nothing, the photo its faces (the same as alone, up to the
    # batch's padding to the larger input, which moves SCRFD's boxes by a fraction of a pixel)
    empty, found = detector([blank(300, 300), photo], batch_size=2)
    check_faces(empty, with_keypoints=True)
    check_faces(found, with_keypoints=True)
    assert len(empty) == 0 and len(found) > 0
    alone = detector(photo)
    assert len(alone) == len(found)
    np.testing.assert_allclose(found.bboxes, alone.bboxes, atol=0.5)
    assert len(detector(blank(300, 300), score_thr=0.0)) > 0  # threshold 0 keeps every candidate
    # float16 autocast on the CPU: the same faces, give or take a borderline score (a few dozen candidates reach
    # the NMS here, which mmcv's kernel runs)
    empty, found_half = FaceDetector(config, checkpoint, fp16=True)([blank(300, 300), photo], batch_size=2)
    check_faces(found_half, with_keypoints=True)
    assert len(empty) == 0 and abs(len(found_half) - len(found)) <= 2


@pytest.mark.parametrize('score_thr', [0.9999, 1.0])
def test_dsfd_release_tta_end_to_end_without_detections(tmp_path, score_thr):
    """``tools/test.py --tta`` on the DSFD release config: 11 views of a blank image, none with a detection at 1.0."""
    import cv2
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from mmdet_face.engine.evaluate import set_tta
    from mmdet_face.registry import MODELS
    cfg = small_dsfd_config()
    set_tta(cfg)
    cfg.model.tta_cfg = dict(cfg.model.get('tta_cfg') or {}, view_test_cfg=dict(VIEW_TEST_CFG, score_thr=score_thr))
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(cfg.model).eval()
        pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    cv2.imwrite(str(tmp_path / 'blank.jpg'), blank(48, 64))
    data = pipeline(dict(img_path=str(tmp_path / 'blank.jpg'), img_id='blank', instances=[]))
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=[[x] for x in data['inputs']],
                                         data_samples=[[s] for s in data['data_samples']]))
    pred = result.pred_instances
    n = 0 if score_thr == 1.0 else len(pred.scores)  # random weights may put a few scores above 0.9999
    assert pred.bboxes.shape == (n, 4) and pred.scores.shape == (n,) and pred.labels.shape == (n,)


def test_retinaface_release_onnx_export_on_images_without_faces(retinaface_release, tmp_path):
    """The exported release decoded as the release decodes it agrees with FaceDetector: nothing on a blank image,
    the same faces on a photo in the same batch."""
    import cv2
    ort = pytest.importorskip('onnxruntime')
    from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
    from tests.deployment.test_retinaface_onnx import _release_detect
    out = tmp_path / 'retinaface.onnx'
    detector = FaceDetector(*retinaface_release)
    export_retinaface_onnx(detector.model, str(out), shape=(160, 160), dynamic=True)
    photo = cv2.resize(cv2.imread(str(shared_path('real', 'images', 'test.jpg'))), (320, 192))
    images = [blank(192, 320), photo]
    x = np.stack([img.astype(np.float32) - np.float32([104, 117, 123]) for img in images]).transpose(0, 3, 1, 2)
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    loc, conf, landms = session.run(None, {'input': np.ascontiguousarray(x)})
    for i, (image, faces) in enumerate(zip(images, detector(images, score_thr=0.5))):
        boxes, scores, points = _release_detect(loc[i], conf[i], landms[i], image.shape[:2], score_thr=0.5)
        assert boxes.shape[1:] == (4,) and points.shape[1:] == (5, 2)
        assert len(scores) == len(faces)
        assert (len(faces) == 0) if i == 0 else (len(faces) > 0)
