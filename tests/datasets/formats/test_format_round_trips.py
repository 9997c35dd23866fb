"""The toy labelv2 annotations converted to COCO, YOLO-face and Pascal VOC and back give the same annotations: boxes,
landmarks, weights and ignore flags bit for bit (float32), and the same image sizes. labelv2, COCO and VOC hold
the numbers as decimals that read back exactly; YOLO-face holds them divided by the image size (12 significant
digits), which reads back exactly on these values too. The other way round (B -> labelv2 -> B) writes the same
bytes."""
import filecmp
import os

import pytest

from mmdet_face.datasets.formats import parse_labelv2, read_annotations
from mmdet_face.datasets.formats.convert import convert_faces
from tests.helpers.face_records import assert_same_records


def _same_tree(a, b):
    names_a = sorted(os.path.relpath(os.path.join(r, f), a) for r, _, fs in os.walk(a) for f in fs)
    names_b = sorted(os.path.relpath(os.path.join(r, f), b) for r, _, fs in os.walk(b) for f in fs)
    assert names_a == names_b and names_a
    _, mismatch, errors = filecmp.cmpfiles(a, b, names_a, shallow=False)
    assert mismatch == [] and errors == []


@pytest.mark.parametrize('fmt,out', [('coco', 'ann.json'), ('yolo', 'labels'), ('voc', 'Annotations')])
def test_labelv2_to_format_and_back(toy_data, tmp_path, fmt, out):
    src = str(toy_data / 'train' / 'labelv2.txt')
    images_dir = str(toy_data / 'train' / 'images')
    original = parse_labelv2(src)
    assert sum(f[3] for i in original for f in i['faces']) > 0 and sum(f[2].any() for i in original
                                                                       for f in i['faces']) > 0
    options = dict(ignore_class=1) if fmt == 'yolo' else {}
    stats = convert_faces(src, 'labelv2', str(tmp_path / out), fmt, images_dir=images_dir, **options)
    assert stats['clipped'] == stats['dropped'] == stats['left_out'] == 0
    assert_same_records(original, read_annotations(fmt, str(tmp_path / out), images_dir, **options))
    convert_faces(str(tmp_path / out), fmt, str(tmp_path / 'back.txt'), 'labelv2', images_dir=images_dir, **options)
    assert_same_records(original, parse_labelv2(str(tmp_path / 'back.txt')))
    # and B -> labelv2 -> B writes the same files
    convert_faces(str(tmp_path / 'back.txt'), 'labelv2', str(tmp_path / ('again_' + out)), fmt,
                  images_dir=images_dir, **options)
    if fmt == 'coco':
        assert filecmp.cmp(tmp_path / out, tmp_path / ('again_' + out), shallow=False)
    else:
        _same_tree(tmp_path / out, tmp_path / ('again_' + out))


def test_yolo_without_an_ignore_class_leaves_the_ignore_boxes_out(toy_data, tmp_path):
    src = str(toy_data / 'train' / 'labelv2.txt')
    images_dir = str(toy_data / 'train' / 'images')
    original = parse_labelv2(src)
    num_ignore = sum(f[3] for i in original for f in i['faces'])
    stats = convert_faces(src, 'labelv2', str(tmp_path / 'labels'), 'yolo', images_dir=images_dir)
    assert stats['left_out'] == num_ignore > 0
    for image in original:
        image['faces'] = [f for f in image['faces'] if not f[3]]
    assert_same_records(original, read_annotations('yolo', str(tmp_path / 'labels'), images_dir))
