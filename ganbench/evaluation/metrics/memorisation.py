"""Memorisation: nearest training neighbours of generated samples against those of held-out real images.

A GAN that copies its training set puts samples much closer to training images than fresh real images ever are.
For each scored sample the Euclidean distance to its nearest training example is compared with the same distances
from held-out real images (the scored split) to the training set. A sample is a *copy* when its distance is strictly
below the ``threshold_quantile`` quantile (default 0.01: the 1st percentile, numpy's linear interpolation) of the
held-out distances. By construction about that fraction of fresh real images count as copies; a generator that
returns training images verbatim scores 1, one that never comes near the training set scores 0.

Distances are exact: candidate neighbours come from |a|^2 + |b|^2 - 2 a.b in row blocks (about 64 MiB at a time),
and the distance to each chosen neighbour is then recomputed from the difference a - b, so a verbatim copy is at
distance exactly 0 (no rounding from the expansion).
"""
from __future__ import annotations

import numpy as np

from ganbench.evaluation.metrics.functional import (
    MetricInputError,
    _features,
    _row_blocks,
    _same_dim,
    _sq_dists,
    _sq_norms,
)

COPY_QUANTILE = 0.01
REPORTED_QUANTILES = (0.01, 0.1, 0.5, 0.9)


def nearest_neighbours(queries, reference, k: int = 1, block_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``reference`` for each row of ``queries``: distances (n, k) ascending and indices (n, k).

    Ties are broken by the lower reference index. Distances are recomputed exactly from differences.
    """
    q, ref = _features(queries, "queries"), _features(reference, "reference")
    _same_dim(q, ref, "queries and reference")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(ref):
        raise MetricInputError(f"k must be an integer in [1, {len(ref)}] (the rows of reference), got {k!r}")
    k = int(k)
    c = min(len(ref), k + 4)  # candidates: a few more than k, then exact distances decide (rounding near ties)
    q_sq, r_sq = _sq_norms(q), _sq_norms(ref)
    dist, idx = np.empty((len(q), k)), np.empty((len(q), k), dtype=np.int64)
    for rows in _row_blocks(len(q), max(len(ref), c * q.shape[1]), block_rows):
        d2 = _sq_dists(q[rows], q_sq[rows], ref, r_sq)
        cand = np.argpartition(d2, c - 1, axis=1)[:, :c] if c < len(ref) else \
            np.broadcast_to(np.arange(len(ref)), d2.shape)
        exact = np.sqrt(((q[rows, None, :] - ref[cand]) ** 2).sum(axis=2))
        order = np.lexsort((cand, exact), axis=1)[:, :k]
        idx[rows] = np.take_along_axis(cand, order, axis=1)
        dist[rows] = np.take_along_axis(exact, order, axis=1)
    return dist, idx


def nearest_distances(queries, reference, block_rows: int | None = None) -> np.ndarray:
    """Distance from each row of ``queries`` to its nearest row of ``reference`` (exact, see module doc)."""
    return nearest_neighbours(queries, reference, 1, block_rows)[0][:, 0]


def copy_statistics(fake_nn, real_nn, threshold_quantile: float = COPY_QUANTILE,
                    quantiles: tuple[float, ...] = REPORTED_QUANTILES) -> dict:
    """Copy fraction and quantiles of two nearest-training-neighbour distance distributions.

    fake_nn: distances of generated samples to their nearest training example; real_nn: the same for held-out
    real images. Returns ``threshold`` (the ``threshold_quantile`` quantile of real_nn), ``copy_fraction`` (fraction
    of fake_nn strictly below it) and ``fake_q{100 q:02g}`` / ``real_q..`` for each q in ``quantiles``
    (e.g. fake_q50 is the median).
    """
    fake = np.asarray(fake_nn, dtype=np.float64)
    real = np.asarray(real_nn, dtype=np.float64)
    for name, a in (("fake_nn", fake), ("real_nn", real)):
        if a.ndim != 1 or len(a) < 1 or not np.isfinite(a).all() or (a < 0).any():
            raise MetricInputError(f"{name} must be a non-empty 1-D array of finite distances >= 0")
    for q in (threshold_quantile, *quantiles):
        if not 0 <= q <= 1:
            raise MetricInputError(f"quantiles must lie in [0, 1], got {q!r}")
    threshold = float(np.quantile(real, threshold_quantile))
    out = {"threshold": threshold, "copy_fraction": float((fake < threshold).mean())}
    for q in quantiles:
        out[f"fake_{quantile_label(q)}"] = float(np.quantile(fake, q))
        out[f"real_{quantile_label(q)}"] = float(np.quantile(real, q))
    return out


def quantile_label(q: float) -> str:
    """0.01 -> 'q01', 0.5 -> 'q50', 0.999 -> 'q99.9'."""
    pct = round(100 * q, 6)
    return f"q{int(pct):02d}" if pct == int(pct) else f"q{pct:g}"
