"""Random weights in the layout of the released files, for tests that convert a release where ``../shared`` does
not hold the real one (or, for DSFD, where the real network is too heavy for a test): an SCRFD ONNX file with
BatchNorm folded into the convolutions as insightface exports them, and a DSFD state dict with the keys of
Tencent's release (the inverse of :func:`mmdet_face.deployment.dsfd_pth_import.convert_key`, plus the release's
PyramidBox head/body output channels that the converter drops)."""
import re
from collections import OrderedDict

import torch

from tests.helpers.paths import REPO_ROOT

SCRFD_BN_CONFIG = REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_500m_bnkps_4xb16-640e_widerface.py'


def scrfd_release_onnx(dst, config=SCRFD_BN_CONFIG, seed=0, size=640):
    """Write to ``dst`` an ONNX file in the layout of insightface's SCRFD releases: the BN config's model with
    random weights and BN statistics (seed ``seed``), BN folded into the convolutions (mmcv ``fuse_conv_bn``),
    exported at ``size`` x ``size`` with outputs ``score_8/16/32``, ``bbox_*``, ``kps_*``. Returns ``dst``."""
    from mmcv.cnn import fuse_conv_bn

    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment import export_scrfd_onnx
    torch.manual_seed(seed)
    model = init_face_detector(str(config))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    fuse_conv_bn(model.eval())
    export_scrfd_onnx(model, str(dst), shape=(size, size))
    return dst


# Tencent DSFD: output channels of each level's loc / conf last conv (face outputs first, then PyramidBox head/body)
DSFD_RELEASE_OUT_CHANNELS = {'loc': [4, 8, 12, 12, 12, 12], 'conf': [4, 6, 8, 8, 8, 8]}


def _dsfd_release_key(key: str) -> str:
    from mmdet_face.deployment.dsfd_pth_import import _FEM_CONVS, _FEM_LEVELS, _HEADS
    fem_names = {level: name for name, level in _FEM_LEVELS.items()}
    fem_convs = {ours: release for release, ours in _FEM_CONVS.items()}
    heads = {ours: release for release, ours in _HEADS.items()}
    rules = [
        (r'backbone\.body\.conv1\.(.+)', lambda m: f'layer1.0.{m[1]}'),
        (r'backbone\.body\.bn1\.(.+)', lambda m: f'layer1.1.{m[1]}'),
        (r'backbone\.body\.layer1\.(.+)', lambda m: f'layer1.4.{m[1]}'),
        (r'backbone\.body\.layer([234])\.(.+)', lambda m: f'layer{m[1]}.0.{m[2]}'),
        (r'backbone\.extras\.([01])\.(.+)', lambda m: f'layer{int(m[1]) + 5}.{m[2]}'),
        (r'neck\.lateral_convs\.(\d)\.(.+)', lambda m: f'latlayer{int(m[1]) + 1}.{m[2]}'),
        (r'neck\.smooth_convs\.(\d)\.(.+)', lambda m: f'smooth{int(m[1]) + 1}.{m[2]}'),
        (r'neck\.enhance_blocks\.(\d)\.(\w+)\.(.+)', lambda m: f'{fem_names[int(m[1])]}.{fem_convs[m[2]]}.{m[3]}'),
        (r'bbox_head\.(\w+)\.(\d)\.convs\.(\d)\.(.+)', lambda m: f'{heads[m[1]]}.{m[2]}.conv{int(m[3]) + 1}.{m[4]}'),
        (r'bbox_head\.(\w+)\.(\d)\.out_conv\.(.+)', lambda m: f'{heads[m[1]]}.{m[2]}.conv4.{m[3]}'),
    ]
    for pattern, release in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return release(match)
    raise KeyError(f'{key}: not a key of the DSFD test graph')


def dsfd_release_state(state, seed=0) -> 'OrderedDict[str, torch.Tensor]':
    """Our DSFD test-graph state dict (second shot only) -> the same weights under the release's keys, without
    ``num_batches_tracked`` (as the torch-0.3.1 release file), and each level's last loc / conf conv extended by the
    release's PyramidBox channels (random, seed ``seed``; the converter drops them again)."""
    generator = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for key, value in state.items():
        if key.endswith('num_batches_tracked'):
            continue
        release = _dsfd_release_key(key)
        match = re.fullmatch(r'(loc|conf)\.(\d)\.conv4\.(weight|bias)', release)
        if match:
            extra = DSFD_RELEASE_OUT_CHANNELS[match[1]][int(match[2])] - value.shape[0]
            value = torch.cat([value, torch.randn((extra, *value.shape[1:]), generator=generator)])
        out[release] = value.clone()
    return out


def retinaface_release_state(seed=0) -> 'OrderedDict[str, torch.Tensor]':
    """Random weights with the keys and shapes of biubug6's ``mobilenet0.25_Final.pth``
    (:func:`mmdet_face.deployment.retinaface_pth_import.release_layout`): He-initialised convs, zero conv biases,
    BNs at their initial state (weight 1, bias 0, running mean 0, running variance 1, ``num_batches_tracked`` 0)."""
    from mmdet_face.deployment.retinaface_pth_import import MOBILENET, release_layout
    generator = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for key, shape in release_layout(MOBILENET).items():
        if key.endswith('num_batches_tracked'):
            out[key] = torch.tensor(0)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            out[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif key.endswith(('weight', 'running_var')):  # 1-d weights are BN weights
            out[key] = torch.ones(shape)
        else:
            out[key] = torch.zeros(shape)
    return out
