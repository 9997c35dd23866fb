"""The reference-package harness (tools/analysis/release_reference.py) itself: it builds the release modules in a child
process, its torchvision NMS shim computes the right thing, failures surface, and this process stays clean."""
import os
import re
import sys

import pytest
import torch

from tests.helpers.release import ReferenceRunError, require_reference, run_reference
from tests.helpers.tools import run_tool


@pytest.mark.slow
def test_child_builds_release_modules_with_the_release_key_counts(tmp_path):
    require_reference()
    run_reference('''
        import sys, torch
        from face_detection.retinaface.config import cfg_mnet, cfg_re50
        from face_detection.retinaface.models.retinaface import RetinaFace
        mnet = RetinaFace(cfg=cfg_mnet).state_dict()
        re50 = RetinaFace(cfg=cfg_re50).state_dict()
        torch.save({'mnet': len(mnet), 'mnet_nbt': sum(k.endswith('num_batches_tracked') for k in mnet),
                    're50': len(re50), 're50_nbt': sum(k.endswith('num_batches_tracked') for k in re50),
                    'argv': sys.argv[1:]}, OUT / 'counts.pth')
    ''', out_dir=tmp_path, args=['a', 2], timeout=300)
    counts = torch.load(tmp_path / 'counts.pth', weights_only=True)
    # the releases' own files: mnet 300 keys (47 num_batches_tracked), re50 456 (73)
    assert counts == {'mnet': 300, 'mnet_nbt': 47, 're50': 456, 're50_nbt': 73, 'argv': ['a', '2']}


@pytest.mark.slow
def test_nms_shim_and_batchnorm_calibration(tmp_path):
    require_reference()
    run_reference('''
        import torch, torchvision
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.], [0., 0., 10., 4.]])
        scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
        keep = torchvision.ops.nms(boxes, scores, 0.5)
        bn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False), torch.nn.BatchNorm2d(2))
        torch.nn.init.constant_(bn[0].weight, 3.0)
        x = torch.arange(8.).view(2, 1, 2, 2)
        calibrate_batchnorm(bn, [x, x + 8])
        torch.save({'keep': keep, 'mean': bn[1].running_mean, 'var': bn[1].running_var, 'train': bn.training},
                   OUT / 'out.pth')
    ''', out_dir=tmp_path, timeout=120)
    out = torch.load(tmp_path / 'out.pth', weights_only=True)
    # box 3 (0.95) overlaps box 0 by 40/100 <= 0.5: both kept; box 1 vs box 0: IoU 90/110 > 0.5, dropped
    assert out['keep'].tolist() == [3, 0, 2]
    # conv output 3x: batch means 3 * 3.5 = 10.5 and 3 * 11.5 = 34.5 -> cumulative mean 22.5; unbiased variance of
    # 3 * (0..7) is 9 * 6 = 54 for each batch -> 54
    torch.testing.assert_close(out['mean'], torch.full((2,), 22.5))
    torch.testing.assert_close(out['var'], torch.full((2,), 54.0))
    assert out['train'] is False


@pytest.mark.slow
def test_failing_script_raises_with_its_stderr():
    require_reference()
    with pytest.raises(ReferenceRunError, match='ZeroDivisionError'):
        run_reference('1 / 0', timeout=120)


def test_this_process_never_imports_the_reference():
    assert 'torchvision' not in sys.modules and 'face_detection' not in sys.modules


@pytest.mark.slow
def test_stand_alone_check_says_whether_the_reference_can_be_used():
    env = dict(os.environ, MMDET_FACE_SKIP_REFERENCE='1')
    done = run_tool('tools/analysis/release_reference.py', env=env, timeout=60)
    assert done.returncode == 1
    assert done.stdout.strip() == ('the face-detection==0.2.2 reference is switched off '
                                   '(MMDET_FACE_SKIP_REFERENCE is set)')
    require_reference()
    done = run_tool('tools/analysis/release_reference.py', env=dict(os.environ, MMDET_FACE_SKIP_REFERENCE='0'),
                    timeout=600)
    assert done.returncode == 0 and done.stdout.startswith('reference available, cached in '), done.stdout


@pytest.mark.slow
def test_benchmark_dsfd_release_prints_the_three_timings():
    require_reference()
    done = run_tool('tools/analysis/benchmark_dsfd_release.py', '--size', '64', '96', '--repeat', '1', timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = re.findall(r'release / ours: (\d+\.\d+)x, release / ours \(opt\): (\d+\.\d+)x', done.stdout)
    assert len(figures) == 1 and all(float(f) > 0 for f in figures[0]), done.stdout
    assert 'DSFD-R152, 96x64, 1 thread(s), median of 1 after a warm-up:' in done.stdout
