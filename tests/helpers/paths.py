"""Where tests find the repository and the optional ``../shared`` folder (real photos, released weights, the
official ground truth), and how a test that needs ``../shared`` skips cleanly where it is absent."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get('MMDET_FACE_SHARED', REPO_ROOT.parent / 'shared'))

# the words the skip reason carries; conftest's terminal summary lists the tests skipped with them
SHARED_ABSENT = 'is not available on this machine'


def shared_path(*parts):
    """Path inside ``../shared``, or skip the calling test cleanly when it is absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'{path} {SHARED_ABSENT}')
    return path
