"""RetinaFace's retinaface_gt_v1.1 label.txt: '# path' headers, 'x y w h' boxes, landmarks + score on train lines."""
import re

import cv2
import numpy as np
import pytest

from mmdet_face.datasets import WiderFaceDataset
from mmdet_face.datasets.formats import detect_format, parse_retinaface_gt

# the layout of retinaface_gt_v1.1/train/label.txt
TRAIN = """\
# 0--Parade/a.jpg
10 20 40 50 20.5 30.25 0.0 40.0 31.0 1.0 30.0 45.0 0.0 22.0 55.0 0.0 38.0 56.0 0.0 0.82
60 10 4 3 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0
# 1--Handshaking/b.jpg
5 6 20 24 10.0 12.0 0.0 20.0 12.0 0.0 15.0 18.0 0.0 -1.0 -1.0 -1.0 20.0 25.0 0.0 -1
"""
# the layout of retinaface_gt_v1.1/val/label.txt (and test): boxes only
VAL = """\
# 0--Parade/a.jpg
10 20 40 50
60 10 4 3
# 1--Handshaking/b.jpg
"""


@pytest.fixture
def root(tmp_path):
    for name, hw in (('0--Parade/a.jpg', (80, 100)), ('1--Handshaking/b.jpg', (48, 64))):
        path = tmp_path / 'images' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros(hw + (3, ), np.uint8))
    (tmp_path / 'train.txt').write_text(TRAIN)
    (tmp_path / 'val.txt').write_text(VAL)
    return tmp_path


def _dataset(root, ann_file, **kwargs):
    return WiderFaceDataset(ann_file=ann_file, data_root=str(root), pipeline=[], **kwargs)


def test_train_label_txt_detected_and_converted(root):
    assert detect_format(str(root / 'train.txt')) == 'retinaface_gt'
    ds = _dataset(root, 'train.txt')
    assert len(ds) == 2
    a = ds.get_data_info(0)
    assert a['img_id'] == '0--Parade/a' and (a['width'], a['height']) == (100, 80)  # size from the image
    face, no_kps = a['instances']
    assert face['bbox'] == [10, 20, 50, 70]  # x y w h -> x1 y1 x2 y2
    assert face['keypoints'] == [[20.5, 30.25], [40, 31], [30, 45], [22, 55], [38, 56]]
    assert face['keypoints_weights'] == [1] * 5  # flags 0.0 and 1.0: annotated
    assert face['ignore_flag'] == 0
    assert no_kps['bbox'] == [60, 10, 64, 13]
    assert no_kps['keypoints'] == [[0, 0]] * 5 and no_kps['keypoints_weights'] == [0] * 5
    b = ds.get_data_info(1)['instances'][0]
    assert b['bbox'] == [5, 6, 25, 30]
    assert b['keypoints_weights'] == [1, 1, 1, 0, 1]  # one missing landmark (-1 -1 -1)
    assert b['keypoints'][3] == [0, 0] and b['keypoints'][4] == [20, 25]


def test_val_label_txt_needs_the_format(root):
    # path-only headers and 4-number lines: x1 y1 x2 y2 (labelv2) or x y w h (label.txt)? Never guess.
    with pytest.raises(ValueError, match=r"val\.txt: cannot tell the format.*line 2.*ann_format='retinaface_gt'"):
        _dataset(root, 'val.txt')
    ds = _dataset(root, 'val.txt', ann_format='retinaface_gt', test_mode=True)
    assert [i['bbox'] for i in ds.get_data_info(0)['instances']] == [[10, 20, 50, 70], [60, 10, 64, 13]]
    assert ds.get_data_info(1)['instances'] == []
    # the same file read as labelv2 means other boxes (here '60 10 4 3' is not even a valid x1 y1 x2 y2 box)
    with pytest.raises(ValueError, match=r'val\.txt:3: expected a box with non-negative width and height'):
        _dataset(root, 'val.txt', ann_format='labelv2', test_mode=True)


def test_header_only_path_file_is_labelv2(root):
    (root / 'h.txt').write_text('# 0--Parade/a.jpg\n# 1--Handshaking/b.jpg\n')
    assert detect_format(str(root / 'h.txt')) == 'labelv2'  # no box to misread
    assert len(_dataset(root, 'h.txt', test_mode=True)) == 2


def test_sized_header_means_labelv2(root):
    (root / 'v2.txt').write_text('# 0--Parade/a.jpg 100 80\n10 20 40 50\n')
    assert detect_format(str(root / 'v2.txt')) == 'labelv2'
    assert _dataset(root, 'v2.txt').get_data_info(0)['instances'][0]['bbox'] == [10, 20, 40, 50]


def _expect_error(root, text, line, what, ann_format=None):
    (root / 'bad.txt').write_text(text)
    with pytest.raises(ValueError) as info:
        _dataset(root, 'bad.txt', ann_format=ann_format)
    msg = str(info.value)
    assert re.search(r'bad\.txt:%d\b' % line, msg), msg
    assert what in msg, msg


LMK = ' 20.0 30.0 0.0 40.0 31.0 1.0 30.0 45.0 0.0 22.0 55.0 0.0 38.0 56.0 0.0'


@pytest.mark.parametrize('text,line,what', [
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK + ' 0.8\nnan 20 40 50' + LMK + ' 0.8\n', 3,
     'finite number for box x, got nan'),
    ('# 0--Parade/a.jpg\n10 20 inf 50' + LMK + ' 0.8\n', 2, 'box width, got inf'),
    ('# 0--Parade/a.jpg\n10 20 40 -5' + LMK + ' 0.8\n', 2, 'non-negative box width and height'),
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK.replace('30.0 45.0', 'nan 45.0') + ' 0.8\n', 2,
     'landmark 3 x, got nan'),
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK.replace('31.0 1.0', '31.0 2.0') + ' 0.8\n', 2,
     'landmark 2 flag 0, 1 (annotated) or -1 (no landmark), got 2'),
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK + ' nan\n', 2, 'score (the last number), got nan'),
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK + ' 0.8\n1 2 3 4 5 6\n', 3, 'expected 4 (x y w h) or 20'),
    ('# 0--Parade/a.jpg\n10 20 40 50' + LMK + ' x\n', 2, 'non-numeric'),
    ('10 20 40 50' + LMK + ' 0.8\n', 1, 'header line "# <image path>"'),
])
def test_label_txt_values(root, text, line, what):
    _expect_error(root, text, line, what, ann_format='retinaface_gt')


def test_label_txt_detected_errors(root):
    # detected as label.txt from the 20-number line, then the value checks run
    _expect_error(root, '# 0--Parade/a.jpg\n10 20 40 50' + LMK + ' inf\n', 2, 'score')
    # a sized header is labelv2, so a 20-number line is an error that names the other format
    _expect_error(root, '# 0--Parade/a.jpg 100 80\n10 20 40 50' + LMK + ' 0.8\n', 2,
                  "ann_format='retinaface_gt'")
    # forcing label.txt on a labelv2 file
    _expect_error(root, '# 0--Parade/a.jpg 100 80\n10 20 40 50\n', 1, "ann_format='labelv2'",
                  ann_format='retinaface_gt')


def test_label_txt_boxes_clipped(root):
    (root / 'c.txt').write_text('# 1--Handshaking/b.jpg\n50 40 30 20\n70 10 5 5\n')
    inst = _dataset(root, 'c.txt', ann_format='retinaface_gt').get_data_info(0)['instances']
    assert [i['bbox'] for i in inst] == [[50, 40, 64, 48]]  # the second is entirely outside the 64 x 48 image


def test_parse_retinaface_gt_output(root):
    images = parse_retinaface_gt(str(root / 'train.txt'))
    assert [(im['name'], im['width'], im['height'], im['lineno'], len(im['faces'])) for im in images] == [
        ('0--Parade/a.jpg', None, None, 1, 2), ('1--Handshaking/b.jpg', None, None, 4, 1)]
    bbox, keypoints, weights, ignore = images[1]['faces'][0]
    np.testing.assert_array_equal(bbox, [5, 6, 25, 30])
    assert keypoints.shape == (5, 2) and weights.tolist() == [1, 1, 1, 0, 1] and ignore is False
