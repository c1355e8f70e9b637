"""The statistics behind every comparison in a report, built on scipy.stats.

- a mean over seeds with a percentile bootstrap confidence interval (``scipy.stats.bootstrap``);
- the probability of improvement P(A better than B) of Agarwal et al. 2021 ("Deep RL at the edge of the statistical
  precipice", the rliable toolkit): the Mann-Whitney U statistic divided by n_a * n_b, with a two-sample bootstrap
  interval; the test beside it is the Mann-Whitney U test (``scipy.stats.mannwhitneyu``, exact for small samples)
  or, for trials paired by seed and search sample, the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``);
- Holm's step-down correction for several comparisons;
- the interquartile mean (``scipy.stats.trim_mean(x, 0.25)``) and performance profiles over datasets, with
  stratified bootstrap intervals (each dataset resampled on its own: ``scipy.stats.bootstrap`` with one sample per
  dataset);
- Lucic et al.'s search-budget curve.

rliable itself is not a dependency: its bootstrap comes from the ``arch`` package, whose releases that rliable
accepts do not import with pandas 3. The definitions above are rliable's.
"""
from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
LEVEL = 0.95
N_BOOT = 2000


def _oriented(values, direction: str) -> np.ndarray:
    """Scores turned so that higher is better."""
    x = np.asarray(values, dtype=float)
    return x if direction == "max" else -x


def mean_ci(values, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval; (mean, nan, nan) with fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    if len(x) < 2:
        return float(x.mean()), np.nan, np.nan
    res = stats.bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile",
                          random_state=np.random.default_rng(seed))
    return float(x.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)


def _poi_statistic(a, b, axis=-1):
    """P(a > b) + P(a = b) / 2 over all pairs (vectorised over leading axes for the bootstrap)."""
    diff = np.expand_dims(a, -1) - np.expand_dims(b, -2)
    return (np.sign(diff) * 0.5 + 0.5).mean(axis=(-1, -2))


def probability_of_improvement(a, b, direction: str, n_boot: int = N_BOOT, seed: int = 0,
                               level: float = LEVEL) -> tuple[float, float, float]:
    """P(a run of A scores better than a run of B) with a two-sample bootstrap interval (nan with < 2 runs)."""
    x, y = _oriented(a, direction), _oriented(b, direction)
    p = float(stats.mannwhitneyu(x, y).statistic / (len(x) * len(y)))
    if min(len(x), len(y)) < 2:
        return p, np.nan, np.nan
    res = stats.bootstrap((x, y), _poi_statistic, n_resamples=n_boot, confidence_level=level, method="percentile",
                          vectorized=True, random_state=np.random.default_rng(seed))
    return p, float(res.confidence_interval.low), float(res.confidence_interval.high)


def smallest_p(n_a: int, n_b: int, paired: bool) -> float:
    """The smallest two-sided p-value the exact test can give with these sample sizes: below ALPHA or no test at
    this size can tell two variants apart."""
    if paired:
        return min(1.0, 2.0 ** (1 - n_a))
    return min(1.0, 2.0 / comb(n_a + n_b, n_a))


def compare(a, b, direction: str, paired: bool = False, seed: int = 0) -> dict:
    """One pairwise comparison: probability of improvement of A over B with its interval, and the test's p-value
    (Wilcoxon signed-rank on the differences when ``paired``, else Mann-Whitney U; two-sided: twice the smaller
    one-sided p, from the exact permutation distribution while it has fewer than 9999 arrangements)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    poi, lo, hi = probability_of_improvement(a, b, direction, seed=seed)
    # p-values from the permutation distribution (exact while the arrangements number fewer than 9999, ties
    # included), so that few seeds give the honest, coarse p-values of an exact test
    method = stats.PermutationMethod(n_resamples=9999, random_state=np.random.default_rng(seed))
    if min(len(a), len(b)) < 2:  # one run each: both arrangements are as extreme, the exact p is 1
        p = 1.0
        test = "Wilcoxon signed-rank, paired" if paired else "Mann-Whitney U"
    elif paired:
        if len(a) != len(b):
            raise ValueError("paired samples differ in length")
        p = 1.0 if np.all(a == b) else float(stats.wilcoxon(a, b, method=method).pvalue)
        test = "Wilcoxon signed-rank, paired"
    else:
        p = float(stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
        test = "Mann-Whitney U"
    return {"n_a": len(a), "n_b": len(b), "poi": poi, "poi_low": lo, "poi_high": hi, "test": test, "p": p,
            "smallest_p": smallest_p(len(a), len(b), paired)}


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control): the i-th smallest of m p-values is
    multiplied by m - i (i from 0), made monotone, and capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


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
