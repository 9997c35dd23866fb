"""The allocator tuning is an opt-in: building and calling a FaceDetector leaves glibc's malloc thresholds alone;
``FaceDetector(tune_allocator=True)`` or ``cpu_runtime.tune_cpu_allocator()`` raises them; the environment variable
``MMDET_FACE_DEFAULT_MALLOC=1`` vetoes both."""
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers.paths import REPO_ROOT as REPO

CONFIG = str(REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py')
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='mallopt is glibc only')

# Runs the product in a fresh process, then looks at where glibc serves one 24 MiB block. glibc reports no
# thresholds, so their effect is observed: with the default mmap threshold (128 KiB, raised only by freeing larger
# mmapped blocks; the detector's own blocks at 128 px stay far below 24 MiB) the block is a fresh mmap, with the
# tuned 32 MiB threshold it comes from the heap. Two independent witnesses: the IS_MMAPPED bit of the chunk header
# (glibc's malloc.c: bit 1 of the size word just before the user pointer) and mallinfo2's count of mmapped chunks.
# One probe per process: freeing the mmapped block would itself raise glibc's dynamic threshold.
PROBE = r'''
import ctypes, json, sys
import numpy as np
from mmdet_face.apis import FaceDetector, cpu_runtime
mode, config = sys.argv[1], sys.argv[2]
returned = []
if mode == 'call':
    returned = [cpu_runtime.tune_cpu_allocator(), cpu_runtime.tune_cpu_allocator()]
else:
    det = FaceDetector(config, tune_allocator=(mode == 'opt-in'))
    det(np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8), score_thr=0.3, max_size=128)

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks',
                 'keepcost')]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
mapped_before = libc.mallinfo2().hblks
p = libc.malloc(24 << 20)
header_mmapped = bool(ctypes.c_size_t.from_address(p - ctypes.sizeof(ctypes.c_size_t)).value & 2)
count_mmapped = libc.mallinfo2().hblks == mapped_before + 1
libc.free(p)
print(json.dumps(dict(tuned=cpu_runtime.allocator_tuned(), returned=returned, header_mmapped=header_mmapped,
                      count_mmapped=count_mmapped)))
'''


def _probe(mode, veto=False):
    env = {**os.environ, 'MMDET_FACE_DEFAULT_MALLOC': '1' if veto else ''}
    out = subprocess.run([sys.executable, '-c', PROBE, mode, CONFIG], capture_output=True, text=True, timeout=300,
                         env=env, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['header_mmapped'] == result['count_mmapped'], result  # the two witnesses agree
    return result


@pytest.mark.slow
@glibc_only
def test_face_detector_by_default_leaves_the_allocator_alone():
    result = _probe('default')
    assert result['tuned'] is False
    assert result['header_mmapped'] is True  # glibc's own behaviour: a 24 MiB block is a fresh mmap


@pytest.mark.slow
@glibc_only
def test_face_detector_opt_in_tunes_the_allocator():
    result = _probe('opt-in')
    assert result['tuned'] is True
    assert result['header_mmapped'] is False  # served from the heap, reused between calls


@pytest.mark.slow
@glibc_only
def test_explicit_call_tunes_and_is_idempotent():
    result = _probe('call')
    assert result['returned'] == [True, True] and result['tuned'] is True
    assert result['header_mmapped'] is False


@pytest.mark.slow
@glibc_only
@pytest.mark.parametrize('mode', ['opt-in', 'call'])
def test_environment_vetoes_the_opt_in(mode):
    result = _probe(mode, veto=True)
    assert result['tuned'] is False
    assert result['returned'] in ([], [False, False])
    assert result['header_mmapped'] is True


def test_switch_reaches_tune_cpu_allocator_on_cpu_only(monkeypatch):
    """In process (no real mallopt): only ``tune_allocator=True`` with a CPU device asks for the tuning, and
    ``optimize_for_inference`` never does."""
    import torch

    from mmdet_face.apis import FaceDetector, cpu_runtime
    calls = []
    monkeypatch.setattr(cpu_runtime, 'tune_cpu_allocator', lambda *a, **k: calls.append(1) or True)
    det = FaceDetector(CONFIG)
    det(np.zeros((32, 32, 3), np.uint8))
    assert calls == []
    FaceDetector(CONFIG, optimize=False, tune_allocator=True)
    assert calls == [1]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    cpu_runtime.optimize_for_inference(model, torch.device('cpu'))
    assert calls == [1]
    if torch.cuda.is_available():  # the tuning is for CPU memory: a CUDA detector does not ask for it
        FaceDetector(CONFIG, device='cuda', tune_allocator=True)
        assert calls == [1]
