"""Means over seeds and aggregates over datasets in a report, built on scipy.stats.

- a mean over seeds with its Student t interval (``scipy.stats.ttest_1samp(...).confidence_interval``): at n = 5 it
  covers at its level, where the percentile bootstrap this module used before covers about 80% at a stated 95%
  (tests/test_inference.py simulates both);
- pairwise comparisons live in ``ganbench.report.inference`` (exact rank tests, t intervals, TOST, Holm);
- Holm's step-down correction for several comparisons (statsmodels);
- the interquartile mean (``scipy.stats.trim_mean(x, 0.25)``) and performance profiles over datasets, with
  stratified bootstrap intervals (each dataset resampled on its own: ``scipy.stats.bootstrap`` with one sample per
  dataset);
- Lucic et al.'s search-budget curve.

rliable itself is not a dependency: its bootstrap comes from the ``arch`` package, whose releases that rliable
accepts do not import with pandas 3. The definitions above are rliable's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ganbench.report import inference

ALPHA = 0.05
LEVEL = 0.95
N_BOOT = 2000


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of ``values`` and its t interval at ``level``; (mean, nan, nan) with fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    if len(x) < 2:
        return float(x.mean()), np.nan, np.nan
    if np.all(x == x[0]):  # no spread: the interval is the point
        return float(x[0]), float(x[0]), float(x[0])
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence_level=level)
    return float(x.mean()), float(ci.low), float(ci.high)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control; ``ganbench.report.inference.holm``)."""
    return inference.holm(pvalues)


def iqm(values, axis=-1):
    """Interquartile mean: the mean of the middle 50% (scipy.stats.trim_mean with 25% cut at each end)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def stratified_bootstrap(strata: list, statistic, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL):
    """Interval of ``statistic(pooled runs)`` resampling every stratum (dataset) on its own, as rliable does.
    ``statistic(x, axis)`` takes the pooled runs on ``axis``; strata of one run are kept fixed."""
    strata = [np.asarray(s, dtype=float) for s in strata]
    varying = [s for s in strata if len(s) > 1]
    fixed = np.concatenate([s for s in strata if len(s) == 1] or [np.empty(0)])

    def pooled(*samples, axis=-1):
        lead = samples[0].shape[:-1] if samples else ()
        parts = [*samples, np.broadcast_to(fixed, (*lead, len(fixed)))]
        return statistic(np.concatenate(parts, axis=-1), axis=-1)

    point = statistic(np.concatenate(strata), axis=-1)
    if not varying:
        return point, np.full_like(np.asarray(point, dtype=float), np.nan), np.full_like(
            np.asarray(point, dtype=float), np.nan)
    res = stats.bootstrap(tuple(varying), pooled, n_resamples=n_boot, confidence_level=level, method="percentile",
                          vectorized=True, random_state=np.random.default_rng(seed))
    return point, res.confidence_interval.low, res.confidence_interval.high


def aggregate(strata: list, seed: int = 0) -> dict:
    """IQM and mean of normalised scores pooled over datasets, each with a stratified bootstrap interval."""
    out = {"runs": int(sum(len(s) for s in strata)), "median": float(np.median(np.concatenate(strata)))}
    for name, fn in (("iqm", iqm), ("mean", lambda x, axis=-1: np.mean(x, axis=axis))):
        point, lo, hi = stratified_bootstrap(strata, fn, seed=seed)
        out.update({name: float(point), f"{name}_low": float(lo), f"{name}_high": float(hi)})
    return out


def performance_profile(strata: list, taus, seed: int = 0) -> pd.DataFrame:
    """Fraction of runs (pooled over datasets) with a normalised score above tau, for each tau, with stratified
    bootstrap intervals (Agarwal et al. 2021's performance profile)."""
    taus = np.asarray(taus, dtype=float)

    def fraction_above(x, axis=-1):
        return np.stack([(x > t).mean(axis=axis) for t in taus], axis=0)

    point, lo, hi = stratified_bootstrap(strata, fraction_above, seed=seed)
    return pd.DataFrame({"tau": taus, "fraction": point, "low": lo, "high": hi})


def budget_curve(scores: np.ndarray, better_max: bool, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Lucic et al.'s search-budget analysis: the best score reachable with k sampled configurations, estimated by
    drawing k of the observed scores with replacement, n_boot times, for k = 1..len(scores). Returns k, mean and
    the 5% / 95% quantiles of the best-of-k."""
    scores = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, len(scores) + 1):
        draws = scores[rng.integers(len(scores), size=(n_boot, k))]
        best = draws.max(axis=1) if better_max else draws.min(axis=1)
        rows.append({"k": k, "mean": best.mean(), "q05": np.quantile(best, 0.05), "q95": np.quantile(best, 0.95)})
    return pd.DataFrame(rows)
