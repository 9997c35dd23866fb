"""WiderFaceDataset: both annotation formats, ignore boxes, min_size, filtering, and every malformed input."""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmdet_face.datasets import WiderFaceDataset

LABELV2 = """\
# 0--Parade/a.jpg 100 80
10 20 50 70 20.0 30.0 0.0 40.0 31.0 1.0 30.0 45.0 0.0 22.0 55.0 0.0 38.0 56.0 0.0
60 10 64 13 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0
1 2 3 4 1
# 1--Handshaking/b.jpg 64 48
5 6 25 30
# 1--Handshaking/c.jpg 64 48
"""

WIDER_GT = """\
0--Parade/a.jpg
2
10 20 40 50 0 0 0 0 0 0
60 10 4 3 2 0 0 1 0 0
1--Handshaking/b.jpg
0
0 0 0 0 0 0 0 0 0 0
"""


def _write_images(root, names, size=(48, 64)):
    for name in names:
        path = root / 'images' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros(size + (3, ), np.uint8))


@pytest.fixture
def data_root(tmp_path):
    _write_images(tmp_path, ['0--Parade/a.jpg'], size=(80, 100))  # the sizes the headers give
    _write_images(tmp_path, ['1--Handshaking/b.jpg', '1--Handshaking/c.jpg'])
    (tmp_path / 'labelv2.txt').write_text(LABELV2)
    (tmp_path / 'gt.txt').write_text(WIDER_GT)
    return tmp_path


def _dataset(root, ann_file='labelv2.txt', **kwargs):
    return WiderFaceDataset(ann_file=ann_file, data_root=str(root), pipeline=[], **kwargs)


def test_labelv2_fields(data_root):
    ds = _dataset(data_root)
    assert ds.metainfo['classes'] == ('face', )
    assert len(ds) == 3
    a = ds.get_data_info(0)
    assert a['img_id'] == '0--Parade/a'
    assert a['img_path'] == str(data_root / 'images' / '0--Parade' / 'a.jpg')
    assert (a['width'], a['height']) == (100, 80)
    face, no_kps, ignored = a['instances']
    assert face['bbox'] == [10.0, 20.0, 50.0, 70.0]
    assert face['bbox_label'] == 0 and face['ignore_flag'] == 0
    assert face['keypoints'] == [[20, 30], [40, 31], [30, 45], [22, 55], [38, 56]]
    assert face['keypoints_weights'] == [1, 1, 1, 1, 1]  # flags 0 and 1 both mean "annotated"
    # flag -1: no landmark -> weight 0 and zero coordinates
    assert no_kps['keypoints'] == [[0, 0]] * 5 and no_kps['keypoints_weights'] == [0] * 5
    assert no_kps['ignore_flag'] == 0
    # one trailing number: ignore flag
    assert ignored['bbox'] == [1, 2, 3, 4] and ignored['ignore_flag'] == 1
    assert ignored['keypoints_weights'] == [0] * 5
    # box-only line works in training mode
    b = ds.get_data_info(1)['instances']
    assert b == [dict(bbox=[5, 6, 25, 30], bbox_label=0, ignore_flag=0, keypoints=[[0, 0]] * 5,
                      keypoints_weights=[0] * 5)]
    assert ds.get_data_info(2)['instances'] == []


def test_min_size_and_filter_empty_gt(data_root):
    ds = _dataset(data_root, min_size=5)
    flags = [i['ignore_flag'] for i in ds.get_data_info(0)['instances']]
    assert flags == [0, 1, 1]  # 4x3 box: min(w, h) = 3 < 5
    assert [i['ignore_flag'] for i in _dataset(data_root, min_size=3).get_data_info(0)['instances']] == [0, 0, 1]
    assert len(_dataset(data_root, filter_empty_gt=True)) == 2  # c.jpg has no face
    assert len(_dataset(data_root, filter_cfg=dict(filter_empty_gt=True))) == 2
    # images with ignore faces only are dropped too; dropping every image is an error, not an empty dataset
    with pytest.raises(ValueError, match=r'labelv2\.txt: no image with a non-ignore face among its 3 images'):
        _dataset(data_root, filter_empty_gt=True, min_size=100, serialize_data=False)
    # never in test mode
    assert len(_dataset(data_root, filter_empty_gt=True, test_mode=True)) == 3


def test_wider_gt_format(data_root):
    ds = _dataset(data_root, ann_file='gt.txt')
    assert len(ds) == 2
    a = ds.get_data_info(0)
    assert (a['width'], a['height']) == (100, 80)  # read from the image
    assert [i['bbox'] for i in a['instances']] == [[10, 20, 50, 70], [60, 10, 64, 13]]
    assert [i['ignore_flag'] for i in a['instances']] == [0, 1]  # invalid = 1 -> ignore
    assert a['instances'][0]['keypoints_weights'] == [0] * 5
    assert ds.get_data_info(1)['instances'] == []  # count 0 followed by a line of zeros
    # forced format
    assert len(_dataset(data_root, ann_file='gt.txt', ann_format='wider_gt')) == 2



def test_wider_filelist_format_images_only(data_root):
    """The test split's wider_face_test_filelist.txt: images in list order, sizes read from the files, no faces."""
    (data_root / 'list.txt').write_text('1--Handshaking/c.jpg\n\n0--Parade/a.jpg\n1--Handshaking/b.jpg\n')
    for ann_format in (None, 'wider_filelist'):
        ds = _dataset(data_root, ann_file='list.txt', ann_format=ann_format, test_mode=True)
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        assert [i['img_id'] for i in infos] == ['1--Handshaking/c', '0--Parade/a', '1--Handshaking/b']
        assert [(i['width'], i['height']) for i in infos] == [(64, 48), (100, 80), (64, 48)]
        assert all(i['instances'] == [] for i in infos)
    (data_root / 'one.txt').write_text('0--Parade/a.jpg\n')
    assert len(_dataset(data_root, ann_file='one.txt', ann_format='wider_filelist', test_mode=True)) == 1
    with pytest.raises(ValueError, match='one.txt:2: expected a face count'):  # one path: a truncated bbx_gt.txt
        _dataset(data_root, ann_file='one.txt', test_mode=True)
    with pytest.raises(ValueError, match=r'one.txt: an image list without annotations \(wider_filelist\) has no '
                                         'faces to train on; it is read with test_mode=True'):
        _dataset(data_root, ann_file='one.txt', ann_format='wider_filelist')
    (data_root / 'list.txt').write_text('0--Parade/a.jpg\n0--Parade/missing.jpg\n')
    with pytest.raises(FileNotFoundError, match=r'list\.txt:2: expected the image file .*missing\.jpg to exist'):
        _dataset(data_root, ann_file='list.txt', test_mode=True)


@pytest.mark.parametrize('text, line, what', [
    ('0--Parade/a.jpg\n0--Parade/a.jpg\n', 2, 'the image 0--Parade/a.jpg is listed a second time (first on line 1)'),
    ('0--Parade/a.jpg\na.jpg\n', 2, 'expected one image path "<event>/<name>.jpg" per line'),
    ('0--Parade/a.jpg\n0--Parade/a b.jpg\n', 2, "got '0--Parade/a b.jpg'"),
    ('0--Parade/a.jpg\n0--Parade/a.txt\n', 2, "got '0--Parade/a.txt'"),
])
def test_wider_filelist_malformed(data_root, text, line, what):
    (data_root / 'bad.txt').write_text(text)
    with pytest.raises(ValueError) as info:
        _dataset(data_root, ann_file='bad.txt', ann_format='wider_filelist', test_mode=True)
    assert f'bad.txt:{line}: ' in str(info.value) and what in str(info.value)

def _expect_error(root, text, line, what, exc=ValueError, ann_format=None):
    (root / 'bad.txt').write_text(text)
    with pytest.raises(exc) as info:
        _dataset(root, ann_file='bad.txt', ann_format=ann_format)
    msg = str(info.value)
    assert re.search(r'bad\.txt:%d\b' % line, msg), msg
    assert what in msg, msg


@pytest.mark.parametrize('text,line,what', [
    ('# 0--Parade/a.jpg 100 80\n1 2 3\n', 2, '4 (box), 5 (box + ignore flag) or 19'),
    ('# 0--Parade/a.jpg 100 80\n1 2 3 4 5 6\n', 2, 'got 6'),
    ('# 0--Parade/a.jpg 100 80\n1 2 3 4\n1 2 x 4\n', 3, 'non-numeric'),
    ('# 0--Parade/a.jpg 100 80\n10 2 3 4\n', 2, 'non-negative width and height'),
    ('# 0--Parade/a.jpg 100\n', 1, 'header'),
    ('# 0--Parade/a.jpg 100 -80\n', 1, 'positive integer width and height'),
    ('# 0--Parade/a.jpg 100 abc\n', 1, 'non-numeric'),
    ('# 0--Parade/a.jpg 100 80\n\n# 0--Parade/missing.jpg 100 80\n', 3, 'missing.jpg'),
])
def test_labelv2_malformed(data_root, text, line, what):
    exc = FileNotFoundError if 'missing' in text else ValueError
    _expect_error(data_root, text, line, what, exc)


def test_labelv2_face_before_header(data_root):
    _expect_error(data_root, '1 2 3 4\n', 1, 'header', ann_format='labelv2')


@pytest.mark.parametrize('text,line,what', [
    ('0--Parade/a.jpg\nx\n', 2, 'face count'),
    ('0--Parade/a.jpg\n-1\n', 2, 'non-negative face count'),
    ('0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n', 4, 'expected 2 face line(s)'),
    # count says 1 but two face lines follow: the second is read as an image path
    ('0--Parade/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n5 6 7 8 0 0 0 0 0 0\n', 4, 'image path'),
    # count says 2 but the next image starts after one face line
    ('0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1--Handshaking/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n', 4,
     'expected 10 numbers'),
    ('0--Parade/a.jpg\n1\n1 2 3 4 0 0\n', 3, 'expected 10 numbers'),
    ('0--Parade/a.jpg\n1\n1 2 3 4 0 0 0 a 0 0\n', 3, 'non-numeric'),
    ('0--Parade/a.jpg\n1\n1 2 -3 4 0 0 0 0 0 0\n', 3, 'non-negative box width and height'),
    ('0--Parade/a.jpg\n', 2, 'face count'),
    ('0--Parade/a.jpg\n0\n', 3, 'expected 1 face line(s)'),
    ('0--Parade/missing.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n', 1, 'missing.jpg'),
])
def test_wider_gt_malformed(data_root, text, line, what):
    exc = FileNotFoundError if 'missing' in text else ValueError
    _expect_error(data_root, text, line, what, exc)


def test_labelv2_header_without_size_reads_image(data_root):
    (data_root / 'nosize.txt').write_text('# 1--Handshaking/b.jpg\n5 6 25 30\n')
    # path-only headers and 4-number lines could also be RetinaFace's label.txt (x y w h): say which
    info = _dataset(data_root, ann_file='nosize.txt', ann_format='labelv2').get_data_info(0)
    assert (info['width'], info['height']) == (64, 48)


def test_deprecated_name_builds_the_same_dataset_and_warns_once(data_root, monkeypatch):
    """Configs dumped by earlier versions name 'RetinaFaceDataset': it still builds a WiderFaceDataset, warning
    once with the name to write; our configs name WiderFaceDataset."""
    import warnings

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet_face.datasets.widerface as widerface
    from mmdet_face.registry import DATASETS
    init_default_scope('mmdet_face')
    monkeypatch.setattr(widerface, '_warned_deprecated_name', [])
    cfg = dict(ann_file='labelv2.txt', data_root=str(data_root), pipeline=[])
    with pytest.warns(FutureWarning, match="write type='WiderFaceDataset'"):
        old = DATASETS.build(dict(cfg, type='RetinaFaceDataset'))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        DATASETS.build(dict(cfg, type='RetinaFaceDataset'))  # once only
        new = DATASETS.build(dict(cfg, type='WiderFaceDataset'))
    assert isinstance(old, WiderFaceDataset) and type(new) is WiderFaceDataset
    assert old.get_data_info(0)['instances'] == new.get_data_info(0)['instances']
    base = Config.fromfile(str(Path(__file__).resolve().parents[2] / 'configs/_base_/datasets/widerface.py'))
    assert base.dataset_type == 'WiderFaceDataset'
