"""What a comparison of two variants can conclude, and what a design of seeds can conclude before it runs.

Torch-free; built on scipy.stats and statsmodels:

- ``attainable_p``: the smallest Holm-corrected p the exact rank test (Wilcoxon signed-rank paired, Mann-Whitney U
  unpaired) can reach at given seed counts; ``family_warning`` says when it is above alpha (the family cannot reject);
- ``detectable_difference`` / ``seeds_needed``: power of t-tests (statsmodels ``TTestIndPower`` / ``TTestPower``) at
  alpha / m, Holm's first step and so the worst case of the family; for equivalence, the power of two one-sided
  t-tests (TOST) from the noncentral t (statsmodels has no TOST power for two samples).

Conventions: ``sd`` is the spread of one seed's score within a variant for unpaired designs and the spread of the
per-seed difference A - B for paired ones (with no estimate of it, ``sd * sqrt(2)`` assumes uncorrelated seeds).
"""
from __future__ import annotations

from math import comb, sqrt

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # seeds_needed's search stops here (a pair no study of this size decides)


def _exact_min_p(n_a: int, n_b: int, paired: bool) -> float:
    """Smallest two-sided p of the exact rank test: 2 / 2**n paired (all differences of one sign), 2 / C(n_a+n_b,
    n_a) unpaired (the two samples fully separated)."""
    if min(n_a, n_b) < 1:
        return 1.0
    if paired:
        if n_a != n_b:
            raise ValueError(f"paired samples differ in size: {n_a} and {n_b}")
        return min(1.0, 2.0 / 2 ** n_a)
    return min(1.0, 2.0 / comb(n_a + n_b, n_a))


def attainable_p(n_a: int, n_b: int, paired: bool, m: int) -> float:
    """Smallest p after Holm over a family of ``m`` pairs that the exact rank test can reach at these seed counts:
    the smallest raw p times m (Holm's first step). 5 vs 5 unpaired, m = 10: 10 * 2 / 252 = 0.079."""
    return min(1.0, max(1, m) * _exact_min_p(n_a, n_b, paired))


def family_warning(n_a: int, n_b: int, paired: bool, m: int, alpha: float = ALPHA) -> str | None:
    """One line when no pair of the family can be declared different at all: the smallest corrected p the exact
    test can reach at these seed counts is not below alpha. None when the family can reject."""
    p = attainable_p(n_a, n_b, paired, m)
    if p < alpha:
        return None
    design = f"{n_a} paired seeds" if paired else f"{n_a} vs {n_b} seeds"
    return (f"this design cannot reject: with {design} the smallest p the exact "
            f"{'Wilcoxon signed-rank' if paired else 'Mann-Whitney U'} test reaches, after Holm over {m} pairs, is "
            f"{p:.3g} >= alpha {alpha:g}; no pair can be called better or worse, whatever the scores")


def _solve_effect(n_a: int, n_b: int, paired: bool, alpha: float, power: float) -> float:
    """Standardised effect a two-sided t-test at level alpha detects with ``power`` (inf where none can)."""
    if min(n_a, n_b) < 2:
        return float("inf")
    try:
        if paired:
            es = TTestPower().solve_power(effect_size=None, nobs=n_a, alpha=alpha, power=power,
                                          alternative="two-sided")
        else:
            es = TTestIndPower().solve_power(effect_size=None, nobs1=n_a, alpha=alpha, power=power,
                                             ratio=n_b / n_a, alternative="two-sided")
    except (ValueError, RuntimeError):  # brentq found no root: no effect within reach is detected
        return float("inf")
    es = float(np.squeeze(es))
    return es if np.isfinite(es) and es > 0 else float("inf")


def detectable_difference(sd: float, n_a: int, n_b: int, paired: bool, m: int, alpha: float = ALPHA,
                          power: float = POWER) -> float:
    """Smallest true difference (in the metric's units) a t-test at alpha / m (Holm's first step, the worst case)
    detects with ``power``: the solved standardised effect size times ``sd``. inf with fewer than 2 seeds."""
    if not np.isfinite(sd) or sd < 0:
        return float("nan")
    return _solve_effect(n_a, n_b, paired, alpha / max(1, m), power) * sd


def _t_power(n: int, es: float, paired: bool, alpha: float) -> float:
    """Power of the two-sided t-test; where the noncentral t underflows to nan (large n), the normal power."""
    if paired:
        p = TTestPower().power(effect_size=es, nobs=n, alpha=alpha, alternative="two-sided")
    else:
        p = TTestIndPower().power(effect_size=es, nobs1=n, alpha=alpha, ratio=1.0, alternative="two-sided")
    if np.isfinite(p):
        return float(p)
    shift = es * sqrt(n if paired else n / 2)
    return float(stats.norm.cdf(shift - stats.norm.ppf(1 - alpha / 2)))


def tost_power(diff: float, sd: float, margin: float, n: int, paired: bool, alpha: float) -> float:
    """Power of two one-sided t-tests at level alpha to show |true difference| < margin, with n seeds per arm:
    P(reject low) + P(reject high) - 1 under the noncentral t (the usual approximation, exact as sd is known)."""
    if n < 2 or margin <= abs(diff):
        return 0.0
    se = sd * (sqrt(1.0 / n) if paired else sqrt(2.0 / n))
    df = n - 1 if paired else 2 * n - 2
    tc = stats.t.ppf(1 - alpha, df)
    if se == 0:
        return 1.0
    p_low = stats.nct.sf(tc, df, (diff + margin) / se)
    p_high = stats.nct.cdf(-tc, df, (diff - margin) / se)
    if not np.isfinite(p_low + p_high):  # the noncentral t underflows at large n: the normal approximation
        p_low = stats.norm.sf(tc - (diff + margin) / se)
        p_high = stats.norm.cdf(-tc - (diff - margin) / se)
    return float(max(0.0, p_low + p_high - 1.0))


def seeds_needed(diff: float, sd: float, margin: float | None, paired: bool, m: int, alpha: float = ALPHA,
                 power: float = POWER) -> int:
    """Seeds per arm that would decide a pair with true difference ``diff`` and seed spread ``sd`` with ``power``
    at alpha / m: equivalence by TOST where a margin is declared and |diff| < margin, else a two-sided t-test that
    the difference is not zero. MAX_SEEDS when nothing within that many seeds decides (diff 0 and no margin)."""
    if not (np.isfinite(diff) and np.isfinite(sd)):
        return MAX_SEEDS
    level = alpha / max(1, m)
    equivalence = margin is not None and abs(diff) < margin
    if sd == 0:
        return 2
    es = abs(diff) / sd

    def enough(n: int) -> bool:
        if equivalence:
            return tost_power(diff, sd, margin, n, paired, level) >= power
        return es > 0 and _t_power(n, es, paired, level) >= power

    if not enough(MAX_SEEDS):
        return MAX_SEEDS
    lo, hi = 2, MAX_SEEDS  # power grows with n: bisect for the smallest n that is enough
    while lo < hi:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
