"""tools/dataset_converters/prepare_afw_pascal.py on miniatures of the AFW / PASCAL Face downloads (a zip and a
folder)."""
import zipfile

import pytest

from mmdet_face.evaluation.functional.afw_pascal_files import load_face_eval_annotations
from tests.helpers.toy_data import make_toy_afw
from tests.helpers.tools import load_tool, run_tool

TOOL = 'tools/dataset_converters/prepare_afw_pascal.py'
prep = load_tool(TOOL)


@pytest.fixture
def downloads(tmp_path):
    src = tmp_path / 'downloads'
    images = make_toy_afw(src / 'afw', num_images=3)
    with zipfile.ZipFile(src / 'AFW.zip', 'w') as z:
        for image in images:
            z.write(src / 'afw' / 'testimages' / image['name'], f'testimages/{image["name"]}')
        z.writestr('anno.mat', b'the original annotations, not used')
    return src, images


def test_afw_from_the_zip(downloads, tmp_path):
    src, images = downloads
    out = tmp_path / 'data' / 'afw'
    run = run_tool(TOOL, '--dataset', 'afw', '--images', src / 'AFW.zip', '--ann',
                   src / 'afw' / 'new_annotations_AFW.mat', '--out', out, '--expect-count', '3')
    assert run.returncode == 0, run.stderr
    faces = sum(len(i['faces']) for i in images)
    assert f'{out}: 3 images in testimages/, new_annotations_AFW.mat with {faces} faces' in run.stdout
    assert sorted(p.name for p in (out / 'testimages').iterdir()) == sorted(i['name'] for i in images)
    assert [i['name'] for i in load_face_eval_annotations(str(out / 'new_annotations_AFW.mat'))] == \
        [i['name'] for i in images]
    # an existing output is kept unless --force
    again = run_tool(TOOL, '--dataset', 'afw', '--images', src / 'AFW.zip', '--ann',
                     src / 'afw' / 'new_annotations_AFW.mat', '--out', out, '--expect-count', '3')
    assert again.returncode == 1 and 'already holds' in again.stderr and '--force' in again.stderr


def test_pascal_from_a_folder_with_other_images(downloads, tmp_path):
    src, images = downloads
    (src / 'afw' / 'testimages' / 'not_annotated.jpg').write_bytes(
        (src / 'afw' / 'testimages' / images[0]['name']).read_bytes())
    out = tmp_path / 'pascal_face'
    stats = prep.prepare_afw_pascal('pascal', str(src / 'afw'), str(src / 'afw' / 'new_annotations_AFW.mat'),
                                    str(out), expect_count=None, log=lambda *a: None)
    assert stats == dict(images=3, faces=sum(len(i['faces']) for i in images),
                         flagged=sum(int(i['ignored'].sum()) for i in images), missing=[])
    assert len(list((out / 'JPEGImages').iterdir())) == 3
    assert (out / 'Annotations_Face_PASCALLayout_large_fixed.mat').is_file()


def test_checks_before_writing(downloads, tmp_path):
    src, images = downloads
    ann = str(src / 'afw' / 'new_annotations_AFW.mat')
    out = tmp_path / 'out'
    with pytest.raises(prep.PrepareError, match='3 annotated images, expected 205 for AFW'):
        prep.prepare_afw_pascal('afw', str(src / 'AFW.zip'), ann, str(out))
    (src / 'afw' / 'testimages' / images[1]['name']).unlink()
    with pytest.raises(prep.PrepareError, match=f"1 of the 3 annotated images are not in .*{images[1]['name']}"
                                                '.*--allow-missing writes the others'):
        prep.prepare_afw_pascal('afw', str(src / 'afw'), ann, str(out), expect_count=3)
    stats = prep.prepare_afw_pascal('afw', str(src / 'afw'), ann, str(out), expect_count=3, allow_missing=True,
                                    log=lambda *a: None)
    assert stats['missing'] == [images[1]['name']] and len(list((out / 'testimages').iterdir())) == 2
    (src / 'afw' / 'testimages' / images[2]['name']).write_bytes(b'\xff\xd8 cut short')
    with pytest.raises(prep.PrepareError, match=f"(?s)damaged or cannot be decoded.*{images[2]['name']}"):
        prep.prepare_afw_pascal('afw', str(src / 'afw'), ann, str(tmp_path / 'other'), expect_count=3,
                                allow_missing=True)
    assert not (tmp_path / 'other').exists()
    with pytest.raises(prep.PrepareError, match='would be written over the files it is read from'):
        prep.prepare_afw_pascal('afw', str(src / 'afw'), ann, str(src), expect_count=3, force=True)
    bad = tmp_path / 'bad.mat'
    bad.write_text('not a mat file')
    run = run_tool(TOOL, '--dataset', 'afw', '--images', src / 'afw', '--ann', bad, '--out', tmp_path / 'o2')
    assert run.returncode == 1 and 'bad.mat: not a readable MATLAB .mat file' in run.stderr
    assert 'Traceback' not in run.stderr and not (tmp_path / 'o2').exists()
