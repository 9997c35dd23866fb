"""FaceLocalVisualizer: exact pixels of a box and five landmarks on a black image, ground-truth / prediction panels,
score filtering, and building by name from the mmdet_face scope."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_face.visualization import KEYPOINT_COLORS, FaceLocalVisualizer, draw_faces

H, W = 60, 80
BOX = (10, 12, 50, 40)  # x1, y1, x2, y2
# one landmark per colour, inside the box and at least 3 px from its edges and from each other
KEYPOINTS = np.array([[[20, 20], [40, 20], [30, 27], [22, 34], [38, 34]]], np.float32)
PRED, GT = (0, 255, 0), (255, 128, 0)


def _outline(box):
    """The pixels of a 1-px rectangle outline, as OpenCV draws it: both end columns / rows included."""
    x1, y1, x2, y2 = box
    mask = np.zeros((H, W), bool)
    mask[y1, x1:x2 + 1] = mask[y2, x1:x2 + 1] = True
    mask[y1:y2 + 1, x1] = mask[y1:y2 + 1, x2] = True
    return mask


def _dot(x, y):
    """A filled circle of radius 1: the pixel and its four neighbours."""
    mask = np.zeros((H, W), bool)
    for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        mask[y + dy, x + dx] = True
    return mask


def _visualizer(name):
    return FaceLocalVisualizer(name=name, line_width=1)


def test_box_and_landmarks_change_exactly_their_pixels():
    """Ground truth (no score text): the outline in the gt colour, each landmark a plus-shaped dot in its own colour,
    every other pixel still black."""
    vis = _visualizer('exact')
    black = np.zeros((H, W, 3), np.uint8)
    faces = InstanceData(bboxes=torch.tensor([BOX], dtype=torch.float32), keypoints=torch.from_numpy(KEYPOINTS))
    canvas = vis.draw_detections(black, faces, is_gt=True)
    assert canvas.shape == black.shape and canvas.dtype == np.uint8 and not black.any()  # input untouched
    expected = np.zeros((H, W, 3), np.uint8)
    expected[_outline(BOX)] = GT
    for (x, y), color in zip(KEYPOINTS[0].astype(int), KEYPOINT_COLORS):
        expected[_dot(x, y)] = color
    np.testing.assert_array_equal(canvas, expected)


def test_rgb_images_get_the_same_colours_reversed():
    vis = _visualizer('rgb')
    black = np.zeros((H, W, 3), np.uint8)
    faces = dict(bboxes=np.array([BOX], np.float32), keypoints=KEYPOINTS)
    bgr = vis.draw_detections(black, faces, is_gt=True)
    rgb = vis.draw_detections(black, faces, channel_order='rgb', is_gt=True)
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])
    x, y = KEYPOINTS[0, 0].astype(int)
    assert tuple(rgb[y, x]) == KEYPOINT_COLORS[0][::-1]  # left eye: red in either order


def test_prediction_has_score_text_near_its_box_only():
    vis = _visualizer('pred')
    black = np.zeros((H, W, 3), np.uint8)
    faces = InstanceData(bboxes=torch.tensor([BOX], dtype=torch.float32), scores=torch.tensor([0.87]),
                         keypoints=torch.from_numpy(KEYPOINTS))
    canvas = vis.draw_detections(black, faces)
    x1, y1, x2, y2 = BOX
    assert (canvas[_outline(BOX)] == PRED).all()
    for (x, y), color in zip(KEYPOINTS[0].astype(int), KEYPOINT_COLORS):
        assert (canvas[_dot(x, y)] == color).all()
    drawn = canvas.any(-1) & ~_outline(BOX)
    for x, y in KEYPOINTS[0].astype(int):
        drawn &= ~_dot(x, y)
    assert drawn.any()  # the score text
    ys, xs = np.nonzero(drawn)
    assert ys.max() < y1 and xs.min() >= x1 and xs.max() < x1 + 30  # above the box, from its left corner
    text = canvas[drawn]
    assert (text[:, [0, 2]] == 0).all() and (text[:, 1] > 0).all()  # shades of the prediction colour (antialiased)


def test_unannotated_landmarks_and_low_scores_are_not_drawn():
    vis = _visualizer('filter')
    black = np.zeros((H, W, 3), np.uint8)
    weights = np.array([[1, 0, 1, 0, 1]], np.float32)
    gt = vis.draw_detections(black, dict(bboxes=np.array([BOX]), keypoints=KEYPOINTS, keypoints_weights=weights),
                             is_gt=True)
    for k, (x, y) in enumerate(KEYPOINTS[0].astype(int)):
        assert gt[y, x].any() == bool(weights[0, k])
    two = dict(bboxes=np.array([BOX, (60, 5, 75, 20)], np.float32), scores=np.array([0.9, 0.2], np.float32),
               keypoints=np.concatenate([KEYPOINTS, KEYPOINTS + 100]))  # second face's landmarks off the image
    kept = vis.draw_detections(black, two, score_thr=0.5)
    assert not kept[:, 56:].any()  # the 0.2 face is gone
    assert draw_faces(black, np.zeros((0, 4)), np.zeros(0)).sum() == 0  # no faces: nothing drawn
    none = dict(bboxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32),
                keypoints=np.zeros((0, 5, 2), np.float32))
    assert vis.draw_detections(black, none).sum() == 0


def test_add_datasample_draws_gt_and_prediction_panels():
    """As DetLocalVisualizer does: ground truth left, predictions (above pred_score_thr) right; both with
    landmarks. The hook passes RGB images."""
    vis = _visualizer('panels')
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=torch.tensor([BOX], dtype=torch.float32), labels=torch.tensor([0]),
                                       keypoints=torch.from_numpy(KEYPOINTS), keypoints_weights=torch.ones(1, 5))
    shifted = (14, 14, 54, 44)
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([shifted, (0, 0, 5, 5)], dtype=torch.float32), labels=torch.tensor([0, 0]),
        scores=torch.tensor([0.9, 0.1]), keypoints=torch.from_numpy(np.concatenate([KEYPOINTS + 4, KEYPOINTS])))
    vis.add_datasample('face', np.zeros((H, W, 3), np.uint8), sample, pred_score_thr=0.3)
    drawn = vis.get_image()
    assert drawn.shape == (H, 2 * W, 3)
    gt, pred = drawn[:, :W], drawn[:, W:]
    assert (gt[_outline(BOX)] == GT[::-1]).all()  # the panels are RGB
    assert not gt[_outline(shifted) & ~_outline(BOX)].any()
    assert (pred[_outline(shifted)] == PRED[::-1]).all()
    assert not pred[:6, :6].any()  # the 0.1 prediction is below pred_score_thr
    for (x, y), color in zip(KEYPOINTS[0].astype(int), KEYPOINT_COLORS):
        assert tuple(gt[y, x]) == color[::-1] and tuple(pred[y + 4, x + 4]) == color[::-1]
    only_pred = _visualizer('pred-only')
    only_pred.add_datasample('face', np.zeros((H, W, 3), np.uint8), sample, draw_gt=False, pred_score_thr=0.3)
    np.testing.assert_array_equal(only_pred.get_image(), pred)


def test_built_by_name_in_the_mmdet_face_scope():
    from mmengine.registry import VISUALIZERS, DefaultScope

    from mmdet_face.registry import VISUALIZERS as FACE_VISUALIZERS
    assert FACE_VISUALIZERS.get('FaceLocalVisualizer') is FaceLocalVisualizer
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        vis = VISUALIZERS.build(dict(type='FaceLocalVisualizer', name='by-name',
                                     vis_backends=[dict(type='LocalVisBackend')], save_dir=None))
    assert type(vis) is FaceLocalVisualizer


def test_default_runtime_uses_it():
    from pathlib import Path

    from mmengine.config import Config
    cfg = Config.fromfile(str(Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'default_runtime.py'))
    assert cfg.visualizer.type == 'FaceLocalVisualizer'
    assert cfg.default_scope == 'mmdet_face'


@pytest.mark.parametrize('channel_order', ['BGR', 'hsv'])
def test_bad_channel_order(channel_order):
    with pytest.raises(ValueError, match='channel_order'):
        _visualizer('bad').draw_detections(np.zeros((4, 4, 3), np.uint8), dict(bboxes=np.zeros((0, 4))),
                                           channel_order=channel_order)
