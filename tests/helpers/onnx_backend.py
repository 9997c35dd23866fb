"""Seeded random weights and ONNX exports of the toy configs, for the onnxruntime-backend tests.

The toy configs' own initialisation gives near-constant scores (predictor convs of std 0.01), so their detections
would tie and say nothing about decoding; :func:`randomize_weights` gives every parameter seeded values of unit
scale instead, so scores and boxes vary from prior to prior."""
import re

import torch

from tests.helpers.paths import REPO_ROOT

TOY_CONFIGS = {
    'scrfd_kps': 'configs/toy/scrfd_toy_kps.py',
    'retinaface': 'configs/toy/retinaface_toy_mnet025.py',
    'dsfd': 'configs/toy/dsfd_toy.py',
    'srn': 'configs/toy/srn_toy.py',
    'ainnoface': 'configs/toy/ainnoface_toy.py',
}


# the SRN / AInnoFace head's last score and box convs
PREDICTORS = r'(cls|reg)_(first|second)|cls_second_maxout'
PREDICTOR_SCALE = 0.5


def randomize_weights(model, seed=0):
    """Give ``model`` (in place) seeded weights: convs and linears ``N(0, 1 / fan_in)``, norm scales
    ``1 + 0.1 N(0, 1)``, biases and other 1-D parameters ``0.1 N(0, 1)``. The first conv is divided by ``64 / std``
    (the data preprocessor's mean std) when that exceeds 1, so inputs without scaling (RetinaFace, DSFD: pixel minus
    mean, up to 150) do not overflow the box decoding. The SRN head's last score and box convs are then halved, so
    its logits and box deltas stay within the few units trained models give: unscaled, its scores saturate at
    exactly 1.0 (ties that the NMS may break either way) and its deltas reach 10 (two chained ``exp(0.2 * 10)``
    decodings turn float32 rounding of the network into millipixels). Returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    first = True
    std = getattr(model.data_preprocessor, 'std', None)
    input_scale = max(1.0, 64.0 / float(std.float().mean())) if std is not None else 1.0
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.dim() > 1:
                param.copy_(noise * (1.0 / param[0].numel()) ** 0.5 / (input_scale if first else 1.0))
                first = False
            else:
                param.copy_(noise * 0.1 + (1.0 if name.endswith('weight') else 0.0))
        for name, module in model.bbox_head.named_modules():
            if re.fullmatch(PREDICTORS, name):
                for param in module.parameters():
                    param.mul_(PREDICTOR_SCALE)
    return model


def random_checkpoint(config, path, seed=0, cfg_options=None):
    """Build ``config`` (a path relative to the repository), randomise its weights, save them to ``path``; returns
    the model (eval mode)."""
    from mmdet_face.apis.inference import init_face_detector
    model = randomize_weights(init_face_detector(str(REPO_ROOT / config), cfg_options=cfg_options), seed)
    torch.save(dict(state_dict=model.state_dict()), str(path))
    return model


def export(model, path, **kwargs):
    """Export a built model with its family's exporter (:func:`mmdet_face.deployment.onnx_layouts.export_function`);
    returns the output names."""
    from mmdet_face.deployment.onnx_layouts import export_function
    function, opset = export_function(model.bbox_head)
    return function(model, str(path), **dict(dict(opset=opset), **kwargs))
