"""ganbench.report.inference: design numbers, verdicts with equivalence, intervals that cover, the sequential rule."""
import itertools
from math import comb

import numpy as np
import pytest
from scipy import stats

from ganbench.report import inference as inf


# ---------------------------------------------------------------- design numbers (issue 15 item 3)

def test_attainable_p_hand_computed():
    assert inf.attainable_p(5, 5, paired=False, m=10) == pytest.approx(10 * 2 / 252)  # 0.079
    assert round(inf.attainable_p(5, 5, paired=False, m=10), 3) == 0.079
    assert inf.attainable_p(5, 5, paired=True, m=1) == pytest.approx(2 / 32)
    assert inf.attainable_p(10, 10, paired=True, m=10) == pytest.approx(10 * 2 / 1024)
    assert inf.attainable_p(3, 4, paired=False, m=1) == pytest.approx(2 / comb(7, 3))
    assert inf.attainable_p(2, 2, paired=False, m=6) == 1.0  # capped


def test_attainable_p_is_what_scipy_exact_tests_reach():
    a, b = np.arange(5.0), np.arange(5.0) + 10  # fully separated: the smallest exact p
    assert stats.mannwhitneyu(a, b, method="exact").pvalue == pytest.approx(inf.attainable_p(5, 5, False, 1))
    assert stats.wilcoxon(a, b, method="exact").pvalue == pytest.approx(inf.attainable_p(5, 5, True, 1))


def test_zero_power_warning_for_5_by_5_under_holm_over_10():
    line = inf.family_warning(5, 5, paired=False, m=10)
    assert line is not None and "cannot reject" in line and "0.0794" in line and "10 pairs" in line
    assert "\n" not in line
    assert inf.family_warning(5, 5, paired=False, m=1) is None  # 0.0079 < 0.05
    assert inf.family_warning(10, 10, paired=True, m=10) is None  # 0.0195 < 0.05
    assert inf.family_warning(5, 5, paired=True, m=1) is not None  # 0.0625: paired 5 cannot reject alone


def test_detectable_difference_matches_statsmodels_and_scales_with_sd():
    from statsmodels.stats.power import TTestIndPower
    es = TTestIndPower().solve_power(nobs1=5, alpha=0.05 / 10, power=0.8, ratio=1.0)
    assert inf.detectable_difference(2.0, 5, 5, False, 10) == pytest.approx(2.0 * es)
    # the solved difference is detected with the stated power (checked with the power function)
    d = inf.detectable_difference(1.0, 8, 8, True, 3)
    from statsmodels.stats.power import TTestPower
    assert TTestPower().power(effect_size=d, nobs=8, alpha=0.05 / 3) == pytest.approx(0.8, abs=1e-4)
    assert inf.detectable_difference(1.0, 1, 1, False, 1) == float("inf")
    # more pairs in the family, a larger detectable difference
    assert inf.detectable_difference(1.0, 5, 5, False, 10) > inf.detectable_difference(1.0, 5, 5, False, 1)


def test_seeds_needed_hand_checked():
    assert inf.seeds_needed(1.0, 1.0, None, paired=False, m=1) == 17  # d = 1, alpha 0.05, 80%: textbook 17
    assert inf.seeds_needed(0.0, 1.0, None, paired=False, m=1) == inf.MAX_SEEDS  # nothing decides a null w/o margin
    n = inf.seeds_needed(0.2, 1.0, 1.0, paired=False, m=1)  # equivalence: TOST power crosses 0.8 at n
    assert inf.tost_power(0.2, 1.0, 1.0, n, False, 0.05) >= 0.8 > inf.tost_power(0.2, 1.0, 1.0, n - 1, False, 0.05)
    assert inf.seeds_needed(0.5, 1.0, None, paired=False, m=10) > inf.seeds_needed(0.5, 1.0, None, False, 1)


def test_tost_power_by_simulation():
    from statsmodels.stats.weightstats import ttost_ind
    rng = np.random.default_rng(1)
    n, hits = 12, 0
    for _ in range(400):
        x, y = rng.normal(0.3, 1.0, n), rng.normal(0.0, 1.0, n)
        hits += ttost_ind(x, y, -1.2, 1.2, usevar="pooled")[0] < 0.05
    assert hits / 400 == pytest.approx(inf.tost_power(0.3, 1.0, 1.2, n, False, 0.05), abs=0.07)


# ---------------------------------------------------------------- one pair, a family (issue 15 items 4, 6)

def test_paired_test_is_the_signed_rank_not_a_sign_test():
    # differences of both signs: 7 positive, one negative of the smallest size. Signed rank: W- = 1, exact
    # two-sided p = 2 * P(W <= 1) = 2 * 2 / 256; a sign test (1 of 8 negative) would give 2 * 9 / 256 = 0.0703
    d = np.array([1.0, 2.0, 3.0, 4.0, -0.5, 5.0, 6.0, 7.0])
    c = inf.compare_pair(d, np.zeros(8), "max", paired=True, margin=None, m=1)
    assert c.test.startswith("Wilcoxon") and c.p_method == "exact"
    assert c.p == pytest.approx(4 / 256)
    # and the size of the negative difference matters (a sign test ignores it): rank 8 instead of rank 1,
    # W- = 8; the subsets of ranks 1..8 summing to at most 8 number 1+1+1+2+2+3+4+5+6 = 25: p = 2 * 25 / 256
    d2 = d.copy()
    d2[4] = -7.5
    assert inf.compare_pair(d2, np.zeros(8), "max", paired=True, margin=None, m=1).p == pytest.approx(50 / 256)


def test_paired_test_with_tied_differences_is_the_signed_rank_by_enumeration():
    """Tied |differences| leave scipy's exact table for its permutation path: still the signed-rank statistic (with
    midranks), not a sign test. d: 0.5 three times, 1, 2, 3, 4, 5 and one -0.5: midranks 2, 2, 2, 4..8; W- = 2; the
    sign patterns with W- <= 2 are the empty one and each single 0.5 (4 of 256): p = 8 / 256. A sign test (1 of 8
    negative) gives 18 / 256."""
    d = np.array([0.5, 0.5, 1.0, 2.0, 3.0, -0.5, 4.0, 5.0])
    c = inf.compare_pair(d, np.zeros(8), "max", paired=True, margin=None, m=1)
    assert c.p_method == "exact (permutation, ties)" and c.test.startswith("Wilcoxon")
    ranks = stats.rankdata(np.abs(d))
    w_minus = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=8)]
    observed = ranks[d < 0].sum()
    oracle = 2 * np.mean(np.array(w_minus) <= observed + 1e-12)
    assert oracle == pytest.approx(8 / 256) and c.p == pytest.approx(oracle)


def test_difference_interval_is_95_percent_t_by_hand():
    a, b = [5.0, 6.0, 7.0, 8.0, 9.0], [6.0, 7.5, 8.0, 9.5, 11.0]  # lower is better: A better by 1.4
    c = inf.compare_pair(a, b, "min", paired=True, margin=None, m=1)
    # differences (oriented, -a + b): 1, 1.5, 1, 1.5, 2: mean 1.4, sd sqrt(0.175), t(0.975, 4) = 2.776445
    half = 2.776445 * np.sqrt(0.175 / 5)
    assert c.diff == pytest.approx(1.4) and c.level == 0.95
    assert (c.low, c.high) == pytest.approx((1.4 - half, 1.4 + half), abs=1e-5)
    w = inf.compare_pair(a, b, "min", paired=False, margin=None, m=1)  # Welch: var 2.5 and 3.675, df by hand
    va, vb = 2.5 / 5, 3.675 / 5
    df = (va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert (w.low, w.high) == pytest.approx((1.4 - half, 1.4 + half), abs=1e-9)


def test_tost_by_hand_and_equivalence_needs_a_margin():
    a = np.array([10.0, 10.4, 9.8, 10.1, 10.2, 9.9])
    b = np.array([10.1, 10.2, 10.0, 9.9, 10.3, 10.0])
    d = a - b  # paired: mean 0.0 - ... by hand
    se = np.std(d, ddof=1) / np.sqrt(6)
    p_low = stats.t.sf((d.mean() + 0.5) / se, 5)  # H0: diff <= -0.5
    p_high = stats.t.cdf((d.mean() - 0.5) / se, 5)  # H0: diff >= 0.5
    c = inf.compare_pair(a, b, "max", paired=True, margin=0.5, m=1)
    assert c.tost_p == pytest.approx(max(p_low, p_high)) and c.tost_p < 0.05
    assert c.verdict == "equivalent"
    none = inf.compare_pair(a, b, "max", paired=True, margin=None, m=1)
    assert np.isnan(none.tost_p) and none.verdict == "undecided"  # no margin, no equivalence
    assert inf.compare_pair(a, b, "max", paired=True, margin=0.01, m=1).verdict == "undecided"


def test_family_holm_names_the_family_and_judges_on_corrected_p():
    rng = np.random.default_rng(3)
    groups = {"ns": rng.normal(5, 0.1, 8), "ls": rng.normal(5, 0.1, 8) + 3, "hinge": rng.normal(5, 0.1, 8) + 0.02}
    out = inf.compare_family(groups, "min", paired=False, margin=0.5, family="digits x chosen")
    assert [(a, b) for a, b, _ in out] == [("hinge", "ls"), ("hinge", "ns"), ("ls", "ns")]
    raw = [c.p for _, _, c in out]
    np.testing.assert_allclose([c.p_holm for _, _, c in out], inf.holm(raw))
    assert all(c.family == "digits x chosen: 3 pairs, Holm" for _, _, c in out)
    verdicts = {(a, b): c.verdict for a, b, c in out}
    assert verdicts[("hinge", "ls")] == "better" and verdicts[("ls", "ns")] == "worse"
    assert verdicts[("hinge", "ns")] == "equivalent"


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(inf.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = inf.holm([0.01, np.nan, 0.02])  # nan (no TOST without a margin) is left out of m
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


def test_monte_carlo_p_is_labelled_with_resamples_and_error():
    rng = np.random.default_rng(0)
    a, b = np.round(rng.normal(0, 1, 12), 1), np.round(rng.normal(0.5, 1, 12), 1)  # ties: no exact table
    test, p, method = inf.rank_test(a, b, paired=False)
    assert method.startswith(f"MC, {inf.N_RESAMPLES} resamples, se ")
    assert float(method.rsplit(" ", 1)[1]) == pytest.approx(np.sqrt(p * (1 - p) / inf.N_RESAMPLES), rel=0.05)


# ---------------------------------------------------------------- intervals that cover at n = 5, rounding

def test_t_interval_covers_at_n5_and_the_percentile_bootstrap_does_not():
    from ganbench.report import stats as rstats
    rng = np.random.default_rng(7)
    reps, n = 2000, 5
    data = rng.normal(10.0, 2.0, (reps, n))
    cover_t = np.mean([lo <= 10.0 <= hi for lo, hi in (rstats.mean_ci(x)[1:] for x in data)])
    assert 0.93 <= cover_t <= 0.97
    # the percentile bootstrap (what mean_ci was): 1000 resamples of each data set, 2.5% and 97.5% quantiles
    idx = rng.integers(0, n, (reps, 1000, n))
    means = np.take_along_axis(data[:, None, :].repeat(1000, 1), idx, axis=2).mean(axis=2)
    lo, hi = np.quantile(means, 0.025, axis=1), np.quantile(means, 0.975, axis=1)
    cover_boot = np.mean((lo <= 10.0) & (10.0 <= hi))
    assert cover_boot < 0.90  # about 0.86: the bound above fails


def test_round_to_uncertainty():
    assert inf.round_to_uncertainty(8.2637, 1.5) == "8.3"
    assert inf.round_to_uncertainty(8.2637, 0.08) == "8.26"
    assert inf.round_to_uncertainty(455.3, 30.0) == "460"
    assert inf.round_to_uncertainty(-0.04, 0.3) == "0.0"
    assert inf.round_to_uncertainty(0.12345, float("nan")) == "0.123"
    assert inf.interval_text(1.52, -0.81, 3.85) == "2 [-1, 4]"


# ---------------------------------------------------------------- the sequential rule (issue 15 item 5)

def test_spending_bounds_match_gsdesign():
    from ganbench.report.sequential import obf_bounds, obf_spending
    # gsDesign, sfLDOF, one-sided 0.025, 5 equally spaced looks (Jennison & Turnbull's table agrees)
    np.testing.assert_allclose(obf_bounds(0.025, [0.2, 0.4, 0.6, 0.8, 1.0]),
                               [4.877, 3.357, 2.680, 2.290, 2.031], atol=2e-3)
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05)
    assert obf_bounds(0.025, [1.0])[0] == pytest.approx(stats.norm.ppf(0.975))


def _study(design, rng, diff, margin, paired=True):
    """One simulated study: per-seed differences drawn from rng (or taken from an iterator of them)."""
    x = rng.normal(diff, 1.0, design.max_seeds) if hasattr(rng, "normal") else np.fromiter(rng, float)
    for n in design.looks:
        c = design.decide(x[:n], np.zeros(n), "max", paired, margin, 1)
        if c.verdict != "undecided":
            return c.verdict
    return "undecided"


def test_sequential_null_false_verdicts_at_most_alpha_and_naive_looks_inflate():
    from ganbench.report.sequential import SequentialDesign
    design = SequentialDesign(alpha=0.05, max_seeds=20, first=4, step=2)
    assert design.looks == [4, 6, 8, 10, 12, 14, 16, 18, 20]
    rng = np.random.default_rng(11)
    studies = 20000
    x = rng.normal(0.0, 1.0, (studies, 20))  # per-seed differences under the null
    two = design.nominal(1)[0]
    rule, naive = np.zeros(studies, dtype=bool), np.zeros(studies, dtype=bool)
    for k, n in enumerate(design.looks):
        p = stats.ttest_1samp(x[:, :n], 0.0, axis=1).pvalue
        rule |= p <= two[k]
        naive |= p < 0.05  # the naive rule: a 5% t-test after every round
    # decide() is that rule: the same studies, one by one, reach the same verdicts
    called = [_study(design, iter(x[i]), 0.0, None) in ("better", "worse") for i in range(150)]
    assert called == list(rule[:150])
    # false better/worse at most alpha, plus 3 Monte Carlo standard errors (0.0046) and the t-for-z approximation
    # of p-value matching at 4 to 20 seeds (measured 0.054 on 40000 studies; the z statistic gives 0.051)
    assert rule.mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / studies) + 0.006
    assert naive.mean() > 0.12  # looking after every round without spending inflates it (about 0.19)


def test_sequential_equivalence_at_the_stated_power():
    from ganbench.report.sequential import SequentialDesign
    design = SequentialDesign(alpha=0.05, max_seeds=20, first=4, step=2)
    stated = design.tost_power(0.2, 1.0, 0.8, paired=True, m=1)
    fixed = inf.tost_power(0.2, 1.0, 0.8, 20, True, 0.05)  # no looks spent: the most it could reach
    assert 0.7 < stated < fixed
    rng = np.random.default_rng(5)
    studies = 300
    rate = np.mean([_study(design, rng, 0.2, 0.8) == "equivalent" for _ in range(studies)])
    se = np.sqrt(stated * (1 - stated) / studies)
    assert stated - 3 * se <= rate <= fixed + 3 * se


def test_report_judges_adaptive_runs_by_the_design_that_stopped_them():
    import pandas as pd

    from ganbench.report.chosen import Choice
    from ganbench.report.pairwise import pairwise_table
    from ganbench.report.tables import Group
    rng = np.random.default_rng(2)
    base = rng.normal(10.0, 1.0, 20)
    scores = {"a": base, "b": base + 3.0 + rng.normal(0, 0.1, 20), "c": base + rng.normal(0, 0.1, 20)}
    frame = pd.DataFrame([{"gan": g, "architecture": "mlp", "seed": s, "sample": 0, "status": "completed",
                           "phase": "confirm", "best_fid": v[s], "analysis_margin": 1.0, "confirm_max_seeds": 20,
                           "confirm_step": 5, "analysis_alpha": 0.05} for g, v in scores.items() for s in range(20)])
    choices = {g: Choice(g, g, "lr=1", 0.0, 1, frame[frame.gan == g], "confirm", False) for g in scores}
    pairs = pairwise_table(Group("digits", "fid", "min", {}, frame), choices).set_index(["A", "B"])
    # a vs b: 3 FID apart with spread 0.1, decided at the first look (5 seeds), though 20 were run
    assert pairs.loc[("a", "b"), "verdict"] == "better" and pairs.loc[("a", "b"), "n_A"] == 5
    assert pairs.loc[("a", "b"), "p method"].startswith("group-sequential, look 1 of 4")
    assert pairs.loc[("a", "c"), "verdict"] == "equivalent" and pairs.loc[("a", "c"), "n_A"] in (5, 10, 15, 20)
    assert "O'Brien-Fleming" in pairs.loc[("a", "c"), "family"]
