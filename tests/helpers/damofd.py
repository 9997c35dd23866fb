"""The four released DamoFD backbones (structure strings of ly19965/DamoFD ``configs/DamoFD/DamoFD_*.py``,
``plainnet_struct``), and the released source a parity test runs when ``MMDET_FACE_DAMOFD_SRC`` names its root
(the folder holding ``DDSAR/`` and ``mmdet/models/backbones/``)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO_ROOT

STRUCTURES = {
    '0.5g': 'SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(32,32,2,8,1)SuperResIDWE1K7(32,64,2,40,1)'
            'SuperResIDWE1K7(64,120,2,40,2)SuperResIDWE1K5(120,160,2,120,1)',
    '2.5g': 'SuperConvK3BNRELU(3,24,2,2)SuperResK3K3(24,32,2,24,4)SuperResK3K3(32,56,2,16,4)'
            'SuperResK5K5(56,88,2,8,5)SuperResK1K5K1(88,128,2,8,4)',
    '10g': 'SuperConvK3BNRELU(3,56,2,2)SuperResK1K3K1(56,80,2,40,5)SuperResK1K5K1(80,112,2,32,5)'
           'SuperResK1K3K1(112,168,2,16,4)SuperResK7K7(168,256,2,8,1)',
    '34g': 'SuperConvK3BNRELU(3,56,2,2)SuperResK1K3K1(56,224,2,80,5)SuperResK1K3K1(224,488,2,40,6)'
           'SuperResK1K3K1(488,624,2,72,4)SuperResK1K7K1(624,816,2,24,3)',
}

DAMOFD_SRC_ENV = 'MMDET_FACE_DAMOFD_SRC'


def released_source() -> Path:
    """The released DamoFD tree named by ``MMDET_FACE_DAMOFD_SRC``, or skip the calling test with the reason."""
    root = os.environ.get(DAMOFD_SRC_ENV)
    if not root:
        pytest.skip(f'{DAMOFD_SRC_ENV} is not set: point it at a checkout of ly19965/DamoFD to compare with the '
                    'released code')
    if not (Path(root) / 'DDSAR' / 'Masternet.py').is_file():
        pytest.skip(f'{DAMOFD_SRC_ENV}={root} holds no DDSAR/Masternet.py')
    return Path(root)


def run_released(script: str, timeout: int = 300) -> str:
    """Run ``script`` in a fresh interpreter with the released ``DDSAR/`` first on ``sys.path`` (it imports
    ``PlainNet`` and ``global_utils`` as top-level modules and prints while building) and this repository after it;
    returns its stdout."""
    src = released_source()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src / 'DDSAR'), str(REPO_ROOT)]), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', script], cwd=str(src / 'DDSAR'), env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
