"""ganbench.report.inference: design numbers, verdicts with equivalence, intervals that cover, the sequential rule."""
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
