"""Annotation values, not only structure: non-finite numbers, unknown flags, boxes outside the image, header sizes
that disagree with the image, encodings, empty files and unreadable images."""
import re

import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile

import mmdet_face.datasets.widerface as widerface
from mmdet_face.datasets import WiderFaceDataset
from mmdet_face.datasets.image_file import UnreadableImageError, image_size
from mmdet_face.datasets.transforms import FaceResize, LoadFaceAnnotations, PackFaceInputs

KPS = ' 20.0 30.0 0.0 40.0 31.0 1.0 30.0 45.0 0.0 22.0 55.0 0.0 38.0 56.0 0.0'


def _image(root, name, hw):
    path = root / 'images' / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(hw + (3, ), 128, np.uint8))
    return path


@pytest.fixture
def root(tmp_path):
    _image(tmp_path, 'e/a.jpg', (80, 100))
    _image(tmp_path, 'e/b.jpg', (48, 64))
    return tmp_path


def _dataset(root, ann_file='ann.txt', **kwargs):
    kwargs.setdefault('pipeline', [])
    return WiderFaceDataset(ann_file=ann_file, data_root=str(root), **kwargs)


def _expect_error(root, text, line, what, ann_format=None):
    (root / 'bad.txt').write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError) as info:
        _dataset(root, 'bad.txt', ann_format=ann_format)
    msg = str(info.value)
    assert re.search(r'bad\.txt:%d\b' % line, msg), msg
    assert what in msg, msg


# -- non-finite numbers and unknown flags -------------------------------------------------------------------------
@pytest.mark.parametrize('text,line,what', [
    ('# e/a.jpg 100 80\n10 20 50 70\n10 20 nan 70\n', 3, 'finite number for box x2, got nan'),
    ('# e/a.jpg 100 80\n10 inf 50 70 1\n', 2, 'finite number for box y1, got inf'),
    ('# e/a.jpg 100 80\n-inf 20 50 70' + KPS + '\n', 2, 'box x1, got -inf'),
    ('# e/a.jpg 100 80\n10 20 50 70' + KPS.replace('31.0', 'nan') + '\n', 2, 'landmark 2 y, got nan'),
    ('# e/a.jpg 100 80\n10 20 50 70' + KPS.replace('45.0 0.0', '45.0 inf') + '\n', 2, 'landmark 3 flag, got inf'),
    # unknown flags
    ('# e/a.jpg 100 80\n10 20 50 70 2\n', 2, 'ignore flag 0 or 1 after the box, got 2'),
    ('# e/a.jpg 100 80\n10 20 50 70 0.5\n', 2, 'ignore flag 0 or 1'),
    ('# e/a.jpg 100 80\n10 20 50 70' + KPS.replace('45.0 0.0', '45.0 2.0') + '\n', 2,
     'landmark 3 flag 0, 1 (annotated) or -1 (no landmark), got 2'),
    ('# e/a.jpg 100 80\n10 20 50 70' + KPS.replace('56.0 0.0', '56.0 0.5') + '\n', 2, 'landmark 5 flag 0, 1'),
    ('# e/a.jpg nan 80\n', 1, 'positive integer width and height'),
])
def test_labelv2_values(root, text, line, what):
    _expect_error(root, text, line, what)


@pytest.mark.parametrize('text,line,what', [
    ('e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\nnan 2 3 4 0 0 0 0 0 0\n', 4, 'finite number for box x, got nan'),
    ('e/a.jpg\n1\n1 2 inf 4 0 0 0 0 0 0\n', 3, 'box width, got inf'),
    ('e/a.jpg\n1\n1 2 3 4 0 0 0 2 0 0\n', 3, 'invalid flag (8th number) 0 or 1, got 2'),
])
def test_wider_gt_values(root, text, line, what):
    _expect_error(root, text, line, what)


def test_flags_zero_and_one_accepted(root):
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n10 20 50 70 0\n10 20 50 70 1\n10 20 50 70' + KPS + '\n')
    inst = _dataset(root).get_data_info(0)['instances']
    assert [i['ignore_flag'] for i in inst] == [0, 1, 0]
    assert inst[2]['keypoints_weights'] == [1] * 5


# -- boxes outside the image --------------------------------------------------------------------------------------
def test_boxes_clipped_and_dropped_with_a_logged_count(root, monkeypatch):
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    kps_b = ' 1.0 20.0 0.0 25.0 21.0 0.0 12.0 40.0 0.0 5.0 50.0 0.0 24.0 51.0 1.0'
    kps_c = ' 121.0 12.0 0.0 125.0 12.0 0.0 123.0 15.0 0.0 122.0 17.0 0.0 124.0 17.0 0.0'
    (root / 'ann.txt').write_text(
        '# e/a.jpg 100 80\n'
        '10 20 50 70' + KPS + '\n'             # inside: unchanged
        '-5 10 30 90' + kps_b + '\n'           # partly outside: clipped to [0, 10, 30, 80], landmarks kept
        '120 10 130 20' + kps_c + '\n'         # entirely outside: dropped with its landmarks
        '40 40 40 60\n'                        # zero width: dropped
        '90 70 100 80 1\n'                     # touches the corner: unchanged (x2 = width is inside)
        '95 75 110 85 1\n'                     # partly outside: clipped to [95, 75, 100, 80]
        '100 10 120 20\n'                      # outside, zero width after clipping: dropped
        '# e/b.jpg 64 48\n'
        '5 6 25 30\n')
    ds = _dataset(root)
    a = ds.get_data_info(0)['instances']
    assert [i['bbox'] for i in a] == [[10, 20, 50, 70], [0, 10, 30, 80], [90, 70, 100, 80], [95, 75, 100, 80]]
    assert [i['ignore_flag'] for i in a] == [0, 0, 1, 1]
    assert a[0]['keypoints'] == [[20, 30], [40, 31], [30, 45], [22, 55], [38, 56]]
    assert a[1]['keypoints'] == [[1, 20], [25, 21], [12, 40], [5, 50], [24, 51]]
    assert a[1]['keypoints_weights'] == [1] * 5
    assert ds.get_data_info(1)['instances'][0]['bbox'] == [5, 6, 25, 30]
    assert logged == [f'{root / "ann.txt"}: 2 boxes clipped to the image, 3 dropped (zero size or outside the '
                      'image)']


def test_nothing_logged_when_all_boxes_fit(root, monkeypatch):
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n0 0 100 80\n')
    assert _dataset(root).get_data_info(0)['instances'][0]['bbox'] == [0, 0, 100, 80]
    assert logged == []


def test_wider_gt_clipped_to_the_image_size(root, monkeypatch):
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    # b.jpg is 64 x 48: the size comes from the image
    (root / 'ann.txt').write_text('e/b.jpg\n3\n60 40 10 10 0 0 0 0 0 0\n3 4 0 5 0 0 0 1 0 0\n1 2 3 4 0 0 0 0 0 0\n')
    inst = _dataset(root).get_data_info(0)['instances']
    assert [i['bbox'] for i in inst] == [[60, 40, 64, 48], [1, 2, 4, 6]]
    assert logged == [f'{root / "ann.txt"}: 1 boxes clipped to the image, 1 dropped (zero size or outside the '
                      'image)']


def test_min_size_uses_the_clipped_box(root):
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n-20 10 4 40\n')
    inst = _dataset(root, min_size=5).get_data_info(0)['instances']
    assert inst[0]['bbox'] == [0, 10, 4, 40] and inst[0]['ignore_flag'] == 1  # 24 wide before clipping, 4 after


# -- header size vs decoded image ---------------------------------------------------------------------------------
def test_header_size_must_match_the_image(root):
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n10 20 50 70\n# e/b.jpg 100 80\n5 6 25 30\n')
    ds = _dataset(root, pipeline=[LoadImageFromFile(), LoadFaceAnnotations()], test_mode=True)
    out = ds[0]
    assert out['ori_shape'] == (80, 100) and out['gt_bboxes'].tensor.tolist() == [[10, 20, 50, 70]]
    with pytest.raises(ValueError) as info:
        ds[1]
    msg = str(info.value)
    assert str(root / 'images' / 'e' / 'b.jpg') in msg
    assert 'image size 100x80 (width x height) but the decoded image is 64x48' in msg


def test_size_check_after_resize(root):
    # test pipelines load annotations after Resize: ori_shape is still the decoded size
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n10 20 50 70\n')
    ds = _dataset(root, pipeline=[LoadImageFromFile(), FaceResize(scale=(50, 50), keep_ratio=True),
                                  LoadFaceAnnotations(), PackFaceInputs()], test_mode=True)
    out = ds[0]
    assert out['data_samples'].img_shape == (40, 50)
    assert out['data_samples'].gt_instances.bboxes.tensor.tolist() == [[10, 20, 50, 70]]


def test_exif_rotated_image_size(root):
    from PIL import Image
    img = Image.fromarray(np.zeros((20, 40, 3), np.uint8))  # stored 40 wide, 20 high
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display: decoders return 20 wide, 40 high
    path = root / 'images' / 'e' / 'rot.jpg'
    img.save(path, 'JPEG', exif=exif)
    assert image_size(str(path)) == (20, 40)
    (root / 'ann.txt').write_text('# e/rot.jpg\n1 2 10 30\n')
    ds = _dataset(root, ann_format='labelv2', pipeline=[LoadImageFromFile(), LoadFaceAnnotations()])
    info = ds.get_data_info(0)
    assert (info['width'], info['height']) == (20, 40)
    assert ds[0]['ori_shape'] == (40, 20)  # and the size check agrees


# -- encodings ----------------------------------------------------------------------------------------------------
def test_non_utf8_byte_names_file_and_line(root):
    _expect_error(root, b'# e/a.jpg 100 80\n10 20 50 70\n# e/caf\xe9.jpg 64 48\n', 3,
                  'expected UTF-8 text, got the byte 0xe9 at column 8')
    _expect_error(root, b'e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n\xff\n', 4, 'UTF-8')


@pytest.mark.parametrize('text', [
    '# e/a.jpg 100 80\n10 20 50 70\n',
    'e/a.jpg\n1\n10 20 40 50 0 0 0 0 0 0\n',
    '# e/a.jpg\n10 20 40 50' + KPS + ' 0.9\n',  # RetinaFace label.txt
])
def test_utf8_bom_is_dropped(root, text):
    (root / 'ann.txt').write_bytes(b'\xef\xbb\xbf' + text.encode())
    info = _dataset(root).get_data_info(0)
    assert info['img_path'] == str(root / 'images' / 'e' / 'a.jpg')  # no invisible character in the path
    assert info['img_id'] == 'e/a'
    assert info['instances'][0]['bbox'] == [10, 20, 50, 70]


def test_crlf_line_ends(root):
    (root / 'ann.txt').write_bytes(b'# e/a.jpg 100 80\r\n10 20 50 70\r\n')
    assert _dataset(root).get_data_info(0)['instances'][0]['bbox'] == [10, 20, 50, 70]


# -- empty files and images without faces -------------------------------------------------------------------------
@pytest.mark.parametrize('text,fmt', [('', None), ('\n  \n', None), ('', 'wider_gt'), ('', 'retinaface_gt'),
                                      (' \n', 'labelv2')])
def test_empty_annotation_file(root, text, fmt):
    (root / 'ann.txt').write_text(text)
    with pytest.raises(ValueError, match=r'ann\.txt: no images in .*ann\.txt'):
        _dataset(root, ann_format=fmt)


@pytest.mark.parametrize('test_mode', [True, False])
def test_header_only_file_is_a_legal_set_without_faces(root, test_mode):
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n# e/b.jpg 64 48\n')
    ds = _dataset(root, test_mode=test_mode,
                  pipeline=[LoadImageFromFile(), LoadFaceAnnotations(), PackFaceInputs()])
    assert len(ds) == 2
    sample = ds[1]['data_samples']
    assert sample.gt_instances.bboxes.tensor.shape == (0, 4)
    assert sample.gt_instances.keypoints.shape == (0, 5, 2)
    assert sample.ignored_instances.bboxes.tensor.shape == (0, 4)


def test_filtering_every_image_is_a_clear_error(root):
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n# e/b.jpg 64 48\n1 2 3 4 1\n')
    with pytest.raises(ValueError, match=r'ann\.txt: no image with a non-ignore face among its 2 images'):
        _dataset(root, filter_empty_gt=True)
    assert len(_dataset(root, filter_empty_gt=True, test_mode=True)) == 2


# -- unreadable images --------------------------------------------------------------------------------------------
@pytest.fixture(params=['empty', 'corrupt'])
def broken_root(root, request):
    bad = root / 'images' / 'e' / 'bad.jpg'
    bad.write_bytes(b'' if request.param == 'empty' else b'this is not a JPEG' * 10)
    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n10 20 50 70\n# e/bad.jpg 64 48\n5 6 25 30\n')
    return root, request.param


@pytest.mark.parametrize('test_mode', [False, True])
def test_unreadable_image_error_names_the_path(broken_root, test_mode):
    broken_root, kind = broken_root
    ds = _dataset(broken_root, test_mode=test_mode, pipeline=[LoadImageFromFile(), LoadFaceAnnotations()])
    with pytest.raises(UnreadableImageError) as info:
        ds[1]
    msg = str(info.value)
    assert msg.startswith(str(broken_root / 'images' / 'e' / 'bad.jpg') + ': the image ')
    assert ('is empty (0 bytes)' if kind == 'empty' else 'cannot be decoded as an image (180 bytes') \
        in msg, msg
    assert 'skip_unreadable_images=True' in msg


def test_skip_unreadable_images_in_training(broken_root, monkeypatch):
    broken_root, _ = broken_root
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    ds = _dataset(broken_root, skip_unreadable_images=True, pipeline=[LoadImageFromFile(), LoadFaceAnnotations()])
    np.random.seed(0)
    for _ in range(3):
        out = ds[1]  # the broken one: another image comes back instead
        assert out['img_path'] == str(broken_root / 'images' / 'e' / 'a.jpg')
        assert out['img'].shape == (80, 100, 3) and out['gt_bboxes'].tensor.tolist() == [[10, 20, 50, 70]]
    bad = str(broken_root / 'images' / 'e' / 'bad.jpg')
    assert len(logged) == 1  # once per image, never silent
    assert logged[0].startswith(bad + ': the image ') and 'skipped (skip_unreadable_images=True)' in logged[0]


def test_skip_unreadable_images_never_in_test_mode(broken_root):
    broken_root, _ = broken_root
    ds = _dataset(broken_root, skip_unreadable_images=True, test_mode=True,
                  pipeline=[LoadImageFromFile(), LoadFaceAnnotations()])
    with pytest.raises(UnreadableImageError, match='bad.jpg'):
        ds[1]


def test_other_pipeline_errors_are_not_blamed_on_the_image(root):
    def boom(results):
        raise RuntimeError('a bug in a transform')

    (root / 'ann.txt').write_text('# e/a.jpg 100 80\n10 20 50 70\n')
    ds = _dataset(root, skip_unreadable_images=True, pipeline=[LoadImageFromFile(), boom])
    with pytest.raises(RuntimeError, match='a bug in a transform'):
        ds[0]


def test_unreadable_image_without_header_size(root, monkeypatch):
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    (root / 'images' / 'e' / 'bad.jpg').write_bytes(b'')
    (root / 'ann.txt').write_text('e/bad.jpg\n1\n1 2 3 4 0 0 0 0 0 0\ne/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n')
    with pytest.raises(UnreadableImageError, match=r'ann\.txt:1: cannot read the size of the image .*bad\.jpg'):
        _dataset(root)
    ds = _dataset(root, skip_unreadable_images=True)
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == 'e/a'
    assert len(logged) == 1 and 'bad.jpg' in logged[0] and 'skipped' in logged[0]
