"""tools/test_afw_pascal.py: a detection file scored on tiny generated AFW / PASCAL annotations, as a user runs it."""
import json

import numpy as np
import pytest

from mmdet_face.evaluation.functional.afw_pascal_files import write_face_eval_annotations
from tests.helpers.tools import run_tool

TOOL = 'tools/test_afw_pascal.py'


@pytest.fixture
def tiny(tmp_path):
    gt = tmp_path / 'Annotations_Face_PASCALLayout_large_fixed.mat'
    write_face_eval_annotations(str(gt), [
        dict(name='2007_000001.jpg', faces=[[0, 0, 99, 99], [200, 0, 299, 99]]),
        dict(name='2007_000002.jpg', faces=[[0, 0, 49, 49], [100, 100, 149, 149]], ignored=[False, True]),
    ])
    pred = tmp_path / 'dets.txt'
    # TP, duplicate FP, on the flagged face, TP, dropped (20 px), TP: precision 1, 1/2, 1/2, 2/3, 3/4 at recall
    # 1/3, 1/3, 1/3, 2/3, 1 -> AP 1/3 + 1/3 * 3/4 + 1/3 * 3/4 = 5/6
    pred.write_text('2007_000001.jpg 0.9 0 0 99 99\n2007_000001.jpg 0.8 0 0 99 99\n'
                    '2007_000002.jpg 0.7 100 100 149 149\n2007_000002 0.6 0 0 49 49\n'
                    '2007_000001.jpg 0.4 0 0 20 20\n2007_000001.jpg 0.3 200 0 299 99\n')
    return gt, pred


def test_scores_a_detection_file_and_writes_the_curve(tiny, tmp_path):
    gt, pred = tiny
    out = tmp_path / 'result.json'
    run = run_tool(TOOL, '--dataset', 'pascal', '--pred', pred, '--gt', gt, '--out', out, '--iterations', '1')
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f'AP {5 / 6:.6f}'
    assert 'PASCAL Face: 2 images, 3 counted faces, 5 detections (1 more dropped' in run.stdout
    data = json.loads(out.read_text())
    np.testing.assert_allclose(data['precision'], [1, 1 / 2, 1 / 2, 2 / 3, 3 / 4])
    assert data['name'] == 'dets.txt' and data['num_gt'] == 3

    # an existing output is kept; --overwrite replaces it
    before = out.read_bytes()
    again = run_tool(TOOL, '--dataset', 'pascal', '--pred', pred, '--gt', gt, '--out', out)
    assert again.returncode != 0 and 'already exists' in again.stderr and 'Traceback' not in again.stderr
    assert out.read_bytes() == before
    forced = run_tool(TOOL, '--dataset', 'afw', '--pred', pred, '--gt', gt, '--out', out, '--overwrite')
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip().splitlines()[-1] == f'AP {json.loads(out.read_text())["ap"]:.6f}'


def test_user_mistakes_end_with_a_message(tiny, tmp_path):
    gt, pred = tiny
    bad = tmp_path / 'bad.txt'
    bad.write_text('2007_000001.jpg 0.9 0 0 99 99\n2007_000001.jpg 0.9 10 10 50\n')
    run = run_tool(TOOL, '--dataset', 'afw', '--pred', bad, '--gt', gt)
    assert run.returncode != 0 and 'Traceback' not in run.stderr
    assert f'{bad}:2: expected 6 fields' in run.stderr
    run = run_tool(TOOL, '--dataset', 'afw', '--pred', pred, '--gt', tmp_path / 'missing.mat')
    assert run.returncode != 0 and 'missing.mat: no such file' in run.stderr and 'Traceback' not in run.stderr
    run = run_tool(TOOL, '--dataset', 'afw', '--pred', pred, '--gt', gt, '--out', pred)
    assert run.returncode != 0 and 'Traceback' not in run.stderr and pred.read_text().startswith('2007_000001.jpg')
    run = run_tool(TOOL, '--dataset', 'afw', '--pred', pred, '--gt', gt, '--iterations', '0')
    assert run.returncode == 2 and '--iterations' in run.stderr


def test_unknown_image_ids_are_false_positives_with_a_warning(tiny, tmp_path):
    gt, _ = tiny
    pred = tmp_path / 'other.txt'
    pred.write_text('2007_000001.jpg 0.9 0 0 99 99\nnot_an_image.jpg 0.95 0 0 99 99\n')
    run = run_tool(TOOL, '--dataset', 'pascal', '--pred', pred, '--gt', gt)
    assert run.returncode == 0 and "1 image id(s) of" in run.stderr and "'not_an_image'" in run.stderr
    # FP then TP over 3 faces: recall 1/3 at precision 1/2
    assert run.stdout.strip().splitlines()[-1] == f'AP {1 / 6:.6f}'


def test_scoring_imports_neither_torch_nor_mmdet(tiny):
    import subprocess
    import sys

    from tests.helpers.paths import REPO_ROOT
    gt, pred = tiny
    code = ('import runpy, sys\n'
            f'sys.argv = ["{TOOL}", "--dataset", "pascal", "--pred", r"{pred}", "--gt", r"{gt}"]\n'
            f'runpy.run_path(r"{REPO_ROOT / TOOL}", run_name="__main__")\n'
            'heavy = [m for m in ("torch", "mmdet", "mmengine", "mmcv", "cv2") if m in sys.modules]\n'
            'assert not heavy, heavy\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=str(REPO_ROOT),
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == f'AP {5 / 6:.6f}'
