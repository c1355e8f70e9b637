"""The report's statistics on synthetic scores with known answers (closed forms, hand-computed values, and exact
enumeration as an independent oracle for the tests' p-values)."""
import itertools

import numpy as np
import pytest

from ganbench.report import baselines as bl
from ganbench.report import inference, stats


def test_budget_curve_known_values():
    curve = stats.budget_curve(np.array([1.0, 2.0, 3.0]), better_max=False, n_boot=20000)
    # k = 1: the mean of the scores; best-of-k improves with k; min over k=3 draws with replacement:
    # E[min] = sum_v P(min >= v) = 1 + (2/3)^3 + (1/3)^3 = 1.3333...
    assert abs(curve["mean"][0] - 2.0) < 0.03
    assert abs(curve["mean"][2] - (1 + (2 / 3) ** 3 + (1 / 3) ** 3)) < 0.02
    assert list(curve.k) == [1, 2, 3] and (np.diff(curve["mean"]) < 0).all()
    up = stats.budget_curve(np.array([1.0, 2.0, 3.0]), better_max=True, n_boot=2000)
    assert (np.diff(up["mean"]) > 0).all() and (up.q05 <= up["mean"]).all() and (up["mean"] <= up.q95).all()


def test_mean_ci_is_a_95_t_interval_by_hand():
    mean, lo, hi = stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    # mean 3, sd sqrt(2.5), se sqrt(2.5 / 5), t(0.975, 4) = 2.776445: 3 -+ 1.963243
    assert mean == 3.0 and lo == pytest.approx(1.036757, abs=1e-6) and hi == pytest.approx(4.963243, abs=1e-6)
    assert stats.mean_ci([5.0, 5.0, 5.0]) == (5.0, 5.0, 5.0)  # no spread, no interval width
    assert stats.mean_ci([7.0])[0] == 7.0 and np.isnan(stats.mean_ci([7.0])[1])
    # two values: t(0.975, 1) = 12.706: far wider than the two values (a percentile bootstrap gave exactly [2, 4])
    assert stats.mean_ci([2.0, 4.0])[1:] == pytest.approx((3 - 12.7062047, 3 + 12.7062047))


def _exact_mann_whitney(a, b):
    """Oracle: over all C(n+m, n) relabelings of the pooled scores, the two-sided p as twice the smaller one-sided
    tail of U (ties counting half) at the observed U."""
    pooled, n = np.concatenate([a, b]), len(a)

    def u(x, y):
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)

    observed = u(a, b)
    null = []
    for idx in itertools.combinations(range(len(pooled)), n):
        rest = [i for i in range(len(pooled)) if i not in idx]
        null.append(u(pooled[list(idx)], pooled[rest]))
    null = np.array(null)
    return min(1.0, 2 * min((null <= observed + 1e-12).mean(), (null >= observed - 1e-12).mean()))


@pytest.mark.parametrize("a,b", [([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), ([1.0, 2.0, 2.0], [2.0, 3.0, 4.0, 3.0]),
                                 ([5.0, 1.0, 3.0, 3.0], [2.0, 2.0, 4.0]), ([1.0, 4.0, 2.5, 7.0], [3.0, 5.0, 6.0])])
def test_unpaired_rank_test_is_an_exact_mann_whitney(a, b):
    test, p, method = inference.rank_test(np.array(a), np.array(b), paired=False)
    assert test == "Mann-Whitney U" and method.startswith("exact")
    assert p == pytest.approx(_exact_mann_whitney(np.array(a), np.array(b)))


def test_one_run_each_cannot_tell():
    assert inference.rank_test(np.array([1.0]), np.array([9.0]), paired=False)[1] == 1.0
    assert inference.rank_test(np.array([1.0]), np.array([9.0]), paired=True)[1] == 1.0
    assert inference.attainable_p(1, 1, paired=False, m=1) == 1.0


def test_paired_rank_test_is_an_exact_signed_rank_test():
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2.0, 3.5, 4.0, 6.0, 7.5])
    # every difference has the same sign: 2 of the 2^5 sign patterns are as extreme
    assert inference.rank_test(a, b, paired=True)[1] == pytest.approx(2 / 32)
    assert inference.rank_test(a, a, paired=True)[1] == 1.0


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    np.testing.assert_allclose(stats.holm([0.02]), [0.02])


def test_iqm_and_stratified_bootstrap():
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    # two strata of fixed size: resampling each on its own never changes the pooled mean
    point, lo, hi = stats.stratified_bootstrap([[0.0] * 4, [1.0] * 4], lambda x, axis=-1: np.mean(x, axis=axis))
    assert point == lo == hi == 0.5
    agg = stats.aggregate([np.array([0.0, 0.2, 0.4]), np.array([1.0]), np.array([0.6, 0.8])])
    assert agg["runs"] == 6 and agg["mean"] == pytest.approx(0.5) and agg["median"] == pytest.approx(0.5)
    assert agg["iqm"] == pytest.approx(np.mean([0.2, 0.4, 0.6, 0.8])) == pytest.approx(0.5)
    assert agg["iqm_low"] <= agg["iqm"] <= agg["iqm_high"]


def test_performance_profile_fractions():
    prof = stats.performance_profile([np.array([0.1, 0.5]), np.array([0.9, 1.2])], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(prof.fraction, [1.0, 0.5, 0.25])
    assert (prof.low <= prof.fraction).all() and (prof.fraction <= prof.high).all()


ENTRY_FID = {"direction": "min", "noise": {"values": [380.0, 420.0], "mean": 400.0, "std": 20.0, "best": 380.0,
                                           "worst": 420.0}, "real": {"values": [9.0, 11.0], "mean": 10.0, "std": 1.0}}


def test_not_learned_rule():
    # margin = 0.1 * |10 - 400| = 39: a trial must reach 380 - 39 = 341 or lower
    assert bl.learned_threshold(ENTRY_FID, "min") == pytest.approx(341.0)
    assert not bl.not_learned(341.0, ENTRY_FID, "min") and not bl.not_learned(12.0, ENTRY_FID, "min")
    assert bl.not_learned(341.5, ENTRY_FID, "min") and bl.not_learned(500.0, ENTRY_FID, "min")
    assert not bl.not_learned(float("nan"), ENTRY_FID, "min")  # no score: failed or diverged, not judged here
    modes = {"noise": {"values": [16.0, 20.0, 18.0], "mean": 18.0}, "real": {"mean": 25.0}}
    # no "best" given: the best noise draw is 20 (higher is better); margin 0.7 -> threshold 20.7
    assert bl.learned_threshold(modes, "max") == pytest.approx(20.7)
    assert bl.not_learned(20.5, modes, "max") and not bl.not_learned(21.0, modes, "max")
    np.testing.assert_allclose(bl.normalise([400.0, 10.0, 205.0], ENTRY_FID), [0.0, 1.0, 0.5])


def test_match_baseline_survives_csv_round_trips():
    records = [{"dataset": "digits", "dataset_options": {}, "split": "test", "extractor": "classifier", "n_real": 359,
                "n_fake": 2500, "metrics": {}},
               {"dataset": "digits", "dataset_options": {"size": 14}, "split": "test", "extractor": "classifier",
                "n_real": 359, "n_fake": 2500, "metrics": {}}]
    want = {"dataset": "digits", "dataset_options": "{}", "split": "test", "extractor": "classifier",
            "n_real": 359.0, "n_fake": 2500.0}
    assert bl.match_baseline(records, want) is records[0]
    assert bl.match_baseline(records, {**want, "dataset_options": '{"size": 14}'}) is records[1]
    assert bl.match_baseline(records, {**want, "n_fake": 1000}) is None
    assert bl.match_baseline(records, {**want, "split": "val"}) is None
