"""Training-free scores of a backbone, one module per score; each module's ``score`` has the signature

    score(backbone_cfg: dict, *, input_size: Tuple[int, int] = (224, 224), seed: int = 0, **options) -> ProxyScore

where ``backbone_cfg`` is an mmdet backbone config dict (``dict(type='DamoFDNet', structure='...')`` or a search
candidate's ``model.backbone``) and ``input_size`` is ``(H, W)``. ``ddsar`` is DamoFD's closed-form score,
``zen`` and ``naswot`` run a few forward passes, ``params`` and ``flops`` are the baselines any claim about a
proxy is measured against.
"""
import importlib
from typing import Callable

from search_tools.proxies.base import ProxyScore

__all__ = ['PROXIES', 'ProxyScore', 'get_proxy']

PROXIES = ('ddsar', 'zen', 'naswot', 'params', 'flops')


def get_proxy(name: str) -> Callable:
    """The ``score`` function of ``search_tools.proxies.<name>`` (imported on first use).

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if name not in PROXIES:
        raise ValueError(f'unknown proxy {name!r}: expected one of {", ".join(PROXIES)}')
    return importlib.import_module(f'search_tools.proxies.{name}').score
