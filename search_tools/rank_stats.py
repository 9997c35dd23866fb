"""How far two rankings of the same candidates agree: Kendall's tau-b, Spearman's rho, the overlap of their top k,
and bootstrap intervals of the first two (resampling candidates). Pure numpy.

Kendall's tau-b (Kendall, "The treatment of ties in ranking problems", Biometrika 1945) over all pairs ``i < j``::

    tau_b = sum(sx * sy) / sqrt(sum(sx ** 2) * sum(sy ** 2)),   sx = sign(x_i - x_j), sy = sign(y_i - y_j)

i.e. ``(P - Q) / sqrt((P + Q + T_x) (P + Q + T_y))`` with P concordant and Q discordant pairs and T_x (T_y) the
pairs tied in x only (y only); ``scipy.stats.kendalltau``'s default. Spearman's rho is Pearson's correlation of
the average ranks (ties share the mean of their ranks), ``scipy.stats.spearmanr``'s. Both are undefined (NaN)
when either ranking is constant.

Scores are "higher is better" throughout; the top k of a ranking are its k highest scores, equal scores ordered
by the candidates' names so that the choice at a tie is the same in every run.
"""
from typing import Dict, Sequence

import numpy as np

__all__ = ['kendall_tau_b', 'spearman_rho', 'top_k_overlap', 'bootstrap_correlations', 'average_ranks']


def _pair(x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f'two rankings of the same candidates need equal 1-d shapes, got {x.shape} and {y.shape}')
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError('scores must be finite numbers')
    return x, y


def _tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """tau-b of each row of ``(r, n)`` arrays (NaN where a row is constant)."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    # the full matrices count every pair twice, which cancels in the ratio
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis, equal values sharing the mean of their ranks (``(r, n)`` or ``(n,)``)."""
    values = np.asarray(values, dtype=float)
    flat = values.reshape(-1, values.shape[-1])
    ranks = np.empty_like(flat)
    for row, out in zip(flat, ranks):
        order = np.argsort(row, kind='mergesort')
        sorted_values = row[order]
        # first and last position of each run of equal values
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
        ends = np.r_[starts[1:], len(row)]
        mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based positions start+1 .. end
        out[order] = np.repeat(mean_rank, ends - starts)
    return ranks.reshape(values.shape)


def _rho_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rx, ry = average_ranks(x), average_ranks(y)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two ``(n,)`` score arrays of the same candidates (NaN when either is constant)."""
    x, y = _pair(x, y)
    return float(_tau_b_rows(x[None], y[None])[0])


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (Pearson's correlation of average ranks) of two ``(n,)`` score arrays (NaN when either
    is constant)."""
    x, y = _pair(x, y)
    return float(_rho_rows(x[None], y[None])[0])


def top_k_overlap(x: Sequence[float], y: Sequence[float], k: int, names: Sequence[str] = None) -> float:
    """The share of the k best candidates by ``x`` that are also among the k best by ``y``: ``|top_k(x) ∩
    top_k(y)| / k``, k capped at n. Equal scores are ordered by ``names`` (default: the index)."""
    x, y = _pair(x, y)
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    k = min(k, len(x))
    names = list(range(len(x))) if names is None else list(names)

    def top(scores):
        return {i for _, _, i in sorted((-s, names[i], i) for i, s in enumerate(scores))[:k]}

    return len(top(x) & top(y)) / k


def bootstrap_correlations(x: Sequence[float], y: Sequence[float], repeats: int = 1000, seed: int = 0,
                           level: float = 0.95) -> Dict[str, object]:
    """Percentile bootstrap intervals of tau-b and rho: ``repeats`` resamples of the n candidates with
    replacement (numpy ``default_rng(seed)``), the statistic of each, and the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles (linear interpolation) of the resamples where it is defined (a resample whose
    scores are all equal in one ranking has none; ``undefined`` counts them).

    Returns:
        dict: ``tau_b`` and ``rho`` as ``(low, high)`` (NaN when no resample is defined), ``undefined`` (a dict
        with the count per statistic), ``repeats``, ``seed``, ``level``.
    """
    x, y = _pair(x, y)
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    rng = np.random.default_rng(seed)
    n = len(x)
    out = dict(repeats=repeats, seed=seed, level=level, undefined={})
    taus, rhos = [], []
    for start in range(0, repeats, 256):  # (256, n, n) pair matrices at a time
        idx = rng.integers(0, n, size=(min(256, repeats - start), n))
        taus.append(_tau_b_rows(x[idx], y[idx]))
        rhos.append(_rho_rows(x[idx], y[idx]))
    qs = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    for name, values in (('tau_b', np.concatenate(taus)), ('rho', np.concatenate(rhos))):
        defined = values[np.isfinite(values)]
        out['undefined'][name] = int(len(values) - len(defined))
        out[name] = tuple(float(v) for v in np.percentile(defined, qs)) if len(defined) else (np.nan, np.nan)
    return out
