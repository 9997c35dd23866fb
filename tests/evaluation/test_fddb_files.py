"""The FDDB readers (fold lists, ellipse lists, detection files): values, and errors that name the file and line; the
FDDBDataset built on them."""
import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb_files import (ellipse_bounding_boxes, parse_ellipse_list,
                                                       parse_fddb_detections, parse_fold_list, read_fddb_folds)
from tests.helpers.fddb_data import make_fddb_layout

ELLIPSES = """2002/08/11/big/img_591
1
123.583300 85.549500 1.265839 269.693400 161.781200  1

2002/08/26/big/img_265
2
67.363819 44.511485 -1.476417 105.249970 87.209036  1
41.936870 27.064477 1.471906 184.070915 129.345601  1
"""


def _write(tmp_path, text, name='f.txt'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_ellipse_list_values(tmp_path):
    images = parse_ellipse_list(_write(tmp_path, ELLIPSES))
    assert [(im['name'], im['lineno'], im['regions'].shape) for im in images] == [
        ('2002/08/11/big/img_591', 1, (1, 5)), ('2002/08/26/big/img_265', 5, (2, 5))]
    np.testing.assert_allclose(images[0]['regions'], [[123.5833, 85.5495, 1.265839, 269.6934, 161.7812]])


def test_detection_files(tmp_path):
    rects = parse_fddb_detections(_write(tmp_path, 'a/b\n2\n1 2 3 4 0.9\n5 6 7 8 0.1\nc/d\n0\n'))
    assert [im['regions'].shape for im in rects] == [(2, 5), (0, 5)]
    ellipses = parse_fddb_detections(_write(tmp_path, 'a/b\n1\n10 5 1.5 20 30 0.7\n'), 'ellipse')
    np.testing.assert_allclose(ellipses[0]['regions'], [[10, 5, 1.5, 20, 30, 0.7]])


@pytest.mark.parametrize('text, where, message', [
    ('a/b\nx\n', 2, r'expected the number of regions of a/b \(an integer >= 0\), got \'x\''),
    ('a/b\n-1\n', 2, r'expected the number of regions of a/b \(an integer >= 0\), got -1'),
    ('a/b\n2\n1 1 0 5 5 1\n', 2, 'a/b has 2 regions but the file ends after 1'),
    ('a/b\n1\n1 1 0 5 5\n', 3, 'expected 6 numbers "major_axis_radius minor_axis_radius angle center_x center_y 1" '
                               r'\(region 1 of 1 of a/b\), got 5'),
    ('a/b\n1\n1 1 0 5 five 1\n', 3, 'expected 6 numbers .*, got non-numeric values'),
    ('a/b\n1\n-1 1 0 5 5 1\n', 3, 'expected non-negative radii'),
    ('a/b\n1\n1 1 0 5 nan 1\n', 3, 'expected a finite number for center_y'),
    ('a/b\n1\n1 1 0 5 5 0.3\n', 3, 'expected 1 as the sixth number'),
    ('a/b\n0\na/b\n0\n', 3, r'image a/b appears twice \(first on line 1\)'),
    ('a b\n0\n', 1, 'expected an image name'),
    ('a/b\n', 1, 'expected the number of regions of a/b on the next line'),
])
def test_ellipse_list_errors_name_file_and_line(tmp_path, text, where, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=rf'^{path}:{where}: {message}'):
        parse_ellipse_list(path)


@pytest.mark.parametrize('text, fmt, where, message', [
    ('a/b\n1\n1 2 3 4\n', 'rectangle', 3, 'expected 5 numbers "left top width height score"'),
    ('a/b\n1\n1 2 -3 4 0.5\n', 'rectangle', 3, 'expected a non-negative width and height, got width=-3'),
    ('a/b\n1\n1 2 3 4 inf\n', 'rectangle', 3, 'expected a finite number for score'),
    ('a/b\n1\n1 2 3 4 5\n', 'ellipse', 3, 'expected 6 numbers'),
])
def test_detection_errors_name_file_and_line(tmp_path, text, fmt, where, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=rf'^{path}:{where}: {message}'):
        parse_fddb_detections(path, fmt)


def test_fold_list(tmp_path):
    assert parse_fold_list(_write(tmp_path, 'a/b\n\nc/d\n')) == [(1, 'a/b'), (3, 'c/d')]
    path = _write(tmp_path, 'a/b\nc/d\na/b\n')
    with pytest.raises(ValueError, match=rf'^{path}:3: image a/b is listed twice \(first on line 1\)'):
        parse_fold_list(path)


def test_folds_must_agree_with_their_ellipse_lists(tmp_path):
    annotations = make_fddb_layout(tmp_path, folds=(1, 2), images_per_fold=2)
    images = read_fddb_folds(str(tmp_path / 'FDDB-folds'), (1, 2))
    assert [im['name'] for im in images] == list(annotations)
    assert [im['fold'] for im in images] == [1, 1, 2, 2]
    np.testing.assert_allclose(images[0]['regions'], annotations[images[0]['name']], atol=1e-6)
    folds = tmp_path / 'FDDB-folds'
    names = (folds / 'FDDB-fold-01.txt').read_text().split()
    (folds / 'FDDB-fold-01.txt').write_text(f'{names[1]}\n{names[0]}\n')
    with pytest.raises(ValueError, match=rf'FDDB-fold-01-ellipseList.txt:1: expected image {names[1]} \(line 1 of '
                                         '.*FDDB-fold-01.txt: the same images in the same order\\), got'):
        read_fddb_folds(str(folds), (1,))
    with pytest.raises(FileNotFoundError, match='FDDB-fold-03.txt: expected fold 3 of FDDB-folds.tgz there'):
        read_fddb_folds(str(folds), (3,))


def test_ellipse_bounding_boxes():
    np.testing.assert_allclose(ellipse_bounding_boxes([[10, 5, 0.0, 50, 40], [10, 5, np.pi / 2, 50, 40]]),
                               [[40, 35, 60, 45], [45, 30, 55, 50]], atol=1e-9)


def test_fddb_dataset(tmp_path):
    from mmdet_face.datasets import FDDBDataset
    annotations = make_fddb_layout(tmp_path, folds=(1, 2), images_per_fold=2)
    dataset = FDDBDataset(data_root=str(tmp_path), folds=[2], test_mode=True, pipeline=[])
    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    name = list(annotations)[2]
    assert info['img_id'] == name and info['img_path'] == str(tmp_path / 'originalPics' / f'{name}.jpg')
    assert info['fold'] == 2
    assert len(info['instances']) == len(annotations[name])
    np.testing.assert_allclose(info['instances'][0]['ellipse'], annotations[name][0], atol=1e-6)
    (tmp_path / 'originalPics' / f'{name}.jpg').unlink()
    with pytest.raises(FileNotFoundError, match=rf'FDDB-fold-02-ellipseList.txt:1: expected the image file '
                                                rf'.*{name}.jpg to exist'):
        FDDBDataset(data_root=str(tmp_path), folds=[2], test_mode=True, pipeline=[])
