"""tools/dataset_converters/convert_faces.py on tiny input: counts printed, outputs never replaced without --force
(and never when they are inputs), sizes checked against the images, errors on stderr naming file:line or
file:object without a traceback."""
import json

import pytest

from mmdet_face.datasets.formats import parse_coco_json, parse_labelv2
from tests.helpers.face_records import assert_same_records, write_image
from tests.helpers.tools import load_tool, run_tool

TOOL = 'tools/dataset_converters/convert_faces.py'


@pytest.fixture(scope='module')
def tool():
    return load_tool(TOOL)


@pytest.fixture
def data(tmp_path):
    write_image(tmp_path / 'images' / 'e' / 'a.jpg', 100, 80)
    write_image(tmp_path / 'images' / 'b.jpg', 64, 48)
    (tmp_path / 'labelv2.txt').write_text(
        '# e/a.jpg 100 80\n'
        '10 20 50 70 20.5 30 0.0 40 31 0.0 30 45 0.0 22 55 0.0 38 56 0.0\n'
        '-5 10 30 90\n'          # clipped to [0, 10, 30, 80]
        '120 10 130 20\n'        # outside: dropped
        '# b.jpg\n'              # size from the image
        '5 6 25 30 1\n')
    return tmp_path


def _run(tool, capsys, *args):
    rc = tool.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_labelv2_to_coco_prints_the_counts(tool, capsys, data):
    rc, out, err = _run(tool, capsys, '--from', 'widerface', '--to', 'coco', data / 'labelv2.txt', data / 'a.json')
    assert rc == 0 and err == ''
    assert out.splitlines() == [
        f'read 2 images with 3 faces (1 ignore boxes, 1 with landmarks) from {data / "labelv2.txt"} (widerface)',
        '1 image sizes read from the images',
        '1 boxes clipped to the image, 1 dropped (zero size or outside the image)',
        f'wrote {data / "a.json"} (coco)']
    images = parse_coco_json(str(data / 'a.json'))
    assert [(i['name'], i['width'], i['height']) for i in images] == [('e/a.jpg', 100, 80), ('b.jpg', 64, 48)]
    assert [f[0].tolist() for f in images[0]['faces']] == [[10, 20, 50, 70], [0, 10, 30, 80]]
    assert images[0]['faces'][0][1][0].tolist() == [20.5, 30]
    assert [f[3] for f in images[1]['faces']] == [True]


def test_an_existing_output_is_left_alone_without_force(tool, capsys, data):
    (data / 'a.json').write_text('mine')
    rc, out, err = _run(tool, capsys, '--from', 'widerface', '--to', 'coco', data / 'labelv2.txt', data / 'a.json')
    assert rc == 1 and out == ''
    assert err == (f'convert_faces: error: {data / "a.json"}: already exists and was left unchanged; choose another '
                   'output path or allow replacing it (--force on the command line, overwrite=True in Python)\n')
    assert (data / 'a.json').read_text() == 'mine'
    rc, _, _ = _run(tool, capsys, '--from', 'widerface', '--to', 'coco', data / 'labelv2.txt', data / 'a.json',
                    '--force')
    assert rc == 0 and len(json.loads((data / 'a.json').read_text())['annotations']) == 3


def test_output_folders(tool, capsys, data):
    args = ['--from', 'widerface', '--to', 'voc', data / 'labelv2.txt', data / 'voc']
    assert _run(tool, capsys, *args)[0] == 0
    assert sorted(p.relative_to(data / 'voc').as_posix() for p in (data / 'voc').rglob('*.xml')) == ['b.xml',
                                                                                                     'e/a.xml']
    rc, _, err = _run(tool, capsys, *args)
    assert rc == 1 and 'already holds voc annotations (*.xml): refusing to mix two runs in one folder' in err
    assert _run(tool, capsys, *args, '--force')[0] == 0
    (data / 'voc' / 'notes.md').write_text('mine')
    rc, _, err = _run(tool, capsys, *args, '--force')
    assert rc == 1 and 'holds files that are not voc annotations (*.xml), e.g. notes.md; it is never replaced' in err
    assert (data / 'voc' / 'notes.md').read_text() == 'mine'
    assert not [p for p in data.iterdir() if 'staging' in p.name or '.old-' in p.name]


def test_an_output_that_is_an_input_is_refused(tool, capsys, data):
    before = (data / 'labelv2.txt').read_text()
    rc, _, err = _run(tool, capsys, '--from', 'widerface', '--to', 'labelv2', data / 'labelv2.txt',
                      data / 'labelv2.txt', '--force')
    assert rc == 1 and 'the output is also an input of this run' in err
    rc, _, err = _run(tool, capsys, '--from', 'widerface', '--to', 'yolo', data / 'labelv2.txt', data / 'images',
                      '--force')
    assert rc == 1 and 'the output folder is the input' in err
    assert (data / 'labelv2.txt').read_text() == before


def test_sizes_are_checked_against_the_images(tool, capsys, data):
    coco = dict(images=[dict(id=1, file_name='e/a.jpg', width=80, height=100)], annotations=[],
                categories=[dict(id=1, name='face')])
    (data / 'c.json').write_text(json.dumps(coco))
    rc, _, err = _run(tool, capsys, '--from', 'coco', '--to', 'labelv2', data / 'c.json', data / 'out.txt',
                      '--images', data / 'images')
    assert rc == 1 and err == (f'convert_faces: error: {data / "c.json"}:images[0] (id 1): the annotations give the '
                               f'image size 80x100 (width x height) but the image {data / "images" / "e" / "a.jpg"} '
                               'is 100x80\n')
    assert not (data / 'out.txt').exists()
    # labelme's imageWidth / imageHeight against the image next to it
    write_image(data / 'labelme' / 'a.jpg', 100, 80)
    (data / 'labelme' / 'a.json').write_text(json.dumps(dict(shapes=[], imagePath='a.jpg', imageWidth=100,
                                                             imageHeight=81)))
    rc, _, err = _run(tool, capsys, '--from', 'labelme', '--to', 'coco', data / 'labelme', data / 'out.json')
    assert rc == 1 and 'a.json: the annotations give the image size 100x81 (width x height) but the image' in err


def test_ignore_boxes_lose_their_landmarks_in_labelv2_with_a_count(tool, capsys, data):
    coco = dict(images=[dict(id=1, file_name='e/a.jpg', width=100, height=80)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[10, 20, 40, 50], iscrowd=1,
                                  keypoints=[20, 30, 2] * 5)],
                categories=[dict(id=1, name='face')])
    (data / 'c.json').write_text(json.dumps(coco))
    rc, out, _ = _run(tool, capsys, '--from', 'coco', '--to', 'labelv2', data / 'c.json', data / 'c.txt')
    assert rc == 0 and '1 ignore boxes written without their landmarks (a labelv2 ignore line is the box and the ' \
                       'flag)' in out
    assert (data / 'c.txt').read_text() == '# e/a.jpg 100 80\n10.0 20.0 50.0 70.0 1\n'


def test_errors_name_the_file_and_line(tool, capsys, data):
    (data / 'bad.txt').write_text('# e/a.jpg 100 80\n10 20 nan 70\n')
    rc, out, err = _run(tool, capsys, '--from', 'labelv2', '--to', 'coco', data / 'bad.txt', data / 'o.json')
    assert rc == 1 and out == ''
    assert err == (f'convert_faces: error: {data / "bad.txt"}:2: expected a finite number for box x2, got nan\n')
    rc, _, err = _run(tool, capsys, '--from', 'yolo', '--to', 'coco', data / 'somewhere', data / 'o.json')
    assert rc == 1 and 'YOLO-face labels need the image folder' in err
    rc, _, err = _run(tool, capsys, '--from', 'voc', '--to', 'coco', data / 'somewhere', data / 'o.json')
    assert rc == 1 and 'expected a folder of .xml annotation files' in err
    rc, _, err = _run(tool, capsys, '--from', 'voc', '--to', 'coco', data, data / 'o.json', '--box-label', 'face')
    assert rc == 1 and "--box-label: expected LABEL=face|ignore|skip, got 'face'" in err


def test_yolo_options_and_default_image_folder(tool, capsys, data):
    write_image(data / 'yolo' / 'images' / 'train' / 'a.jpg', 100, 80)
    labels = data / 'yolo' / 'labels' / 'train'
    labels.mkdir(parents=True)
    (labels / 'a.txt').write_text('0 0.3 0.5 0.4 0.5\n1 0.5 0.5 0.1 0.1\n')
    rc, _, err = _run(tool, capsys, '--from', 'yolo', '--to', 'labelv2', labels, data / 'y.txt')
    assert rc == 1 and f'{labels / "a.txt"}:2: expected class 0 (face), got 1' in err
    rc, out, _ = _run(tool, capsys, '--from', 'yolo', '--to', 'labelv2', labels, data / 'y.txt',
                      '--yolo-ignore-class', '1')
    assert rc == 0 and 'read 1 images with 2 faces (1 ignore boxes, 0 with landmarks)' in out
    assert (data / 'y.txt').read_text() == '# a.jpg 100 80\n10.0 20.0 50.0 60.0\n45.0 36.0 55.0 44.0 1\n'


@pytest.mark.slow
def test_as_a_user_runs_it(data):
    result = run_tool(TOOL, '--from', 'widerface', '--to', 'yolo', data / 'labelv2.txt', data / 'labels')
    assert result.returncode == 0, result.stderr
    assert (data / 'labels' / 'e' / 'a.txt').is_file()
    back = run_tool(TOOL, '--from', 'yolo', '--to', 'labelv2', data / 'labels', data / 'back.txt', '--images',
                    data / 'images')
    assert back.returncode == 0, back.stderr
    assert '1 ignore boxes left out' in result.stdout
    fitted = parse_labelv2(str(data / 'labelv2.txt'))
    fitted[0]['faces'] = [(f[0].clip(0, [100, 80, 100, 80]), *f[1:]) for f in fitted[0]['faces'][:2]]
    fitted[1]['faces'], fitted[1]['width'], fitted[1]['height'] = [], 64, 48
    assert_same_records(fitted, parse_labelv2(str(data / 'back.txt')))
