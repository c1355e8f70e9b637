"""Numeric core of ganbench's metrics: pure numpy float64 functions of features, logits and samples.

Feature extraction (Inception, a digit classifier) lives elsewhere; everything here takes arrays of shape
(N, d) and returns plain Python floats, so each metric can be tested against closed forms and against
independent implementations (pytorch-fid, torch-fidelity, prdc; see tests/test_metrics_oracles.py).

Conventions (the citations say where each comes from):
- FID (Heusel et al. 2017): FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}); covariances with ddof=1 as
  pytorch-fid. The trace of the matrix square root is computed from eigenvalues (see `frechet_distance`).
- KID (Binkowski et al. 2018): cubic polynomial kernel, unbiased MMD^2 estimator of torch-fidelity, subsets
  drawn as torch-fidelity draws them (generated subset first, then real), so equal seeds give equal numbers.
- Precision/recall (Kynkaanniemi et al. 2019): k-NN balls, a point is covered when its distance is <= a radius.
- Density/coverage (Naeem et al. 2020): k-NN balls of the real set only, strict < as the `prdc` package.
- Inception Score (Salimans et al. 2016): exp(mean KL(p(y|x) || p(y))) per contiguous split.
- Mode metrics (PacGAN, Lin et al. 2018; VEEGAN, Srivastava et al. 2017) for ring8 / grid25 toy data.

Bad input raises `MetricInputError`, which is both a `GanbenchError` and a `ValueError`.
"""
from __future__ import annotations

import warnings

import numpy as np

from ganbench.registry import GanbenchError

_BLOCK_BYTES = 64 * 2**20  # at most this many bytes of float64 distances are held at once


class MetricInputError(GanbenchError, ValueError):
    """Features, statistics or parameters a metric cannot use (wrong shape, NaN, bad k, ...)."""


def _features(x, name: str, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D array (N, d), got shape {x.shape}")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise MetricInputError(f"{name} needs at least {min_rows} rows and 1 column, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise MetricInputError(f"{name} contains NaN or infinite values")
    return x


def _same_dim(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(f"{names} have different feature dimensions: {a.shape[1]} vs {b.shape[1]}")


def _check_k(k, n: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise MetricInputError(f"k must be an integer in [1, {n - 1}] (fewer than the {n} rows of {name}), "
                               f"got {k!r}")
    return int(k)


# ----------------------------------------------------------------------------------------------- FID
def _psd_factor(sigma: np.ndarray, name: str, tol_eps: float, factor: bool = True) -> np.ndarray | None:
    """A with sigma = A A^T: Cholesky when sigma is positive definite, else V sqrt(w) from `eigh` with
    rounding-level negative eigenvalues clipped to 0; clearly negative eigenvalues are an error.
    With factor=False only the check runs (eigenvalues without eigenvectors when Cholesky fails)."""
    try:
        chol = np.linalg.cholesky(sigma)
        return chol if factor else None
    except np.linalg.LinAlgError:
        pass
    w, v = np.linalg.eigh(sigma) if factor else (np.linalg.eigvalsh(sigma), None)
    scale = max(float(np.abs(w).max()), np.finfo(np.float64).tiny)
    if w.min() < -100 * sigma.shape[0] * tol_eps * scale:
        raise MetricInputError(f"{name} is not positive semi-definite (smallest eigenvalue {w.min():.3g})")
    return v * np.sqrt(np.clip(w, 0.0, None)) if factor else None


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; FID, Heusel et al. 2017).

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).  With S1 = A A^T, S1 S2 has the eigenvalues of
    the symmetric PSD matrix M = A^T S2 A, so tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(M)) from `eigvalsh`.
    A is the Cholesky factor, or V diag(sqrt(w)) from `eigh` when S1 is singular; rounding-level negative
    eigenvalues are clipped to 0. No complex numbers, no NaN on singular covariances, no scipy.linalg.sqrtm.
    The result is clipped at 0 (the exact value is never negative).
    """
    inputs = {"mu1": mu1, "sigma1": sigma1, "mu2": mu2, "sigma2": sigma2}
    # float32 statistics carry float32 rounding: the PSD check tolerates it
    tol_eps = max(float(np.finfo(a.dtype).eps) for a in (np.asarray(sigma1), np.asarray(sigma2), np.zeros(0))
                  if a.dtype.kind == "f")
    arr = {k: np.asarray(a, dtype=np.float64) for k, a in inputs.items()}
    d = arr["mu1"].shape[0] if arr["mu1"].ndim == 1 else -1
    for k in ("mu1", "mu2"):
        if arr[k].shape != (d,) or d < 1:
            raise MetricInputError(f"{k} must be a vector of length d = len(mu1), got shape {arr[k].shape}")
    for k in ("sigma1", "sigma2"):
        if arr[k].shape != (d, d):
            raise MetricInputError(f"{k} must have shape (d, d) = ({d}, {d}), got {arr[k].shape}")
    for k, a in arr.items():
        if not np.isfinite(a).all():
            raise MetricInputError(f"{k} contains NaN or infinite values")
    s1, s2 = arr["sigma1"], arr["sigma2"]
    for k, s in (("sigma1", s1), ("sigma2", s2)):
        if not np.allclose(s, s.T, rtol=1e-5, atol=1e-8 * max(1.0, float(np.abs(s).max()))):
            raise MetricInputError(f"{k} is not symmetric; pass a covariance matrix")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2

    a1 = _psd_factor(s1, "sigma1", tol_eps)
    _psd_factor(s2, "sigma2", tol_eps, factor=False)
    m = a1.T @ s2 @ a1
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = arr["mu1"] - arr["mu2"]
    fd = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * tr_covmean
    return max(fd, 0.0)


def _warn_if_singular(n: int, d: int, stacklevel: int) -> None:
    if n <= d:
        warnings.warn(f"{n} samples in {d} dimensions: the covariance is singular (rank <= {n - 1} < {d}), "
                      f"so FID is strongly biased upward; use more samples than feature dimensions",
                      RuntimeWarning, stacklevel=stacklevel + 1)


def features_to_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rowvar=False, ddof=1, as pytorch-fid) of an (N, d) feature array.

    With N <= d the covariance has rank <= N - 1 < d: a RuntimeWarning says so, the statistics are returned.
    """
    x = _features(features, "features", min_rows=2)
    _warn_if_singular(*x.shape, stacklevel=2)
    return _stats(x)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def fid_from_features(real, fake) -> float:
    """FID between two (N, d) feature arrays: `frechet_distance` of their `features_to_stats`.

    Biased upward at small N: for two independent samples of N points from the same d-dim Gaussian,
    E[FID] ~ 2 d / N + d (d + 1) / (2 (N - 1)) to leading order (derived in tests/test_metrics_functional.py).
    With N <= d for either set a RuntimeWarning says the covariance is singular; the value is still finite.
    """
    real, fake = _features(real, "real", 2), _features(fake, "fake", 2)
    _same_dim(real, fake, "real and fake")
    _warn_if_singular(min(len(real), len(fake)), real.shape[1], stacklevel=2)
    (mu1, s1), (mu2, s2) = _stats(real), _stats(fake)
    return frechet_distance(mu1, s1, mu2, s2)


# ----------------------------------------------------------------------------------------------- KID
def _mmd2_unbiased_poly(x: np.ndarray, y: np.ndarray) -> float:
    """torch-fidelity's 'unbiased' MMD^2: off-diagonal means of K_XX and K_YY, full mean of K_XY."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std (ddof=0) of MMD^2 over random subsets.

    Kernel k(x, y) = (x.y / d + 1)^3. Each subset draws `subset_size` rows without replacement from `fake`, then
    from `real`, with numpy.random.RandomState(seed): the same draws as torch-fidelity's
    `kid_features_to_metric(fake, real, rng_seed=seed)` (its input 1 is the generated set). The estimator is
    unbiased, so values near 0 may be negative. `subset_size` is capped at min(len(real), len(fake)).
    """
    real, fake = _features(real, "real", 2), _features(fake, "fake", 2)
    _same_dim(real, fake, "real and fake")
    for name, val, low in (("subsets", subsets, 1), ("subset_size", subset_size, 2)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
            raise MetricInputError(f"{name} must be an integer >= {low}, got {val!r}")
    m = int(min(subset_size, len(real), len(fake)))
    rng = np.random.RandomState(seed)
    mmds = np.empty(int(subsets))
    for i in range(int(subsets)):
        f = fake[rng.choice(len(fake), m, replace=False)]
        r = real[rng.choice(len(real), m, replace=False)]
        mmds[i] = _mmd2_unbiased_poly(f, r)
    return float(mmds.mean()), float(mmds.std())


# ------------------------------------------------------------------------------ k-NN manifold metrics
def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _row_blocks(n_rows: int, n_cols: int, block_rows: int | None):
    step = block_rows or max(1, _BLOCK_BYTES // (8 * max(n_cols, 1)))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _sq_dists(a: np.ndarray, a_sq: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances |a|^2 + |b|^2 - 2 a.b, clipped at 0 (rounding)."""
    return np.maximum(a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T), 0.0)


def _knn_sq_radii(x: np.ndarray, x_sq: np.ndarray, k: int, block_rows: int | None) -> np.ndarray:
    """Squared distance of each row to its k-th nearest neighbour in x, the row itself excluded.

    The (k+1)-th smallest distance counting the row itself (distance 0): an exact duplicate is a neighbour.
    """
    out = np.empty(len(x))
    for rows in _row_blocks(len(x), len(x), block_rows):
        d2 = _sq_dists(x[rows], x_sq[rows], x, x_sq)
        d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = 0.0
        out[rows] = np.partition(d2, k, axis=1)[:, k]
    return out


def precision_recall(real, fake, k: int = 3, block_rows: int | None = None) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), as torch-fidelity's `prc`.

    radius(x) = distance from x to its k-th nearest neighbour within its own set (x excluded).
    Precision = fraction of fake points within (<=) radius of some real point; recall = fraction of real points
    within (<=) radius of some fake point. Distances are computed `block_rows` rows at a time (default: blocks
    of about 64 MiB), never as a full N x M matrix.
    """
    real, fake = _features(real, "real", 2), _features(fake, "fake", 2)
    _same_dim(real, fake, "real and fake")
    k = _check_k(k, min(len(real), len(fake)), "the smaller set")
    r_sq, f_sq = _sq_norms(real), _sq_norms(fake)
    real_r2 = _knn_sq_radii(real, r_sq, k, block_rows)
    fake_r2 = _knn_sq_radii(fake, f_sq, k, block_rows)
    fake_in = np.zeros(len(fake), dtype=bool)
    real_in = np.zeros(len(real), dtype=bool)
    for rows in _row_blocks(len(fake), len(real), block_rows):
        d2 = _sq_dists(fake[rows], f_sq[rows], real, r_sq)
        fake_in[rows] = (d2 <= real_r2[None, :]).any(axis=1)
        real_in |= (d2 <= fake_r2[rows, None]).any(axis=0)
    return float(fake_in.mean()), float(real_in.mean())


def density_coverage(real, fake, k: int = 5, block_rows: int | None = None) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), as `prdc.compute_prdc`; radii from the real set only.

    density = 1/(k M) * sum over fake y of #{real x : |x - y| < radius(x)} (can exceed 1);
    coverage = fraction of real x whose nearest fake point is at distance < radius(x). Strict <, as prdc.
    """
    real, fake = _features(real, "real", 2), _features(fake, "fake", 1)
    _same_dim(real, fake, "real and fake")
    k = _check_k(k, len(real), "real")
    r_sq, f_sq = _sq_norms(real), _sq_norms(fake)
    real_r2 = _knn_sq_radii(real, r_sq, k, block_rows)
    hits = 0
    nearest_fake = np.full(len(real), np.inf)
    for rows in _row_blocks(len(fake), len(real), block_rows):
        d2 = _sq_dists(fake[rows], f_sq[rows], real, r_sq)
        hits += int((d2 < real_r2[None, :]).sum())
        np.minimum(nearest_fake, d2.min(axis=0), out=nearest_fake)
    return float(hits / (k * len(fake))), float((nearest_fake < real_r2).mean())


# ----------------------------------------------------------------------------------- Inception Score
def inception_score_from_logits(logits, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp(mean_x KL(p(y|x) || p(y))) per split; mean and std (ddof=0).

    p(y|x) = softmax(logits); p(y) is the mean of p(y|x) within the split. Split i holds rows
    [i N // splits, (i + 1) N // splits) in the given order, as the original code and torch-fidelity (which
    first shuffles rows with RandomState(2020); shuffle yourself to reproduce it). Bounds: 1 <= IS <= classes.
    """
    z = _features(logits, "logits", 1)
    n = len(z)
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise MetricInputError(f"splits must be an integer in [1, {n}] (the number of rows), got {splits!r}")
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(int(splits)):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        p_y = p[rows].mean(axis=0)
        # p_y underflows to 0 only where every p(y|x) is 0 (log p(y|x) stays finite): those terms are 0
        log_p_y = np.log(np.where(p_y > 0, p_y, 1.0))
        kl = (p[rows] * (log_p[rows] - log_p_y)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# -------------------------------------------------------------------------- toy mode-collapse metrics
def mode_metrics(samples, centers, std: float, threshold: float = 3.0) -> dict:
    """Mode coverage on Gaussian-mixture toy data (ring8, grid25), as PacGAN (Lin et al. 2018) and VEEGAN.

    A sample is high quality (hq) when its distance to the nearest center is < threshold * std; it is then
    assigned to that center. Returns
    - modes: number of centers with at least one hq sample;
    - hq: fraction of all samples that are hq;
    - reverse_kl: KL(q || uniform) = sum_j q_j log(q_j * n_modes), where q is the histogram of the hq samples
      only (low-quality samples are not counted) over the centers, 0 log 0 = 0. Between 0 (every mode equally
      hit) and log(n_modes) (one mode). With no hq sample at all it is log(n_modes), the value of total collapse.
    - mode_tv: the total variation distance between the samples' distribution over {mode 1, ..., mode n, off-mode}
      (a sample is on mode j when it is hq and j is its nearest centre) and the data's ideal (1/n on every mode,
      nothing off-mode): 1/2 (sum_j |p_j - 1/n| + p_off). One number that both spread and collapse raise: 0 when
      every sample is hq and the modes are hit equally, 1 - 1/n for perfect samples of one mode only, about 1 - hq
      for noise. ganbench's own summary (not PacGAN's); the toys' primary metric, since noise reaches most
      ``modes`` (uniform noise hits 21 to 25 of grid25's modes) and a collapsed generator reaches a high ``hq``.
    """
    x = _features(samples, "samples", 1)
    c = _features(centers, "centers", 1)
    _same_dim(x, c, "samples and centers")
    for name, val in (("std", std), ("threshold", threshold)):
        if not np.isfinite(val) or val <= 0:
            raise MetricInputError(f"{name} must be a positive finite number, got {val!r}")
    nearest = np.empty(len(x), dtype=np.int64)
    near_d2 = np.empty(len(x))
    for rows in _row_blocks(len(x), len(c) * c.shape[1], None):  # exact differences: centers are few
        d2 = ((x[rows, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        nearest[rows] = d2.argmin(axis=1)
        near_d2[rows] = d2[np.arange(d2.shape[0]), nearest[rows]]
    good = np.sqrt(near_d2) < threshold * std
    n_modes = len(c)
    counts = np.bincount(nearest[good], minlength=n_modes)
    if counts.sum() == 0:
        reverse_kl = float(np.log(n_modes))
    else:
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(max(np.sum(q * np.log(q * n_modes)), 0.0))
    p = counts / len(x)
    mode_tv = 0.5 * (float(np.abs(p - 1.0 / n_modes).sum()) + float(1.0 - good.mean()))
    return {"modes": int((counts > 0).sum()), "hq": float(good.mean()), "reverse_kl": reverse_kl,
            "mode_tv": mode_tv}
