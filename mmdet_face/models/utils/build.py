"""``build_face_detector``: a detector from a config's ``model``, without weights — the one build step that
:func:`mmdet_face.apis.inference.init_face_detector` (which adds the checkpoint) and the FLOPs counter share."""
import copy

import torch.nn as nn


def build_face_detector(cfg, pretrained_backbone: bool = False) -> nn.Module:
    """Build ``cfg.model`` (an mmengine ``Config``, not modified) in the config's scope (``mmdet_face`` by default).

    ``pretrained_backbone`` keeps the backbone's ``init_cfg`` / ``pretrained`` (ImageNet weights, downloaded by
    ``init_weights``); by default they are dropped, since a checkpoint or a count of operations does not need them.
    """
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if not pretrained_backbone:
        model_cfg.pop('pretrained', None)
        if isinstance(model_cfg.get('backbone'), dict):
            model_cfg.backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet_face')):
        return MODELS.build(model_cfg)
