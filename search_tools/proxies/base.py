"""What every proxy returns, and the pieces the proxies that build a network share (building a backbone from its
config, seeded Gaussian initialisation without touching the process's random state)."""
import contextlib
import copy
from dataclasses import dataclass
from typing import Tuple

__all__ = ['ProxyScore', 'build_backbone', 'seeded', 'gaussian_init', 'last_feature_map', 'check_input_size']


@dataclass(frozen=True)
class ProxyScore:
    """A proxy's value for one architecture: ``total`` and, where the proxy has them, one value per stage."""
    total: float
    per_stage: Tuple[float, ...] = ()


def check_input_size(input_size) -> Tuple[int, int]:
    """``(H, W)`` as two positive ints, else ``ValueError`` naming the value."""
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f'input_size must be (H, W), got {input_size!r}') from None
    if h <= 0 or w <= 0:
        raise ValueError(f'input_size must be positive, got {input_size!r}')
    return h, w


def build_backbone(backbone_cfg: dict, seed: int = 0):
    """Build an mmdet(-face) backbone from its config dict (a copy: the caller's dict is not changed), its default
    initialisation drawn from ``seed`` (torch's global random state is left as it was).

    Raises:
        ValueError: the config has no ``type``, names no registered backbone, or lacks or misnames its arguments
            (the structure errors of a DamoFD string are ValueErrors too).
    """
    import mmdet_face.models  # noqa: F401  (registers the backbones)
    from mmdet_face.registry import MODELS
    cfg = copy.deepcopy(dict(backbone_cfg))
    if 'type' not in cfg:
        raise ValueError(f'backbone config without a type: {backbone_cfg!r}')
    try:
        with seeded(seed):
            return MODELS.build(cfg)
    except (KeyError, TypeError) as exc:  # unregistered type, missing or unknown arguments
        raise ValueError(f'backbone config {cfg.get("type")!r}: {type(exc).__name__}: {exc}') from None


@contextlib.contextmanager
def seeded(seed: int):
    """Run the body with torch's global generator seeded by ``seed``, restoring its state afterwards."""
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def gaussian_init(model) -> None:
    """Zen-NAS / NASWOT initialisation (released ``network_weight_gaussian_init``): conv and linear weights
    N(0, 1), biases 0, norm weights 1 and biases 0."""
    import torch
    from torch import nn
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def last_feature_map(outputs):
    """The deepest map of a backbone's outputs (a tensor or a tuple of them): the "pre-GAP" features Zen-NAS
    scores."""
    return outputs[-1] if isinstance(outputs, (tuple, list)) else outputs
