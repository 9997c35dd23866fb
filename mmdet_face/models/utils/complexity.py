"""Parameters and FLOPs of a detector, counted the way SCRFD's table was.

SCRFD's ``tools/get_flops.py`` ran mmcv's ``get_model_complexity_info`` on ``forward_dummy`` (backbone, neck and
head convolutions; no anchor decoding or NMS) and reports its count as "FLOPs": one multiply-accumulate counts as
one FLOP, plus one per element for BN/GN (two with affine), ReLU, pooling and upsampling. It counted at 640x640
and multiplied by 0.75 to get VGA (640x480); we count at the requested shape directly, which gives the same
number since 480 and 640 are multiples of the largest stride (32). Parameters are all trainable tensors,
BN/GN weights and biases and ``Scale`` factors included (BN running statistics are buffers, not counted).
"""
import os
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import get_model_complexity_info

from .build import build_face_detector


class _DummyForward(nn.Module):
    """Makes ``model(x)`` run ``model._forward(x)`` (backbone -> neck -> raw head outputs)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, x):
        return self.detector._forward(x)


def get_model_complexity(model_or_config, input_shape: Sequence[int] = (480, 640)) -> dict:
    """Count parameters and FLOPs (MACs, see the module docstring) of a detector on one image.

    Args:
        model_or_config: A built detector (with ``_forward``), or a ``Config`` to build one from
            (:func:`mmdet_face.models.utils.build.build_face_detector`, as the API builds it).
        input_shape: ``(H, W)`` of the input, VGA ``(480, 640)`` by default.

    Returns:
        dict: ``params`` (count), ``flops`` (count), ``params_m`` (millions), ``gflops`` (billions).
    """
    if isinstance(model_or_config, nn.Module):
        model = model_or_config
    else:
        if isinstance(model_or_config, (str, os.PathLike)):  # the package receives objects; tools read files
            raise TypeError(f'get_model_complexity takes a built detector or an mmengine Config, got the path '
                            f'{os.fspath(model_or_config)!r}: read it first (mmengine.Config.fromfile, or '
                            'mmdet_face.apis.inference.load_config for errors that name the file and line)')
        model = build_face_detector(model_or_config)
    if len(input_shape) == 1:
        input_shape = (input_shape[0], input_shape[0])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        flops, params = get_model_complexity_info(_DummyForward(model), (3, *input_shape),
                                                  print_per_layer_stat=False, as_strings=False)
    model.train(was_training)
    return dict(params=int(params), flops=int(flops), params_m=params / 1e6, gflops=flops / 1e9)
