import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get('MMDET_FACE_SHARED', REPO_ROOT.parent / 'shared'))


def shared_path(*parts):
    """Path inside ../shared, or skip the calling test cleanly when it is absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'{path} is not available on this machine')
    return path


@pytest.fixture
def widerface_gt_dir():
    return shared_path('widerface_gt')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than ~30 s on a 2-core CPU')
