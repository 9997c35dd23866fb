"""``init_face_detector``: the one way this package builds a detector from a config (and loads its weights).

FaceDetector, the ONNX exporters and converters, the analysis tools and the FLOPs counter all build through it, so
the model a user tests, exports and benchmarks is the same object built the same way.
"""
import copy
import os
from typing import Optional, Union

import torch


def load_config(config, cfg_options: Optional[dict] = None):
    """A ``Config`` from a path (``str`` / ``PathLike``) or a copy of a ``Config``, with ``cfg_options`` merged.
    Errors in the config's files are :class:`mmdet_face.utils.config_file.ConfigFileError` (a ``ValueError``)
    naming the file and line; ``cfg_options`` are checked as ``--cfg-options`` are
    (:func:`mmdet_face.utils.config_file.merge_cfg_options`)."""
    from mmengine.config import Config

    from mmdet_face.utils.config_file import merge_cfg_options, read_config
    if isinstance(config, (str, os.PathLike)):
        cfg = read_config(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')
    return merge_cfg_options(cfg, cfg_options)


def init_face_detector(config, checkpoint: Optional[str] = None, device: Union[str, torch.device] = 'cpu',
                       strict: bool = True, cfg_options: Optional[dict] = None,
                       pretrained_backbone: bool = False) -> torch.nn.Module:
    """Build ``cfg.model`` in the config's scope (``mmdet_face`` by default) and, with ``checkpoint``, load it.

    Args:
        config: a config path or ``Config`` (not modified).
        checkpoint: weights to load with :func:`mmdet_face.apis.checkpoint.load_face_checkpoint` (strict unless
            ``strict=False``); None leaves the model as initialised by its constructor.
        device: where the model goes. The model is returned in eval mode.
        pretrained_backbone: keep the backbone's ``init_cfg`` / ``pretrained`` (ImageNet weights, downloaded by
            ``init_weights``); by default they are dropped, since the checkpoint replaces them.

    Returns:
        the detector, with ``model.cfg`` set to the config it was built from.
    """
    from mmdet_face.apis.checkpoint import load_face_checkpoint
    from mmdet_face.models.utils.build import build_face_detector
    cfg = load_config(config, cfg_options)
    model = build_face_detector(cfg, pretrained_backbone)
    if checkpoint is not None:
        config_name = os.fspath(config) if isinstance(config, (str, os.PathLike)) else cfg.get('filename')
        load_face_checkpoint(model, os.fspath(checkpoint), strict=strict, map_location='cpu',
                             config_name=config_name or getattr(cfg, 'filename', None))
    model.cfg = cfg
    return model.to(device).eval()
