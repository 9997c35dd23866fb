"""The inference half of mmdet's ``DetDataPreprocessor`` (channel swap, ``(x - mean) / std``, bottom / right padding
to the batch's size rounded up to ``pad_size_divisor``, ``batch_input_shape`` and ``pad_shape`` in the metas) in
numpy, in one pass per channel into the padded batch.

The float32 operations are the module's own (``x.float()``, subtract the mean, divide by the std, elementwise in
float32), so the batch is bitwise the one ``DetDataPreprocessor.forward(data, training=False)`` returns; what it
saves is the per-call framework work (the cast, normalisation, stack and pad as separate passes over the image).
:func:`is_plain_det_preprocessor` says when it applies: exactly mmdet's ``DetDataPreprocessor`` (not a subclass,
which may do more) on the CPU, where inference uses none of its training-only options.
"""
import math
from typing import List, Sequence, Tuple

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
    channels = images[0].shape[0]
    height = math.ceil(max(img.shape[1] for img in images) / divisor) * divisor
    width = math.ceil(max(img.shape[2] for img in images) / divisor) * divisor
    batch = np.empty((len(images), channels, height, width), np.float32)
    normalize = preprocessor._enable_normalize
    if normalize:
        mean = np.broadcast_to(preprocessor.mean.detach().cpu().float().numpy().reshape(-1), (channels,))
        std = np.broadcast_to(preprocessor.std.detach().cpu().float().numpy().reshape(-1), (channels,))
    for b, img in enumerate(images):
        array = img.numpy()
        order = [2, 1, 0] if preprocessor._channel_conversion else range(channels)
        h, w = array.shape[1:]
        batch[b, :, h:, :] = preprocessor.pad_value  # only the padding is filled: the image is written below
        batch[b, :, :h, w:] = preprocessor.pad_value
        for c_out, c_in in enumerate(order):
            dst = batch[b, c_out, :h, :w]
            if normalize:
                np.subtract(array[c_in], mean[c_out], out=dst, dtype=np.float32)
                np.divide(dst, std[c_out], out=dst)
            else:
                dst[...] = array[c_in]
    for img, sample in zip(images, samples):
        sample.set_metainfo(dict(batch_input_shape=(height, width),
                                 pad_shape=(math.ceil(img.shape[1] / divisor) * divisor,
                                            math.ceil(img.shape[2] / divisor) * divisor)))
    return torch.from_numpy(batch), samples
