"""The shared post-processing tail of the face heads, on a handful of boxes with hand-computed results."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet_face.models.dense_heads import (DSFDHead, FaceHeadMixin, RetinaFaceHead, SCRFDHead, SRNHead,
                                          SSDReleaseHeadMixin)


class UnclippedTail(FaceHeadMixin):
    """The tail without clipping, so the metas below need no ``img_shape``."""
    clips_boxes = False


class ReleaseScoresTail(UnclippedTail):
    scores_from_nms = False


HEAD = UnclippedTail()
NMS = dict(type='nms', iou_threshold=0.5)


def make(bboxes, scores, labels=None, keypoints=True):
    bboxes = torch.tensor(bboxes, dtype=torch.float32)
    n = bboxes.shape[0]
    results = InstanceData(bboxes=bboxes, scores=torch.tensor(scores, dtype=torch.float32),
                           labels=torch.tensor(labels if labels is not None else [0] * n, dtype=torch.long))
    if keypoints:
        # keypoint k of candidate i sits at (10 i + k, 100 + 10 i + k): tells candidates apart after indexing
        i = torch.arange(n, dtype=torch.float32)[:, None]
        k = torch.arange(5, dtype=torch.float32)[None, :]
        results.keypoints = torch.stack([10 * i + k, 100 + 10 * i + k], dim=-1)
    return results


def test_every_face_head_uses_the_shared_loop_and_tail():
    for head in (SCRFDHead, SRNHead, RetinaFaceHead, DSFDHead):
        assert issubclass(head, FaceHeadMixin)
        assert head.predict_by_feat is FaceHeadMixin.predict_by_feat
        assert head._face_post_process is FaceHeadMixin._face_post_process
        assert 'decode_image' in vars(head)


def test_heads_declare_their_release_conventions():
    conventions = ('clips_boxes', 'scores_from_nms', 'optional_scale_factor', 'optional_nms')
    for head in (SCRFDHead, SRNHead):
        assert [getattr(head, name) for name in conventions] == [True, True, False, False]
    for head in (RetinaFaceHead, DSFDHead):  # the releases: unclipped boxes, own scores, lenient metas / cfg
        assert [getattr(head, name) for name in conventions] == [False, False, True, True]
        assert issubclass(head, SSDReleaseHeadMixin)  # stated once, for both SSD-style releases


def test_clipping_to_img_shape_comes_before_rescale_and_spares_keypoints():
    results = make([[-5., -2., 70., 30.], [10., 10., 20., 20.]], [0.9, 0.8])
    out = FaceHeadMixin()._face_post_process(results, dict(img_shape=(25, 60), scale_factor=(2.0, 0.5)), dict(),
                                             rescale=True, with_nms=False)
    # clipped to x in [0, 60], y in [0, 25], then x / 2 and y / 0.5
    assert out.bboxes.tolist() == [[0., 0., 30., 50.], [5., 20., 10., 40.]]
    assert out.keypoints[0, 0].tolist() == [0., 200.]  # (0, 100) rescaled, not clipped
    with pytest.raises(KeyError, match='FaceHeadMixin clips boxes to the network input: .* needs img_shape'):
        FaceHeadMixin()._face_post_process(make([[0., 0., 1., 1.]], [0.5]), dict(), dict(), with_nms=False)


def test_optional_scale_factor_and_nms_follow_the_class_attributes():
    class Lenient(UnclippedTail):
        optional_scale_factor = True
        optional_nms = True

    out = Lenient()._face_post_process(nms_candidates(), {}, dict(), rescale=True, with_nms=True)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.95, 0.5])  # neither rescale nor NMS
    with pytest.raises(KeyError, match='with_nms needs an nms entry in the test config'):
        HEAD._face_post_process(nms_candidates(), {}, dict(), with_nms=True)  # strict: nms is required
    # nms=None: mmcv's batched_nms sorts by score without suppressing, then max_per_img
    out = HEAD._face_post_process(nms_candidates(), {}, dict(nms=None, max_per_img=3), with_nms=True)
    assert out.scores.tolist() == pytest.approx([0.95, 0.9, 0.8])


def test_rescale_divides_boxes_and_keypoints_by_the_scale_factor():
    results = make([[10., 20., 50., 100.], [4., 8., 6., 12.]], [0.9, 0.8])
    out = HEAD._face_post_process(results, dict(scale_factor=(2.0, 4.0)), dict(), rescale=True, with_nms=False)
    # x / 2, y / 4
    assert out.bboxes.tolist() == [[5., 5., 25., 25.], [2., 2., 3., 3.]]
    assert out.keypoints[0].tolist() == [[0., 25.], [0.5, 25.25], [1., 25.5], [1.5, 25.75], [2., 26.]]
    assert out.keypoints[1].tolist() == [[5., 27.5], [5.5, 27.75], [6., 28.], [6.5, 28.25], [7., 28.5]]
    assert out.scores.tolist() == pytest.approx([0.9, 0.8])
    assert out.labels.tolist() == [0, 0]


def test_no_rescale_leaves_coordinates_alone():
    results = make([[10., 20., 50., 100.]], [0.9])
    out = HEAD._face_post_process(results, dict(scale_factor=(2.0, 4.0)), dict(), rescale=False, with_nms=False)
    assert out.bboxes.tolist() == [[10., 20., 50., 100.]]
    assert out.keypoints[0, 0].tolist() == [0., 100.]


def test_rescale_needs_a_scale_factor():
    with pytest.raises(KeyError, match=r'UnclippedTail: rescale needs scale_factor .* got keys \[\]'):
        HEAD._face_post_process(make([[0., 0., 1., 1.]], [0.5]), dict(), dict(), rescale=True, with_nms=False)


def test_min_bbox_size_is_strict_and_applies_after_rescale():
    # input-pixel sizes (w x h), then after dividing by 2: 26x26 -> 13x13, 24x40 -> 12x20, 40x20 -> 20x10,
    # 30x30 -> 15x15
    results = make([[0., 0., 26., 26.], [0., 0., 24., 40.], [0., 0., 40., 20.], [50., 50., 80., 80.]],
                   [0.1, 0.2, 0.3, 0.4])
    out = HEAD._face_post_process(results, dict(scale_factor=(2.0, 2.0)), dict(min_bbox_size=12), rescale=True,
                                  with_nms=False)
    # kept: width and height both > 12 (12 itself is dropped); input order is kept without NMS
    assert out.bboxes.tolist() == [[0., 0., 13., 13.], [25., 25., 40., 40.]]
    assert out.scores.tolist() == pytest.approx([0.1, 0.4])
    assert out.keypoints[:, 0].tolist() == [[0., 50.], [15., 65.]]  # candidates 0 and 3, halved


@pytest.mark.parametrize('min_bbox_size', [None, 0, -1])
def test_min_bbox_size_absent_or_not_positive_keeps_everything(min_bbox_size):
    cfg = {} if min_bbox_size is None else dict(min_bbox_size=min_bbox_size)
    results = make([[0., 0., 0., 0.], [0., 0., 1., 1.]], [0.1, 0.2])
    assert len(HEAD._face_post_process(results, {}, cfg, with_nms=False)) == 2


def nms_candidates():
    # IoU(A, B) = 9*10 / (100 + 100 - 90) = 0.818 > 0.5: B is suppressed by A
    # IoU(E, A) = 5*10 / 150 = 0.333, IoU(E, B) = 6*10 / 140 = 0.429: E suppresses neither
    # C is A's box with another label: classes never suppress each other
    # F overlaps A with IoU 100 / 200 = 0.5 exactly: kept (suppression needs IoU > iou_threshold)
    # D overlaps nothing
    boxes = [[0., 0., 10., 10.],    # 0 A 0.9
             [1., 0., 11., 10.],    # 1 B 0.8
             [0., 0., 10., 10.],    # 2 C 0.7, label 1
             [20., 20., 30., 30.],  # 3 D 0.6
             [5., 0., 15., 10.],    # 4 E 0.95
             [0., 0., 10., 20.]]    # 5 F 0.5
    return make(boxes, [0.9, 0.8, 0.7, 0.6, 0.95, 0.5], labels=[0, 0, 1, 0, 0, 0])


def test_nms_keeps_by_decreasing_score_per_class():
    out = HEAD._face_post_process(nms_candidates(), {}, dict(nms=NMS), with_nms=True)
    # E, A, C, D, F; B gone
    assert out.bboxes.tolist() == [[5., 0., 15., 10.], [0., 0., 10., 10.], [0., 0., 10., 10.],
                                   [20., 20., 30., 30.], [0., 0., 10., 20.]]
    assert out.scores.tolist() == pytest.approx([0.95, 0.9, 0.7, 0.6, 0.5])
    assert out.labels.tolist() == [0, 0, 1, 0, 0]
    assert out.keypoints[:, 0, 0].tolist() == [40., 0., 20., 30., 50.]  # candidates 4, 0, 2, 3, 5
    assert out.keypoints[:, 4].tolist() == [[44., 144.], [4., 104.], [24., 124.], [34., 134.], [54., 154.]]


def test_max_per_img_keeps_the_best_after_nms():
    out = HEAD._face_post_process(nms_candidates(), {}, dict(nms=NMS, max_per_img=3), with_nms=True)
    assert out.scores.tolist() == pytest.approx([0.95, 0.9, 0.7])
    assert out.keypoints[:, 0, 0].tolist() == [40., 0., 20.]
    out = HEAD._face_post_process(nms_candidates(), {}, dict(nms=NMS, max_per_img=-1), with_nms=True)
    assert len(out) == 5


def test_without_nms_there_is_no_max_per_img_and_no_reordering():
    out = HEAD._face_post_process(nms_candidates(), {}, dict(nms=NMS, max_per_img=2), with_nms=False)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.95, 0.5])


def test_full_tail_rescale_then_min_size_then_nms_then_max_per_img():
    # input pixels, scale_factor (0.5, 0.5): coordinates double. After doubling: A 20x20, B 20x20 (IoU with A
    # 0.818), C 8x8 (dropped by min_bbox_size=10 before NMS, so it cannot suppress anything), D 20x20
    # overlapping C only, E 40x40 far away.
    results = make([[0., 0., 10., 10.], [1., 0., 11., 10.], [30., 30., 34., 34.], [30., 30., 40., 40.],
                    [50., 50., 70., 70.]], [0.6, 0.7, 0.99, 0.5, 0.4])
    out = HEAD._face_post_process(results, dict(scale_factor=(0.5, 0.5)),
                                  dict(min_bbox_size=10, nms=NMS, max_per_img=2), rescale=True, with_nms=True)
    # C dropped; B (0.7) suppresses A (0.6); D kept; E cut by max_per_img
    assert out.bboxes.tolist() == [[2., 0., 22., 20.], [60., 60., 80., 80.]]
    assert out.scores.tolist() == pytest.approx([0.7, 0.5])
    assert out.keypoints[:, 0].tolist() == [[20., 220.], [60., 260.]]  # candidates 1 and 3, doubled


def test_empty_input_comes_back_empty():
    results = make([[0., 0., 10., 10.]], [0.9])[:0]
    out = HEAD._face_post_process(results, dict(scale_factor=(2.0, 2.0)), dict(nms=NMS, max_per_img=5),
                                  rescale=True, with_nms=True)
    assert len(out) == 0 and out.keypoints.shape == (0, 5, 2)


def test_scores_from_nms_only_matters_for_rescoring_nms():
    # soft-NMS (linear): B's score becomes 0.8 * (1 - IoU) = 0.8 * (1 - 90 / 110) = 0.8 * 2 / 11
    results = make([[0., 0., 10., 10.], [1., 0., 11., 10.]], [0.9, 0.8])
    soft = dict(type='soft_nms', iou_threshold=0.3, method='linear', min_score=0.01)
    out = HEAD._face_post_process(results.clone(), {}, dict(nms=soft), with_nms=True)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8 * 2 / 11], abs=1e-6)
    out = ReleaseScoresTail()._face_post_process(results.clone(), {}, dict(nms=soft), with_nms=True)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8])
    # plain NMS: the same numbers either way
    a = HEAD._face_post_process(nms_candidates(), {}, dict(nms=NMS), with_nms=True)
    b = ReleaseScoresTail()._face_post_process(nms_candidates(), {}, dict(nms=NMS), with_nms=True)
    assert torch.equal(a.scores, b.scores) and torch.equal(a.bboxes, b.bboxes)
