"""Seeds until decided: a group-sequential design with Lan-DeMets alpha spending (O'Brien-Fleming type).

A pair of variants is looked at after ``first`` confirmation seeds, then every ``step`` seeds up to ``max_seeds``.
At look k (information fraction t_k = n_k / max_seeds) the design may spend alpha(t_k) - alpha(t_{k-1}) of its
error, with the spending function alpha(t) = 2 - 2 Phi(z_{1 - a/2} / sqrt(t)) (Lan & DeMets 1983; gsDesign's
``sfLDOF``) for each one-sided test at level a: almost nothing at the early looks, nearly the whole ``a`` at the
last. The z boundaries c_k follow from the joint normal law of the statistics across looks (corr(Z_j, Z_k) =
sqrt(t_j / t_k)), integrated numerically on a grid (the Armitage-McPherson-Rowe recursion); they reproduce
gsDesign's published bounds (tests). Each look's test then runs at its nominal level (p-value matching: a t-test at
look k rejects where its one-sided p <= 1 - Phi(c_k)). Two claims, each with its own spending:

- a difference: two-sided t-test (paired t on per-seed differences, Welch unpaired) at a = alpha / m (Bonferroni
  over the family's m pairs, so every pair's design may stop on its own);
- equivalence within the declared margin: two one-sided t-tests (statsmodels ``ttost_paired`` / ``ttost_ind``),
  each one-sided at a.

A verdict other than "undecided" is final at the look it is reached; "undecided" before the last look means:
continue. Why written here rather than taken from a library: ``confseq`` 0.0.11 (confidence sequences) is a C++
source build (scikit-build, CMake) that fails on this machine (CMake: Boost_INCLUDE_DIR NOTFOUND; a user would need
the Boost headers installed to pip-install ganbench), and neither scipy nor statsmodels has group-sequential
boundaries; the spending function and the recursion are a few lines of
scipy (``scipy.stats.norm``, ``scipy.optimize.brentq``), checked against published boundaries in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import sqrt

import numpy as np
from scipy import stats
from scipy.optimize import brentq

from ganbench.report.inference import (ALPHA, Comparison, _oriented, _spread, seeds_needed, t_interval, tost)

GRID = 1201  # points of the numerical integration over the continuation region at each look


def obf_spending(t: float, alpha: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type alpha spending: the error spent by information fraction t in (0, 1]."""
    return float(2.0 * stats.norm.sf(stats.norm.ppf(1.0 - alpha / 2.0) / sqrt(t)))


def _crossing(c: float, info: float, s: np.ndarray | None, f: np.ndarray | None, prev: float) -> float:
    """P(not stopped before, Z_k >= c) given the density f of the score S_{k-1} on grid s."""
    if s is None:
        return float(stats.norm.sf(c))
    sd, b = sqrt(info - prev), c * sqrt(info)
    return float(np.trapezoid(f * stats.norm.sf((b - s) / sd), s))


def obf_bounds(alpha: float, fractions) -> np.ndarray:
    """One-sided z boundaries c_1..c_K (stop when Z_k >= c_k) of a group-sequential test spending ``alpha`` by
    ``obf_spending`` at the information fractions given (increasing, the last 1). A two-sided test at level a uses
    the bounds of a / 2 on each side (gsDesign's symmetric convention; crossing both sides is negligible)."""
    info = np.asarray(fractions, dtype=float)
    bounds, spent, s, f, prev = [], 0.0, None, None, 0.0
    for t in info:
        target = obf_spending(t, alpha) - spent
        if target <= 1e-15:
            c = np.inf
        else:
            c = brentq(lambda c: _crossing(c, t, s, f, prev) - target, 1e-6, 40.0, xtol=1e-10)
        spent += _crossing(c, t, s, f, prev) if np.isfinite(c) else 0.0
        bounds.append(c)
        grid = np.linspace(-12.0 * sqrt(t), min(c, 12.0) * sqrt(t), GRID)  # the continuation region
        if s is None:
            dens = stats.norm.pdf(grid / sqrt(t)) / sqrt(t)
        else:
            sd = sqrt(t - prev)
            kernel = stats.norm.pdf((grid[:, None] - s[None, :]) / sd) / sd
            dens = np.trapezoid(kernel * f[None, :], s, axis=1)
        s, f, prev = grid, dens, t
    return np.asarray(bounds)


def _t_p(a: np.ndarray, b: np.ndarray, paired: bool) -> float:
    if np.std(a - b if paired else np.r_[a - a.mean(), b - b.mean()], ddof=1) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
    res = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    return float(res.pvalue)


@dataclass(frozen=True)
class SequentialDesign:
    """Looks after ``first`` seeds and every ``step`` after, up to ``max_seeds``; error ``alpha`` per family."""
    alpha: float = ALPHA
    max_seeds: int = 20
    first: int = 5
    step: int = 5

    def __post_init__(self):
        if not (0 < self.alpha < 1) or self.first < 2 or self.step < 1 or self.max_seeds < self.first:
            raise ValueError(f"a sequential design needs 0 < alpha < 1, first >= 2, step >= 1, max_seeds >= first; "
                             f"got {self}")

    @cached_property
    def looks(self) -> list[int]:
        """Seed counts at which the design looks."""
        return sorted({*range(self.first, self.max_seeds + 1, self.step), self.max_seeds})

    def nominal(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Per look, the nominal two-sided p level of the difference test and the one-sided level of each TOST test,
        for a family of m pairs (alpha / m per pair)."""
        return _nominal(self.alpha / max(1, m), tuple(n / self.max_seeds for n in self.looks))

    def tost_power(self, diff: float, sd: float, margin: float, paired: bool, m: int) -> float:
        """The power to show equivalence the design states: a fixed TOST at max_seeds at the last look's nominal
        level (earlier looks only add to it)."""
        from ganbench.report.inference import tost_power
        return tost_power(diff, sd, margin, self.max_seeds, paired, float(self.nominal(m)[1][-1]))

    def decide(self, a, b, direction: str, paired: bool, margin: float | None, m: int) -> Comparison:
        """The verdict at the last look the seeds reach: better / worse / equivalent (final) or undecided (continue,
        or final at max_seeds). ``seeds_needed``: the next look's seed count while it may continue."""
        x, y = _oriented(a, direction), _oriented(b, direction)
        if paired:
            keep = np.isfinite(x) & np.isfinite(y)
            x, y = x[keep], y[keep]
        else:
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        n = min(len(x), len(y))
        reached = [k for k, look in enumerate(self.looks) if look <= n]
        margin = margin if margin is not None and np.isfinite(margin) and margin > 0 else None
        two, one = self.nominal(m)
        k = reached[-1] if reached else -1
        level = float(two[k]) if reached else 0.0
        p = _t_p(x, y, paired) if reached else 1.0
        tost_p = tost(x, y, paired, margin) if reached else float("nan")
        diff = float(np.mean(x) - np.mean(y)) if n else float("nan")
        verdict = "undecided"
        if reached and p <= level:
            verdict = "better" if diff > 0 else "worse"
        elif reached and np.isfinite(tost_p) and tost_p <= one[k]:
            verdict = "equivalent"
        last = bool(reached) and self.looks[k] == self.looks[-1]
        sd = _spread(x, y, paired)
        if verdict != "undecided":
            needed = n
        elif last:
            needed = seeds_needed(diff, sd, margin, paired, m, self.alpha)
        else:
            needed = self.looks[k + 1]
        low, high, interval = t_interval(x, y, paired, 1 - level) if reached else (np.nan, np.nan, "")
        look = f"look {k + 1} of {len(self.looks)}" if reached else "before the first look"
        return Comparison(
            diff=diff, low=low, high=high, level=1 - level, interval=f"repeated {interval}", p=p,
            test="paired t" if paired else "Welch t", p_method=f"group-sequential, {look}, nominal {level:.3g}",
            tost_p=tost_p, margin=margin, verdict=verdict, n_a=len(x), n_b=len(y), paired=paired, m=max(1, m),
            seeds_needed=int(needed), sd=sd,
            family=f"{m} pair(s), alpha {self.alpha:g} / {m} per pair, O'Brien-Fleming-type spending")


_CACHE: dict = {}


def _nominal(a: float, fractions: tuple) -> tuple[np.ndarray, np.ndarray]:
    key = (a, fractions)
    if key not in _CACHE:
        two = 2.0 * stats.norm.sf(obf_bounds(a / 2, fractions))  # symmetric: a / 2 on each side
        one = stats.norm.sf(obf_bounds(a, fractions))
        _CACHE[key] = (two, one)
    return _CACHE[key]
