"""CMMD (Jayasumana et al. 2024, "Rethinking FID"): squared MMD with a Gaussian RBF kernel between two sets of
L2-normalised CLIP ViT-L/14 @ 336 image embeddings.

    k(x, y) = exp(-|x - y|^2 / (2 sigma^2)),  sigma = 10
    CMMD = 1000 * (mean K_XX + mean K_YY - 2 mean K_XY)

The means run over all pairs, the diagonal included: the minimum-variance biased (V-statistic) estimator of the
paper's reference code (google-research/cmmd, distance.py), so CMMD >= 0 and it is exactly 0 for identical sets.
The scale 1000 is the paper's, for readability. Blocks of rows keep memory bounded (10k x 10k needs no 800 MB).
"""
from __future__ import annotations

import numpy as np

from ganbench.evaluation.metrics.functional import MetricInputError, _features, _row_blocks, _same_dim, _sq_dists, \
    _sq_norms

SIGMA = 10.0
SCALE = 1000.0


def _mean_kernel(a: np.ndarray, b: np.ndarray, gamma: float, block_rows: int | None) -> float:
    a_sq, b_sq = _sq_norms(a), _sq_norms(b)
    total = 0.0
    for rows in _row_blocks(len(a), len(b), block_rows):
        total += float(np.exp(-gamma * _sq_dists(a[rows], a_sq[rows], b, b_sq)).sum())
    return total / (len(a) * len(b))


def mmd2_rbf_biased(x, y, sigma: float = SIGMA, scale: float = SCALE, block_rows: int | None = None) -> float:
    """scale * biased MMD^2 between the rows of x and y under the RBF kernel of bandwidth sigma (float64)."""
    x, y = _features(x, "x"), _features(y, "y")
    _same_dim(x, y, "x and y")
    if not (np.isfinite(sigma) and sigma > 0):
        raise MetricInputError(f"sigma must be a positive number, got {sigma!r}")
    gamma = 1.0 / (2.0 * sigma ** 2)
    k_xx = _mean_kernel(x, x, gamma, block_rows)
    k_yy = _mean_kernel(y, y, gamma, block_rows)
    k_xy = _mean_kernel(x, y, gamma, block_rows)
    return float(scale * (k_xx + k_yy - 2.0 * k_xy))


def cmmd_from_embeddings(real, fake, block_rows: int | None = None) -> float:
    """CMMD between real and generated CLIP embeddings; both must already be L2-normalised (as CMMD's embedding
    model returns them): rows whose norm is not 1 are refused rather than silently normalised."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    for name, e in (("real", real), ("fake", fake)):
        norms = np.sqrt(_sq_norms(e))
        if np.abs(norms - 1.0).max() > 1e-4:
            raise MetricInputError(f"CMMD takes L2-normalised embeddings; {name} has row norms from "
                                   f"{norms.min():.4g} to {norms.max():.4g}")
    return mmd2_rbf_biased(real, fake, SIGMA, SCALE, block_rows)
