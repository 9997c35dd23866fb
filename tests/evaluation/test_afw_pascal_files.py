"""The AFW / PASCAL Face files: the re-annotation .mat files (structure as the toolbox's database.py reads them),
detection files and the JSON result; errors name the file, the entry / line and the field."""
import json

import numpy as np
import pytest
from scipy.io import savemat

from mmdet_face.evaluation.functional.afw_pascal_files import (dump_face_pr, ground_truth_by_key,
                                                              load_face_eval_annotations, read_detections,
                                                              write_detections, write_face_eval_annotations)
from mmdet_face.evaluation.functional.face_pr import evaluate_face_pr
from mmdet_face.utils.output_file import OutputExistsError


def _write_raw(path, entries):
    """An ``Annotations`` (N, 1) struct array with the given (imgname, objects) values, written as they are."""
    ann = np.zeros((len(entries), 1), dtype=[('imgname', object), ('objects', object)])
    for i, (name, objects) in enumerate(entries):
        ann[i, 0]['imgname'] = name
        ann[i, 0]['objects'] = objects
    savemat(str(path), {'Annotations': ann})
    return str(path)


def test_annotations_round_trip(tmp_path):
    path = str(tmp_path / 'new_annotations_AFW.mat')
    write_face_eval_annotations(path, [
        dict(name='111.jpg', faces=[[1.5, 2, 40, 50], [60, 70, 120, 140]], ignored=[False, True]),
        dict(name='222.jpg', faces=np.zeros((0, 4))),
    ])
    images = load_face_eval_annotations(path)
    assert [(i['name'], i['entry']) for i in images] == [('111.jpg', 1), ('222.jpg', 2)]
    np.testing.assert_array_equal(images[0]['faces'], [[1.5, 2, 40, 50], [60, 70, 120, 140]])
    assert images[0]['ignored'].tolist() == [False, True] and images[1]['faces'].shape == (0, 4)
    assert list(ground_truth_by_key(images)) == ['111', '222']
    with pytest.raises(OutputExistsError):
        write_face_eval_annotations(path, [])
    assert len(load_face_eval_annotations(path)) == 2  # left untouched


def test_four_column_objects_flag_nothing(tmp_path):
    path = _write_raw(tmp_path / 'p.mat', [('2007_000272.jpg', np.array([[10., 20, 80, 90], [5, 5, 60, 70]]))])
    image = load_face_eval_annotations(path)[0]
    assert image['ignored'].tolist() == [False, False] and image['faces'][1].tolist() == [5, 5, 60, 70]


@pytest.mark.parametrize('entries, message', [
    ([('a.jpg', np.zeros((1, 6))), ('b.jpg', np.array([[1., 2, 3]]))],
     r'Annotations\(2\)\.objects \(image b\.jpg\): expected a numeric K x C matrix with C >= 4.*shape \(1, 3\)'),
    ([('a.jpg', np.array([[50., 10, 20, 60, 0, 0]]))],
     r'Annotations\(1\)\.objects \(image a\.jpg\), face 1: expected x1 y1 x2 y2 with x2 >= x1'),
    ([('a.jpg', np.array([[np.nan, 10, 20, 60, 0, 0]]))], r'face 1: expected finite numbers'),
    ([('a.jpg', np.zeros((0, 6))), (np.array([1.0, 2.0]), np.zeros((0, 6)))],
     r'Annotations\(2\)\.imgname: expected the image file name'),
])
def test_bad_annotation_values_name_the_entry_and_field(tmp_path, entries, message):
    path = _write_raw(tmp_path / 'bad.mat', entries)
    with pytest.raises(ValueError, match=message) as err:
        load_face_eval_annotations(path)
    assert str(err.value).startswith(path)


def test_bad_annotation_files(tmp_path):
    text = tmp_path / 'not_a_mat.mat'
    text.write_text('hello\n')
    with pytest.raises(ValueError, match='not_a_mat.mat: not a readable MATLAB .mat file.*Annotations'):
        load_face_eval_annotations(str(text))
    other = tmp_path / 'other.mat'
    savemat(str(other), {'anno': np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"other.mat: has no variable \"Annotations\" \(found \['anno'\]\)"):
        load_face_eval_annotations(str(other))
    numeric = tmp_path / 'numeric.mat'
    savemat(str(numeric), {'Annotations': np.zeros((2, 2))})
    with pytest.raises(ValueError, match='numeric.mat: "Annotations" is a float64 array'):
        load_face_eval_annotations(str(numeric))
    with pytest.raises(FileNotFoundError):
        load_face_eval_annotations(str(tmp_path / 'missing.mat'))


def test_duplicate_image_keys_are_refused(tmp_path):
    path = _write_raw(tmp_path / 'dup.mat', [('x.jpg', np.zeros((0, 6))), ('y.jpg', np.zeros((0, 6))),
                                             ('x.png', np.zeros((0, 6)))])
    with pytest.raises(ValueError, match=r"dup.mat: entries 1 and 3 have the same image key 'x'"):
        ground_truth_by_key(load_face_eval_annotations(path), path)


def test_detection_file_round_trip(tmp_path):
    path = tmp_path / 'dets.txt'
    path.write_text('\ufeff2007_000272.jpg 0.5 -3.5 2 40 50.25\n\n111 1 0 0 30 30\n')
    keys, scores, boxes = read_detections(str(path))
    assert keys == ['2007_000272', '111'] and scores.tolist() == [0.5, 1.0]
    assert boxes.tolist() == [[-3.5, 2, 40, 50.25], [0, 0, 30, 30]]
    out = tmp_path / 'again.txt'
    write_detections(str(out), ['a', 'b'], [1 / 3, 0.5], [[0.1, 0.2, 30.3, 40.4], [1, 2, 3, 4]])
    keys, scores, boxes = read_detections(str(out))
    assert keys == ['a', 'b'] and scores[0] == 1 / 3 and boxes[0].tolist() == [0.1, 0.2, 30.3, 40.4]
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        write_detections(str(out), ['c'], [1.0], [[0, 0, 1, 1]])
    assert out.read_bytes() == before


@pytest.mark.parametrize('line, message', [
    ('a.jpg 0.5 1 2 3', r':2: expected 6 fields "image_id score x1 y1 x2 y2", got 5'),
    ('a.jpg high 1 2 3 4', r':2: expected numbers for score x1 y1 x2 y2'),
    ('a.jpg 0.5 1 2 nan 4', r':2: expected a finite x2, got nan'),
    ('a.jpg 0.5 100 200 30 40', r':2: expected corners x1 y1 x2 y2 with x2 >= x1 .*is it x y w h'),
])
def test_bad_detection_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / 'dets.txt'
    path.write_text('a.jpg 0.9 0 0 40 40\n' + line + '\n')
    with pytest.raises(ValueError, match=message) as err:
        read_detections(str(path))
    assert str(err.value).startswith(str(path))


def test_dump_face_pr(tmp_path):
    gt = {'a': (np.array([[0, 0, 99, 99]], float), np.array([False]))}
    result = evaluate_face_pr(gt, ['a', 'a'], [0.9, 0.8], [[0, 0, 99, 99], [0, 0, 99, 99]])
    path = tmp_path / 'out' / 'afw.json'
    dump_face_pr(result, str(path), name='dets')
    data = json.loads(path.read_text())
    assert data['ap'] == 1.0 and data['recall'] == [1.0, 1.0] and data['precision'] == [1.0, 0.5]
    assert data['name'] == 'dets' and data['num_gt'] == 1 and data['adjustment'] == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(OutputExistsError):
        dump_face_pr(result, str(path))
    dump_face_pr(result, str(path), name='again', overwrite=True)
    assert json.loads(path.read_text())['name'] == 'again'
