"""WIDER FACE test submissions: check_submission against the image list it answers, and zip_submission."""
import zipfile

import numpy as np
import pytest

import mmdet_face.evaluation.functional as wf
from mmdet_face.utils.output_file import OutputExistsError

NAMES = ['0--Parade/a.jpg', '0--Parade/b.jpg', '1--Handshaking/c.jpg']


@pytest.fixture
def submission(tmp_path):
    preds = {'0--Parade': {'a': np.array([[1, 2, 10, 12, 0.9], [5, 5, 3, 4, 0.0]]), 'b': np.zeros((0, 5))},
             '1--Handshaking': {'c': np.array([[0, 0, 7, 7, 1.0]])}}
    wf.write_submission(str(tmp_path / 'sub'), preds)
    return tmp_path / 'sub'


def test_a_complete_submission_has_no_problem(submission):
    assert wf.check_submission(str(submission), NAMES) == []
    assert (submission / '0--Parade' / 'a.txt').read_text() == 'a\n2\n1.0 2.0 10.0 12.0 0.9\n5.0 5.0 3.0 4.0 0.0\n'
    assert (submission / '0--Parade' / 'b.txt').read_text() == 'b\n0\n'


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))


def test_each_problem_is_named_with_its_file_and_line(submission):
    (submission / '1--Handshaking' / 'c.txt').unlink()
    a = submission / '0--Parade' / 'a.txt'
    _edit(a, '0.9\n', 'nan\n')
    _edit(a, '3.0 4.0 0.0', '0.0 4.0 1.5')
    (submission / '0--Parade' / 'extra.txt').write_text('extra\n0\n')
    (submission / 'notes.md').write_text('mine')
    problems = wf.check_submission(str(submission), NAMES, 'list.txt', [1, 2, 3])
    assert problems == [
        f'{a}:3: score not a finite number (got "1.0 2.0 10.0 12.0 nan")',
        f'{a}:4: expected a box with width and height > 0, got w=0.0 h=4.0',
        f'{a}:4: expected a score in [0, 1], got 1.5',
        f'{submission / "1--Handshaking" / "c.txt"}: missing: the listed image 1--Handshaking/c.jpg (list.txt:3) has '
        'no prediction file',
        f'{submission / "0--Parade" / "extra.txt"}: answers no listed image (0--Parade/extra.jpg is not in list.txt)',
        f'{submission / "notes.md"}: not part of a submission (expected only <event>/<name>.txt folders)',
    ]


@pytest.mark.parametrize('content, message', [
    ('a\n3\n1 2 3 4 0.5\n', ':2: the file says 3 boxes but has 1 box line(s)'),
    ('a\n1\n1 2 3 0.5\n', ':3: expected "x y w h score"'),
    ('b\n1\n1 2 3 4 0.5\n', ":1: expected the image name 'a', got 'b'"),
    ('a\n1\n1 2 3 4 inf\n', ':3: score not a finite number'),
    ('a\n1\n1 2 3 4 -0.1\n', ':3: expected a score in [0, 1], got -0.1'),
])
def test_a_bad_file(submission, content, message):
    a = submission / '0--Parade' / 'a.txt'
    a.write_text(content)
    problems = wf.check_submission(str(submission), NAMES)
    assert len(problems) == 1 and problems[0].startswith(str(a) + message[:message.index(' ')]), problems
    assert message in problems[0]


def test_the_score_range_is_an_argument(submission):
    _edit(submission / '0--Parade' / 'a.txt', '0.9', '7.5')
    assert len(wf.check_submission(str(submission), NAMES)) == 1
    assert wf.check_submission(str(submission), NAMES, score_range=(-np.inf, np.inf)) == []


def test_zip_holds_the_folder_and_never_replaces_a_file(submission, tmp_path):
    out = tmp_path / 'sub.zip'
    assert wf.zip_submission(str(submission), str(out)) == 3
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ['0--Parade/a.txt', '0--Parade/b.txt', '1--Handshaking/c.txt']
        assert archive.read('0--Parade/a.txt') == (submission / '0--Parade' / 'a.txt').read_bytes()
    before = out.read_bytes()
    (submission / '0--Parade' / 'b.txt').unlink()
    with pytest.raises(OutputExistsError, match='sub.zip: already exists and was left unchanged'):
        wf.zip_submission(str(submission), str(out))
    assert out.read_bytes() == before
    assert wf.zip_submission(str(submission), str(out), overwrite=True) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []  # no temporary file left


def test_a_missing_folder_is_one_problem(tmp_path):
    assert wf.check_submission(str(tmp_path / 'no'), NAMES) == [f'{tmp_path / "no"}: the submission folder does not '
                                                                'exist']


def test_the_image_list_reader(tmp_path):
    (tmp_path / 'list.txt').write_bytes(b'\xef\xbb\xbf0--Parade/a.jpg\n\n1--Handshaking/c.jpg\n')
    assert wf.read_image_list(str(tmp_path / 'list.txt')) == (['0--Parade/a.jpg', '1--Handshaking/c.jpg'], [1, 3])
    (tmp_path / 'list.txt').write_bytes(b'0--Parade/a.jpg\n0--Parade/\xff.jpg\n')
    with pytest.raises(ValueError, match=r'list.txt:2: byte 0xff \(file offset 26\) is not UTF-8 text; expected an '
                       'image list'):
        wf.read_image_list(str(tmp_path / 'list.txt'))


def test_the_check_tool_imports_neither_torch_nor_mmdet(submission, tmp_path):
    import subprocess
    import sys

    from tests.helpers.paths import REPO_ROOT
    (tmp_path / 'list.txt').write_text('\n'.join(NAMES) + '\n')
    code = ('import runpy, sys\n'
            f'sys.argv = ["check_widerface_submission.py", r"{submission}", "--list", r"{tmp_path / "list.txt"}"]\n'
            'try:\n'
            f'    runpy.run_path(r"{REPO_ROOT / "tools" / "check_widerface_submission.py"}", run_name="__main__")\n'
            'except SystemExit as exc:\n'
            '    assert exc.code == 0, exc.code\n'
            'heavy = [m for m in ("torch", "mmdet", "mmengine", "mmcv", "cv2") if m in sys.modules]\n'
            'assert not heavy, heavy\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'{submission}: a valid submission for the 3 images of {tmp_path / "list.txt"}\n'
