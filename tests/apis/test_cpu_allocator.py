"""``tune_cpu_allocator``: glibc's thresholds are raised once, on request, and can be switched off."""
import os
import platform
import subprocess
import sys

import pytest

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='mallopt is glibc only')

PROBE = r'''
import ctypes, sys
from mmdet_face.apis import face_detector as fd
first = fd.tune_cpu_allocator()
second = fd.tune_cpu_allocator()
# glibc's mallinfo2 does not report thresholds; observe their effect instead: with the mmap threshold at 32 MiB
# a 24 MiB block comes from the heap (below the program break), with glibc's default threshold (128 KiB, raised
# only by freeing larger mmapped blocks) it is mmapped above it.
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
sbrk = libc.sbrk
sbrk.restype = ctypes.c_void_p
sbrk.argtypes = [ctypes.c_ssize_t]
p = libc.malloc(24 << 20)
in_heap = p < sbrk(0)
libc.free(p)
print(first, second, in_heap)
'''


def _probe(**env):
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env}, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@glibc_only
def test_thresholds_raised_once():
    first, second, in_heap = _probe(MMDET_FACE_DEFAULT_MALLOC='')
    assert first == 'True' and second == 'True'
    assert in_heap == 'True'  # a 24 MiB block now comes from the heap, not from a fresh mmap


@glibc_only
def test_switched_off_by_environment():
    first, second, in_heap = _probe(MMDET_FACE_DEFAULT_MALLOC='1')
    assert first == 'False' and second == 'False'
    assert in_heap == 'False'  # glibc's default: a block this size is mmapped


def test_face_detector_tunes_only_on_cpu(monkeypatch):
    import torch
    from mmdet_face.apis import face_detector as fd
    calls = []
    monkeypatch.setattr(fd, 'tune_cpu_allocator', lambda: calls.append(1) or True)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    fd.optimize_for_inference(model, torch.device('meta'))
    assert calls == []
    fd.optimize_for_inference(model, torch.device('cpu'))
    assert calls == [1]
