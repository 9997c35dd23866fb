"""The COCO JSON reader and writer on tiny hand-written files: exact arrays, categories, ignore boxes, and every bad
value named by file and object (or line and column for malformed JSON)."""
import json
import re

import numpy as np
import pytest

from mmdet_face.datasets.formats import parse_coco_json, write_coco_json
from tests.helpers.face_records import assert_same_records, face_arrays

KPS = [20, 30, 2, 40, 31, 1, 30, 45, 0, 22, 55, 2, 38, 56, 2]


def _coco(**changes):
    data = dict(
        images=[dict(id=7, file_name='e/a.jpg', width=100, height=80), dict(id=3, file_name='e/b.jpg', width=64,
                                                                             height=48)],
        annotations=[dict(id=1, image_id=7, category_id=1, bbox=[10, 20, 40, 50], iscrowd=0, keypoints=KPS),
                     dict(id=2, image_id=3, category_id=1, bbox=[5.5, 6, 20, 24.25]),
                     dict(id=3, image_id=7, category_id=1, bbox=[0, 0, 8, 8], iscrowd=1, keypoints=[]),
                     dict(id=4, image_id=7, category_id=1, bbox=[60, 10, 10, 12], ignore=True),
                     dict(id=5, image_id=7, category_id=2, bbox=[1, 1, 90, 70])],
        categories=[dict(id=1, name='face'), dict(id=2, name='person')])
    data.update(changes)
    return data


def _write(tmp_path, data, name='ann.json'):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_boxes_landmarks_and_ignore_boxes(tmp_path):
    images = parse_coco_json(_write(tmp_path, _coco()))
    assert [(i['name'], i['width'], i['height']) for i in images] == [('e/a.jpg', 100, 80), ('e/b.jpg', 64, 48)]
    boxes, keypoints, weights, ignore = face_arrays(images[0]['faces'])
    np.testing.assert_array_equal(boxes, [[10, 20, 50, 70], [0, 0, 8, 8], [60, 10, 70, 22]])  # x y w h -> x1y1x2y2
    np.testing.assert_array_equal(keypoints[0], [[20, 30], [40, 31], [0, 0], [22, 55], [38, 56]])  # v 0: (0, 0)
    np.testing.assert_array_equal(weights, [[1, 1, 0, 1, 1], [0] * 5, [0] * 5])
    assert ignore.tolist() == [False, True, True]  # iscrowd 1, ignore true; the person (category 2) is no face
    boxes, keypoints, weights, ignore = face_arrays(images[1]['faces'])
    np.testing.assert_array_equal(boxes, [[5.5, 6, 25.5, 30.25]])
    assert not weights.any() and ignore.tolist() == [False]
    assert images[1]['where'] == f'{tmp_path / "ann.json"}:images[1] (id 3)'


def test_the_face_category(tmp_path):
    cats = [dict(id=4, name='head'), dict(id=9, name='person')]
    anns = [dict(id=1, image_id=7, category_id=9, bbox=[1, 2, 3, 4]), dict(id=2, image_id=7, category_id=4,
                                                                           bbox=[5, 6, 7, 8])]
    path = _write(tmp_path, _coco(categories=cats, annotations=anns))
    with pytest.raises(ValueError, match=r"cannot tell which of the categories \['head', 'person'\] holds the "
                                         r"faces .*--category"):
        parse_coco_json(path)
    assert face_arrays(parse_coco_json(path, category='head')[0]['faces'])[0].tolist() == [[5, 6, 12, 14]]
    with pytest.raises(ValueError, match=r"expected a category named 'face', got the categories \['head', "):
        parse_coco_json(path, category='face')
    only = _write(tmp_path, _coco(categories=cats[:1], annotations=anns[1:]), 'only.json')
    assert len(parse_coco_json(only)[0]['faces']) == 1  # the only category needs no name


@pytest.mark.parametrize('change,where,what', [
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, float('nan'), 4])]),
     r'annotations\[0\] \(id 9\)', 'finite number for box width, got nan'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[float('inf'), 2, 3, 4])]),
     r'annotations\[0\] \(id 9\)', 'finite number for box x, got inf'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, -3, 4])]),
     r'annotations\[0\] \(id 9\)', 'non-negative box width and height, got w=-3'),
    (dict(annotations=[dict(image_id=7, category_id=1, bbox=[1, 2, 3])]),
     r'annotations\[0\]\.bbox', 'expected a box [x, y, width, height], got [1, 2, 3]'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, 3, '4'])]),
     r'annotations\[0\] \(id 9\)\.bbox', 'expected a box'),
    (dict(annotations=[dict(id=9, image_id=5, category_id=1, bbox=[1, 2, 3, 4])]),
     r'annotations\[0\] \(id 9\)', 'expected the image_id of an image in "images", got 5'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, 3, 4], iscrowd=2)]),
     r'annotations\[0\] \(id 9\)', 'expected "iscrowd" 0 or 1 (or false / true), got 2'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, 3, 4], keypoints=KPS[:-1])]),
     r'annotations\[0\] \(id 9\)\.keypoints', 'expected 15 numbers (5 landmarks as x y v) or an empty list'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, 3, 4], keypoints=KPS[:5] + [3] + KPS[6:])]),
     r'annotations\[0\] \(id 9\)\.keypoints', 'landmark 2 visibility 0 (not labelled), 1 or 2 (labelled), got 3'),
    (dict(annotations=[dict(id=9, image_id=7, category_id=1, bbox=[1, 2, 3, 4],
                            keypoints=KPS[:3] + [float('nan')] + KPS[4:])]),
     r'annotations\[0\] \(id 9\)\.keypoints', 'finite number for landmark 2 x, got nan'),
    (dict(images=[dict(id=7, file_name='e/a.jpg', width=0, height=80)]), r'images\[0\] \(id 7\)',
     'positive integer image width and height, got 0 x 80'),
    (dict(images=[dict(id=7, file_name='e/a.jpg', width=100.5, height=80)]), r'images\[0\] \(id 7\)\.width',
     'a positive integer image width, got 100.5'),
    (dict(images=[dict(id=7, file_name='e/a.jpg', width=100, height=80)] * 2), r'images\[1\] \(id 7\)',
     'unique image ids, got id 7 a second time'),
    (dict(images=[dict(id=7, width=100, height=80)]), r'images\[0\] \(id 7\)\.file_name',
     'expected an image file name, got None'),
])
def test_bad_values_name_the_object(tmp_path, change, where, what):
    path = _write(tmp_path, _coco(**change))
    with pytest.raises(ValueError) as info:
        parse_coco_json(path)
    assert re.match(re.escape(path) + ':' + where + ': ', str(info.value)), str(info.value)
    assert what in str(info.value)


@pytest.mark.parametrize('text,where,what', [
    ('{"images": [\n  {"id": 1,}\n]}', ':2:12: ', 'malformed JSON: Expecting property name'),
    ('[]', ':1: ', 'expected a JSON object with "images", "annotations" and "categories", got []'),
    ('{"images": [], "annotations": {}}', ': ', 'expected a list "annotations" in the top-level object, got dict'),
])
def test_malformed_files(tmp_path, text, where, what):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        parse_coco_json(path)
    assert str(info.value).startswith(path + where) and what in str(info.value), str(info.value)


def test_written_file_reads_back_and_is_plain_coco(tmp_path):
    images = parse_coco_json(_write(tmp_path, _coco()))
    out = tmp_path / 'out.json'
    write_coco_json(images, str(out))
    assert_same_records(images, parse_coco_json(str(out)))
    data = json.loads(out.read_text())
    assert data['categories'] == [dict(id=1, name='face', supercategory='face', skeleton=[],
                                       keypoints=['left_eye', 'right_eye', 'nose', 'left_mouth', 'right_mouth'])]
    first = data['annotations'][0]
    assert first == dict(id=1, image_id=1, category_id=1, bbox=[10.0, 20.0, 40.0, 50.0], area=2000.0, iscrowd=0,
                         keypoints=[20.0, 30.0, 2, 40.0, 31.0, 2, 0, 0, 0, 22.0, 55.0, 2, 38.0, 56.0, 2],
                         num_keypoints=4)
    assert [a['iscrowd'] for a in data['annotations']] == [0, 1, 1, 0]
    assert 'keypoints' not in data['annotations'][1]
    from pycocotools.coco import COCO
    assert len(COCO(str(out)).getAnnIds(iscrowd=False)) == 2
