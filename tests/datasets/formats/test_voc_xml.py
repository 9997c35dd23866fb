"""The Pascal VOC XML reader and writer on tiny hand-written files: the devkit's 1-based boxes, difficult objects
as ignore boxes, the landmark extension, label mapping, and every bad value named by file and object."""
import re

import numpy as np
import pytest

from mmdet_face.datasets.formats import parse_voc_xml, write_voc_xml
from tests.helpers.face_records import assert_same_records, face_arrays

FACE = ('<object><name>face</name><difficult>0</difficult>'
        '<bndbox><xmin>11</xmin><ymin>21</ymin><xmax>50</xmax><ymax>70</ymax></bndbox>'
        '<keypoints><left_eye><x>20</x><y>30</y></left_eye><nose><x>30.5</x><y>45</y></nose></keypoints></object>')


def _xml(*objects, size='<size><width>100</width><height>80</height><depth>3</depth></size>', name='e/a.jpg'):
    return f'<annotation><folder>VOC</folder><filename>{name}</filename>{size}{"".join(objects)}</annotation>\n'


def _folder(tmp_path, files):
    folder = tmp_path / 'Annotations'
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_boxes_landmarks_difficult_and_labels(tmp_path):
    ignore = FACE.replace('<difficult>0', '<difficult>1').split('<keypoints>')[0] + '</object>'
    crowd = ('<object><name>crowd</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9.5</xmax><ymax>8</ymax>'
             '</bndbox></object>')
    person = '<object><name>person</name></object>'  # skipped: no box needed
    folder = _folder(tmp_path, {'b.xml': _xml(size='', name='e/b.jpg'), 'a/c.xml': _xml(FACE, ignore, crowd, person)})
    images = parse_voc_xml(str(folder), box_labels=dict(face='face', crowd='ignore', person='skip'))
    assert [(i['name'], i['width'], i['height']) for i in images] == [('e/a.jpg', 100, 80), ('e/b.jpg', None, None)]
    assert images[0]['where'] == str(folder / 'a' / 'c.xml')
    boxes, keypoints, weights, ignore_flags = face_arrays(images[0]['faces'])
    np.testing.assert_array_equal(boxes, [[10, 20, 50, 70], [10, 20, 50, 70], [0, 0, 9.5, 8]])
    np.testing.assert_array_equal(keypoints[0], [[20, 30], [0, 0], [30.5, 45], [0, 0], [0, 0]])
    np.testing.assert_array_equal(weights, [[1, 0, 1, 0, 0], [0] * 5, [0] * 5])
    assert ignore_flags.tolist() == [False, True, True]
    assert images[1]['faces'] == []


@pytest.mark.parametrize('objects,where,what', [
    ((FACE.replace('<xmax>50', '<xmax>nan'), ), 'object 1', 'finite number for box x2, got nan'),
    ((FACE, FACE.replace('<ymin>21', '<ymin>abc')), 'object 2', "expected a number in <ymin>, got non-numeric"),
    ((FACE.replace('<xmax>50', '<xmax>5'), ), 'object 1', 'non-negative width and height, got x1=10 y1=20 x2=5'),
    ((FACE.replace('<name>face', '<name>Face'), ), 'object 1',
     "expected a box label among ['face'], got 'Face'; map it with box_labels"),
    ((FACE.replace('<difficult>0', '<difficult>2'), ), 'object 1', 'expected <difficult> 0 or 1, got 2'),
    ((FACE.replace('<nose>', '<mouth>').replace('</nose>', '</mouth>'), ), 'object 1',
     "expected landmark elements among ['left_eye', 'right_eye', 'nose', 'left_mouth', 'right_mouth'] in "
     '<keypoints>, got <mouth>'),
    ((FACE.replace('<y>45', '<y>inf'), ), 'object 1', 'finite number for nose y, got inf'),
    (('<object><name>face</name></object>', ), 'object 1', 'expected <bndbox> with xmin ymin xmax ymax'),
    (('<object><bndbox/></object>', ), 'object 1', 'expected <name> with a label'),
])
def test_bad_values_name_the_object(tmp_path, objects, where, what):
    folder = _folder(tmp_path, {'a.xml': _xml(*objects)})
    with pytest.raises(ValueError) as info:
        parse_voc_xml(str(folder))
    msg = str(info.value)
    assert msg.startswith(f'{folder / "a.xml"}:{where}: ') and what in msg, msg


@pytest.mark.parametrize('text,where,what', [
    ('<annotation><filename>a.jpg</filename>\n<object></annotation>', ':2:11: ', 'malformed XML: mismatched tag'),
    ('<annotation><size><width>100</width><height>80</height></size></annotation>', ':filename: ',
     'expected <filename> with the image file name'),
    ('<annotation><filename>a.jpg</filename><size><width>10.5</width><height>8</height></size></annotation>',
     ':size: ', 'positive integer width and height, got 10.5 x 8'),
    ('<root/>', ': ', 'expected an <annotation> root element, got <root>'),
])
def test_malformed_files(tmp_path, text, where, what):
    folder = _folder(tmp_path, {'a.xml': text})
    with pytest.raises(ValueError) as info:
        parse_voc_xml(str(folder))
    msg = str(info.value)
    assert msg.startswith(str(folder / 'a.xml') + where) and what in msg, msg


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f'{tmp_path / "nope"}: expected a folder of .xml')):
        parse_voc_xml(str(tmp_path / 'nope'))


def test_written_files_read_back_in_devkit_coordinates(tmp_path):
    folder = _folder(tmp_path, {'a.xml': _xml(FACE, FACE.replace('<difficult>0', '<difficult>1'))})
    images = parse_voc_xml(str(folder))
    out = tmp_path / 'out'
    out.mkdir()
    write_voc_xml(images, str(out))
    written = (out / 'e' / 'a.xml').read_text()
    assert '<xmin>11</xmin>' in written and '<ymin>21</ymin>' in written and '<xmax>50</xmax>' in written
    assert '<difficult>1</difficult>' in written and '<width>100</width>' in written
    assert_same_records(images, parse_voc_xml(str(out)))


def test_two_images_of_one_stem_are_refused(tmp_path):
    images = [dict(name=f'e/a.{ext}', width=10, height=10, faces=[], lineno=None) for ext in ('jpg', 'png')]
    with pytest.raises(ValueError, match=r'e/a\.xml: the annotations of e/a\.jpg and e/a\.png would both be written '
                                         'here; rename one of the images'):
        write_voc_xml(images, str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # checked before anything is written
