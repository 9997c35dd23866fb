"""FLOPs of a backbone at ``input_size``, counted as ``tools/analysis/get_flops.py`` counts a detector (mmcv's
``get_model_complexity_info``: one multiply-accumulate is one FLOP, plus one per element for norms (two with
affine), activations and pooling): with ``params``, the baseline a training-free proxy is measured against."""
from typing import Tuple

from search_tools.proxies.base import ProxyScore, build_backbone, check_input_size

__all__ = ['score']


def score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0,
          **options) -> ProxyScore:
    """FLOPs of the backbone on one ``(3, H, W)`` image (``seed`` is unused: the count does not depend on
    weights)."""
    if options:
        raise ValueError(f'flops: unknown options {sorted(options)}; it takes none')
    from mmcv.cnn import get_model_complexity_info
    h, w = check_input_size(input_size)
    model = build_backbone(backbone_cfg, seed).eval()
    flops, _ = get_model_complexity_info(model, (int(backbone_cfg.get('in_channels', 3)), h, w),
                                         print_per_layer_stat=False, as_strings=False)
    return ProxyScore(total=float(flops))
