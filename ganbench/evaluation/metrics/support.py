"""Birthday-paradox estimate of a generator's support size (Arora & Zhang 2017, "Do GANs learn the distribution?").

If a distribution puts mass p_i on its outputs, two independent draws collide with probability sum_i p_i^2 =: 1/N,
where N is the *collision support size* (for a uniform distribution over N outputs, exactly N). A batch of s samples
holds C(s, 2) pairs, so over B disjoint batches the number D of near-duplicate pairs (distance <= threshold) has
mean B C(s, 2) / N, and N_hat = B C(s, 2) / D. Arora & Zhang read the batch size at which duplicates appear with
probability 1/2 (support ~ s^2); counting all pairs of every batch uses the same information more fully.

Uncertainty: D is treated as Poisson and the exact (Garwood) interval on its mean is mapped through N = pairs / D.
For a uniform support the pair indicators are pairwise independent (pairs sharing a sample included), so Var D =
E D (1 - 1/N) and the Poisson interval is slightly conservative; for a very uneven support, D is overdispersed and
the interval is too narrow. With D = 0 no finite estimate exists: the result is the lower limit pairs / D_hi
(D_hi = -log(alpha / 2), the Poisson upper limit for 0 events), flagged ``lower_bound``, with no upper limit.

The threshold is calibrated on real data by `calibrate_threshold`: the ``fraction`` quantile of the distances of all
pairs of a set of real images. By construction, real data from the same distribution then has support about
1 / fraction under that threshold; a generator is compared with that.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import chi2

from ganbench.evaluation.metrics.functional import MetricInputError, _features

PAIR_FRACTION = 1e-4  # calibration: this fraction of real pairs counts as near duplicates
CALIBRATION_IMAGES = 2000  # the evaluator calibrates on all pairs of this many training images (about 2 million)
BATCH_SIZE = 400  # samples per batch (Arora & Zhang's CelebA batches were 400)
LEVEL = 0.95


def calibrate_threshold(real, fraction: float = PAIR_FRACTION) -> float:
    """The ``fraction`` quantile (numpy's linear interpolation) of the Euclidean distances of all pairs of rows."""
    x = _features(real, "real", min_rows=2)
    if not 0 < fraction < 1:
        raise MetricInputError(f"fraction must lie in (0, 1), got {fraction!r}")
    return float(np.quantile(pdist(x), fraction))


def duplicate_pairs(samples, batch_size: int, threshold: float) -> np.ndarray:
    """Near-duplicate pairs (Euclidean distance <= threshold) within each of the len // batch_size disjoint batches
    of consecutive rows (left-over rows are not used): one count per batch."""
    x = _features(samples, "samples", min_rows=2)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 2 <= batch_size <= len(x):
        raise MetricInputError(f"batch_size must be an integer in [2, {len(x)}] (the number of samples), "
                               f"got {batch_size!r}")
    if not np.isfinite(threshold) or threshold < 0:
        raise MetricInputError(f"threshold must be a finite distance >= 0, got {threshold!r}")
    s = int(batch_size)
    return np.array([int((pdist(x[b * s:(b + 1) * s]) <= threshold).sum()) for b in range(len(x) // s)])


def support_from_counts(counts, batch_size: int, level: float = LEVEL) -> dict:
    """Support-size estimate and its ``level`` interval from per-batch duplicate-pair counts (see module doc).

    Returns support (N_hat, or the lower limit when no duplicate was seen), support_lo, support_hi (absent when
    unbounded), lower_bound (True when no duplicate was seen), dup_pairs (D), pairs (B C(s, 2)), batches, batch_size.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or len(counts) < 1 or (counts < 0).any():
        raise MetricInputError("counts must be a non-empty 1-D array of duplicate-pair counts >= 0")
    if not 0 < level < 1:
        raise MetricInputError(f"level must lie in (0, 1), got {level!r}")
    s, dups = int(batch_size), int(counts.sum())
    pairs = len(counts) * s * (s - 1) // 2
    alpha = 1 - level
    d_hi = float(chi2.ppf(1 - alpha / 2, 2 * dups + 2)) / 2
    out = {"support_lo": pairs / d_hi, "dup_pairs": dups, "pairs": pairs, "batches": len(counts), "batch_size": s,
           "lower_bound": dups == 0}
    if dups == 0:
        out["support"] = out["support_lo"]
    else:
        out["support"] = pairs / dups
        out["support_hi"] = pairs / (float(chi2.ppf(alpha / 2, 2 * dups)) / 2)
    return out


def birthday_support(samples, threshold: float, batch_size: int = BATCH_SIZE, level: float = LEVEL) -> dict:
    """`support_from_counts` of `duplicate_pairs` (batch_size capped at the number of samples)."""
    x = _features(samples, "samples", min_rows=2)
    s = min(int(batch_size), len(x))
    return {**support_from_counts(duplicate_pairs(x, s, threshold), s, level), "threshold": float(threshold)}
