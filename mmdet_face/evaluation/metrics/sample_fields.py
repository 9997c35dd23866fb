"""Reading what the metrics need from the data samples ``Evaluator.process`` passes (dicts, or data elements), shared
by the benchmark metrics."""
import numpy as np

__all__ = ['sample_field', 'field_array']


def sample_field(obj, key, default=None):
    """``obj[key]`` for dicts (what ``Evaluator.process`` passes) and ``obj.key`` for data elements."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def field_array(x, cols):
    """``x`` (a tensor, mmdet ``BaseBoxes``, array or None) as a float64 ``(N, cols)`` array, or ``(N,)`` when
    ``cols`` is 0; None is empty."""
    if x is None:
        return np.zeros((0, cols), np.float64)
    if hasattr(x, 'tensor'):  # mmdet BaseBoxes
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1, cols) if cols else np.asarray(x, np.float64).reshape(-1)
