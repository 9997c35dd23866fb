"""CPU inference tricks, kept apart from the detector that uses them.

Two kinds, treated differently:

* **exact, per model** (:func:`optimize_for_inference`): BatchNorm folded into the convolutions, the channels-last
  layout and a ReLU run inside its conv's oneDNN call (:class:`ConvReLU2d`). They change one model object in place
  and its outputs only by float rounding (about 1e-6 relative); ``FaceDetector(optimize=True)`` applies them.
* **process-wide, opt-in** (:func:`tune_cpu_allocator`): glibc's malloc thresholds. They change the allocator of the
  whole host process, so nothing in this package calls it on its own: call it yourself, pass
  ``FaceDetector(..., tune_allocator=True)`` or ``tools/image_demo.py --tune-allocator``.

``tools/analysis/benchmark_inference.py`` measures what each trick gives (the README lists figures measured with it).
"""
import os
import platform
from typing import Optional

import torch

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_allocator_tuned = False


def allocator_tuning_disabled() -> bool:
    """Whether ``MMDET_FACE_DEFAULT_MALLOC`` is set to anything but ``''`` / ``'0'``: then glibc is never tuned."""
    return os.environ.get('MMDET_FACE_DEFAULT_MALLOC', '') not in ('', '0')


def allocator_tuned() -> bool:
    """Whether :func:`tune_cpu_allocator` has raised glibc's thresholds in this process."""
    return _allocator_tuned


def tune_cpu_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Opt-in: let glibc keep freed activation buffers for reuse instead of handing them back to the kernel.

    PyTorch on the CPU has no caching allocator: every activation of a forward pass is a fresh ``malloc``. glibc
    serves blocks above its mmap threshold (128 KiB at start, adjusted upwards to the largest block freed so far)
    with ``mmap`` and trims the heap top above its trim threshold, so the multi-megabyte maps of a detector at
    640 x 640 come back as new pages every call and each page is faulted in by the first kernel that writes it.
    The early, large convolutions pay most for it, since they write the largest fresh maps; with the thresholds
    raised those pages are reused. onnxruntime avoids the cost with its arena allocator.

    This changes the allocator of the **whole process** (``mallopt``): blocks up to ``mmap_threshold`` come from the
    heap (glibc caps it at 32 MiB on 64-bit systems) and up to ``trim_threshold`` bytes of freed memory stay in the
    process. It is therefore never done as a side effect: call this function, or pass
    ``FaceDetector(..., tune_allocator=True)``. Calling it again applies the given thresholds again.

    Does nothing and returns False off glibc or when the environment variable ``MMDET_FACE_DEFAULT_MALLOC=1`` is set
    (never tune, whatever the code asks). Returns whether the thresholds are in effect (:func:`allocator_tuned`).
    """
    global _allocator_tuned
    if allocator_tuning_disabled() or platform.libc_ver()[0] != 'glibc':
        return _allocator_tuned
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        # mallopt returns 1 on success
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                  and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        ok = False
    _allocator_tuned = _allocator_tuned or ok
    return _allocator_tuned


class ConvReLU2d(torch.nn.Conv2d):
    """A ``Conv2d`` whose following ReLU runs inside the same oneDNN call (CPU, float32, no autocast); the class of a
    fused conv is switched to this one in place, so parameters and state-dict keys stay as they were.

    The fused call saves a pass over large maps but costs more per call (about 70 µs against 50 µs for PyTorch's
    own oneDNN conv and 7 µs for its GEMM path for 1x1 convs on one thread), so only inputs of at least
    ``FUSE_MIN_NUMEL`` elements take it; smaller ones, other dtypes or devices and autocast run conv + in-place ReLU.
    """
    FUSE_MIN_NUMEL = 1 << 18

    def forward(self, x):
        if (x.numel() >= self.FUSE_MIN_NUMEL and x.dtype == torch.float32 and x.device.type == 'cpu'
                and not _autocast_on()):
            return _fused_conv_relu(self, x)
        return torch.relu_(super().forward(x))


#: instruction sets that decide CPU inference speed, in /proc/cpuinfo's names: AVX2 / AVX-512 for float convs,
#: VNNI (AVX-512 or AVX) and AMX for int8 dot products (onnxruntime's INT8 kernels gain little without them)
CPU_FEATURES = ('avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8')


def cpu_description(cpuinfo: Optional[str] = None) -> str:
    """The CPU model, its logical CPUs and which of :data:`CPU_FEATURES` it has, for speed reports: e.g.
    ``'AMD EPYC, 2 logical CPUs, avx2 (no avx512f, avx512_vnni, avx_vnni, amx_int8)'``.

    Read from ``/proc/cpuinfo`` (``cpuinfo``: its text, for tests); elsewhere the platform's processor name and
    "instruction sets unknown"."""
    if cpuinfo is None:
        try:
            with open('/proc/cpuinfo') as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ''
    model, flags, count = None, None, 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        key = key.strip()
        if key == 'processor':
            count += 1
        elif key == 'model name' and model is None:
            model = value.strip()
        elif key == 'flags' and flags is None:
            flags = set(value.split())
    if flags is None:
        name = model or platform.processor() or platform.machine() or 'unknown CPU'
        return f'{name}, {os.cpu_count()} logical CPUs, instruction sets unknown'
    has = [f for f in CPU_FEATURES if f in flags]
    lacks = [f for f in CPU_FEATURES if f not in flags]
    features = ' '.join(has) or 'none of ' + ', '.join(CPU_FEATURES)
    if has and lacks:
        features += f' (no {", ".join(lacks)})'
    return f'{model or "unknown model"}, {count or os.cpu_count()} logical CPUs, {features}'


def _fused_conv_relu(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    # the private op Inductor's CPU backend calls; fused_conv_relu_available checks it before any model uses it
    return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
                                                   list(conv.dilation), conv.groups, 'relu', [None], '')


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # pragma: no cover - torch < 2.4
        return torch.is_autocast_cpu_enabled()


_fused_relu_ok: Optional[bool] = None


def fused_conv_relu_available() -> bool:
    """Whether this torch has oneDNN's fused conv + ReLU (``torch.ops.mkldnn._convolution_pointwise``, the op
    Inductor's CPU backend calls) and it computes ``relu(conv2d(x))``; checked once on a small input."""
    global _fused_relu_ok
    if _fused_relu_ok is None:
        try:
            gen = torch.Generator().manual_seed(0)
            conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
                x = torch.randn(1, 8, 7, 9, generator=gen).contiguous(memory_format=torch.channels_last)
                ref = torch.relu(conv(x))
                got = _fused_conv_relu(conv, x)
            _fused_relu_ok = bool(got.shape == ref.shape and torch.allclose(got, ref, atol=1e-5))
        except Exception:  # the private op is missing or changed: keep conv + ReLU
            _fused_relu_ok = False
    return _fused_relu_ok


def fuse_conv_relu(model: torch.nn.Module) -> int:
    """Fold every ReLU that directly follows a conv (mmcv ``ConvModule`` with ``conv -> norm -> act``, or
    ``nn.Sequential`` conv, Identity..., ReLU: BN is an Identity after folding) into :class:`ConvReLU2d`; returns how
    many. Convs with string padding or a non-zero padding mode are left alone. Changes ``model`` in place."""
    from mmcv.cnn import ConvModule

    def fusable(conv):
        return (type(conv) is torch.nn.Conv2d and conv.padding_mode == 'zeros'
                and not isinstance(conv.padding, str))

    count = 0
    for module in model.modules():
        if isinstance(module, ConvModule):
            if (module.with_activation and type(module.activate) is torch.nn.ReLU and fusable(module.conv)
                    and tuple(module.order) == ('conv', 'norm', 'act')
                    and (not module.with_norm or isinstance(module.norm, torch.nn.Identity))):
                module.conv.__class__ = ConvReLU2d
                module.activate = torch.nn.Identity()
                count += 1
        elif isinstance(module, torch.nn.Sequential):
            children = list(module._modules.items())
            for i, (_, conv) in enumerate(children):
                if not fusable(conv):
                    continue
                j = i + 1
                while j < len(children) and isinstance(children[j][1], torch.nn.Identity):
                    j += 1
                if j < len(children) and type(children[j][1]) is torch.nn.ReLU:
                    conv.__class__ = ConvReLU2d
                    module._modules[children[j][0]] = torch.nn.Identity()
                    count += 1
    return count


def optimize_for_inference(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Inference-only rewrites of one model that leave its outputs unchanged up to float rounding (about 1e-6
    relative); nothing outside the model changes.

    BatchNorm is folded into the preceding convolution (mmcv ``fuse_conv_bn``) and, on the CPU, weights and
    activations use the channels-last layout, which oneDNN's convolutions run faster, and a ReLU after a conv runs
    inside the conv's oneDNN call (:class:`ConvReLU2d`, when :func:`fused_conv_relu_available`);
    ``tools/analysis/benchmark_inference.py`` measures the gain. The process-wide allocator tuning is separate and
    opt-in: :func:`tune_cpu_allocator`. The model must be in eval mode; it is changed in place.
    """
    from mmcv.cnn import fuse_conv_bn
    model = fuse_conv_bn(model.eval())
    if torch.device(device).type == 'cpu':
        model = model.to(memory_format=torch.channels_last)
        if fused_conv_relu_available():
            fuse_conv_relu(model)
    return model


__all__ = ['CPU_FEATURES', 'cpu_description', 'tune_cpu_allocator', 'allocator_tuned', 'allocator_tuning_disabled',
           'optimize_for_inference', 'ConvReLU2d', 'fused_conv_relu_available', 'fuse_conv_relu']
