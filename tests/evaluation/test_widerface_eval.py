"""Tests of the WIDER FACE protocol (mmdet_face/evaluation/functional/widerface.py) and its file I/O.

``kit_evaluation`` is the slow, loop-for-loop port of the official kit
(:mod:`mmdet_face.evaluation.functional.widerface_reference`); the fast evaluator must agree with it to 1e-9.
"""
import os
import warnings

import numpy as np
import pytest

import mmdet_face.evaluation.functional as wf
from mmdet_face.evaluation.functional import widerface
from mmdet_face.evaluation.functional.widerface_reference import kit_evaluation
from tests.helpers.paths import shared_path


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------
def _subset_gt(gt, events):
    return {'boxes': {e: gt['boxes'][e] for e in events},
            'settings': {s: {e: gt['settings'][s][e] for e in events} for s in wf.SETTINGS}}


def _synthetic_predictions(gt, seed, fp_per_image=8):
    """Jittered ground-truth boxes (some dropped, some duplicated), random false positives, tied scores
    (rounded to 0.01 so the stable per-image sort matters), a few int-valued and degenerate boxes."""
    rng = np.random.default_rng(seed)
    preds = {}
    for event, images in gt['boxes'].items():
        preds[event] = {}
        for name, boxes in images.items():
            boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
            keep = rng.random(len(boxes)) < 0.85
            b = boxes[keep].copy()
            size = np.maximum(b[:, 2:4], 1)
            b[:, 0:2] += rng.normal(0, 0.12, (len(b), 2)) * size
            b[:, 2:4] = size * np.exp(rng.normal(0, 0.15, (len(b), 2)))
            dup = b[rng.random(len(b)) < 0.1]
            n_fp = rng.integers(0, fp_per_image + 1)
            fp = np.c_[rng.uniform(-20, 1000, (n_fp, 2)), rng.uniform(-2, 150, (n_fp, 2))]
            allb = np.concatenate([b, dup, fp])
            if len(allb) and rng.random() < 0.3:
                allb = np.round(allb)  # integer coordinates
            scores = np.round(rng.beta(2, 1, len(allb)) * 100) / 100
            scores[len(b):] *= 0.6
            p = np.c_[allb, scores]
            preds[event][name] = p[rng.permutation(len(p))]
    return preds


def _tiny_gt(boxes, keep):
    """One image ``0--Parade/img`` with ``boxes`` (x y w h); ``keep``: 0-based indices counted in all settings."""
    return {'boxes': {'0--Parade': {'img': np.asarray(boxes, np.int32).reshape(-1, 4)}},
            'settings': {s: {'0--Parade': {'img': np.asarray(keep, np.int64)}} for s in wf.SETTINGS}}


def _tiny(preds):
    return {'0--Parade': {'img': np.asarray(preds, np.float64).reshape(-1, 5)}}


@pytest.fixture(scope='module')
def real_gt():
    # module scope, so the 0.5 s load happens once
    return wf.load_ground_truth(str(shared_path('widerface_gt')))


# ----------------------------------------------------------------------------------------------------------------
# Ground-truth files
# ----------------------------------------------------------------------------------------------------------------
def test_load_official_ground_truth(real_gt):
    boxes = real_gt['boxes']
    assert len(boxes) == 61 and list(boxes) == sorted(boxes)
    assert sum(len(v) for v in boxes.values()) == 3226
    assert sum(len(b) for v in boxes.values() for b in v.values()) == 39708
    counts = {s: sum(len(i) for v in real_gt['settings'][s].values() for i in v.values()) for s in wf.SETTINGS}
    assert counts == {'easy': 7211, 'medium': 13319, 'hard': 31958}
    assert boxes['39--Ice_Skating']['39_Ice_Skating_iceskiing_39_583'].tolist().count([1026, 474, -2, 23]) == 1


def test_write_gt_mats_round_trip(real_gt, tmp_path):
    events = ['0--Parade', '21--Festival', '39--Ice_Skating']
    sub = _subset_gt(real_gt, events[::-1])  # written sorted whatever the input order
    wf.write_gt_mats(str(tmp_path), sub['boxes'], sub['settings'])
    assert sorted(os.listdir(tmp_path)) == sorted(wf.GT_FILES.values())
    back = wf.load_ground_truth(str(tmp_path))
    assert list(back['boxes']) == events
    for e in events:
        assert list(back['boxes'][e]) == list(real_gt['boxes'][e])  # image order kept
        for name, b in real_gt['boxes'][e].items():
            np.testing.assert_array_equal(back['boxes'][e][name], b)
            for s in wf.SETTINGS:
                np.testing.assert_array_equal(back['settings'][s][e][name], real_gt['settings'][s][e][name])
    # the official on-disk structure
    from scipy.io import loadmat
    mat = loadmat(str(tmp_path / 'wider_hard_val.mat'))
    assert mat['event_list'].shape == (3, 1) and str(mat['event_list'][0][0][0]) == '0--Parade'
    cell = mat['face_bbx_list'][0][0][0][0]
    assert cell.dtype == np.int32 and cell.shape[1] == 4
    assert mat['gt_list'][0][0][0][0].shape[1] == 1 and mat['gt_list'][0][0][0][0].min() >= 1  # 1-based
    assert mat['blur_label_list'][0][0][0][0].shape == (len(cell), 1)


def test_write_gt_mats_many_boxes_and_empty(tmp_path):
    boxes = {'1--A': {'many': np.tile([[1, 2, 3, 4]], (300, 1)), 'none': np.zeros((0, 4))}}
    settings = {s: {'1--A': {'many': np.arange(290), 'none': []}} for s in wf.SETTINGS}
    wf.write_gt_mats(str(tmp_path), boxes, settings)
    back = wf.load_ground_truth(str(tmp_path))
    assert back['boxes']['1--A']['none'].shape == (0, 4)
    np.testing.assert_array_equal(back['settings']['easy']['1--A']['many'], np.arange(290))  # uint16 path
    with pytest.raises(ValueError, match='outside'):
        wf.write_gt_mats(str(tmp_path), boxes, {s: {'1--A': {'many': [300]}} for s in wf.SETTINGS})
    with pytest.raises(ValueError, match='non-integer'):
        wf.write_gt_mats(str(tmp_path), {'1--A': {'x': [[1.5, 2, 3, 4]]}}, {s: {} for s in wf.SETTINGS})


def _small_gt_dir(path):
    boxes = {'0--Parade': {'a': [[1, 2, 10, 10], [30, 30, 8, 8]], 'b': [[5, 5, 20, 20]]},
             '1--Handshaking': {'c': [[0, 0, 12, 12]]}}
    settings = {s: {'0--Parade': {'a': [0, 1], 'b': [0]}, '1--Handshaking': {'c': [0]}} for s in wf.SETTINGS}
    wf.write_gt_mats(str(path), boxes, settings)
    return path


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize('name', sorted(wf.GT_FILES.values()))
@pytest.mark.parametrize('damage', ['first half', 'random bytes', 'empty'])
def test_corrupt_mat_names_the_file(tmp_path, name, damage):
    """A truncated / corrupt ground-truth file is an error naming it and what was expected (before: scipy's bare
    ``OSError: could not read bytes`` or ``ValueError: Unknown mat file type``, with no file name)."""
    gt = _small_gt_dir(tmp_path / 'gt')
    target = gt / name
    if damage == 'first half':
        _truncate(target)
    elif damage == 'random bytes':
        target.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    else:
        target.write_bytes(b'')
    with pytest.raises(ValueError, match=rf'{name}: not a readable MATLAB \.mat file .*truncated or corrupt.*'
                                         rf'Expected the official WIDER FACE'):
        wf.load_ground_truth(str(gt))


def test_truncated_real_mat_names_the_file(tmp_path, widerface_gt_dir):
    """The first half of the real wider_face_val.mat (the issue's case)."""
    import shutil
    for name in wf.GT_FILES.values():
        shutil.copy(widerface_gt_dir / name, tmp_path / name)
    (tmp_path / 'wider_face_val.mat').chmod(0o644)
    _truncate(tmp_path / 'wider_face_val.mat')
    with pytest.raises(ValueError, match=r'wider_face_val\.mat: not a readable MATLAB \.mat file'):
        wf.load_ground_truth(str(tmp_path))
    with pytest.raises(ValueError, match=r'wider_face_val\.mat: not a readable'):
        wf.evaluate_widerface({}, str(tmp_path))


def test_mat_without_the_kit_variables(tmp_path):
    """A readable .mat file that is not the kit's (or was cut at a variable boundary) names what is missing."""
    from scipy.io import loadmat, savemat
    gt = _small_gt_dir(tmp_path)
    mat = {k: v for k, v in loadmat(str(gt / 'wider_face_val.mat')).items() if k in ('event_list', 'file_list')}
    savemat(str(gt / 'wider_face_val.mat'), mat)
    with pytest.raises(ValueError, match=r"wider_face_val\.mat: has no variable\(s\) \['face_bbx_list'\]"):
        wf.load_ground_truth(str(gt))
    _small_gt_dir(tmp_path)  # restore the reference file
    savemat(str(gt / 'wider_easy_val.mat'), {'something_else': np.zeros(3)})
    with pytest.raises(ValueError, match=r"wider_easy_val\.mat: has no variable\(s\) \['gt_list'\]"):
        wf.load_ground_truth(str(gt))


def test_mat_with_inconsistent_cells(tmp_path):
    """Cell counts that disagree and out-of-range gt_list indices used to be zipped / indexed silently (an index
    past an image's boxes marked a box of the next image as counting)."""
    from scipy.io import loadmat, savemat
    gt = _small_gt_dir(tmp_path)
    ref = loadmat(str(gt / 'wider_face_val.mat'))
    bad = dict(ref)
    bbx = ref['face_bbx_list'].copy()
    bbx[0, 0] = bbx[0, 0][:1]  # event 0 keeps one of its two box arrays
    bad['face_bbx_list'] = bbx
    savemat(str(gt / 'wider_face_val.mat'), {k: v for k, v in bad.items() if not k.startswith('__')})
    with pytest.raises(ValueError, match=r'wider_face_val\.mat: event 0--Parade has 2 file_list cells and 1 '
                                         r'face_bbx_list cells'):
        wf.load_ground_truth(str(gt))
    gt = _small_gt_dir(tmp_path)
    hard = loadmat(str(gt / 'wider_hard_val.mat'))
    gt_list = hard['gt_list'].copy()
    gt_list[0, 0][1, 0] = np.array([[1], [2]], np.uint8)  # image 'b' has one box
    hard['gt_list'] = gt_list
    savemat(str(gt / 'wider_hard_val.mat'), {k: v for k, v in hard.items() if not k.startswith('__')})
    with pytest.raises(ValueError, match=r'wider_hard_val\.mat: gt_list of 0--Parade/b holds indices \[1, 2\], '
                                         r'expected 1\.\.1'):
        wf.load_ground_truth(str(gt))


# ----------------------------------------------------------------------------------------------------------------
# Hand-checked tiny cases (scores chosen so that normalisation leaves them unchanged: min 0, max 1)
# ----------------------------------------------------------------------------------------------------------------
FACE_A = [0, 0, 9, 9]     # +1 convention: 10 x 10 = area 100
FACE_B = [20, 20, 9, 9]


def test_tiny_fp_between_two_true_positives():
    # scores A 1.0, FP 0.5, B 0.0. thresholds 0.999..0.5+: P 1/1, R 1/2; 0.5..0.001: P 1/2, R 1/2;
    # threshold 0: P 2/3, R 2/2. Envelope: 1 at R 1/2, 2/3 at R 1 -> AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    gt = _tiny_gt([FACE_A, FACE_B], [0, 1])
    res = wf.evaluate_widerface(_tiny([FACE_A + [1.0], [500, 500, 9, 9, 0.5], FACE_B + [0.0]]), gt)
    for s in wf.SETTINGS:
        assert res[s] == pytest.approx(5 / 6, abs=1e-12)
    assert res['pr_curves']['easy']['precision'][0] == 1 and res['pr_curves']['easy']['recall'][0] == 0.5
    assert res['pr_curves']['easy']['precision'][-1] == pytest.approx(2 / 3)


def test_tiny_duplicate_is_a_false_positive():
    # A 1.0, a second box on A 0.5 (A already recalled: it stays a proposal), B 0.0 -> same curve as above: 5/6.
    gt = _tiny_gt([FACE_A, FACE_B], [0, 1])
    res = wf.evaluate_widerface(_tiny([FACE_A + [1.0], [0, 0, 9, 8, 0.5], FACE_B + [0.0]]), gt)
    assert res['hard'] == pytest.approx(5 / 6, abs=1e-12)


def test_tiny_ignore_face_discards_its_detection():
    # B is an ignore face: its box (score 1.0) is discarded, so above threshold 0 there are no proposals
    # (precision 0/0 = NaN at recall 0); at threshold 0: P 1/1, R 1/1 -> AP 1.
    gt = _tiny_gt([FACE_A, FACE_B], [0])
    preds = _tiny([FACE_B + [1.0], FACE_A + [0.0]])
    res = wf.evaluate_widerface(preds, gt)
    assert res['easy'] == 1.0
    assert np.isnan(res['pr_curves']['easy']['precision'][0])
    # the same box far from any face is a false positive ranked first: P 0 then P 1/2 at R 1 -> AP 0.5
    res = wf.evaluate_widerface(_tiny([[300, 300, 9, 9, 1.0], FACE_A + [0.0]]), gt)
    assert res['easy'] == 0.5


def test_tiny_iou_boundary_is_inclusive():
    # +1 convention: [0,0,9,4] vs [0,0,9,9]: inter 10*5 = 50, union 100 + 50 - 50 = 100 -> IoU 0.5 >= 0.5: a hit.
    # A second box (score 0) far away keeps the scores distinct; it only joins at threshold 0 -> AP 1.
    gt = _tiny_gt([FACE_A], [0])
    assert wf.evaluate_widerface(_tiny([[0, 0, 9, 4, 1.0], [300, 300, 5, 5, 0.0]]), gt)['easy'] == 1.0
    # [0,0,9,3]: IoU 40/100 = 0.4: a miss, recall 0 everywhere -> AP 0
    assert wf.evaluate_widerface(_tiny([[0, 0, 9, 3, 1.0], [300, 300, 5, 5, 0.0]]), gt)['easy'] == 0.0


def test_tiny_settings_differ():
    # Face A counts in every setting, face B only in Hard. Boxes: B 1.0, A 0.0.
    # Easy/Medium: B is ignored -> AP 1 (as above). Hard: B recalled first (P 1, R 1/2), then A (P 1, R 1) -> AP 1;
    # with B's box moved off B: Hard has an FP first -> P 0 then 1/2 at R 1/2 -> AP 0.5 * 0.5 = 0.25.
    gt = _tiny_gt([FACE_A, FACE_B], [0])
    gt['settings']['hard']['0--Parade']['img'] = np.array([0, 1])
    res = wf.evaluate_widerface(_tiny([FACE_B + [1.0], FACE_A + [0.0]]), gt)
    assert (res['easy'], res['medium'], res['hard']) == (1.0, 1.0, 1.0)
    res = wf.evaluate_widerface(_tiny([[300, 300, 9, 9, 1.0], FACE_A + [0.0]]), gt)
    assert (res['easy'], res['hard']) == (0.5, 0.25)


def test_tiny_no_predictions_warns_and_scores_zero():
    gt = _tiny_gt([FACE_A, FACE_B], [0, 1])
    with pytest.warns(UserWarning, match='1 of 1 ground-truth images have no predictions'):
        res = wf.evaluate_widerface({}, gt)
    assert (res['easy'], res['medium'], res['hard']) == (0.0, 0.0, 0.0)


def test_all_equal_scores_give_the_official_zero_with_a_warning():
    gt = _tiny_gt([FACE_A, FACE_B], [0, 1])
    with pytest.warns(UserWarning, match='every score is equal'):
        res = wf.evaluate_widerface(_tiny([FACE_A + [0.7], FACE_B + [0.7]]), gt)
    assert res['easy'] == 0.0
    assert kit_evaluation(_tiny([FACE_A + [0.7], FACE_B + [0.7]]), gt)['easy'] == 0.0


def test_odd_inputs_are_tolerated_and_match_the_reference():
    # scores outside [0, 1], negative / zero sizes, a box outside the image, int coordinates, thousands of boxes
    rng = np.random.default_rng(3)
    gt = _tiny_gt([FACE_A, FACE_B, [40, 40, 0, 5], [1026, 474, -2, 23]], [0, 1, 2, 3])
    many = np.c_[rng.uniform(-50, 60, (3000, 2)), rng.uniform(-3, 20, (3000, 2)), rng.normal(0, 5, 3000)]
    preds = np.concatenate([many, [FACE_A + [2.5], [40, 40, 0, 5, 7], [5000, -300, 10, 10, 9]]])
    with pytest.warns(UserWarning, match='outside'):
        res = wf.evaluate_widerface({'0--Parade': {'img.jpg': preds.astype(np.float32)}}, gt)
    ref = kit_evaluation({'0--Parade': {'img': preds.astype(np.float32)}}, gt)
    for s in wf.SETTINGS:
        assert abs(res[s] - ref[s]) < 1e-9
    ints = {'0--Parade': {'img': np.array([FACE_A + [9], FACE_B + [1], [0, 0, 3, 3, 4]], np.int64)}}
    with pytest.warns(UserWarning, match='outside'):
        res = wf.evaluate_widerface(ints, gt)
    ref = kit_evaluation(ints, gt)
    assert all(abs(res[s] - ref[s]) < 1e-9 for s in wf.SETTINGS)


def test_input_is_not_modified_and_non_finite_is_rejected():
    gt = _tiny_gt([FACE_A], [0])
    preds = _tiny([[0, 0, 9, 9, 5.0], [1, 1, 5, 5, 3.0]])
    before = preds['0--Parade']['img'].copy()
    with pytest.warns(UserWarning):
        wf.evaluate_widerface(preds, gt)
    np.testing.assert_array_equal(preds['0--Parade']['img'], before)
    with pytest.raises(ValueError, match='finite'):
        wf.evaluate_widerface(_tiny([[0, 0, np.nan, 9, 1.0]]), gt)


# ----------------------------------------------------------------------------------------------------------------
# Real ground truth
# ----------------------------------------------------------------------------------------------------------------
def test_perfect_submission_gives_the_official_perfect_aps(real_gt):
    """Every ground-truth box submitted as a prediction, score 1, except the negative-width box, score 0.

    - Easy / Medium: every counted face is recalled by its own box (IoU exactly 1) and boxes on ignore faces are
      discarded; the only false positive is the box ``[1026 474 -2 23]`` (its +1 width is -1, so its IoU with
      everything, itself included, is 0), and it passes only threshold 0, after recall already reached 1.
      AP = 1 exactly.
    - Hard counts 31958 faces, two of which no submission can recall: the negative-width box, and one of the two
      identical boxes ``[219 454 9 15]`` (rows 64 and 103) of ``21_Festival_Festival_21_604`` (both boxes on it
      take the first one, by MATLAB's first-maximum rule, so the second box is a false positive). Above threshold
      0: 31956 recalled of 31957 proposals. AP = recall * precision = (31956 / 31958) * (31956 / 31957).
    - Giving every box score 1 instead is the all-equal case: the kit's normalisation is 0/0 and all APs are 0.
    """
    preds = {}
    for event, images in real_gt['boxes'].items():
        preds[event] = {}
        for name, b in images.items():
            scores = np.where((b[:, 2] < 0) | (b[:, 3] < 0), 0.0, 1.0)
            preds[event][name] = np.c_[b, scores]
    res = wf.evaluate_widerface(preds, real_gt)
    assert res['easy'] == 1.0 and res['medium'] == 1.0
    assert res['hard'] == (31956 / 31958) * (31956 / 31957)


@pytest.mark.slow
def test_fast_equals_kit_reference_on_real_gt(real_gt):
    # three events (incl. the duplicate and negative-width boxes, and 0--Parade), synthetic predictions with ties
    sub = _subset_gt(real_gt, ['0--Parade', '21--Festival', '39--Ice_Skating'])
    preds = _synthetic_predictions(sub, seed=0)
    fast = wf.evaluate_widerface(preds, sub)
    ref = kit_evaluation(preds, sub)
    for s in wf.SETTINGS:
        assert abs(fast[s] - ref[s]) < 1e-9, (s, fast[s], ref[s])
        assert 0.2 < fast[s] < 1


@pytest.mark.slow
def test_fast_equals_kit_reference_on_full_val(real_gt):
    preds = _synthetic_predictions(real_gt, seed=1)
    fast = wf.evaluate_widerface(preds, real_gt)
    ref = kit_evaluation(preds, real_gt)
    for s in wf.SETTINGS:
        assert abs(fast[s] - ref[s]) < 1e-9, (s, fast[s], ref[s])


# ----------------------------------------------------------------------------------------------------------------
# Submission folders
# ----------------------------------------------------------------------------------------------------------------
def test_submission_folder_round_trip(real_gt, tmp_path):
    sub = _subset_gt(real_gt, ['0--Parade', '21--Festival'])
    preds = _synthetic_predictions(sub, seed=2)
    preds['0--Parade'][next(iter(preds['0--Parade']))] = np.zeros((0, 5))  # an image with 0 boxes
    wf.write_submission(str(tmp_path / 'sub'), preds)
    back = wf.read_submission(str(tmp_path / 'sub'))
    for e in preds:
        for name, p in preds[e].items():
            np.testing.assert_array_equal(back[e][name], p)  # bit-exact floats
    a = wf.evaluate_widerface(preds, sub)
    b = wf.evaluate_widerface(str(tmp_path / 'sub'), sub)
    assert all(a[s] == b[s] for s in wf.SETTINGS)
    assert sorted(os.listdir(tmp_path)) == ['sub']  # nothing written next to the predictions


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('text, match', [
    ('img\n3\n1 2 3 4 0.5\n1 2 3 4 0.4\n', r'img.txt:2: the file says 3 boxes but has 2'),
    ('img\n1\n1 2 3 4 0.5\n1 2 3 4 0.4\n', r'img.txt:2: the file says 1 boxes but has 2'),
    ('img\ntwo\n1 2 3 4 0.5\n', r'img.txt:2: expected the number of boxes'),
    ('img\n2\n1 2 3 4 0.5\n1 2 x 4 0.4\n', r'img.txt:4: expected 5 numbers'),
    ('img\n1\n1 2 3 4\n', r'img.txt:3: expected "x y w h score"'),
    ('img\n', r'img.txt: expected an image name line'),
])
def test_malformed_files_name_the_file_and_line(tmp_path, text, match):
    path = _write(tmp_path / 'sub' / '0--Parade' / 'img.txt', text)
    with pytest.raises(ValueError, match=match):
        wf.read_pred_file(path)
    with pytest.raises(ValueError, match=match):
        wf.read_submission(str(tmp_path / 'sub'))


def test_non_utf8_submission_file_names_the_file_and_line(tmp_path):
    """Before: a bare UnicodeDecodeError (or, under a Latin-1 locale, a silently mis-read file) with no file name."""
    path = tmp_path / 'sub' / '0--Parade' / '0_Parade_marchingband_1_5.txt'
    path.parent.mkdir(parents=True)
    path.write_bytes(b'0_Parade_marchingband_1_5\n2\n1 2 3 4 0.5\n5 6 7 8 0.\xe94\n')
    match = r'0_Parade_marchingband_1_5\.txt:4: byte 0xe9 .* is not UTF-8 text'
    with pytest.raises(ValueError, match=match):
        wf.read_pred_file(str(path))
    with pytest.raises(ValueError, match=match):
        wf.read_submission(str(tmp_path / 'sub'))
    gt = _small_gt_dir(tmp_path / 'gt')
    with pytest.raises(ValueError, match=match):
        wf.evaluate_widerface(str(tmp_path / 'sub'), str(gt))


def test_well_formed_variants(tmp_path):
    path = _write(tmp_path / 'a.txt', '0--Parade/img.jpg\n2\n1 2 3 4 0.5 9\n5\t6 7 8 0.25\n\n')
    np.testing.assert_array_equal(wf.read_pred_file(path), [[1, 2, 3, 4, 0.5], [5, 6, 7, 8, 0.25]])
    assert wf.read_pred_file(_write(tmp_path / 'b.txt', 'img\n0\n')).shape == (0, 5)


def test_pr_curve_json(tmp_path):
    import json
    gt = _tiny_gt([FACE_A, FACE_B], [0])
    res = wf.evaluate_widerface(_tiny([FACE_B + [1.0], FACE_A + [0.0]]), gt)
    wf.dump_pr_curves(res, str(tmp_path / 'out' / 'r.json'), name='toy')
    data = json.loads((tmp_path / 'out' / 'r.json').read_text())
    assert data['name'] == 'toy' and data['easy'] == 1.0
    assert len(data['pr_curves']['hard']['precision']) == 1000 and data['pr_curves']['easy']['precision'][0] is None
    assert 'Easy   Val AP: 1.0000' in wf.format_results(res)


def test_many_boxes_in_one_image_are_chunked_exactly():
    rng = np.random.default_rng(5)
    gt = _tiny_gt(np.c_[rng.integers(0, 500, (50, 2)), rng.integers(5, 60, (50, 2))], np.arange(0, 50, 2))
    b = gt['boxes']['0--Parade']['img'].astype(np.float64)
    preds = np.concatenate([np.c_[b + rng.normal(0, 2, b.shape), rng.random(50)],
                            np.c_[rng.uniform(0, 500, (9000, 2)), rng.uniform(5, 60, (9000, 2)), rng.random(9000)]])
    flat = widerface._as_flat_gt(gt)
    sorted_preds = preds[np.argsort(-preds[:, 4], kind='stable')]
    whole = widerface._match_image(sorted_preds, flat.boxes, 0.5, chunk=10 ** 6)
    np.testing.assert_array_equal(widerface._match_image(sorted_preds, flat.boxes, 0.5, chunk=1000), whole)
    assert (whole >= 0).sum() > 40


def test_setting_without_faces_is_nan_with_a_warning(tmp_path):
    import json
    gt = _tiny_gt([FACE_A], [])
    with pytest.warns(UserWarning, match='no face counts in the'):
        res = wf.evaluate_widerface(_tiny([FACE_A + [1.0], [50, 50, 5, 5, 0.0]]), gt)
    assert np.isnan(res['easy'])
    wf.dump_pr_curves(res, str(tmp_path / 'r.json'))
    assert json.loads((tmp_path / 'r.json').read_text())['easy'] is None  # valid JSON, no NaN literal


def test_protocol_io_and_reporting_live_apart():
    """The protocol module holds the scoring only; .mat files, submission folders and reports are their own
    modules, and the path the README documents still gives the evaluator."""
    import ast
    import inspect

    from mmdet_face.evaluation.functional import widerface_gt_mat, widerface_report, widerface_submission
    from mmdet_face.evaluation.functional.widerface import FlatGroundTruth, evaluate_widerface
    assert evaluate_widerface is wf.evaluate_widerface and FlatGroundTruth is wf.FlatGroundTruth
    defined = {node.name for node in ast.parse(inspect.getsource(widerface)).body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert not defined & {'load_gt_boxes', 'load_ground_truth', 'write_gt_mats', 'read_pred_file', 'read_submission',
                          'write_submission', 'describe_unmatched_submission', 'format_results', 'dump_pr_curves'}
    assert widerface_gt_mat.load_ground_truth is wf.load_ground_truth
    assert widerface_submission.read_submission is wf.read_submission
    assert widerface_report.dump_pr_curves is wf.dump_pr_curves
