"""WIDER FACE test submissions written by tools/test.py --submission (here for the toy data's val list, in the
layout of the official wider_face_test_filelist.txt) and checked by tools/check_widerface_submission.py."""
import zipfile

import pytest

from tests.helpers.paths import REPO_ROOT as ROOT
from tests.helpers.tools import load_tool, random_checkpoint, run_tool

tool = load_tool('tools/test.py')
CONFIG = str(ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py')
LOADER = ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


def _val_filelist(toy_data, path):
    """The toy val images as an official file list (``<event>/<name>.jpg`` per line, from the labelv2 headers)."""
    names = [line.split()[1] for line in (toy_data / 'val' / 'labelv2.txt').read_text().splitlines()
             if line.startswith('#')]
    path.write_text('\n'.join(names) + '\n')
    return names


@pytest.fixture(scope='module')
def written(toy_data, tmp_path_factory):
    """One model run: the submission for the toy val list, through --image-list / --image-root."""
    tmp = tmp_path_factory.mktemp('submission')
    names = _val_filelist(toy_data, tmp / 'wider_face_test_filelist.txt')
    ckpt = random_checkpoint(CONFIG, tmp / 'random.pth')
    metrics = tool.main([CONFIG, str(ckpt), '--submission', str(tmp / 'sub'), '--image-list',
                         str(tmp / 'wider_face_test_filelist.txt'), '--image-root', str(toy_data / 'val' / 'images'),
                         '--work-dir', str(tmp / 'work'), '--cfg-options', *LOADER])
    return tmp, names, metrics


def test_the_submission_has_the_server_layout(written):
    tmp, names, metrics = written
    sub = tmp / 'sub'
    files = sorted(p.relative_to(sub).as_posix() for p in sub.rglob('*') if p.is_file())
    assert files == sorted(name[:-4] + '.txt' for name in names) and len(files) == 4
    total = 0
    for name in names:
        lines = (sub / (name[:-4] + '.txt')).read_text().splitlines()
        assert lines[0] == name.split('/')[1][:-4]  # the image name
        assert int(lines[1]) == len(lines) - 2  # the count, then one line per box
        for line in lines[2:]:
            x, y, w, h, score = map(float, line.split())
            assert w > 0 and h > 0 and 0 <= score <= 1
        total += int(lines[1])
    assert total > 0  # random weights still give boxes
    assert metrics == {'widerface_submission/images': 4, 'widerface_submission/boxes': total}
    with zipfile.ZipFile(tmp / 'sub.zip') as archive:
        assert sorted(archive.namelist()) == files
        assert all(archive.read(f) == (sub / f).read_bytes() for f in files)
    assert not (tmp / 'work' / 'sub').exists() and not list(tmp.glob('*.writing-*'))


def test_the_check_tool_passes_it_then_catches_a_missing_image(written, tmp_path):
    import shutil
    tmp, names, _ = written
    sub = tmp_path / 'sub'
    shutil.copytree(tmp / 'sub', sub)
    listed = tmp / 'wider_face_test_filelist.txt'
    done = run_tool('tools/check_widerface_submission.py', sub, '--list', listed)
    assert done.returncode == 0 and done.stdout == f'{sub}: a valid submission for the 4 images of {listed}\n'
    (sub / (names[2][:-4] + '.txt')).unlink()
    first = sub / (names[0][:-4] + '.txt')
    first.write_text(first.read_text().splitlines()[0] + '\n2\n1 2 3 4 nan\n5 6 7 8 1.25\n')
    done = run_tool('tools/check_widerface_submission.py', sub, '--list', listed)
    assert done.returncode == 1 and done.stdout == '' and 'Traceback' not in done.stderr
    assert f'{sub / names[2][:-4]}.txt: missing: the listed image {names[2]} ({listed}:3) has no prediction ' \
           'file' in done.stderr
    assert f'{first}:3: score not a finite number (got "1.0 2.0 3.0 4.0 nan")' in done.stderr
    assert f'{first}:4: expected a score in [0, 1], got 1.25' in done.stderr
    assert done.stderr.splitlines()[-1].startswith(f'check_widerface_submission: {sub}: ')


def test_a_second_run_is_refused_before_the_model(written, capsys):
    tmp, _, _ = written
    before = (tmp / 'sub.zip').read_bytes()
    argv = [CONFIG, str(tmp / 'missing.pth'), '--image-list', str(tmp / 'wider_face_test_filelist.txt'),
            '--image-root', str(tmp), '--work-dir', str(tmp / 'work2')]
    with pytest.raises(SystemExit, match=r'^tools/test.py: --submission .*sub already holds a submission \(4 event '
                                         r'folders\): refusing to mix two runs'):
        tool.main(argv + ['--submission', str(tmp / 'sub')], 'tools/test.py')
    (tmp / 'new').mkdir()
    with pytest.raises(SystemExit, match=r'^tools/test.py: --zip .*sub.zip: already exists and was left unchanged'):
        tool.main(argv + ['--submission', str(tmp / 'new'), '--zip', str(tmp / 'sub.zip')], 'tools/test.py')
    assert (tmp / 'sub.zip').read_bytes() == before and not (tmp / 'work2').exists()


@pytest.mark.parametrize('argv, message', [
    (['--submission', 'd', '--out', 'o'], '--out writes a validation submission and scores it'),
    (['--submission', 'd', '--gt-dir', 'g'], '--gt-dir scores against ground truth'),
    (['--zip', 'z.zip'], '--zip applies to --submission'),
    (['--submission', 'd', '--image-list', 'l.txt'], '--image-list and --image-root go together'),
    (['--submission', 'd', '--zip', 'd/z.zip'], '--zip d/z.zip: is inside the --submission folder d'),
    (['--pred-dir', 'p', '--gt-dir', 'g', '--submission', 'd'], '--submission: not used with --pred-dir'),
])
def test_option_combinations(capsys, argv, message):
    with pytest.raises(SystemExit):
        tool.parse_args((['c.py', 'k.pth'] if '--pred-dir' not in argv else []) + argv)
    assert message in capsys.readouterr().err


def test_the_evaluator_of_a_submission_run(toy_data, tmp_path):
    """--submission replaces the metrics (the test split has no ground truth); the test dataset's annotation file is
    the list the submission is checked against when it is an official image list; the test-split config keeps its
    submission metric."""
    cfg = tool.build_test_cfg(tool.parse_args([CONFIG, 'k.pth', '--submission', str(tmp_path / 's') + '/']))
    assert cfg.test_evaluator == [dict(type='WiderFaceSubmissionMetric', outfile_prefix=str(tmp_path / 's'),
                                       image_list=None, zip_file=None, overwrite=False)]  # labelv2: no image list
    (tmp_path / 'cfg.py').write_text(f"_base_ = [r'{ROOT / 'configs' / '_base_' / 'datasets' / 'widerface_test.py'}']\n"
                                     "model = dict(type='Dummy')\n")
    cfg = tool.build_test_cfg(tool.parse_args([str(tmp_path / 'cfg.py'), 'k.pth']))
    assert [m['type'] for m in cfg.test_evaluator] == ['WiderFaceSubmissionMetric']
    cfg = tool.build_test_cfg(tool.parse_args([str(tmp_path / 'cfg.py'), 'k.pth', '--submission', 'd', '--zip',
                                               'e.zip']))
    assert cfg.test_evaluator == [dict(type='WiderFaceSubmissionMetric', outfile_prefix='d', zip_file='e.zip',
                                       image_list='data/widerface/wider_face_split/wider_face_test_filelist.txt',
                                       overwrite=False)]
    dataset = cfg.test_dataloader.dataset
    assert (dataset.ann_file, dataset.ann_format, dataset.data_prefix) == (
        'wider_face_split/wider_face_test_filelist.txt', 'wider_filelist', dict(img='test/images/'))
    assert cfg.val_dataloader.dataset.ann_file == 'val/labelv2.txt'  # validation stays on the val split


def test_the_metric_refuses_to_zip_a_submission_that_fails_its_check(tmp_path):
    import numpy as np

    from mmdet_face.evaluation.metrics import WiderFaceSubmissionMetric
    from mmdet_face.evaluation.metrics.widerface_submission_metric import SubmissionCheckError
    (tmp_path / 'list.txt').write_text('0--Parade/a.jpg\n0--Parade/b.jpg\n1--Handshaking/c.jpg\n')

    def sample(name, boxes, scores):
        return dict(img_path=f'/images/{name}', pred_instances=dict(bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                                                                    scores=np.array(scores, np.float32)))

    metric = WiderFaceSubmissionMetric(str(tmp_path / 'sub'), image_list=str(tmp_path / 'list.txt'))
    metric.process({}, [sample('0--Parade/a.jpg', [[10, 20, 30, 60]], [0.5]), sample('0--Parade/b.jpg', [], []),
                        sample('0--Parade/b.jpg', [], [])])  # a padded repeat is written once
    with pytest.raises(SubmissionCheckError) as info:
        metric.compute_metrics(metric.results)
    assert str(info.value) == (
        f'{tmp_path / "sub"}: the submission does not pass its check, so it was not zipped:\n  '
        f'{tmp_path / "sub" / "1--Handshaking" / "c.txt"}: missing: the listed image 1--Handshaking/c.jpg '
        f'({tmp_path / "list.txt"}:3) has no prediction file')
    assert (tmp_path / 'sub' / '0--Parade' / 'a.txt').read_text() == 'a\n1\n10.0 20.0 20.0 40.0 0.5\n'
    assert not (tmp_path / 'sub.zip').exists()
    # the same metric object replaces what it wrote; a score out of range is caught too
    metric.results = []
    metric.process({}, [sample('0--Parade/a.jpg', [[10, 20, 30, 60]], [1.5]), sample('0--Parade/b.jpg', [], []),
                        sample('1--Handshaking/c.jpg', [], [])])
    with pytest.raises(SubmissionCheckError, match=r'a.txt:3: expected a score in \[0, 1\], got 1.5'):
        metric.compute_metrics(metric.results)
    metric.results[0]['pred'][0, 4] = 1.0
    assert metric.compute_metrics(metric.results) == {'images': 3, 'boxes': 1}
    with zipfile.ZipFile(tmp_path / 'sub.zip') as archive:
        assert sorted(archive.namelist()) == ['0--Parade/a.txt', '0--Parade/b.txt', '1--Handshaking/c.txt']
