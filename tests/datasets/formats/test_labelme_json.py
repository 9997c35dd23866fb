"""The labelme reader on tiny hand-written files: rectangles in either corner order, landmarks linked by group_id
(or to the only box), label mappings, and every bad value named by file and shape."""
import json

import numpy as np
import pytest

from mmdet_face.datasets.formats import parse_labelme_json
from tests.helpers.face_records import face_arrays


def _rect(label, a, b, group_id=None):
    return dict(label=label, shape_type='rectangle', points=[a, b], group_id=group_id, flags={})


def _point(label, x, y, group_id=None):
    return dict(label=label, shape_type='point', points=[[x, y]], group_id=group_id, flags={})


def _write(folder, name, shape_list, image_path='a.jpg', width=100, height=80, **extra):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(version='5.4.1', flags={}, shapes=shape_list, imagePath=image_path, imageData=None, imageWidth=width,
                imageHeight=height)
    data.update(extra)
    path.write_text(json.dumps(data))
    return path


def test_boxes_landmarks_groups_and_labels(tmp_path):
    folder = tmp_path / 'labelme'
    _write(folder, 'sub/a.json', [
        _rect('face', [50, 70], [10, 20], group_id=1),          # corners in the other order
        _point('nose', 30, 45, group_id=1), _point('left_eye', 20, 30, group_id=1),
        _rect('face', [60, 10], [70, 22], group_id=2), _point('right_mouth', 68, 20, group_id=2),
        _rect('crowd', [0, 0], [8, 8]),
        dict(label='tree', shape_type='polygon', points=[[1, 1], [5, 1], [3, 4]]),
    ], image_path='../img/a.jpg')
    _write(folder, 'b.json', [_rect('face', [5, 6], [25, 30]), _point('right_eye', 20, 12)], image_path='b.png',
           width=64, height=48)
    images = parse_labelme_json(str(folder), box_labels=dict(face='face', crowd='ignore', tree='skip'))
    assert [(i['name'], i['width'], i['height']) for i in images] == [('b.png', 64, 48), ('img/a.jpg', 100, 80)]
    boxes, keypoints, weights, ignore = face_arrays(images[1]['faces'])
    np.testing.assert_array_equal(boxes, [[10, 20, 50, 70], [60, 10, 70, 22], [0, 0, 8, 8]])
    np.testing.assert_array_equal(keypoints[0], [[20, 30], [0, 0], [30, 45], [0, 0], [0, 0]])
    np.testing.assert_array_equal(weights, [[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0] * 5])
    assert ignore.tolist() == [False, False, True]
    boxes, keypoints, weights, _ = face_arrays(images[0]['faces'])  # one box: points without a group belong to it
    np.testing.assert_array_equal(keypoints[0, 1], [20, 12])
    np.testing.assert_array_equal(weights, [[0, 1, 0, 0, 0]])


def test_keypoint_labels_mapping(tmp_path):
    folder = tmp_path / 'labelme'
    _write(folder, 'a.json', [_rect('face', [10, 20], [50, 70]), _point('le', 20, 30), _point('mr', 38, 56)])
    labels = dict(le=0, re=1, n=2, ml=3, mr=4)
    _, keypoints, weights, _ = face_arrays(parse_labelme_json(str(folder), keypoint_labels=labels)[0]['faces'])
    np.testing.assert_array_equal(weights, [[1, 0, 0, 0, 1]])
    np.testing.assert_array_equal(keypoints[0, 4], [38, 56])


@pytest.mark.parametrize('shapes,where,what', [
    ([_rect('face', [10, 20], [50, 70]), _rect('face', [1, 2], [5, 6]), _point('nose', 3, 4)], 'shapes[2]',
     'expected a group_id linking the landmark to its face box (the file has 2 boxes)'),
    ([_rect('face', [10, 20], [50, 70], 1), _point('nose', 3, 4, 2)], 'shapes[1]',
     'expected one box with group_id 2 for this landmark, got 0'),
    ([_rect('face', [10, 20], [50, 70]), _point('nose', 3, 4), _point('nose', 5, 4)], 'shapes[2]',
     'expected one landmark 3 (nose) per face, got a second one for the box at shapes[0]'),
    ([_rect('Face', [10, 20], [50, 70])], 'shapes[0]', "expected a box label among ['face'], got 'Face'"),
    ([dict(label='face', shape_type='polygon', points=[[1, 1], [5, 1], [3, 4]])], 'shapes[0]',
     "expected a rectangle (a face box) or a point labelled as a landmark"),
    ([_rect('face', [10, float('nan')], [50, 70])], 'shapes[0]', 'finite number for point 1 y, got nan'),
    ([_rect('face', [10, 20], [50, 70]), _point('nose', float('inf'), 4)], 'shapes[1]',
     'finite number for point 1 x, got inf'),
    ([_rect('face', [10, 20], [50, 70, 3])], r'shapes[0].points[1]', 'expected a point [x, y], got [50, 70, 3]'),
    ([dict(label='face', shape_type='rectangle', points=[[10, 20]])], 'shapes[0]',
     'expected "points" with 2 [x, y] pair(s), got [[10, 20]]'),
])
def test_bad_shapes_name_the_shape(tmp_path, shapes, where, what):
    path = _write(tmp_path / 'labelme', 'a.json', shapes)
    with pytest.raises(ValueError) as info:
        parse_labelme_json(str(tmp_path / 'labelme'))
    msg = str(info.value)
    assert msg.startswith(f'{path}:{where}: ') and what in msg, msg


@pytest.mark.parametrize('extra,where,what', [
    (dict(imageWidth=None), 'imageWidth', 'expected a positive integer imageWidth, got None'),
    (dict(imageHeight=0), 'imageWidth', 'positive integer image width and height, got 100 x 0'),
    (dict(imagePath=3), 'imagePath', 'expected the image path, got 3'),
    (dict(shapes={}), 'shapes', 'expected a list of shapes, got {}'),
])
def test_bad_files(tmp_path, extra, where, what):
    path = _write(tmp_path / 'labelme', 'a.json', [], **extra)
    with pytest.raises(ValueError) as info:
        parse_labelme_json(str(tmp_path / 'labelme'))
    msg = str(info.value)
    assert msg.startswith(f'{path}:{where}: ') and what in msg, msg


def test_bad_mappings():
    with pytest.raises(ValueError, match=r"box_labels: expected the role of label 'face' to be one of \('face', "
                                         r"'ignore', 'skip'\), got 'yes'"):
        parse_labelme_json('.', box_labels=dict(face='yes'))
    with pytest.raises(ValueError, match="keypoint_labels: expected a landmark index 0..4 for 'x', got 5"):
        parse_labelme_json('.', keypoint_labels=dict(x=5))
