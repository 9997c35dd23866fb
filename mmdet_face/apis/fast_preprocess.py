"""The inference half of mmdet's ``DetDataPreprocessor`` (channel swap, ``(x - mean) / std``, bottom / right padding
to the batch's size rounded up to ``pad_size_divisor``, ``batch_input_shape`` and ``pad_shape`` in the metas) in
numpy, and, for the plain test pipelines, the pipeline fused into it.

Normalisation by table. An input pixel is a byte, so ``(float32(v) - mean) / std`` takes 256 values per channel:
:func:`normalization_tables` computes them with the module's own float32 operations (``x.float()``, subtract the
mean, divide by the std, elementwise in float32) and ``cv2.LUT`` writes each image plane through its table straight
into the padded batch. The batch is therefore bitwise the one ``DetDataPreprocessor.forward(data, training=False)``
returns; what it saves is the per-call framework work (the cast, normalisation, stack and pad as separate passes
over the image). :func:`is_plain_det_preprocessor` says when it applies: exactly mmdet's ``DetDataPreprocessor``
(not a subclass, which may do more) on the CPU, where inference uses none of its training-only options.

Fused pipelines. :func:`plain_pipeline` recognises the test pipelines that only resize: ``LoadImageFromNDArray``,
at most one keep-ratio ``Resize`` / ``FaceResize`` (bilinear, OpenCV), then ``PackDetInputs`` / ``PackFaceInputs``.
For them :func:`resize_normalize_pad` resizes each image with the transform's own size rule
(``mmcv.rescale_size``, then ``cv2.resize`` as ``mmcv.imresize`` calls it) and writes each resized image through
the tables into the batch in one compiled pass (HWC bytes in, CHW floats out: no packing copy, no channel split; the
planes through ``cv2.LUT`` without numba), without data samples. The metas are the
ones the pipeline and the preprocessor give (``img_id``, ``ori_shape``, ``img_shape``, ``scale_factor`` when it
resizes, ``pad_shape``, ``batch_input_shape``). :func:`letterbox_normalize_pad` does the same for the released
SCRFD letterbox (:mod:`mmdet_face.utils.letterbox`): the canvas outside the image holds the table's value of a
black pixel, the batch beyond the canvas ``pad_value``. Any other pipeline takes the generic path.
"""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch


def is_plain_det_preprocessor(preprocessor) -> bool:
    """Whether :func:`normalize_and_pad` computes what ``preprocessor`` does at inference on the CPU."""
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    if type(preprocessor) is not DetDataPreprocessor:
        return False
    device = getattr(preprocessor, 'device', torch.device('cpu'))
    return torch.device(device).type == 'cpu' and int(preprocessor.pad_size_divisor) >= 1


def applies_to(images: Sequence[torch.Tensor]) -> bool:
    """Whether the images are what :func:`normalize_and_pad` takes: (3, H, W) uint8 CPU tensors."""
    return all(img.dim() == 3 and img.shape[0] == 3 and img.dtype == torch.uint8 and img.device.type == 'cpu'
               for img in images)


def fusable(images: Sequence) -> bool:
    """Whether the images are what the fused pipelines take: BGR uint8 ``(H, W, 3)`` numpy arrays."""
    return all(isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
               for img in images)


def normalization_tables(preprocessor, channels: int = 3) -> np.ndarray:
    """``(channels, 256)`` float32: row ``c`` holds output channel ``c``'s value for each input byte
    (``(float32(v) - mean[c]) / std[c]`` in float32, or ``float32(v)`` without normalisation)."""
    values = np.broadcast_to(np.arange(256, dtype=np.float32), (channels, 256))
    if not preprocessor._enable_normalize:
        return np.ascontiguousarray(values)
    mean = np.broadcast_to(preprocessor.mean.detach().cpu().float().numpy().reshape(-1), (channels,))
    std = np.broadcast_to(preprocessor.std.detach().cpu().float().numpy().reshape(-1), (channels,))
    tables = np.subtract(values, mean[:, None], dtype=np.float32)
    return np.divide(tables, std[:, None], out=tables)


def _channel_order(preprocessor, channels: int):
    """Input channel of each output channel (BGR -> RGB swaps the first and the third)."""
    return [2, 1, 0] if preprocessor._channel_conversion else list(range(channels))


def _padded(size: int, divisor: int) -> int:
    return math.ceil(size / divisor) * divisor


def _lut_hwc_to_chw_py(image: np.ndarray, tables: np.ndarray, order: np.ndarray, out: np.ndarray) -> None:
    """``out[c, y, x] = tables[c, image[y, x, order[c]]]`` for the ``(h, w)`` top-left part of ``out``
    ``(C, H, W)`` float32 (``image``: ``(h, w, C')`` uint8). Channel by channel: each output plane is written in
    memory order, which runs faster than three planes at once. Compiled with numba when it is installed."""
    h, w = image.shape[0], image.shape[1]
    for c in range(out.shape[0]):
        table = tables[c]
        src = order[c]
        for y in range(h):
            for x in range(w):
                out[c, y, x] = table[image[y, x, src]]


try:  # pragma: no cover - numba is a runtime dependency; without it the images are split into planes
    import numba
    _lut_hwc_to_chw = numba.njit(cache=True, nogil=True)(_lut_hwc_to_chw_py)
except ImportError:  # pragma: no cover
    _lut_hwc_to_chw = None


def _fill_batch(planes: Sequence, canvases: Sequence[Tuple[int, int]],
                preprocessor, tables: Optional[np.ndarray] = None, allocate=None) -> np.ndarray:
    """The ``(B, C, H, W)`` float32 batch of images given as planes or as ``(h, w, C)`` uint8 arrays.

    Args:
        planes: per image, per input channel a ``(h, w)`` uint8 plane (rows may be strided), or the image as one
            C-contiguous ``(h, w, C)`` uint8 array (written by :func:`_lut_hwc_to_chw`).
        canvases: per image ``(ch, cw)`` >= ``(h, w)``: the image's own extent in the batch; the part of it outside
            the planes holds the tables' value of a 0 byte (a letterbox's black), the batch beyond it ``pad_value``.
        preprocessor: a plain ``DetDataPreprocessor``.
        tables: its :func:`normalization_tables` when the caller holds them (computed here otherwise).
        allocate: ``allocate(shape)`` returns the C-contiguous float32 array to write the batch into (every
            element is written); default ``np.empty``.

    ``H, W``: the largest canvas rounded up to ``pad_size_divisor``.
    """
    import cv2
    divisor = int(preprocessor.pad_size_divisor)
    channels = planes[0].shape[2] if isinstance(planes[0], np.ndarray) else len(planes[0])
    height = _padded(max(c[0] for c in canvases), divisor)
    width = _padded(max(c[1] for c in canvases), divisor)
    if tables is None:
        tables = normalization_tables(preprocessor, channels)
    order = _channel_order(preprocessor, channels)
    pad_value = preprocessor.pad_value
    shape = (len(planes), channels, height, width)
    batch = np.empty(shape, np.float32) if allocate is None else allocate(shape)
    for b, (image, (ch, cw)) in enumerate(zip(planes, canvases)):
        if isinstance(image, np.ndarray) and _lut_hwc_to_chw is not None:  # one compiled pass through the tables
            h, w = image.shape[:2]
            _lut_hwc_to_chw(image, tables, np.asarray(order, np.int64), batch[b])
        else:
            if isinstance(image, np.ndarray):
                image = cv2.split(image)
            h, w = image[0].shape
            for c_out, c_in in enumerate(order):
                dst = batch[b, c_out, :h, :w]
                out = cv2.LUT(image[c_in], tables[c_out], dst=dst)
                if not np.may_share_memory(out, dst):  # OpenCV wrote a new array instead of the view
                    dst[...] = out
        for c_out in range(channels):
            if ch > h or cw > w:  # inside the canvas, outside the image
                batch[b, c_out, h:ch, :cw] = tables[c_out, 0]
                batch[b, c_out, :h, w:cw] = tables[c_out, 0]
        batch[b, :, ch:, :] = pad_value  # only the padding is filled: the rest is written above
        batch[b, :, :ch, cw:] = pad_value
    return batch


def normalize_and_pad(images: Sequence[torch.Tensor], samples: List, preprocessor) -> Tuple[torch.Tensor, List]:
    """``(inputs, samples)`` as ``preprocessor(dict(inputs=images, data_samples=samples), False)`` gives them.

    Args:
        images: (3, H, W) uint8 CPU tensors (the pipeline's packed images, BGR), sizes may differ
            (:func:`applies_to`).
        samples: their DetDataSamples; ``batch_input_shape`` and ``pad_shape`` are set in their metainfo.
        preprocessor: a plain ``DetDataPreprocessor`` (:func:`is_plain_det_preprocessor`).

    Returns:
        The (B, C, H, W) float32 batch (H, W: the largest image's, rounded up to ``pad_size_divisor``, padded with
        ``pad_value`` at the bottom and right) and ``samples``.
    """
    divisor = int(preprocessor.pad_size_divisor)
    arrays = [img.numpy() for img in images]
    batch = _fill_batch([list(a) for a in arrays], [a.shape[1:] for a in arrays], preprocessor)
    for array, sample in zip(arrays, samples):
        sample.set_metainfo(dict(batch_input_shape=tuple(batch.shape[2:]),
                                 pad_shape=(_padded(array.shape[1], divisor), _padded(array.shape[2], divisor))))
    return torch.from_numpy(batch), samples


class PlainPipeline(NamedTuple):
    """A test pipeline that only resizes (see the module docstring): ``scale`` is its keep-ratio ``Resize``'s
    ``(w, h)`` bound, None without a resize."""
    scale: Optional[Tuple[int, int]]


def plain_pipeline(transforms: Sequence) -> Optional[PlainPipeline]:
    """:class:`PlainPipeline` for built test transforms that only load, resize with the aspect ratio kept (bilinear,
    OpenCV) and pack; None for any other pipeline (which then runs as it is)."""
    from mmdet.datasets.transforms import LoadImageFromNDArray, PackDetInputs, Resize

    from mmdet_face.datasets.transforms.formatting import PackFaceInputs
    from mmdet_face.datasets.transforms.geometric import FaceResize
    steps = list(transforms)
    if (len(steps) not in (2, 3) or type(steps[0]) is not LoadImageFromNDArray or steps[0].to_float32
            or type(steps[-1]) not in (PackDetInputs, PackFaceInputs)):
        return None
    if len(steps) == 2:
        return PlainPipeline(None)
    resize = steps[1]
    if (type(resize) not in (Resize, FaceResize) or not resize.keep_ratio or not isinstance(resize.scale, tuple)
            or resize.interpolation != 'bilinear' or resize.backend != 'cv2'):
        return None
    return PlainPipeline(tuple(int(v) for v in resize.scale))


def resize_normalize_pad(images: Sequence[np.ndarray], pipeline: PlainPipeline, preprocessor,
                         first_id: int = 0, tables: Optional[np.ndarray] = None,
                         allocate=None) -> Tuple[torch.Tensor, List[dict]]:
    """``(inputs, metas)`` as the plain test ``pipeline`` and then ``preprocessor`` give them (bitwise the same batch,
    equal metas).

    Args:
        images: BGR uint8 ``(H, W, 3)`` images.
        pipeline: :func:`plain_pipeline`'s result.
        preprocessor: a plain ``DetDataPreprocessor``.
        first_id: ``img_id`` of the first image.
        tables: the preprocessor's :func:`normalization_tables` when the caller holds them.
        allocate: where the batch is written (see :func:`_fill_batch`; default a new array).

    Returns:
        The ``(B, 3, H, W)`` float32 batch and per image ``img_id``, ``ori_shape``, ``img_shape``, ``scale_factor``
        ``(w_scale, h_scale)`` (only with a resize, as the pipeline), ``pad_shape`` and ``batch_input_shape``.
    """
    import cv2
    from mmcv import rescale_size
    divisor = int(preprocessor.pad_size_divisor)
    planes, metas = [], []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        meta = dict(img_id=first_id + i, ori_shape=(h, w))
        if pipeline.scale is not None:
            new_w, new_h = rescale_size((w, h), pipeline.scale)
            img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)  # mmcv.imresize's call
            meta['scale_factor'] = (new_w / w, new_h / h)
        meta['img_shape'] = img.shape[:2]
        meta['pad_shape'] = (_padded(img.shape[0], divisor), _padded(img.shape[1], divisor))
        planes.append(np.ascontiguousarray(img))
        metas.append(meta)
    batch = _fill_batch(planes, [p.shape[:2] for p in planes], preprocessor, tables, allocate)
    for meta in metas:
        meta['batch_input_shape'] = tuple(batch.shape[2:])
    return torch.from_numpy(batch), metas


def letterbox_normalize_pad(images: Sequence[np.ndarray], size: int, preprocessor, first_id: int = 0,
                            tables: Optional[np.ndarray] = None, allocate=None) -> Tuple[torch.Tensor, List[dict]]:
    """``(inputs, metas)`` of the released SCRFD letterbox to ``size x size``
    (:func:`mmdet_face.utils.letterbox.letterbox`) and then ``preprocessor``: bitwise the batch of the letterboxed
    canvases through it; metas ``img_id``, ``ori_shape``, ``img_shape`` (the resized image inside the canvas),
    ``scale_factor`` (one scale for both axes), ``pad_shape`` and ``batch_input_shape`` (``tables``, ``allocate``: as in
    :func:`resize_normalize_pad`)."""
    import cv2

    from mmdet_face.utils.letterbox import letterbox_size
    divisor = int(preprocessor.pad_size_divisor)
    planes, metas = [], []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        new_h, new_w, scale = letterbox_size((h, w), size, size)
        planes.append(np.ascontiguousarray(cv2.resize(img, (new_w, new_h))))
        metas.append(dict(img_id=first_id + i, ori_shape=(h, w), img_shape=(new_h, new_w),
                          scale_factor=(scale, scale), pad_shape=(_padded(size, divisor),) * 2))
    batch = _fill_batch(planes, [(size, size)] * len(planes), preprocessor, tables, allocate)
    for meta in metas:
        meta['batch_input_shape'] = tuple(batch.shape[2:])
    return torch.from_numpy(batch), metas
