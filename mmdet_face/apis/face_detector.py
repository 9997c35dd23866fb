"""``FaceDetector``: config + checkpoint -> boxes, scores and landmarks for images, in one call.

    detector = FaceDetector('configs/scrfd/scrfd_500m_bnkps_4xb8-640e_widerface.py', 'scrfd_500m_bnkps.pth')
    faces = detector('photo.jpg', score_thr=0.5)
    faces.bboxes     # (N, 4) float32 x1, y1, x2, y2 in original-image pixels
    faces.scores     # (N,)
    faces.keypoints  # (N, 5, 2) (left eye, right eye, nose, left mouth, right mouth) or None
"""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

ImageLike = Union[str, np.ndarray]


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


def _read_image(image: ImageLike) -> np.ndarray:
    """A BGR uint8 (H, W, 3) image from a path or an array (grayscale and BGRA are converted)."""
    import cv2
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        path = osp.expanduser(str(image))
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such image file')
        array = cv2.imread(path, cv2.IMREAD_COLOR)
        if array is None:
            raise ValueError(f'{path}: not a readable image')
        return array
    array = np.asarray(image)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        array = cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f'expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'empty image of shape {array.shape}')
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array


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
            ``letterbox x letterbox`` canvas, one scale factor for both axes. ``max_size`` then overrides it.
        optimize (bool): fold BatchNorm into the convolutions and use channels-last on the CPU
            (:func:`optimize_for_inference`); False keeps the model exactly as built (e.g. to fine-tune it).
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: str = 'cpu',
                 fp16: Optional[bool] = None, letterbox: Optional[int] = None, optimize: bool = True):
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmengine.runner import load_checkpoint

        import mmdet_face  # noqa: F401
        from mmdet_face.registry import MODELS

        self.cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
        init_default_scope(self.cfg.get('default_scope', 'mmdet_face'))
        model_cfg = copy.deepcopy(self.cfg.model)
        model_cfg.pop('pretrained', None)
        if isinstance(model_cfg.get('backbone'), dict):
            model_cfg.backbone.pop('init_cfg', None)  # no download of ImageNet weights for inference
        self.model = MODELS.build(model_cfg)
        if checkpoint is not None:
            load_checkpoint(self.model, checkpoint, map_location='cpu', strict=False)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        if optimize:
            self.model = optimize_for_inference(self.model, self.device)
        self.fp16 = (self.device.type == 'cuda') if fp16 is None else fp16
        self.head = self.model.bbox_head
        self._base_pipeline = self._inference_pipeline(self.cfg.test_dataloader.dataset.pipeline)
        self._pipelines = {}
        self.letterbox = letterbox

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
            images: a path, a BGR ``numpy`` image, or a list of them.
            score_thr: minimum score kept. nms_thr: IoU threshold of the NMS.
            max_size: resize so the long side is ``max_size`` (aspect kept); None uses the config's test size.
            batch_size: images per forward pass (padded to a common size).

        Returns:
            FaceDetections for one image, a list of them for a list.
        """
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
                chunk = [_read_image(img) for img in images[start:start + batch_size]]
                if self.letterbox:
                    data = [self._letterbox(img, start + i, max_size or self.letterbox) for i, img in enumerate(chunk)]
                else:
                    data = [pipeline(dict(img=img, img_id=start + i)) for i, img in enumerate(chunk)]
                batch = dict(inputs=[d['inputs'] for d in data], data_samples=[d['data_samples'] for d in data])
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
                    outputs = self.model.test_step(batch)
                results.extend(self._to_numpy(out.pred_instances) for out in outputs)
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
