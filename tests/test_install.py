"""The package works from a plain (non-editable) ``pip install .``: it never reads the repository tree."""
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.helpers.paths import REPO_ROOT as REPO


@pytest.mark.slow
def test_plain_install_builds_a_model_and_scores(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    site = Path(subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the scratch environment sees the test environment's dependencies (torch, mmcv, mmdet ...) but not its
    # editable mmdet_face: a .pth path line does not run the editable finder that lives there
    (site / 'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    build = tmp_path / 'src'  # a copy, so the build leaves no egg-info / build folders in the repository
    subprocess.run(['git', 'clone', '-q', '--no-hardlinks', str(REPO), str(build)], check=True)
    for rel in subprocess.run(['git', 'ls-files', '-m', '-o', '--exclude-standard'], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.split():  # uncommitted work too
        if (REPO / rel).is_file():
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            (build / rel).write_bytes((REPO / rel).read_bytes())
    done = subprocess.run([str(python), '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
                           '--no-index', str(build)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import mmdet_face
        assert 'torch' not in sys.modules, 'import mmdet_face pulled in torch'
        assert mmdet_face.__file__.startswith({str(site)!r}), mmdet_face.__file__
        import mmdet_face.evaluation.functional as wf
        gt = {{'boxes': {{'e': {{'a': np.array([[0., 0., 10., 10.]])}}}},
              'settings': {{s: {{'e': {{'a': np.array([0])}}}} for s in wf.SETTINGS}}}}
        preds = {{'e': {{'a': np.array([[0., 0., 10., 10., 0.9], [50., 50., 10., 10., 0.1]])}}}}
        assert 'torch' not in sys.modules
        ap = wf.evaluate_widerface(preds, gt)
        from mmdet_face.apis import init_face_detector
        model = init_face_detector({str(REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py')!r})
        import torch
        with torch.no_grad():
            outs = model._forward(torch.zeros(1, 3, 64, 64))
        print('OK', type(model).__name__, len(outs[0]), round(ap['easy'], 4))
    """)
    run = subprocess.run([str(python), '-c', script], cwd=outside, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == 'OK SCRFD 3 1.0'
