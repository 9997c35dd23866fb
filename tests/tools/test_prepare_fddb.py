"""tools/dataset_converters/prepare_fddb.py on a tiny FDDB download (ten folds of one image, packed as the official
.tgz files): the layout it writes, and the download checks."""
import tarfile

import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb_files import read_fddb_folds
from tests.helpers.fddb_data import make_fddb_layout
from tests.helpers.tools import load_tool

tool = load_tool('tools/dataset_converters/prepare_fddb.py')


@pytest.fixture
def download(tmp_path):
    annotations = make_fddb_layout(tmp_path / 'raw', folds=range(1, 11), images_per_fold=1)
    src = tmp_path / 'downloads'
    src.mkdir()
    with tarfile.open(src / 'FDDB-folds.tgz', 'w:gz') as tar:
        tar.add(tmp_path / 'raw' / 'FDDB-folds', arcname='FDDB-folds')
    with tarfile.open(src / 'originalPics.tar.gz', 'w:gz') as tar:
        tar.add(tmp_path / 'raw' / 'originalPics' / '2002', arcname='2002')
    return src, annotations


def test_prepare_lays_out_the_checked_download(download, tmp_path, capsys):
    src, annotations = download
    faces = sum(len(e) for e in annotations.values())
    tool.main(['--src', str(src), '--out', str(tmp_path / 'fddb'), '--expect-counts', '10', str(faces)])
    assert capsys.readouterr().out.strip() == \
        f'FDDB written to {tmp_path / "fddb"}: 10 images, {faces} faces in 10 folds'
    images = read_fddb_folds(str(tmp_path / 'fddb' / 'FDDB-folds'))
    assert [im['name'] for im in images] == list(annotations)
    np.testing.assert_allclose(images[3]['regions'], annotations[images[3]['name']], atol=1e-6)
    assert all((tmp_path / 'fddb' / 'originalPics' / f'{name}.jpg').is_file() for name in annotations)
    with pytest.raises(SystemExit, match='already exists and was left unchanged; pass --force'):
        tool.main(['--src', str(src), '--out', str(tmp_path / 'fddb'), '--no-count-check'])


def test_prepare_checks_counts_and_images(download, tmp_path):
    src, annotations = download
    with pytest.raises(SystemExit, match=r'the folds list 10 images with \d+ faces; expected 2845 and 5171'):
        tool.main(['--src', str(src), '--out', str(tmp_path / 'fddb')])
    missing = list(annotations)[4]
    with tarfile.open(src / 'originalPics.tar.gz', 'w:gz') as tar:
        for name in annotations:
            if name != missing:
                tar.add(tmp_path / 'raw' / 'originalPics' / f'{name}.jpg', arcname=f'{name}.jpg')
    with pytest.raises(SystemExit, match=rf'1 listed images are missing, e.g. {missing}'):
        tool.main(['--src', str(src), '--out', str(tmp_path / 'fddb'), '--no-count-check'])
    assert not (tmp_path / 'fddb').exists()
