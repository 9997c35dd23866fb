"""The FDDB protocol on hand-computed cases: rasterised regions, their overlap, the matching, per-image counts, the
pooled ROC, the ROC files and the headline numbers. (Agreement with the official program itself:
test_fddb_official.py.)"""
import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb import (NO_DETECTION_THRESHOLD, ImageCounts, boxes_to_fddb, evaluate_fddb,
                                                   image_counts, match_regions, overlap_matrix, pool_counts,
                                                   tpr_at_fp)
from mmdet_face.evaluation.functional.fddb_hungarian import hungarian_official
from mmdet_face.evaluation.functional.fddb_regions import ellipse_mask, rectangle_mask
from mmdet_face.evaluation.functional.fddb_roc import (format_headline, format_roc_lines, read_roc_file,
                                                       write_roc_files)
from mmdet_face.utils.output_file import OutputExistsError

# a circle of radius 2 at (5, 5): OpenCV draws radii < 3 as a polygon through the four axis ends, a diamond
DIAMOND = [(3, 5, 5), (4, 4, 6), (5, 3, 7), (6, 4, 6), (7, 5, 5)]  # (row, first column, last column)


def _mask_from_rows(rows, shape=(12, 12)):
    mask = np.zeros(shape, bool)
    for y, x0, x1 in rows:
        mask[y, x0:x1 + 1] = True
    return mask


def test_small_circle_is_opencvs_diamond():
    mask = ellipse_mask([2, 2, 0.0, 5, 5], 12, 12)
    np.testing.assert_array_equal(mask, _mask_from_rows(DIAMOND))
    assert mask.sum() == 13


def test_ellipse_angle_center_rounding_and_clipping():
    upright = ellipse_mask([6, 2, np.pi / 2, 10, 10], 30, 30)  # first axis along y
    rows, cols = np.flatnonzero(upright.any(1)), np.flatnonzero(upright.any(0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (4, 16, 8, 12)
    lying = ellipse_mask([6, 2, 0.0, 10, 10], 30, 30)
    np.testing.assert_array_equal(lying, upright.T)
    # the center goes through float and is rounded half to even; radii are truncated (2.9 -> 2)
    np.testing.assert_array_equal(ellipse_mask([2.9, 2.9, 0.0, 4.5, 5.5], 12, 12), _mask_from_rows(
        [(y + 1, x0 - 1, x1 - 1) for y, x0, x1 in DIAMOND]))
    # partly outside the image: the part inside
    np.testing.assert_array_equal(ellipse_mask([2, 2, 0.0, 0, 5], 12, 12),
                                  _mask_from_rows([(y, max(x0 - 5, 0), x1 - 5) for y, x0, x1 in DIAMOND]))


def test_rectangle_covers_both_corners_rounded():
    mask = rectangle_mask([1.4, 2.6, 3, 2], 10, 10)  # x 1..4 (round(4.4)), y 3..5 (round(4.6))
    np.testing.assert_array_equal(np.argwhere(mask).min(0), [3, 1])
    np.testing.assert_array_equal(np.argwhere(mask).max(0), [5, 4])
    assert mask.sum() == 12
    assert rectangle_mask([-5, -5, 7, 6], 10, 10).sum() == 3 * 2  # partly outside: x 0..2, y 0..1
    assert rectangle_mask([20, 0, 5, 5], 10, 10).sum() == 0  # wholly outside
    assert rectangle_mask([2, 2, 0, 0], 10, 10).sum() == 1  # a zero-size box is one pixel


def test_rectangles_match_opencv_fill():
    import cv2
    rng = np.random.default_rng(0)
    for rect in np.column_stack([rng.uniform(-20, 40, (200, 2)), rng.uniform(0, 30, (200, 2))]):
        expected = np.zeros((30, 40), np.uint8)
        x, y, w, h = rect
        pt1 = tuple(int(v) for v in np.rint(np.float32([x, y])))
        pt2 = tuple(int(v) for v in np.rint(np.float32([x + w, y + h])))
        cv2.rectangle(expected, pt1, pt2, 1, -1)
        np.testing.assert_array_equal(rectangle_mask(rect, 30, 40), expected.astype(bool), err_msg=str(rect))


def test_overlap_of_rasterised_regions():
    ellipse = np.array([[2, 2, 0.0, 5, 5]])
    # the diamond (13 px) and the rectangle x 5..7, y 3..7 (15 px) share 1 + 2 + 3 + 2 + 1 = 9 px: 9 / 19
    overlaps = overlap_matrix(ellipse, np.array([[5, 3, 2, 4], [20, 20, 3, 3]]), 12, 12, 'rectangle')
    np.testing.assert_allclose(overlaps, [[9 / 19, 0.0]])
    # the same diamond as an ellipse detection: 1; and two annotations against one detection
    both = np.array([[2, 2, 0.0, 5, 5], [2, 2, 0.0, 6, 5]])
    overlaps = overlap_matrix(both, np.array([[2, 2, 0.0, 5, 5]]), 12, 12, 'ellipse')
    # shifted by one column the diamonds share 0 + 2 + 4 + 2 + 0 = 8 px of 13 + 13 - 8 = 18
    np.testing.assert_allclose(overlaps, [[1.0], [8 / 18]])


def test_matching_is_not_greedy():
    # greedy takes 0.9 and leaves the second face unmatched; the matching takes 0.6 + 0.8
    overlaps = np.array([[0.9, 0.6], [0.8, 0.0]])
    for method in ('official', 'optimal'):
        ann, det, scores = match_regions(overlaps, method)
        assert sorted(zip(ann.tolist(), det.tolist())) == [(0, 1), (1, 0)]
        assert sorted(scores.tolist()) == [0.6, 0.8]
    counts = image_counts(overlaps, np.array([0.5, 0.5]))
    assert (counts.tp_disc.tolist(), counts.fp.tolist()) == ([2.0], [0.0])


def test_official_solver_is_not_always_maximal():
    rating = [[0.55, 0.08, 0.30], [0.55, 0.08, 0.30]]
    assert hungarian_official(rating) == [0, 1]  # 0.63, where 0.85 is possible
    _, _, official = match_regions(np.array(rating).T, 'official')  # 3 faces x 2 detections: transposed inside
    _, _, optimal = match_regions(np.array(rating).T, 'optimal')
    assert sum(official) == pytest.approx(0.63) and sum(optimal) == pytest.approx(0.85)
    assert hungarian_official([[1.0, 0.0], [0.0, 1.0]]) == [0, 1]
    with pytest.raises(ValueError, match='at most as many rows as columns'):
        hungarian_official([[1.0], [0.5]])


def test_tiny_roc_by_hand(tmp_path):
    # image A, 1 face: d1 (0.9) overlaps it 0.8, d2 (0.5) nothing.
    # image B, 2 faces: d3 (0.7) overlaps face 1 by 0.4 (matched, not a discrete hit: an FP), d4 (0.9) face 2 by 0.6.
    # image C, 1 face, no detection.
    a = image_counts(np.array([[0.8, 0.0]]), np.array([0.9, 0.5]))
    b = image_counts(np.array([[0.4, 0.0], [0.0, 0.6]]), np.array([0.7, 0.9]))
    c = image_counts(np.zeros((1, 0)), np.zeros(0))
    assert (a.thresholds.tolist(), a.tp_disc.tolist(), a.tp_cont.tolist(), a.fp.tolist()) == \
        ([0.5, 0.9], [1, 1], [0.8, 0.8], [1, 0])
    assert (b.thresholds.tolist(), b.tp_disc.tolist(), b.fp.tolist()) == ([0.7, 0.9], [1, 1], [1, 0])
    np.testing.assert_allclose(b.tp_cont, [1.0, 0.6])
    assert c.thresholds.tolist() == [NO_DETECTION_THRESHOLD] and c.num_faces == 1
    result = pool_counts([a, b, c])
    assert result.num_faces == 4 and result.num_images == 3
    assert result.thresholds.tolist() == [0.5, 0.7, 0.9, NO_DETECTION_THRESHOLD]
    assert result.fp.tolist() == [2, 1, 0, 0]
    np.testing.assert_allclose(result.tpr_disc, [0.5, 0.5, 0.5, 0])
    np.testing.assert_allclose(result.tpr_cont, [0.45, 0.45, 0.35, 0])
    assert format_roc_lines(result) == {
        'disc': ['0.5 2 0.5', '0.5 1 0.7', '0.5 0 0.9', '0 0 1.79769e+308'],
        'cont': ['0.45 2', '0.45 1', '0.35 0', '0 0']}
    assert tpr_at_fp(result, 1) == pytest.approx((0.5, 0.45))
    assert tpr_at_fp(result, 0) == pytest.approx((0.5, 0.35))
    assert format_headline(result, 1000) == 'FDDB TPR@1000FP: discrete 0.5000, continuous 0.4500'
    paths = write_roc_files(str(tmp_path / 'run_'), result)
    assert paths['disc'].endswith('run_DiscROC.txt')
    np.testing.assert_allclose(read_roc_file(paths['disc'])[:, 1], [2, 1, 0, 0])


def test_no_faces_and_no_detections():
    result = pool_counts([ImageCounts(np.array([0.3]), np.zeros(1), np.zeros(1), np.ones(1), 0)])
    assert format_roc_lines(result) == {'disc': ['0 0 0.3'], 'cont': ['0 0']}  # Results::saveROC with N = 0
    assert tpr_at_fp(result, 0) == (0.0, 0.0)  # 1 FP > 0: no operating point qualifies


def test_evaluate_fddb_end_to_end_and_checks():
    annotations = {'a': np.array([[2, 2, 0.0, 5, 5]]), 'b': np.array([[2, 2, 0.0, 5, 5]])}
    sizes = {'a': (12, 12), 'b': (12, 12)}
    detections = {'a': np.array([[5, 3, 2, 4, 0.9]])}  # b has none
    result = evaluate_fddb(annotations, detections, sizes)
    assert result.thresholds.tolist() == [0.9, NO_DETECTION_THRESHOLD]
    np.testing.assert_allclose(result.tpr_cont, [9 / 19 / 2, 0])
    assert result.fp.tolist() == [1, 0]  # 9/19 < 0.5: matched but a false positive
    with pytest.raises(KeyError, match='c: no annotation entry'):
        evaluate_fddb(annotations, detections, sizes, image_names=['c'])
    with pytest.raises(ValueError, match=r'a: expected \(rectangle\) detections of shape \(D, 5\)'):
        evaluate_fddb(annotations, {'a': np.zeros((1, 6))}, sizes)
    with pytest.raises(ValueError, match='det_format'):
        evaluate_fddb(annotations, detections, sizes, det_format='pixels')


def test_box_conversions():
    boxes, scores = np.array([[10.0, 20.0, 30.0, 60.0]]), np.array([0.7])
    np.testing.assert_allclose(boxes_to_fddb(boxes, scores), [[10, 20, 20, 40, 0.7]])
    np.testing.assert_allclose(boxes_to_fddb(boxes, scores, height_scale=1.2), [[10, 16, 20, 48, 0.7]])
    np.testing.assert_allclose(boxes_to_fddb(boxes, scores, to_ellipse=True), [[20, 10, np.pi / 2, 20, 40, 0.7]])


def test_roc_files_are_never_written_over(tmp_path):
    result = pool_counts([image_counts(np.array([[0.8]]), np.array([0.9]))])
    (tmp_path / 'run_ContROC.txt').write_text('mine\n')
    with pytest.raises(OutputExistsError, match='run_ContROC.txt: already exists'):
        write_roc_files(str(tmp_path / 'run_'), result)
    assert (tmp_path / 'run_ContROC.txt').read_text() == 'mine\n'
    assert not (tmp_path / 'run_DiscROC.txt').exists()  # both are checked before either is written
    write_roc_files(str(tmp_path / 'run_'), result, overwrite=True)
    assert (tmp_path / 'run_ContROC.txt').read_text() == '0.8 0\n'
    assert (tmp_path / 'run_DiscROC.txt').read_text() == '1 0 0.9\n'


def test_functional_fddb_imports_no_framework():
    import subprocess
    import sys
    code = ('import sys, mmdet_face.evaluation.functional.fddb, mmdet_face.evaluation.functional.fddb_roc; '
            'print(sorted(m for m in ("torch", "mmengine", "mmdet", "cv2") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'  # cv2 is imported only when a region is drawn
