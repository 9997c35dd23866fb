"""Run the released detectors' own modules (the ``face-detection==0.2.2`` package) as a parity reference.

The reference package (hukkelas/DSFD-Pytorch-Inference, which wraps the DSFD and RetinaFace releases) needs
torchvision, and no torchvision build for our ``torch 2.13.0+cpu`` imports cleanly: ``torchvision==0.28.0`` (the
pin; the unpinned pick needs torch 2.14) is a CUDA build whose ``_C.so`` cannot load, and its import then fails with
"operator torchvision::nms does not exist". So nothing is ever installed: this helper

1. downloads ``face-detection==0.2.2`` (an sdist) and ``torchvision==0.28.0`` (a wheel) with this interpreter's pip
   (``pip download --no-deps``) into a cache folder outside the repository, ``$MMDET_FACE_REFERENCE_CACHE`` or
   ``~/.cache/mmdet-face/reference`` (reused between runs; a lock file keeps concurrent test runs apart);
2. unpacks both there (no install, nothing touches the project venv);
3. runs a given Python script in a **child process** (``python -I``) whose ``sys.path`` starts with the two unpacked
   folders and in which, before torchvision is imported, the ``torchvision::nms`` / ``torchvision::qnms`` schemas
   are defined with a tiny CPU NMS and, after the import, ``torchvision.extension._has_ops`` is patched to return
   True (so ``torchvision.ops.nms`` dispatches to that NMS). The pytest process itself never imports torchvision
   or ``face_detection``.

Use from a test (``tests/helpers/release.py`` adds ``require_reference``, which skips a test when the reference
cannot be used) or from a tool (``tools/analysis/benchmark_dsfd_release.py`` imports this file as a sibling)::

    from tests.helpers.release import require_reference, run_reference

    def test_something(tmp_path):
        require_reference()          # pytest.skip(reason) when the package cannot be fetched or imported
        run_reference('''
            import torch
            from face_detection.retinaface.config import cfg_re50
            from face_detection.retinaface.models.retinaface import RetinaFace
            torch.manual_seed(0)
            net = RetinaFace(cfg=cfg_re50)
            calibrate_batchnorm(net, [torch.randn(1, 3, 64, 64) * 50])   # helper predefined in the child
            torch.save(net.state_dict(), OUT / 'weights.pth')           # OUT = the out_dir you passed
        ''', out_dir=tmp_path, timeout=300)
        state = torch.load(tmp_path / 'weights.pth', weights_only=True)

The script is source text (dedented here); it runs as ``__main__`` with ``sys.argv = [script, *args]`` and these
names predefined: ``OUT`` (``pathlib.Path`` of ``out_dir``, or None), ``calibrate_batchnorm`` and
``dsfd_release_net`` (see :data:`_CHILD_HELPERS`) and ``cpu_nms`` (the shim's NMS). Exchange data through files under ``OUT``
(``torch.save`` / ``torch.load(weights_only=True)``). A failing script raises :class:`ReferenceRunError` carrying
the child's stdout / stderr. ``reference_available()`` returns ``(ok, reason)`` for code that wants to decide itself.

Stand-alone check: ``python tools/analysis/release_reference.py`` prints whether the reference can be used here and
why not (exit status 0 or 1).
"""
import contextlib
import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from pathlib import Path
from typing import Iterable, Optional, Tuple

PACKAGE = 'face-detection==0.2.2'
TORCHVISION = 'torchvision==0.28.0'  # requires torch==2.13.0; 0.29.x requires torch>=2.14
SDIST_NAME = 'face_detection-0.2.2.tar.gz'
WHEEL_PREFIX = 'torchvision-0.28.0-'


class ReferenceRunError(RuntimeError):
    """The reference child process failed; ``.result`` is its ``CompletedProcess`` (or None on a timeout)."""

    def __init__(self, message: str, result: Optional[subprocess.CompletedProcess] = None):
        super().__init__(message)
        self.result = result


def cache_dir() -> Path:
    """``$MMDET_FACE_REFERENCE_CACHE`` or ``~/.cache/mmdet-face/reference`` (never inside the repository)."""
    env = os.environ.get('MMDET_FACE_REFERENCE_CACHE')
    return Path(env).expanduser() if env else Path.home() / '.cache' / 'mmdet-face' / 'reference'


def _tail(text: str, limit: int = 3000) -> str:
    text = (text or '').strip()
    return text if len(text) <= limit else '...' + text[-limit:]


def ensure_reference(timeout: float = 600) -> Tuple[Path, Path]:
    """Download (once) and unpack the two distributions; returns the folders to put on the child's ``sys.path``:
    ``(<cache>/face_detection-0.2.2, <cache>/torchvision-0.28.0)``.

    Raises:
        ReferenceRunError: pip could not download them (no network / no mirror), or an archive is not what was
            pinned. The message holds pip's own last lines.
    """
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    package_dir, torchvision_dir = root / 'face_detection-0.2.2', root / 'torchvision-0.28.0'
    with open(root / '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be filling the same cache
        if (package_dir / 'face_detection' / '__init__.py').is_file() and \
                (torchvision_dir / 'torchvision' / '__init__.py').is_file():
            return package_dir, torchvision_dir
        downloads = root / 'downloads'
        downloads.mkdir(exist_ok=True)
        sdist = downloads / SDIST_NAME
        wheels = sorted(downloads.glob(WHEEL_PREFIX + '*.whl'))
        if not sdist.is_file() or not wheels:
            cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--retries', '1', '--dest', str(downloads),
                   PACKAGE, TORCHVISION]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ReferenceRunError(f'pip download {PACKAGE} {TORCHVISION} did not finish in {timeout:.0f} s')
            if proc.returncode != 0:
                raise ReferenceRunError(f'pip download {PACKAGE} {TORCHVISION} failed (exit {proc.returncode}): '
                                        f'{_tail(proc.stderr, 600)}', proc)
            wheels = sorted(downloads.glob(WHEEL_PREFIX + '*.whl'))
        if not sdist.is_file() or not wheels:
            raise ReferenceRunError(f'pip download left no {SDIST_NAME} / {WHEEL_PREFIX}*.whl in {downloads}')
        if not (package_dir / 'face_detection' / '__init__.py').is_file():
            _unpack(sdist, package_dir, lambda tmp: tmp / 'face_detection-0.2.2')
        if not (torchvision_dir / 'torchvision' / '__init__.py').is_file():
            _unpack(wheels[-1], torchvision_dir, lambda tmp: tmp)
    return package_dir, torchvision_dir


def _unpack(archive: Path, dest: Path, inner) -> None:
    """Unpack into a temporary folder next to ``dest``, then rename, so a killed run never leaves half a tree."""
    tmp = Path(tempfile.mkdtemp(prefix='.unpack-', dir=dest.parent))
    try:
        if archive.name.endswith('.tar.gz'):
            with tarfile.open(archive) as tar:
                try:
                    tar.extractall(tmp, filter='data')  # refuses absolute paths / links out of tmp
                except TypeError:  # Python < 3.11.4 has no filter: check the member names ourselves
                    if any(m.name.startswith('/') or '..' in Path(m.name).parts or m.islnk() or m.issym()
                           for m in tar.getmembers()):
                        raise ReferenceRunError(f'{archive}: unsafe member paths') from None
                    tar.extractall(tmp)
        else:
            with zipfile.ZipFile(archive) as whl:
                whl.extractall(tmp)
        src = inner(tmp)
        if not src.is_dir():
            raise ReferenceRunError(f'{archive}: unexpected layout (no {src.name}/ inside)')
        if dest.exists():
            shutil.rmtree(dest)
        src.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# The child's bootstrap: runs as ``python -I -c _CHILD_BOOT <json args>``. ``-I`` keeps the child away from the
# user's site-packages, PYTHONPATH and the current directory; only the project's interpreter (torch, numpy) and the
# two unpacked folders are visible.
_CHILD_HELPERS = r'''
def cpu_nms(dets, scores, iou_threshold):
    """Greedy NMS with torchvision's semantics ((N, 4) x1y1x2y2 boxes, no +1 in areas, suppress IoU >
    iou_threshold); returns int64 indices of the kept boxes by decreasing score."""
    import torch
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    suppressed = torch.zeros(len(scores), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def calibrate_batchnorm(module, inputs, affine_seed=None):
    """Give every BatchNorm of ``module`` running statistics measured on ``inputs`` (a list of (N, C, H, W)
    tensors): cumulative averages (``momentum=None``) over one train-mode forward per input, then ``eval()``.
    Random weights with the default running stats (mean 0, var 1) blow up through deep nets; calibrated ones keep
    every activation O(1). With ``affine_seed``, BN weights / biases are first drawn from U(0.5, 1.5) / U(-0.2,
    0.2) (so a swapped weight / bias would show in a parity check). Returns ``module`` (in eval mode)."""
    import torch
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if affine_seed is not None:
        gen = torch.Generator().manual_seed(affine_seed)
        with torch.no_grad():
            for bn in bns:
                bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
                bn.bias.copy_(torch.rand(bn.bias.shape, generator=gen) * 0.4 - 0.2)
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    module.train()
    with torch.no_grad():
        for x in inputs:
            module(x)
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    return module.eval()


def dsfd_release_net(generator, affine_seed=None):
    """The release's DSFD-ResNet-152 (``face_detection.dsfd.face_ssd.SSD(resnet152_model_config)``) with seeded
    random weights (``torch.manual_seed(0)``) and BatchNorm statistics calibrated on what the DSFD tests feed: two
    uniform random 96 x 128 BGR images minus the mean (104, 117, 123), drawn from ``generator`` (which advances).
    ``affine_seed`` as in :func:`calibrate_batchnorm`. Returns the module in eval mode."""
    import torch
    from face_detection.dsfd.config import resnet152_model_config
    from face_detection.dsfd.face_ssd import SSD

    class Plain(torch.nn.Module):   # calibrate_batchnorm calls module(x); SSD.forward wants two unused arguments
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x, None, None)

    torch.manual_seed(0)
    net = SSD(resnet152_model_config)
    mean = torch.tensor([104., 117., 123.])[:, None, None]
    calib = torch.randint(0, 256, (2, 3, 96, 128), generator=generator).float() - mean
    calibrate_batchnorm(Plain(net), [calib], affine_seed=affine_seed)
    return net
'''

_CHILD_BOOT = r'''
import json, pathlib, runpy, sys
_cfg = json.loads(sys.argv[1])
sys.path[:0] = _cfg['paths']
import torch
if _cfg['threads']:
    torch.set_num_threads(_cfg['threads'])
_helpers = {}
exec(compile(_cfg['helpers'], '<release_reference helpers>', 'exec'), _helpers)
# torchvision's _C.so (a CUDA build) cannot load on this CPU torch, and torchvision then registers fake kernels for
# these two operators unconditionally: define them first, backed by a small CPU NMS.
_tv_lib = torch.library.Library('torchvision', 'DEF')
for _name in ('nms', 'qnms'):
    _tv_lib.define(f'{_name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    _tv_lib.impl(_name, _helpers['cpu_nms'], 'CPU')
import torchvision, torchvision.extension
torchvision.extension._has_ops = lambda: True  # torchvision.ops.nms refuses to run without it
import face_detection
for _mod, _where in ((torchvision, _cfg['paths'][1]), (face_detection, _cfg['paths'][0])):
    if not str(pathlib.Path(_mod.__file__).resolve()).startswith(str(pathlib.Path(_where).resolve())):
        raise SystemExit(f'{_mod.__name__} imported from {_mod.__file__}, not from {_where}')
if not torchvision.__version__.startswith('0.28.0'):
    raise SystemExit(f'unexpected torchvision {torchvision.__version__}')
sys.argv = [_cfg['script']] + _cfg['args']
_globals = {k: _helpers[k] for k in ('cpu_nms', 'calibrate_batchnorm', 'dsfd_release_net')}
_globals['OUT'] = pathlib.Path(_cfg['out_dir']) if _cfg['out_dir'] else None
runpy.run_path(_cfg['script'], init_globals=_globals, run_name='__main__')
'''


@contextlib.contextmanager
def reference_threads(threads: int = 1):
    """Run our side of a parity check on the reference child's thread count (``run_reference(threads=1)``), and
    restore the process's count after: on 2 threads oneDNN splits a convolution's sums differently, which moved the
    outputs by ~2e-5 of their scale (more than the 1e-5 the parity tests allow); on one thread both sides agree
    bit for bit."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_reference(script: str, *, out_dir=None, args: Iterable[str] = (), timeout: float = 600,
                  threads: int = 1) -> subprocess.CompletedProcess:
    """Run ``script`` (Python source, dedented) in the reference child process; see the module docstring.

    Args:
        script: source text; it sees ``OUT``, ``calibrate_batchnorm``, ``dsfd_release_net`` and ``cpu_nms`` as
            globals.
        out_dir: folder for the script's outputs (``OUT``); None gives ``OUT = None``.
        args: extra ``sys.argv`` entries for the script.
        timeout: seconds before the child is killed (raises :class:`ReferenceRunError`).
        threads: ``torch.set_num_threads`` and ``OMP_NUM_THREADS`` in the child (1 by default: the CI machine has
            2 cores); 0 leaves both as inherited.

    Returns the ``CompletedProcess`` (text stdout / stderr) of a successful run.

    Raises:
        ReferenceRunError: the download failed, the child timed out or exited non-zero (message ends with the
            child's stderr).
    """
    import json
    paths = [str(p) for p in ensure_reference()]
    with tempfile.TemporaryDirectory(prefix='release-reference-') as tmp:
        script_path = Path(tmp) / 'reference_script.py'
        script_path.write_text(textwrap.dedent(script))
        cfg = dict(paths=paths, script=str(script_path), args=[str(a) for a in args], threads=threads,
                   out_dir=str(out_dir) if out_dir is not None else None, helpers=_CHILD_HELPERS)
        env = dict(os.environ)
        if threads:
            env['OMP_NUM_THREADS'] = str(threads)
        try:
            proc = subprocess.run([sys.executable, '-I', '-c', _CHILD_BOOT, json.dumps(cfg)], capture_output=True,
                                  text=True, timeout=timeout, cwd=tmp, env=env)
        except subprocess.TimeoutExpired as err:
            raise ReferenceRunError(f'reference script did not finish in {timeout:.0f} s; stderr: '
                                    f'{_tail(err.stderr if isinstance(err.stderr, str) else "")}') from None
    if proc.returncode != 0:
        raise ReferenceRunError(f'reference script failed (exit {proc.returncode}); stderr:\n{_tail(proc.stderr)}',
                                proc)
    return proc


@functools.lru_cache(maxsize=None)
def reference_available() -> Tuple[bool, str]:
    """``(True, '')`` when the reference modules import in the child, else ``(False, reason)``: the download
    failed (no network, no mirror), unpacking failed, or the shimmed import failed; or ``MMDET_FACE_SKIP_REFERENCE``
    is set to a non-empty value other than ``0`` (to keep an offline CI from waiting on pip). Cached per process."""
    if os.environ.get('MMDET_FACE_SKIP_REFERENCE', '') not in ('', '0'):
        return False, f'the {PACKAGE} reference is switched off (MMDET_FACE_SKIP_REFERENCE is set)'
    try:
        run_reference('''
            import face_detection.retinaface.models.retinaface, face_detection.dsfd.face_ssd
            import torchvision.models
            print('ok')
        ''', timeout=300)
    except (ReferenceRunError, OSError) as err:
        return False, f'the {PACKAGE} reference is unavailable: {err}'
    return True, ''


if __name__ == '__main__':
    ok, reason = reference_available()
    print(f'reference available, cached in {cache_dir()}' if ok else reason)
    sys.exit(0 if ok else 1)
