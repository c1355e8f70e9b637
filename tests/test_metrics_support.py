"""Birthday-paradox support size: exact counts, the Poisson interval, known supports, and the `birthday` plug-in."""
import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.spatial.distance import pdist
from scipy.stats import poisson

from ganbench.evaluation.metrics.functional import MetricInputError
from ganbench.evaluation.metrics.support import (
    birthday_support,
    calibrate_threshold,
    duplicate_pairs,
    support_from_counts,
)


def test_duplicate_pairs_counted_exactly_per_batch():
    x = np.array([[0.0], [0.0], [1.0], [5.0], [5.0], [5.0], [9.0]])  # batches of 3: {0,0,1} {5,5,5}; 9 unused
    np.testing.assert_array_equal(duplicate_pairs(x, 3, 0.0), [1, 3])
    np.testing.assert_array_equal(duplicate_pairs(x, 3, 1.0), [3, 3])  # <= threshold
    est = support_from_counts([1, 3], 3)
    assert est["support"] == 6 / 4 and est["pairs"] == 6 and est["dup_pairs"] == 4 and not est["lower_bound"]


def test_calibrated_threshold_is_the_pair_distance_quantile():
    x = np.array([[0.0], [1.0], [3.0], [6.0]])  # pair distances 1, 3, 6, 2, 5, 3 -> sorted 1 2 3 3 5 6
    assert calibrate_threshold(x, 0.2) == 2.0  # position 0.2 * 5 = 1
    assert calibrate_threshold(x, 0.1) == 1.5
    rng = np.random.default_rng(0)
    y = rng.normal(size=(300, 4))
    t = calibrate_threshold(y, 0.01)
    assert (pdist(y) <= t).mean() == pytest.approx(0.01, abs=1 / 44850)


def _poisson_limits(k, level=0.95):
    """Exact Poisson limits by root finding on the Poisson tails (independent of the chi-square identity)."""
    a = (1 - level) / 2
    hi = brentq(lambda mu: poisson.cdf(k, mu) - a, 1e-9, 10 * k + 50)
    lo = 0.0 if k == 0 else brentq(lambda mu: poisson.sf(k - 1, mu) - a, 1e-12, 10 * k + 50)
    return lo, hi


@pytest.mark.parametrize("dups", [1, 7, 150])
def test_interval_is_the_exact_poisson_interval(dups):
    counts = np.array([dups, 0, 0])  # how the pairs are spread over batches does not matter
    est = support_from_counts(counts, 10)
    lo, hi = _poisson_limits(dups)
    assert est["pairs"] == 135
    assert est["support_lo"] == pytest.approx(135 / hi, rel=1e-8)
    assert est["support_hi"] == pytest.approx(135 / lo, rel=1e-8)
    assert est["support"] == pytest.approx(135 / dups)


def test_no_duplicate_gives_a_lower_bound_not_infinity():
    est = support_from_counts([0, 0, 0, 0], 50)
    pairs = 4 * 1225
    assert est["lower_bound"] and "support_hi" not in est
    assert est["support"] == est["support_lo"] == pytest.approx(pairs / -np.log(0.025), rel=1e-10)
    assert est["support_lo"] == pytest.approx(pairs / _poisson_limits(0)[1], rel=1e-8)
    # a continuous distribution with a tiny threshold: no pair ever within it
    x = np.random.default_rng(1).normal(size=(1000, 16))
    cont = birthday_support(x, threshold=1e-9, batch_size=200)
    assert cont["lower_bound"] and cont["dup_pairs"] == 0 and cont["batches"] == 5
    assert cont["support"] == pytest.approx(5 * 19900 / -np.log(0.025))


@pytest.mark.parametrize("n_support, n_samples, batch", [(200, 2000, 100), (2000, 4000, 400)])
def test_interval_covers_a_known_support_size(n_support, n_samples, batch):
    """Uniform over N distinct vectors: the 95% interval covers N in about 95% of repetitions (>= 88% of 100 is
    3 binomial sd below 95%), and the estimates centre on N."""
    rng = np.random.default_rng(n_support)
    atoms = rng.normal(size=(n_support, 16))
    covered, estimates = 0, []
    for _ in range(100):
        est = birthday_support(atoms[rng.integers(n_support, size=n_samples)], threshold=1e-6, batch_size=batch)
        covered += est["support_lo"] <= n_support <= est["support_hi"]
        estimates.append(est["support"])
    assert covered >= 88
    assert np.median(estimates) == pytest.approx(n_support, rel=0.05)


def test_bad_inputs_are_errors():
    with pytest.raises(MetricInputError, match="batch_size must be an integer in \\[2, 5\\]"):
        duplicate_pairs(np.zeros((5, 2)), 6, 0.1)
    with pytest.raises(MetricInputError, match="threshold"):
        duplicate_pairs(np.zeros((5, 2)), 2, -1.0)
    with pytest.raises(MetricInputError, match="fraction"):
        calibrate_threshold(np.zeros((5, 2)), 0.0)
    with pytest.raises(MetricInputError, match="counts"):
        support_from_counts([], 3)


# --- the plug-in -----------------------------------------------------------------------------------------------------
def test_birthday_plugin_finds_the_support_of_a_generator_with_50_images():
    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation.evaluator import Evaluator

    ev = Evaluator("digits", {}, dataset_info("digits"), ["birthday"], "random", 2000, None)
    threshold = ev.fixed_input("dup_threshold", "test")
    train = load_split("digits", "train").x
    rng = np.random.default_rng(4)
    atoms = train[torch.from_numpy(rng.choice(len(train), 50, replace=False))]
    assert pdist(atoms.reshape(50, -1).double().numpy()).min() > threshold  # 50 distinct images at this threshold
    fake = atoms[torch.from_numpy(rng.integers(50, size=2000))]
    values, prov = ev.evaluate(fake, "test")
    assert values["support_lo"] <= 50 <= values["support_hi"]
    p = prov["support"]
    assert p["batch_size"] == 400 and p["batches"] == 5 and p["pairs"] == 5 * 79800 and p["level"] == 0.95
    assert p["threshold"] == threshold and "1258 images" in p["calibration"]
    # real test images under the same threshold: support about 1 / 1e-4 by construction (calibrated on train pairs)
    assert p["batch_size_real"] == 359 and p["n_real"] == 359
    assert values["support_real"] > 1000 and values["support_real_dup_pairs"] < 40
    noise, prov = ev.evaluate(torch.rand(2000, 1, 8, 8) * 2 - 1, "test")
    assert noise["support_dup_pairs"] == 0 and prov["support"]["lower_bound"] and "support_hi" not in noise
    assert noise["support"] == pytest.approx(5 * 79800 / -np.log(0.025))
