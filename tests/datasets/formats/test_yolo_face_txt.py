"""The YOLO-face reader and writer on tiny hand-written label files: normalised coordinates against the image sizes,
``-1`` landmarks, the optional ignore class, images without labels, and every bad value named by file and line."""
import numpy as np
import pytest

from mmdet_face.datasets.formats import parse_yolo_face, write_yolo_face
from tests.helpers.face_records import assert_same_records, face_arrays, write_image

LANDMARKS = ' 0.2 0.375 0.4 0.375 -1 -1 0.25 0.625 0.35 0.625'


@pytest.fixture
def yolo(tmp_path):
    write_image(tmp_path / 'images' / 'train' / 'e' / 'a.jpg', 100, 80)
    write_image(tmp_path / 'images' / 'train' / 'b.png', 64, 48)
    labels = tmp_path / 'labels' / 'train'
    (labels / 'e').mkdir(parents=True)
    return tmp_path / 'images' / 'train', labels


def test_boxes_landmarks_and_sizes(yolo):
    images_dir, labels = yolo
    # train2yolo.py of yolov5-face writes an absent landmark as -1 / width, -1 / height; 0 is absent too
    (labels / 'e' / 'a.txt').write_text('0 0.3 0.5 0.4 0.5' + LANDMARKS + '\n\n2 0.5 0.5 0.1 0.1\n'
                                        '0  0.9 0.1 0.2 0.2 -0.01 -0.0125 0.0 0.5 0.9 0.0 0.85 0.15 0.95 0.15\n')
    images = parse_yolo_face(str(labels), str(images_dir), ignore_class=2)
    assert [(i['name'], i['width'], i['height']) for i in images] == [('b.png', 64, 48), ('e/a.jpg', 100, 80)]
    assert images[0]['faces'] == []  # no label file: no faces
    boxes, keypoints, weights, ignore = face_arrays(images[1]['faces'])
    # centre (30, 40), size 40 x 40 -> [10, 20, 50, 60]
    np.testing.assert_allclose(boxes, [[10, 20, 50, 60], [45, 36, 55, 44], [80, 0, 100, 16]], rtol=0, atol=1e-5)
    np.testing.assert_allclose(keypoints[0], [[20, 30], [40, 30], [0, 0], [25, 50], [35, 50]], rtol=0, atol=1e-5)
    np.testing.assert_allclose(keypoints[2], [[0, 0], [0, 0], [0, 0], [85, 12], [95, 12]], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(weights, [[1, 1, 0, 1, 1], [0] * 5, [0, 0, 0, 1, 1]])
    assert ignore.tolist() == [False, True, False]
    assert images[1]['where'] == str(labels / 'e' / 'a.txt')


@pytest.mark.parametrize('line,what', [
    ('0 0.3 nan 0.4 0.5', 'finite number for box centre y, got nan'),
    ('0 0.3 0.5 inf 0.5', 'finite number for box width, got inf'),
    ('0 0.3 0.5 -0.4 0.5', 'expected non-negative box width and height, got w=-0.4 h=0.5'),
    ('0 0.3 0.5 0.4 0.5' + LANDMARKS.replace('0.625 0.35', 'nan 0.35'), 'finite number for landmark 4 y, got nan'),
    ('0 0.3 0.5 0.4', 'expected 5 (class cx cy w h) or 15 (+ 5 landmarks as x y) numbers, got 4'),
    ('0 0.3 0.5 0.4 0.5 0.1 0.2', 'or 15 (+ 5 landmarks as x y) numbers, got 7'),
    ('1 0.3 0.5 0.4 0.5', 'expected class 0 (face), got 1; to read a class as ignore boxes pass ignore_class'),
    ('0 0.3 0.5 0.4 x', 'got non-numeric values'),
])
def test_bad_values_name_the_line(yolo, line, what):
    images_dir, labels = yolo
    (labels / 'e' / 'a.txt').write_text('0 0.5 0.5 0.1 0.1\n' + line + '\n')
    with pytest.raises(ValueError) as info:
        parse_yolo_face(str(labels), str(images_dir))
    msg = str(info.value)
    assert msg.startswith(f'{labels / "e" / "a.txt"}:2: ') and what in msg, msg


def test_a_label_file_without_its_image(yolo):
    images_dir, labels = yolo
    (labels / 'e' / 'gone.txt').write_text('0 0.5 0.5 0.1 0.1\n')
    with pytest.raises(ValueError, match=r'gone\.txt: expected its image e/gone\{\.jpg,.*\} in .*images/train, '
                                         'found none'):
        parse_yolo_face(str(labels), str(images_dir))


def test_an_unreadable_image(yolo):
    images_dir, labels = yolo
    (images_dir / 'c.jpg').write_bytes(b'not an image')
    with pytest.raises(ValueError, match=r'c\.jpg: cannot read the image size, which the normalised YOLO '
                                         r'coordinates of .*c\.txt need'):
        parse_yolo_face(str(labels), str(images_dir))


def test_written_labels_read_back(yolo, tmp_path):
    images_dir, labels = yolo
    (labels / 'e' / 'a.txt').write_text('0 0.3 0.5 0.4 0.5' + LANDMARKS + '\n2 0.5 0.5 0.1 0.1\n')
    images = parse_yolo_face(str(labels), str(images_dir), ignore_class=2)
    out = tmp_path / 'out'
    out.mkdir()
    assert write_yolo_face(images, str(out)) == 1  # the ignore box is left out without an ignore class
    assert (out / 'b.txt').read_text() == ''
    assert (out / 'e' / 'a.txt').read_text() == '0 0.3 0.5 0.4 0.5' + LANDMARKS + '\n'
    assert len(parse_yolo_face(str(out), str(images_dir))[1]['faces']) == 1
    assert write_yolo_face(images, str(out), ignore_class=3) == 0
    assert (out / 'e' / 'a.txt').read_text().splitlines()[1] == '3 0.5 0.5 0.1 0.1' + ' -1' * 10
    assert_same_records(images, parse_yolo_face(str(out), str(images_dir), ignore_class=3))


def test_two_images_of_one_stem_are_refused(tmp_path):
    images = [dict(name=f'a.{ext}', width=10, height=10, faces=[], lineno=None) for ext in ('jpg', 'png')]
    with pytest.raises(ValueError, match=r'a\.txt: the annotations of a\.jpg and a\.png would both be written here'):
        write_yolo_face(images, str(tmp_path))
    assert list(tmp_path.iterdir()) == []
