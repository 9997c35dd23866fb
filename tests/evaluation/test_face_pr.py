"""The AFW / PASCAL Face protocol (:func:`evaluate_face_pr`) on tiny hand-computed examples; the parity with the
official toolbox is tests/evaluation/test_afw_pascal_official.py."""
import numpy as np
import pytest

from mmdet_face.evaluation.functional.face_pr import (detection_min_side, evaluate_face_pr, image_key,
                                                      voc_area_ap)


def _gt():
    return {
        'i1': (np.array([[0, 0, 99, 99], [200, 0, 299, 99]], float), np.array([False, False])),
        # the second face is flagged in the file; a third, 10 px, is ignored by the size rule
        'i2': (np.array([[0, 0, 49, 49], [100, 100, 149, 149], [300, 300, 310, 310]], float),
               np.array([False, True, False])),
        'empty': (np.zeros((0, 4)), np.zeros(0, bool)),
    }


def test_hand_computed_curve_and_ap():
    keys = ['i1', 'i1', 'i2', 'i2', 'i3', 'i1', 'i1']
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    boxes = [[0, 0, 99, 99],  # TP (first face of i1)
             [0, 0, 99, 99],  # duplicate: FP
             [100, 100, 149, 149],  # on the flagged face: neither
             [0, 0, 49, 49],  # TP
             [0, 0, 49, 49],  # image without annotations: FP
             [0, 0, 20, 20],  # 20 x 20 <= 21 px: dropped
             [200, 0, 299, 99]]  # TP
    out = evaluate_face_pr(_gt(), keys, scores, boxes, iterations=1)
    assert out['num_gt'] == 3 and out['num_dropped'] == 1
    np.testing.assert_array_equal(out['tp'], [1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(out['fp'], [0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(out['recall'], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(out['precision'], [1, 1 / 2, 1 / 2, 2 / 3, 1 / 2, 3 / 5])
    np.testing.assert_array_equal(out['scores'], [0.9, 0.8, 0.7, 0.6, 0.5, 0.3])
    # envelope 1, 2/3, 3/5 over the recall steps of 1/3 each
    assert out['ap'] == pytest.approx(1 / 3 + 2 / 9 + 1 / 5)


def test_equal_scores_keep_the_input_order():
    gt = {'a': (np.array([[0, 0, 99, 99]], float), np.array([False]))}
    miss, hit = [300, 300, 399, 399], [0, 0, 99, 99]
    first_miss = evaluate_face_pr(gt, ['a', 'a'], [0.5, 0.5], [miss, hit], iterations=1)
    first_hit = evaluate_face_pr(gt, ['a', 'a'], [0.5, 0.5], [hit, miss], iterations=1)
    np.testing.assert_array_equal(first_miss['precision'], [0, 0.5])
    assert first_miss['ap'] == pytest.approx(0.5) and first_hit['ap'] == pytest.approx(1.0)


def test_overlap_counts_inclusive_pixels_and_must_exceed_the_threshold():
    gt = {'a': (np.array([[0, 0, 9, 9]], float), np.array([False]))}  # 10 x 10 pixels
    # 10 x 20 pixels holding the face: IoU exactly 100 / 200 = 0.5, not above it
    at = evaluate_face_pr(gt, ['a'], [1.0], [[0, 0, 9, 19]], min_width=0, min_height=0, iterations=1)
    # 10 x 19 pixels: IoU 100 / 190
    above = evaluate_face_pr(gt, ['a'], [1.0], [[0, 0, 9, 18]], min_width=0, min_height=0, iterations=1)
    assert at['fp'].tolist() == [1] and above['tp'].tolist() == [1]


def test_the_last_face_of_highest_overlap_is_chosen():
    # two identical faces, the second flagged: a detection on them goes to the flagged one and counts for nothing
    gt = {'a': (np.array([[0, 0, 99, 99], [0, 0, 99, 99]], float), np.array([False, True]))}
    out = evaluate_face_pr(gt, ['a'], [1.0], [[0, 0, 99, 99]], iterations=1)
    assert out['tp'].tolist() == [0] and out['fp'].tolist() == [0] and np.isnan(out['precision'][0])
    assert out['ap'] == 0.0


def test_box_adjustment_moves_detections_by_the_mean_offset():
    gt = {'a': (np.array([[0, 0, 100, 100], [300, 0, 400, 100]], float), np.array([False, False]))}
    # the first detection is shifted by 10 % of its size (IoU 0.68): a TP whose offset, applied to the second,
    # brings that one (shifted by 20 %, IoU 0.47 at first) to 10 % of its face (IoU 0.68)
    boxes = [[10, 10, 110, 110], [320, 20, 420, 120]]
    once = evaluate_face_pr(gt, ['a', 'a'], [0.9, 0.8], boxes, iterations=1)
    twice = evaluate_face_pr(gt, ['a', 'a'], [0.9, 0.8], boxes, iterations=2)
    assert once['tp'].tolist() == [1, 0] and twice['tp'].tolist() == [1, 1]
    assert once['adjustment'] == (0.0, 0.0, 1.0, 1.0)
    assert twice['adjustment'] == pytest.approx((-0.1, -0.1, 1.0, 1.0))


def test_a_run_without_true_positive_makes_every_detection_false():
    gt = {'a': (np.array([[0, 0, 99, 99], [200, 200, 299, 299]], float), np.array([True, False]))}
    boxes = [[0, 0, 99, 99], [500, 500, 599, 599]]
    one_run = evaluate_face_pr(gt, ['a', 'a'], [0.9, 0.8], boxes, iterations=1)
    two_runs = evaluate_face_pr(gt, ['a', 'a'], [0.9, 0.8], boxes, iterations=2)
    assert one_run['fp'].tolist() == [0, 1] and two_runs['fp'].tolist() == [1, 1]
    assert np.isnan(two_runs['adjustment']).all()


def test_min_size_rules():
    assert detection_min_side(30, 30) == 21 and detection_min_side(20, 40) == 20
    gt = {'a': (np.array([[0, 0, 35, 35]], float), np.array([False]))}
    assert evaluate_face_pr(gt, [], [], np.zeros((0, 4)))['num_gt'] == 1
    with pytest.raises(ValueError, match='no face to count.*1 images.*20 x 40'):
        evaluate_face_pr(gt, [], [], np.zeros((0, 4)), min_width=20, min_height=40)


def test_no_detection_gives_ap_zero_and_an_empty_curve():
    out = evaluate_face_pr(_gt(), [], [], np.zeros((0, 4)))
    assert out['ap'] == 0.0 and out['recall'].shape == (0,) and out['num_gt'] == 3


def test_voc_area_ap_and_image_key():
    assert voc_area_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    assert voc_area_ap(np.array([0.0, 0.5]), np.array([np.nan, 1.0])) == pytest.approx(0.5)
    assert image_key('VOC/JPEGImages/2007_000272.jpg') == '2007_000272'
    assert image_key('a/b/123.x.jpg') == '123'


@pytest.mark.parametrize('kwargs, message', [
    (dict(image_keys=['a'], scores=[1.0, 2.0], boxes=[[0, 0, 9, 9]]), '1 image keys, 2 scores and 1 boxes'),
    (dict(image_keys=['a'], scores=[np.nan], boxes=[[0, 0, 9, 9]]), 'finite'),
    (dict(image_keys=[], scores=[], boxes=np.zeros((0, 4)), iterations=0), 'iterations must be an integer >= 1'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_face_pr(_gt(), **kwargs)
