"""Zen-score (Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Deep Image Recognition", ICCV 2021), as
the released ``DDSAR/ZeroShotProxy/compute_zen_score_org.py`` computes it: Gaussian weights, a Gaussian input
``x`` and a perturbed input ``x + gamma * x'``; the score is ``log(mean_batch sum |f(x) - f(x + gamma x')|) +
sum over BN layers of log(sqrt(mean(running_var)))`` (the BN rescaling that makes the score independent of the
feature scale), averaged over ``repeat`` draws. ``f`` is the backbone's deepest output map (the pre-GAP features
of the released code).

The network is in training mode, so BN normalises with the batch statistics and its running variance holds what
the two forward passes saw; the running statistics are reset before every draw (the released code carries them
over from draw to draw). Defaults: ``batch_size=4``, ``repeat=2``, ``mixup_gamma=1e-2``, CPU, the caller's
``input_size`` (a small one such as 64x64 keeps it to a fraction of a second for the released DamoFD backbones).
Deterministic for a fixed ``seed`` (weights and inputs are drawn from it; torch's global random state is left as
it was).
"""
import math
from typing import Tuple

from search_tools.proxies.base import (ProxyScore, build_backbone, check_input_size, gaussian_init,
                                       last_feature_map, seeded)

__all__ = ['score']


def score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0, batch_size: int = 4,
          repeat: int = 2, mixup_gamma: float = 1e-2, **options) -> ProxyScore:
    """Zen-score of the backbone (see the module docstring); ``per_stage`` holds the score of each draw.

    Raises:
        ValueError: unknown options or non-positive batch size / repeats / gamma.
    """
    if options:
        raise ValueError(f'zen: unknown options {sorted(options)}; it takes batch_size, repeat, mixup_gamma')
    if batch_size < 1 or repeat < 1 or not mixup_gamma > 0:
        raise ValueError(f'zen: batch_size and repeat must be >= 1 and mixup_gamma > 0, got {batch_size}, '
                         f'{repeat}, {mixup_gamma}')
    import torch
    from torch import nn
    h, w = check_input_size(input_size)
    draws = []
    with seeded(seed), torch.no_grad():
        model = build_backbone(backbone_cfg, seed)
        model.train()
        in_channels = int(dict(backbone_cfg).get('in_channels', 3))
        for _ in range(repeat):
            gaussian_init(model)
            bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            for bn in bns:
                bn.reset_running_stats()
            x = torch.randn(batch_size, in_channels, h, w)
            x2 = torch.randn(batch_size, in_channels, h, w)
            out = last_feature_map(model(x))
            mixed = last_feature_map(model(x + mixup_gamma * x2))
            value = torch.log(torch.mean(torch.sum(torch.abs(out - mixed), dim=[1, 2, 3]))).item()
            for bn in bns:
                value += math.log(math.sqrt(torch.mean(bn.running_var).item()))
            draws.append(value)
    return ProxyScore(total=sum(draws) / len(draws), per_stage=tuple(draws))
