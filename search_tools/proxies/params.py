"""Parameter count of a backbone: the baseline a training-free proxy has to beat (a proxy that ranks no better
than the model size adds nothing). Counted on the built backbone: every trainable tensor, norm weights and biases
included, BN running statistics not (as ``tools/analysis/get_flops.py`` counts)."""
from typing import Tuple

from search_tools.proxies.base import ProxyScore, build_backbone, check_input_size

__all__ = ['score']


def score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0,
          **options) -> ProxyScore:
    """Parameters of the backbone (its size does not depend on ``input_size`` or ``seed``)."""
    if options:
        raise ValueError(f'params: unknown options {sorted(options)}; it takes none')
    check_input_size(input_size)
    model = build_backbone(backbone_cfg, seed)
    return ProxyScore(total=float(sum(p.numel() for p in model.parameters() if p.requires_grad)))
