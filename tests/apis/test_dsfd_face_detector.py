"""FaceDetector serves DSFD like the other families: images of different sizes in one call, boxes in each image's
original pixels, equal to the model's own test_step (the release's original-size test), with and without the CPU
rewrites. A small DSFD (the release config with a ResNet-18 body and narrow layers) keeps it quick."""
import numpy as np
import pytest
import torch

from mmdet_face.apis.face_detector import FaceDetector
from tests.helpers.small_dsfd import small_dsfd_config


def _small_config():
    return small_dsfd_config()


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmdet_face.apis.inference import init_face_detector
    torch.manual_seed(0)
    model = init_face_detector(_small_config())
    with torch.no_grad():
        for branch in model.bbox_head.cls_branches:   # spread the scores
            branch.out_conv.weight.mul_(20)
        for branch in model.bbox_head.reg_branches:   # boxes of face-like sizes, not thousands of pixels
            branch.out_conv.weight.mul_(0.2)
    path = tmp_path_factory.mktemp('dsfd') / 'small_dsfd.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def _images():
    rng = np.random.default_rng(0)
    # the first image spans both sides of the padded batch (120 x 100), the second is padded below and right
    return [rng.integers(0, 256, (120, 100, 3), dtype=np.uint8), rng.integers(0, 256, (72, 90, 3), dtype=np.uint8)]


def _close_boxes(actual, expected):
    # float rounding of the folded / channels-last model: 1e-5 of the largest coordinate
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def _reference(model, img, score_thr, nms_thr):
    """The model's own test path at the original size, with the call's thresholds."""
    from mmdet.structures import DetDataSample
    h, w = img.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    model.bbox_head.test_cfg = dict(score_thr=score_thr, nms_pre=5000, nms=dict(type='nms', iou_threshold=nms_thr),
                                    max_per_img=750)
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[torch.from_numpy(img).permute(2, 0, 1)], data_samples=[sample]))[0]
    return pred.pred_instances.bboxes.numpy(), pred.pred_instances.scores.numpy()


@pytest.mark.parametrize('optimize', [False, True])
def test_images_of_different_sizes_in_one_call(checkpoint, optimize):
    from mmdet_face.apis.inference import init_face_detector
    detector = FaceDetector(_small_config(), checkpoint, optimize=optimize, clip_boxes=False)  # as test_step
    reference = init_face_detector(_small_config(), checkpoint)
    images = _images()
    # one image per forward pass: every image at its own size, as the release tests
    faces = detector(images, score_thr=0.3, nms_thr=0.3, batch_size=1)
    assert len(faces) == 2
    for img, found in zip(images, faces):
        boxes, scores = _reference(reference, img, 0.3, 0.3)
        assert len(found) == len(scores) > 3 and found.keypoints is None
        np.testing.assert_allclose(found.scores, scores, rtol=1e-4, atol=1e-4)
        _close_boxes(found.bboxes, boxes)
    # both in one padded batch: the data preprocessor pads the mean-subtracted tensor with zeros, i.e. the image
    # with the mean colour; each image's boxes come back in its own pixels
    batched = detector(images, score_thr=0.3, nms_thr=0.3, batch_size=8)
    assert len(batched) == 2
    np.testing.assert_allclose(batched[0].scores, faces[0].scores, rtol=1e-4, atol=1e-4)
    _close_boxes(batched[0].bboxes, faces[0].bboxes)
    padded = np.empty((120, 100, 3), np.uint8)
    padded[:] = (104, 117, 123)
    padded[:72, :90] = images[1]
    boxes, scores = _reference(reference, padded, 0.3, 0.3)
    assert len(batched[1]) == len(scores) > 3
    np.testing.assert_allclose(batched[1].scores, scores, rtol=1e-4, atol=1e-4)
    _close_boxes(batched[1].bboxes, boxes)
