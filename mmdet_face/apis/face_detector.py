"""``FaceDetector``: config + checkpoint -> boxes, scores and landmarks for images, in one call.

    detector = FaceDetector('configs/scrfd/scrfd_500m_bnkps_4xb8-640e_widerface.py', 'scrfd_500m_bnkps.pth')
    faces = detector('photo.jpg', score_thr=0.5)    # also a BGR numpy image or a PIL image; see read_image
    faces.bboxes     # (N, 4) float32 x1, y1, x2, y2 in original-image pixels
    faces.scores     # (N,)
    faces.keypoints  # (N, 5, 2) (left eye, right eye, nose, left mouth, right mouth) or None
"""
import copy
import math
import numbers
import os
import os.path as osp
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

ImageLike = Union[str, np.ndarray, 'PIL.Image.Image']


@dataclass
class FaceDetections:
    """Faces found in one image, as numpy arrays in original-image pixels (x1y1x2y2, no +1)."""
    bboxes: np.ndarray
    scores: np.ndarray
    keypoints: Optional[np.ndarray]

    def __len__(self):
        return len(self.scores)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_allocator_tuned: Optional[bool] = None


def tune_cpu_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Let glibc keep freed activation buffers for reuse instead of handing them back to the kernel.

    PyTorch on the CPU has no caching allocator: every activation of a forward pass is a fresh ``malloc``. glibc
    serves blocks above its mmap threshold (128 KiB at start, adjusted upwards to the largest block freed so far)
    with ``mmap`` and trims the heap top above its trim threshold, so the multi-megabyte maps of a detector at
    640 x 640 come back as new pages every call and each page is faulted in by the first kernel that writes it.
    For SCRFD-500M at 640 x 640 on one thread that is about a quarter of the network time (the 320 x 320 stem
    convolutions run 3-4x slower than on reused memory); onnxruntime avoids it with its arena allocator.
    Raising both thresholds (``mallopt``) keeps up to ``trim_threshold`` bytes of freed memory in the process.

    Process-wide and idempotent; does nothing (returns False) off glibc or when the environment variable
    ``MMDET_FACE_DEFAULT_MALLOC=1`` is set. Returns whether the thresholds are in effect.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    _allocator_tuned = False
    import os
    import platform
    if os.environ.get('MMDET_FACE_DEFAULT_MALLOC', '') not in ('', '0') or platform.libc_ver()[0] != 'glibc':
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        # mallopt returns 1 on success; glibc caps the mmap threshold at 32 MiB on 64-bit systems
        _allocator_tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                                and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        pass
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


def _fused_conv_relu(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
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


def _fuse_conv_relu(model: torch.nn.Module) -> int:
    """Fold every ReLU that directly follows a conv (mmcv ``ConvModule`` with ``conv -> norm -> act``, or
    ``nn.Sequential`` conv, Identity..., ReLU: BN is an Identity after folding) into :class:`ConvReLU2d`; returns how
    many. Convs with string padding or a non-zero padding mode are left alone."""
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
    """Inference-only rewrites that leave the outputs unchanged up to float rounding (about 1e-6 relative).

    BatchNorm is folded into the preceding convolution (mmcv ``fuse_conv_bn``) and, on the CPU, weights and
    activations use the channels-last layout, which oneDNN's convolutions run faster, glibc's allocator keeps
    freed activations for reuse (:func:`tune_cpu_allocator`) and a ReLU after a conv runs inside the conv's oneDNN
    call (:class:`ConvReLU2d`, when :func:`fused_conv_relu_available`). SCRFD-500M at 640 x 640 on one thread:
    folding + layout about 1.4x faster than the plain eager model, the allocator 1.3-1.8x more, the ReLU fusion
    4-9 % more (``tools/analysis/benchmark_inference.py``). The model must be in eval
    mode; it is changed in place.
    """
    from mmcv.cnn import fuse_conv_bn
    model = fuse_conv_bn(model.eval())
    if device.type == 'cpu':
        model = model.to(memory_format=torch.channels_last)
        tune_cpu_allocator()
        if fused_conv_relu_available():
            _fuse_conv_relu(model)
    return model


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG stream has its end-of-image marker (``FF D9``) after its first scan.

    libjpeg decodes a cut-off JPEG without error (only a "Premature end of JPEG file" warning on stderr) and fills
    the missing rows with grey, so a truncated download would be detected on as a half-grey picture. Inside the
    entropy-coded data every ``FF`` byte is followed by ``00`` or a restart marker, so ``FF D9`` after the first
    start-of-scan can only be the end marker; the segments before the scan (an EXIF thumbnail holds its own
    ``FF D9``) are skipped by their lengths. Data after the end marker (a motion photo's video) is allowed.
    """
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one must be: damaged header
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return False  # end of image before any scan
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        if marker == 0xDA:  # start of scan: the end marker must follow the scan data
            return data.find(b'\xff\xd9', pos + 2 + length) >= 0
        pos += 2 + length
    return False


def _read_file(path: str) -> np.ndarray:
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such image file')
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\xff\xd8' and not _jpeg_is_complete(data):
        raise ValueError(f'{path}: truncated or damaged JPEG (no end-of-image marker after the image data); '
                         f'the decoder would fill the missing part with grey')
    array = cv2.imread(path, cv2.IMREAD_COLOR)  # imread (not imdecode of the bytes) applies the EXIF orientation
    if array is None:
        raise ValueError(f'{path}: not a readable image (unknown format, truncated or damaged)')
    return array


def _pil_to_array(image) -> np.ndarray:
    """A PIL image as a BGR / grayscale array with the dtype rules of :func:`_to_uint8` (PIL holds RGB)."""
    mode = image.mode
    if mode.startswith('I;16'):  # 16-bit grayscale, any byte order
        return np.asarray(image).astype(np.uint16)
    if mode in ('L', 'I', 'F'):  # 8-bit, 32-bit integer and float grayscale: the array rules decide
        return np.asarray(image)
    if mode == '1':
        return np.asarray(image.convert('L'))
    if mode != 'RGB':  # P, PA, LA, RGBA, RGBX, CMYK, YCbCr, LAB, HSV ...: alpha is dropped, as for arrays
        try:
            image = image.convert('RGB')
        except ValueError as exc:
            raise ValueError(f'a PIL image of mode {mode!r} cannot be converted to RGB: {exc}') from exc
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8 without guessing silently: see :func:`read_image` for the rules."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype == np.uint16:  # full 16-bit range onto the 8-bit range: 65535 -> 255, 257 -> 1
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if dtype.kind in 'iu':
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f'an image of dtype {dtype} must hold values in 0..255, got {low}..{high}; '
                             f'scale it to uint8 yourself (its range is not known here)')
        return array.astype(np.uint8)
    if dtype.kind == 'f':
        if not np.isfinite(array).all():
            raise ValueError(f'the {dtype} image holds NaN or infinite values')
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 255:
            raise ValueError(f'a float image must hold values in 0..1 or 0..255, got {low:g}..{high:g}')
        if high <= 1:
            array = array * 255.0
        return np.rint(array).astype(np.uint8)
    if dtype == np.bool_:
        raise TypeError('got a bool array (a mask?), expected an image of dtype uint8, uint16 or float')
    raise TypeError(f'got an array of dtype {dtype}, expected an image of dtype uint8, uint16, float or an '
                    f'integer type holding 0..255')


def read_image(image) -> np.ndarray:
    """A BGR uint8 (H, W, 3) image from a path, a numpy array or a PIL image.

    Arrays are BGR (OpenCV's order); (H, W) and (H, W, 1) are grayscale, (H, W, 4) BGRA (alpha dropped). Values:
    uint8 as is; uint16 divided by 257 (65535 -> 255); other integer dtypes must hold 0..255; float images with
    a maximum of at most 1 are taken as 0..1 and multiplied by 255, otherwise as 0..255 (so a float image in
    0..255 whose brightest pixel is at most 1 is read as 0..1), rounded; negative, larger or non-finite values are
    refused, as are bool, complex and object arrays. A PIL image is converted from its mode (RGB, RGBA, L, LA, P,
    I;16, F ...), so its colours are right. Files: anything OpenCV reads; a truncated JPEG is refused.
    """
    import cv2
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        return _read_file(osp.expanduser(os.fsdecode(image)))
    pil = sys.modules.get('PIL.Image')  # a PIL image exists only once PIL.Image is imported
    if pil is not None and isinstance(image, pil.Image):
        array = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f'expected an image path, a numpy array or a PIL image, got {type(image).__name__}')
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f'expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'empty image of shape {array.shape}')
    array = _to_uint8(array)
    if array.ndim == 2 or array.shape[2] == 1:
        array = cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return array


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _check_call_args(score_thr, nms_thr, max_size, batch_size) -> None:
    """Refuse values that would fail deep in OpenCV or the NMS, or silently keep nothing / everything."""
    if not isinstance(score_thr, numbers.Real) or isinstance(score_thr, bool) or math.isnan(score_thr):
        raise ValueError(f'score_thr must be a number, got {score_thr!r}')
    if (not isinstance(nms_thr, numbers.Real) or isinstance(nms_thr, bool) or math.isnan(nms_thr)
            or not 0 <= nms_thr <= 1):
        raise ValueError(f'nms_thr must be an IoU threshold in [0, 1], got {nms_thr!r}')
    if max_size is not None and not _is_positive_int(max_size):
        raise ValueError(f'max_size must be a positive int (pixels of the long side) or None, got {max_size!r}')
    if not _is_positive_int(batch_size):
        raise ValueError(f'batch_size must be a positive int, got {batch_size!r}')


def _clip_to_image(bboxes: np.ndarray, shape) -> None:
    """Clip (N, 4) x1y1x2y2 boxes in place to an image of ``shape`` (h, w)."""
    h, w = shape
    np.clip(bboxes[:, 0::2], 0, w, out=bboxes[:, 0::2])
    np.clip(bboxes[:, 1::2], 0, h, out=bboxes[:, 1::2])


class FaceDetector:
    """Runs any face config of this repository on images.

    Args:
        config (str | mmengine.Config): a face config.
        checkpoint (str, optional): weights to load; without it the model keeps its initialisation.
        device (str): 'cpu', 'cuda', 'cuda:1' ...
        fp16 (bool, optional): half-precision inference; default True on CUDA, False on the CPU.
        letterbox (int, optional): instead of the config's test pipeline, preprocess as the released SCRFD
            ONNX models do (insightface ``SCRFD.detect``): resize keeping the aspect ratio so the long side is
            ``letterbox`` (short side truncated to an int), place it in the top-left of a black
            ``letterbox x letterbox`` canvas, one scale factor (the height's) for both axes. ``max_size`` then
            overrides it. Boxes of heads that clip (all but RetinaFace) are clipped to the image after NMS;
            keypoints are not clipped, as in the config's pipeline.
        optimize (bool): fold BatchNorm into the convolutions and use channels-last on the CPU
            (:func:`optimize_for_inference`); False keeps the model exactly as built (e.g. to fine-tune it).
        strict (bool): the checkpoint must hold exactly the model's weights, all finite
            (:func:`~mmdet_face.apis.checkpoint.load_face_checkpoint` raises ``CheckpointMismatchError`` naming the
            missing and unexpected keys otherwise); False loads the matching weights only, on purpose, and logs
            the rest. Non-finite weights are refused either way.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: str = 'cpu',
                 fp16: Optional[bool] = None, letterbox: Optional[int] = None, optimize: bool = True,
                 strict: bool = True):
        from mmengine.config import Config
        from mmengine.registry import init_default_scope

        import mmdet_face  # noqa: F401
        from mmdet_face.apis.checkpoint import load_face_checkpoint
        from mmdet_face.registry import MODELS

        if letterbox is not None and not _is_positive_int(letterbox):
            raise ValueError(f'letterbox must be a positive int (the canvas side in pixels) or None, got {letterbox!r}')
        config_name = os.fspath(config) if isinstance(config, (str, os.PathLike)) else getattr(config, 'filename', None)
        self.cfg = Config.fromfile(config_name) if isinstance(config, (str, os.PathLike)) else copy.deepcopy(config)
        init_default_scope(self.cfg.get('default_scope', 'mmdet_face'))
        model_cfg = copy.deepcopy(self.cfg.model)
        model_cfg.pop('pretrained', None)
        if isinstance(model_cfg.get('backbone'), dict):
            model_cfg.backbone.pop('init_cfg', None)  # no download of ImageNet weights for inference
        self.model = MODELS.build(model_cfg)
        if checkpoint is not None:
            load_face_checkpoint(self.model, os.fspath(checkpoint), strict=strict, map_location='cpu',
                                 config_name=config_name)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        if optimize:
            self.model = optimize_for_inference(self.model, self.device)
        self.fp16 = (self.device.type == 'cuda') if fp16 is None else fp16
        self.head = self.model.bbox_head
        self._base_pipeline = self._inference_pipeline(self.cfg.test_dataloader.dataset.pipeline)
        self._pipelines = {}
        self.letterbox = letterbox
        # A head that clips its boxes to the network input (all but RetinaFace, whose release does not clip) gives
        # boxes inside the image in the config's pipeline. The letterbox maps back with one scale factor taken from
        # the height, so the clipped input width comes back wider than the image (1024.9 px for 1024 x 687 at 640):
        # such boxes are clipped to the image itself.
        from mmdet_face.models.dense_heads import RetinaFaceHead
        self._head_clips_boxes = not isinstance(self.head, RetinaFaceHead)

    @staticmethod
    def _inference_pipeline(pipeline):
        """The test pipeline with images given as arrays and no annotation loading."""
        steps = []
        for step in copy.deepcopy(list(pipeline)):
            kind = step['type']
            if kind == 'LoadImageFromFile':
                step = dict(type='mmdet.LoadImageFromNDArray')
            elif 'Annotations' in kind:
                continue
            elif kind in ('PackDetInputs', 'PackFaceInputs'):
                step['meta_keys'] = ('img_id', 'ori_shape', 'img_shape', 'scale_factor', 'pad_shape')
            steps.append(step)
        return steps

    def _pipeline(self, max_size):
        if max_size not in self._pipelines:
            steps = copy.deepcopy(self._base_pipeline)
            if max_size is not None:
                for step in steps:
                    if step['type'].endswith('Resize'):
                        step.pop('scale_factor', None)
                        step['scale'] = (int(max_size), int(max_size))
                        step['keep_ratio'] = True
            from mmengine.dataset import Compose
            self._pipelines[max_size] = Compose(steps)
        return self._pipelines[max_size]

    @torch.no_grad()
    def __call__(self, images: Union[ImageLike, Sequence[ImageLike]], score_thr: float = 0.5,
                 nms_thr: float = 0.4, max_size: Optional[int] = None,
                 batch_size: int = 8) -> Union[FaceDetections, List[FaceDetections]]:
        """Detect faces.

        Args:
            images: a path, a BGR ``numpy`` image, a PIL image, or a list of them (values and colour conversions
                as in :func:`read_image`).
            score_thr: minimum score kept (not NaN). nms_thr: IoU threshold of the NMS, in [0, 1].
            max_size: resize so the long side is ``max_size`` (a positive int; aspect kept); None uses the config's
                test size.
            batch_size: images per forward pass (a positive int; padded to a common size).

        Returns:
            FaceDetections for one image, a list of them for a list.
        """
        _check_call_args(score_thr, nms_thr, max_size, batch_size)
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        pipeline = self._pipeline(max_size)
        test_cfg = self.head.test_cfg
        saved = copy.deepcopy(test_cfg)
        test_cfg['score_thr'] = score_thr
        test_cfg.setdefault('nms', dict(type='nms'))['iou_threshold'] = nms_thr
        results = []
        try:
            for start in range(0, len(images), batch_size):
                chunk = [read_image(img) for img in images[start:start + batch_size]]
                if self.letterbox:
                    data = [self._letterbox(img, start + i, max_size or self.letterbox) for i, img in enumerate(chunk)]
                else:
                    data = [pipeline(dict(img=img, img_id=start + i)) for i, img in enumerate(chunk)]
                batch = dict(inputs=[d['inputs'] for d in data], data_samples=[d['data_samples'] for d in data])
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
                    outputs = self.model.test_step(batch)
                for img, out in zip(chunk, outputs):
                    faces = self._to_numpy(out.pred_instances)
                    if self.letterbox and self._head_clips_boxes:
                        _clip_to_image(faces.bboxes, img.shape[:2])
                    results.append(faces)
        finally:
            self.head.test_cfg = saved
        return results[0] if single else results

    @staticmethod
    def _letterbox(img: np.ndarray, img_id: int, size: int) -> dict:
        """The released SCRFD preprocessing (same integer sizes and scale as insightface's ``SCRFD.detect``)."""
        import cv2
        from mmdet.structures import DetDataSample
        h, w = img.shape[:2]
        ratio = float(h) / w
        if ratio > 1.0:
            new_h, new_w = size, int(size / ratio)
        else:
            new_w, new_h = size, int(size * ratio)
        new_w, new_h = max(new_w, 1), max(new_h, 1)
        scale = float(new_h) / h
        canvas = np.zeros((size, size, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
        sample = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(h, w), img_shape=(new_h, new_w),
                                             scale_factor=(scale, scale), pad_shape=(size, size)))
        return dict(inputs=torch.from_numpy(canvas).permute(2, 0, 1).contiguous(), data_samples=sample)

    @staticmethod
    def _to_numpy(pred) -> FaceDetections:
        keypoints = pred.keypoints.float().cpu().numpy().reshape(-1, 5, 2) if 'keypoints' in pred else None
        return FaceDetections(bboxes=pred.bboxes.float().cpu().numpy().reshape(-1, 4),
                              scores=pred.scores.float().cpu().numpy().reshape(-1), keypoints=keypoints)
