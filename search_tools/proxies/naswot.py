"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021), as the released
``DDSAR/ZeroShotProxy/compute_NASWOT_score.py`` computes it: with Gaussian weights and a Gaussian batch, every
ReLU's input is turned into a binary code per image (unit active or not); ``K[i, j]`` counts the units on which
images ``i`` and ``j`` agree (active in both, or inactive in both), summed over all ReLUs; the score is
``log |det K|``. Networks whose activation patterns tell images apart score higher.

Defaults: ``batch_size=8`` (K is 8 x 8), one forward pass in training mode (batch statistics), CPU, the caller's
``input_size``. Deterministic for a fixed ``seed``; torch's global random state is left as it was.
"""
from typing import Tuple

import numpy as np

from search_tools.proxies.base import ProxyScore, build_backbone, check_input_size, gaussian_init, seeded

__all__ = ['score']


def score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0, batch_size: int = 8,
          **options) -> ProxyScore:
    """NASWOT score of the backbone (see the module docstring).

    Raises:
        ValueError: unknown options, ``batch_size < 2``, or a backbone without ReLU modules.
    """
    if options:
        raise ValueError(f'naswot: unknown options {sorted(options)}; it takes batch_size')
    if batch_size < 2:
        raise ValueError(f'naswot: batch_size must be >= 2 (K is batch x batch), got {batch_size}')
    import torch
    from torch import nn
    h, w = check_input_size(input_size)
    kernel = np.zeros((batch_size, batch_size), dtype=np.float64)

    def count(module, inputs, output):
        codes = (output.detach().reshape(output.shape[0], -1) > 0).double()
        # agreement on active units + agreement on inactive units (ReLU(x) > 0 exactly when x > 0)
        kernel[...] += (codes @ codes.t() + (1.0 - codes) @ (1.0 - codes).t()).numpy()

    with seeded(seed), torch.no_grad():
        model = build_backbone(backbone_cfg, seed)
        model.train()
        gaussian_init(model)
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise ValueError(f'naswot: backbone {dict(backbone_cfg).get("type")!r} has no nn.ReLU modules')
        handles = [m.register_forward_hook(count) for m in relus]
        try:
            x = torch.randn(batch_size, int(dict(backbone_cfg).get('in_channels', 3)), h, w)
            model(x)
        finally:
            for handle in handles:
                handle.remove()
    _, logdet = np.linalg.slogdet(kernel)
    return ProxyScore(total=float(logdet))
