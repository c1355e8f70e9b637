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

import warnings
from dataclasses import dataclass, replace
from math import comb, sqrt

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

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
            f"{'Wilcoxon signed-rank' if paired else 'Mann-Whitney U'} test reaches, after Holm over {m} "
            f"pair{'s' if m != 1 else ''}, is "
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


# ---------------------------------------------------------------- one pair, a family of pairs (issue 15 items 4, 6)

VERDICTS = ("better", "worse", "equivalent", "undecided")
N_RESAMPLES = 9999  # permutations where the exact distribution is out of reach (ties, or too many arrangements)
EXACT_MAX = 50  # scipy's exact rank distributions are used up to this many seeds per arm


@dataclass(frozen=True)
class Comparison:
    """A against B on one metric, oriented so that a positive ``diff`` means A is better. ``p`` is the two-sided
    rank test (``p_method``: "exact", or "MC, N resamples, se S"); ``p_holm`` and ``tost_p_holm`` are its and the
    TOST p after Holm over the family (nan until ``compare_family`` fills them); ``tost_p`` is nan with no margin.
    ``verdict``: better / worse (rank test, corrected), equivalent (TOST within the margin, corrected) or undecided;
    ``seeds_needed``: seeds per arm that would decide it at the observed difference and spread."""
    diff: float
    low: float
    high: float
    level: float
    interval: str  # "paired t" or "Welch t"
    test: str
    p: float
    p_method: str
    tost_p: float
    margin: float | None
    verdict: str
    n_a: int
    n_b: int
    paired: bool
    m: int
    seeds_needed: int
    sd: float
    p_holm: float = float("nan")
    tost_p_holm: float = float("nan")
    family: str = ""


def _oriented(values, direction: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min', not {direction!r}")
    return x if direction == "max" else -x


def _has_ties(*samples) -> bool:
    pooled = np.concatenate(samples)
    return len(np.unique(pooled)) < len(pooled)


def rank_test(a: np.ndarray, b: np.ndarray, paired: bool, seed: int = 0) -> tuple[str, float, str]:
    """(test, two-sided p, method): exact Wilcoxon signed-rank / Mann-Whitney U where the counts allow (no ties, no
    zero differences, at most EXACT_MAX seeds), else a permutation test, exact while the arrangements number at most
    N_RESAMPLES, else Monte Carlo with N_RESAMPLES resamples and its standard error."""
    test = "Wilcoxon signed-rank, paired" if paired else "Mann-Whitney U"
    if min(len(a), len(b)) < 2 or (paired and np.all(a == b)):
        return test, 1.0, "exact"
    d = a - b if paired else None
    if paired and not _has_ties(np.abs(d)) and np.all(d != 0) and len(d) <= EXACT_MAX:
        return test, float(stats.wilcoxon(d, method="exact").pvalue), "exact"
    if not paired and not _has_ties(a, b) and max(len(a), len(b)) <= EXACT_MAX:
        return test, float(stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue), "exact"
    arrangements = 2 ** len(a) if paired else comb(len(a) + len(b), len(a))
    method = stats.PermutationMethod(n_resamples=N_RESAMPLES, random_state=np.random.default_rng(seed))
    if paired:
        p = float(stats.wilcoxon(d, method=method).pvalue)
    else:
        p = float(stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
    if arrangements <= N_RESAMPLES:
        return test, p, "exact (permutation, ties)"
    return test, p, f"MC, {N_RESAMPLES} resamples, se {sqrt(p * (1 - p) / N_RESAMPLES):.2g}"


def t_interval(a: np.ndarray, b: np.ndarray, paired: bool, level: float) -> tuple[float, float, str]:
    """The difference's t interval at ``level``: paired t on the per-seed differences, else Welch."""
    if min(len(a), len(b)) < 2:
        return float("nan"), float("nan"), "paired t" if paired else "Welch t"
    with np.errstate(all="ignore"), warnings.catch_warnings():  # constant differences: a zero-width interval
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(confidence_level=level)
    return float(ci.low), float(ci.high), "paired t" if paired else "Welch t"


def tost(a: np.ndarray, b: np.ndarray, paired: bool, margin: float | None) -> float:
    """TOST p that |mean difference| < margin (statsmodels ``ttost_paired`` / ``ttost_ind`` with Welch's variance);
    nan without a margin or with fewer than two seeds; 0 or 1 when the seeds do not vary."""
    if margin is None or not np.isfinite(margin) or margin <= 0 or min(len(a), len(b)) < 2:
        return float("nan")
    d = a - b if paired else None
    spread = np.std(d, ddof=1) if paired else np.std(a, ddof=1) + np.std(b, ddof=1)
    if spread == 0:
        return 0.0 if abs(np.mean(a) - np.mean(b)) < margin else 1.0
    if paired:
        return float(ttost_paired(a, b, -margin, margin)[0])
    return float(ttost_ind(a, b, -margin, margin, usevar="unequal")[0])


def _spread(a: np.ndarray, b: np.ndarray, paired: bool) -> float:
    if min(len(a), len(b)) < 2:
        return float("nan")
    if paired:
        return float(np.std(a - b, ddof=1))
    return float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))


def judge(diff: float, p: float, tost_p: float, level: float) -> str:
    """The verdict from corrected p-values: a difference shown wins over equivalence (both may hold within a margin);
    equivalence needs a TOST p (so a margin)."""
    if p < level:
        return "better" if diff > 0 else "worse"
    if np.isfinite(tost_p) and tost_p < level:
        return "equivalent"
    return "undecided"


def compare_pair(a, b, direction: str, *, paired: bool, margin: float | None, m: int, alpha: float = ALPHA,
                 seed: int = 0) -> Comparison:
    """One pair, judged on its own at alpha / m (Bonferroni: what Holm asks of the family's smallest p); use
    ``compare_family`` to judge a family with Holm's step-down."""
    x, y = _oriented(a, direction), _oriented(b, direction)
    if paired:  # a seed missing in either arm leaves the pair
        if len(x) != len(y):
            raise ValueError(f"paired samples differ in size: {len(x)} and {len(y)}")
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
    else:
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if not (margin is None or (np.isfinite(margin) and margin > 0)):
        margin = None
    diff = float(np.mean(x) - np.mean(y)) if len(x) and len(y) else float("nan")
    low, high, interval = t_interval(x, y, paired, 1 - alpha)
    test, p, p_method = rank_test(x, y, paired, seed)
    tost_p = tost(x, y, paired, margin)
    sd = _spread(x, y, paired)
    return Comparison(diff=diff, low=low, high=high, level=1 - alpha, interval=interval, test=test, p=p,
                      p_method=p_method, tost_p=tost_p, margin=margin,
                      verdict=judge(diff, min(1.0, p * max(1, m)), min(1.0, tost_p * max(1, m)), alpha),
                      n_a=len(x), n_b=len(y), paired=paired, m=max(1, m),
                      seeds_needed=seeds_needed(diff, sd, margin, paired, m, alpha), sd=sd)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (statsmodels ``multipletests``); nan stays nan and is left out of m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def compare_family(groups: dict, direction: str, *, paired: bool, margin: float | None, family: str,
                   alpha: float = ALPHA, seed: int = 0) -> list[tuple[str, str, Comparison]]:
    """Every pair (A, B) of ``groups`` (name -> scores; paired: by position, the same seeds) with Holm over the
    family's m pairs, once for the rank tests and once for the TOSTs (each pair has at most one true null of the
    two; each kind of claim keeps its family-wise error at alpha). The family is named in each Comparison."""
    names = sorted(groups)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    raw = [compare_pair(groups[a], groups[b], direction, paired=paired, margin=margin, m=len(pairs), alpha=alpha,
                        seed=seed) for a, b in pairs]
    return [(a, b, c) for (a, b), c in zip(pairs, correct_family(raw, family, alpha))]


def correct_family(comparisons: list, family: str, alpha: float = ALPHA) -> list:
    """The comparisons of one family with Holm's p over its m pairs (rank tests and TOSTs apart), the verdicts
    judged on them, and the family named ("<family>: m pairs, Holm")."""
    m = len(comparisons)
    p_holm, t_holm = holm([c.p for c in comparisons]), holm([c.tost_p for c in comparisons])
    label = f"{family}: {m} pairs, Holm" if m > 1 else f"{family}: 1 pair, no correction"
    return [replace(c, p_holm=float(ph), tost_p_holm=float(th), family=label, m=m,
                    verdict=judge(c.diff, ph, th, alpha)) for c, ph, th in zip(comparisons, p_holm, t_holm)]


def round_to_uncertainty(value: float, half_width: float) -> str:
    """``value`` printed to the precision its interval supports: to the decimal of the half-width's first
    significant digit (one more when that digit is 1, so 0.15 keeps two decimals); 3 significant digits where
    there is no interval. round_to_uncertainty(8.2637, 1.5) == "8.3", (8.2637, 0.08) == "8.26", (455.3, 30) ==
    "460"."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if half_width is None or not np.isfinite(half_width) or half_width <= 0:
        return f"{value:.3g}"
    exponent = int(np.floor(np.log10(half_width)))
    lead = int(half_width / 10.0 ** exponent)
    decimals = -exponent + (1 if lead == 1 else 0)
    rounded = round(float(value), decimals) + 0.0  # + 0.0: no "-0.0"
    return f"{rounded:.{max(0, decimals)}f}"


def interval_text(diff: float, low: float, high: float) -> str:
    """"d [low, high]", all three to the precision of the interval's half-width."""
    half = (high - low) / 2 if np.isfinite(low) and np.isfinite(high) else float("nan")
    if not np.isfinite(half):
        return round_to_uncertainty(diff, half)
    return (f"{round_to_uncertainty(diff, half)} [{round_to_uncertainty(low, half)}, "
            f"{round_to_uncertainty(high, half)}]")
