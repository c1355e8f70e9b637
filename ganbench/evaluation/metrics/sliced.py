"""Sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015): numpy float64, exact per projection.

SW_p(mu, nu) = ( E_theta W_p^p(theta#mu, theta#nu) )^(1/p), theta uniform on the unit sphere S^{d-1}, estimated
with L fixed random directions (Gaussian vectors normalised to unit length, numpy default_rng(seed)). Each
one-dimensional W_p^p between the projected empirical distributions is exact: the integral over t in (0, 1] of
|F^-1(t) - G^-1(t)|^p of the two empirical quantile functions, which are step functions with steps at i/n and j/m.
Between consecutive breakpoints of the merged grid {i/n} u {j/m} both quantile functions are constant, so the
integral is a finite weighted sum (n + m - 1 terms at most); with n = m it is the mean of |x_(i) - y_(i)|^p over
sorted samples. Unequal sample sizes need no resampling. This is POT's ``ot.sliced_wasserstein_distance``
definition (checked against it in tests/test_metrics_swd.py).

What is reported is the distance SW_2 (the square root of the mean of W_2^2 over directions), not its square.
For a point set and its shift by v, W_2^2 along theta is exactly (theta . v)^2, so SW_2^2 averages to |v|^2 / d.
"""
from __future__ import annotations

import numpy as np

from ganbench.evaluation.metrics.functional import MetricInputError, _features, _same_dim

DEFAULT_PROJECTIONS = 256
DEFAULT_SEED = 0


def random_directions(dim: int, n_projections: int = DEFAULT_PROJECTIONS, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(dim, n_projections) matrix of unit columns, uniform on S^{dim-1} (normalised Gaussians, default_rng(seed))."""
    for name, val in (("dim", dim), ("n_projections", n_projections)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise MetricInputError(f"{name} must be an integer >= 1, got {val!r}")
    g = np.random.default_rng(seed).standard_normal((int(dim), int(n_projections)))
    norms = np.linalg.norm(g, axis=0)
    return g / np.where(norms > 0, norms, 1.0)


def quantile_grid(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged step grid of two empirical quantile functions with n and m atoms of equal weight.

    Returns (i, j, w): on the k-th interval of (0, 1] the quantile functions are x_(i[k]) and y_(j[k]) (0-based
    order statistics) and the interval has length w[k]. Exact: breakpoints are integers over the denominator n m.
    """
    if n < 1 or m < 1:
        raise MetricInputError(f"both samples need at least one point, got {n} and {m}")
    ends = np.union1d(np.arange(1, n + 1, dtype=np.int64) * m, np.arange(1, m + 1, dtype=np.int64) * n)
    starts = np.concatenate([[0], ends[:-1]])
    # t in (a / nm, b / nm]: F^-1(t) = x_(ceil(t n)) 1-based, i.e. 0-based index floor(a / m) as no step lies inside
    return starts // m, starts // n, (ends - starts) / float(n * m)


def wasserstein_1d_pp(x, y, p: float = 2.0) -> np.ndarray:
    """W_p^p between the empirical distributions of the columns of x (n, L) and y (m, L): one value per column.

    Each column is one projection; rows are samples. 1-D inputs are treated as a single column.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x, y = (x[:, None] if x.ndim == 1 else x), (y[:, None] if y.ndim == 1 else y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise MetricInputError(f"x and y must be (n, L) and (m, L) arrays with the same L, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MetricInputError("x or y contains NaN or infinite values")
    if not np.isfinite(p) or p < 1:
        raise MetricInputError(f"p must be a finite number >= 1, got {p!r}")
    i, j, w = quantile_grid(len(x), len(y))
    xs, ys = np.sort(x, axis=0), np.sort(y, axis=0)
    return w @ np.abs(xs[i] - ys[j]) ** p


def projected_wasserstein_pp(x, y, directions, p: float = 2.0, block_cols: int | None = None) -> np.ndarray:
    """W_p^p of x and y projected on each column of ``directions`` (d, L); columns are used as given."""
    x, y = _features(x, "x"), _features(y, "y")
    _same_dim(x, y, "x and y")
    theta = np.asarray(directions, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != x.shape[1] or theta.shape[1] < 1:
        raise MetricInputError(f"directions must have shape (d, L) = ({x.shape[1]}, L >= 1), got {theta.shape}")
    # projections of both sets for a block of directions at a time: at most about 64 MiB of float64
    step = block_cols or max(1, (8 * 2**20) // max(len(x) + len(y), 1))
    out = np.empty(theta.shape[1])
    for start in range(0, theta.shape[1], step):
        cols = slice(start, min(start + step, theta.shape[1]))
        out[cols] = wasserstein_1d_pp(x @ theta[:, cols], y @ theta[:, cols], p)
    return out


def sliced_wasserstein(x, y, n_projections: int = DEFAULT_PROJECTIONS, seed: int = DEFAULT_SEED, p: float = 2.0,
                       directions=None) -> float:
    """SW_p = (mean over directions of W_p^p)^(1/p), the distance (not its p-th power), between rows of x and y.

    ``directions`` (d, L) overrides ``n_projections`` and ``seed`` (then exactly those directions are used, as
    POT's ``projections`` argument). The sets may have different sizes. With d = 1 it is the exact W_p.
    """
    x, y = _features(x, "x"), _features(y, "y")
    _same_dim(x, y, "x and y")
    theta = random_directions(x.shape[1], n_projections, seed) if directions is None else directions
    return float(projected_wasserstein_pp(x, y, theta, p).mean() ** (1.0 / p))
