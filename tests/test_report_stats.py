"""The report's statistics on synthetic scores with known answers (closed forms, hand-computed values, and exact
enumeration as an independent oracle for the tests' p-values)."""
import itertools
from math import comb

import numpy as np
import pytest

from ganbench.report import baselines as bl
from ganbench.report import stats


def test_budget_curve_known_values():
    curve = stats.budget_curve(np.array([1.0, 2.0, 3.0]), better_max=False, n_boot=20000)
    # k = 1: the mean of the scores; best-of-k improves with k; min over k=3 draws with replacement:
    # E[min] = sum_v P(min >= v) = 1 + (2/3)^3 + (1/3)^3 = 1.3333...
    assert abs(curve["mean"][0] - 2.0) < 0.03
    assert abs(curve["mean"][2] - (1 + (2 / 3) ** 3 + (1 / 3) ** 3)) < 0.02
    assert list(curve.k) == [1, 2, 3] and (np.diff(curve["mean"]) < 0).all()
    up = stats.budget_curve(np.array([1.0, 2.0, 3.0]), better_max=True, n_boot=2000)
    assert (np.diff(up["mean"]) > 0).all() and (up.q05 <= up["mean"]).all() and (up["mean"] <= up.q95).all()


def test_mean_ci():
    mean, lo, hi = stats.mean_ci([1.0, 2.0, 3.0, 4.0, np.nan])
    assert mean == 2.5 and 1.0 <= lo < 2.5 < hi <= 4.0
    assert stats.mean_ci([5.0, 5.0, 5.0]) == (5.0, 5.0, 5.0)  # no spread, no interval width
    assert stats.mean_ci([7.0])[0] == 7.0 and np.isnan(stats.mean_ci([7.0])[1])
    # a percentile bootstrap of two values spans exactly the two values
    assert stats.mean_ci([2.0, 4.0])[1:] == (2.0, 4.0)


def test_probability_of_improvement_counts_pairs_and_half_ties():
    a, b = [1.0, 2.0, 3.0], [2.5, 4.0, 5.0, 6.0]
    # higher is better: only 3 > 2.5 among the 12 pairs; lower is better: the other 11
    assert stats.probability_of_improvement(a, b, "max")[0] == pytest.approx(1 / 12)
    assert stats.probability_of_improvement(a, b, "min")[0] == pytest.approx(11 / 12)
    # ties count half: (1,2) (1,3) (2,2) (2,3) -> one tie out of four pairs when higher is better
    assert stats.probability_of_improvement([1.0, 2.0], [2.0, 3.0], "max")[0] == pytest.approx(0.125)
    p_ab = stats.probability_of_improvement(a, b, "min")[0]
    assert p_ab + stats.probability_of_improvement(b, a, "min")[0] == pytest.approx(1.0)
    # separated samples stay separated in every resample: the interval is exactly [1, 1]
    assert stats.probability_of_improvement([1.0, 2.0, 3.0], [7.0, 8.0, 9.0], "min") == (1.0, 1.0, 1.0)


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
                                 ([5.0, 1.0, 3.0, 3.0], [2.0, 2.0, 4.0])])
def test_compare_unpaired_is_an_exact_mann_whitney(a, b):
    out = stats.compare(a, b, "min")
    assert out["test"] == "Mann-Whitney U"
    assert out["p"] == pytest.approx(_exact_mann_whitney(np.array(a), np.array(b)))
    assert out["smallest_p"] == pytest.approx(2 / comb(len(a) + len(b), len(a)))


def test_compare_one_run_each_cannot_tell():
    out = stats.compare([1.0], [9.0], "min")
    assert out["p"] == 1.0 and out["smallest_p"] == 1.0 and out["poi"] == 1.0 and np.isnan(out["poi_low"])
    assert stats.compare([1.0], [9.0], "min", paired=True)["p"] == 1.0


def test_compare_paired_is_an_exact_signed_rank_test():
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2.0, 3.5, 4.0, 6.0, 7.5])
    out = stats.compare(a, b, "min", paired=True)
    # every difference has the same sign: 2 of the 2^5 sign patterns are as extreme
    assert out["p"] == pytest.approx(2 / 32) and out["smallest_p"] == pytest.approx(2 / 32)
    assert stats.compare(a, a, "min", paired=True)["p"] == 1.0


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
