"""What the metrics read from the data samples ``Evaluator.process`` hands them (dicts or data elements)."""
import numpy as np

__all__ = ['sample_field', 'to_numpy', 'predicted_boxes']


def sample_field(obj, key, default=None):
    """``obj[key]`` for dicts (what ``Evaluator.process`` passes) and ``obj.key`` for data elements."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def to_numpy(x, cols):
    """Boxes (mmdet ``BaseBoxes``, a tensor, an array or None) as float64 ``(N, cols)``, or ``(N,)`` for
    ``cols=0``."""
    if x is None:
        return np.zeros((0, cols), np.float64)
    if hasattr(x, 'tensor'):  # mmdet BaseBoxes
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1, cols) if cols else np.asarray(x, np.float64).reshape(-1)


def predicted_boxes(sample):
    """``(boxes, scores)`` of a data sample's ``pred_instances``: float64 ``(N, 4)`` x1y1x2y2 and ``(N,)``, empty
    when the sample has no predictions."""
    pred = sample_field(sample, 'pred_instances')
    return to_numpy(sample_field(pred, 'bboxes'), 4), to_numpy(sample_field(pred, 'scores'), 0)
