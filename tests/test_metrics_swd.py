"""Sliced Wasserstein distance: closed forms, invariances, POT as an oracle, and the `swd` plug-ins."""
import numpy as np
import pytest
import torch
from scipy.stats import norm

from ganbench.evaluation.metrics.functional import MetricInputError
from ganbench.evaluation.metrics.sliced import (
    projected_wasserstein_pp,
    quantile_grid,
    random_directions,
    sliced_wasserstein,
    wasserstein_1d_pp,
)


def _grid(n, mean, std):
    """n-point quantile grid of N(mean, std^2): mean + std * Phi^-1((i - 1/2) / n)."""
    return mean + std * norm.ppf((np.arange(n) + 0.5) / n)


def test_hand_computed_unequal_sizes():
    # x = {0, 1}, y = {0, 1, 2}: quantile steps at 1/3, 1/2, 2/3; |F^-1 - G^-1| is 1 on (1/3, 1/2] and (2/3, 1]
    assert wasserstein_1d_pp([0.0, 1.0], [0.0, 1.0, 2.0], p=2) == pytest.approx(1 / 6 + 1 / 3, abs=1e-15)
    assert wasserstein_1d_pp([0.0, 1.0], [2.0, 0.0, 1.0], p=1) == pytest.approx(0.5, abs=1e-15)
    i, j, w = quantile_grid(2, 3)
    np.testing.assert_array_equal(i, [0, 0, 1, 1])
    np.testing.assert_array_equal(j, [0, 1, 1, 2])
    np.testing.assert_allclose(w, [1 / 3, 1 / 6, 1 / 6, 1 / 3])


def test_gaussian_quantile_grids_closed_form():
    """Equal grids: W2^2 = (m1 - m2)^2 + (s1 - s2)^2 mean(z^2) exactly (mean z = 0), -> the Gaussian closed form."""
    n, (m1, s1), (m2, s2) = 20_000, (0.3, 1.0), (-0.5, 2.5)
    x, y = _grid(n, m1, s1), _grid(n, m2, s2)
    z = norm.ppf((np.arange(n) + 0.5) / n)
    exact = (m1 - m2) ** 2 + (s1 - s2) ** 2 * np.mean(z ** 2)
    assert wasserstein_1d_pp(x, y)[0] == pytest.approx(exact, rel=1e-12)
    closed = (m1 - m2) ** 2 + (s1 - s2) ** 2
    assert exact == pytest.approx(closed, rel=2e-3)
    # d = 1: the directions are +-1, so SW_2 is the exact W_2
    assert sliced_wasserstein(x[:, None], y[:, None], n_projections=3) == pytest.approx(np.sqrt(exact), rel=1e-12)
    # unequal grid sizes: the merged-quantile integral approaches the same closed form
    assert wasserstein_1d_pp(_grid(3000, m1, s1), _grid(4700, m2, s2))[0] == pytest.approx(closed, rel=3e-3)


def test_gaussian_samples_closed_form():
    """Large samples of unequal sizes: within a few standard errors of (m1 - m2)^2 + (s1 - s2)^2."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(1.0, 0.5, 300_000), rng.normal(-1.0, 2.0, 200_000)
    assert wasserstein_1d_pp(x, y)[0] == pytest.approx(4.0 + 2.25, rel=1e-2)


def test_repeated_and_shifted_copies_are_exact():
    x = np.random.default_rng(0).normal(size=37)
    assert wasserstein_1d_pp(x, np.tile(x, 3))[0] == pytest.approx(0.0, abs=1e-14)
    assert wasserstein_1d_pp(x, np.tile(x, 4) + 0.7)[0] == pytest.approx(0.49, rel=1e-12)


def test_shift_gives_squared_projection_of_the_shift():
    """y = x + v: along theta, W2^2 = (theta . v)^2 exactly; averaged over the sphere, |v|^2 / d."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 5))
    v = np.array([0.5, -1.0, 2.0, 0.0, 0.3])
    theta = random_directions(5, 20_000, seed=4)
    per_dir = projected_wasserstein_pp(x, x + v, theta)
    np.testing.assert_allclose(per_dir, (theta.T @ v) ** 2, rtol=1e-9, atol=1e-12)
    assert sliced_wasserstein(x, x + v, directions=theta) ** 2 == pytest.approx(np.mean((theta.T @ v) ** 2),
                                                                               rel=1e-10)
    # (theta.v)^2 / |v|^2 ~ Beta(1/2, 2): sd 0.21 per direction; 20k directions give ~0.8% relative error
    assert np.mean(per_dir) == pytest.approx(v @ v / 5, rel=0.04)


def test_invariances():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(60, 7)), rng.normal(size=(45, 7)) * 1.5
    base = sliced_wasserstein(x, y)
    assert sliced_wasserstein(rng.permutation(x), rng.permutation(y)) == pytest.approx(base, rel=1e-12)
    assert sliced_wasserstein(y, x) == pytest.approx(base, rel=1e-12)
    assert sliced_wasserstein(x, x) == 0.0
    assert sliced_wasserstein(x + 3.0, y + 3.0) == pytest.approx(base, rel=1e-10)  # translation
    assert sliced_wasserstein(2 * x, 2 * y) == pytest.approx(2 * base, rel=1e-12)  # a distance: homogeneous
    # blocks of directions do not change the result
    theta = random_directions(7, 40)
    np.testing.assert_allclose(projected_wasserstein_pp(x, y, theta, block_cols=3),
                               projected_wasserstein_pp(x, y, theta), rtol=1e-14)


def test_directions_are_unit_and_fixed_by_seed():
    a, b = random_directions(9, 300, seed=0), random_directions(9, 300, seed=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=0), 1.0, rtol=1e-14)
    assert not np.allclose(a, random_directions(9, 300, seed=1))
    assert abs(a.mean()) < 0.05  # no preferred direction


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("sizes", [(40, 40), (33, 70), (101, 17)])
def test_matches_pot(p, sizes):
    ot = pytest.importorskip("ot", reason="POT not installed (pip install pot)")
    rng = np.random.default_rng(sizes[0] * 7 + p)
    x, y = rng.normal(size=(sizes[0], 6)), rng.standard_t(3, size=(sizes[1], 6)) + 0.4
    theta = random_directions(6, 128, seed=5)
    oracle = float(ot.sliced_wasserstein_distance(x, y, projections=theta, p=p))
    assert sliced_wasserstein(x, y, directions=theta, p=p) == pytest.approx(oracle, rel=1e-10)


def test_exact_1d_matches_pot_linear_program():
    """Unequal sizes against the optimal transport LP (ot.emd2), which knows nothing of quantile functions."""
    ot = pytest.importorskip("ot", reason="POT not installed (pip install pot)")
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=13), rng.exponential(size=29)
    cost = (x[:, None] - y[None, :]) ** 2
    oracle = float(ot.emd2(np.full(13, 1 / 13), np.full(29, 1 / 29), cost))
    assert wasserstein_1d_pp(x, y)[0] == pytest.approx(oracle, rel=1e-9)


def test_bad_inputs_are_errors():
    with pytest.raises(MetricInputError, match="different feature dimensions"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(MetricInputError, match="directions must have shape"):
        projected_wasserstein_pp(np.zeros((3, 2)), np.zeros((4, 2)), np.ones((3, 5)))
    with pytest.raises(MetricInputError, match="n_projections"):
        random_directions(3, 0)
    with pytest.raises(MetricInputError, match="NaN"):
        sliced_wasserstein(np.array([[np.nan, 0.0]]), np.zeros((2, 2)))


# --- the plug-ins --------------------------------------------------------------------------------------------------
def test_swd_plugin_on_toy_mixture():
    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation.evaluator import METRICS, Evaluator

    assert METRICS.get("swd").fits("toy") and METRICS.get("swd").fits("image")
    ev = Evaluator("ring8", {}, dataset_info("ring8"), ["modes", "swd"], None, 2000, None)
    val = load_split("ring8", "val")
    good, prov = ev.evaluate(val.x[:2000], "test")
    dropped, _ = ev.evaluate(val.x[:2000][val.y[:2000] != 0], "test")  # one of 8 modes missing
    collapsed, _ = ev.evaluate(val.x[:2000] * 0 + 0.5, "test")  # every sample on one point
    # two real samples of 2000 differ by mode-mass fluctuations (~sqrt(250) points a mode): SW_2 about 0.04
    assert good["swd"] < 0.06 and dropped["swd"] > 2 * good["swd"] and collapsed["swd"] > 10 * good["swd"]
    real = load_split("ring8", "test").x
    from ganbench.evaluation.evaluator import real_subset

    ref = real_subset(real, 2000).double().numpy()
    assert good["swd"] == pytest.approx(sliced_wasserstein(load_split("ring8", "val").x[:2000].double().numpy(), ref),
                                        rel=1e-12)
    p = prov["swd"]
    assert p["n_real"] == 2000 and p["split"] == "test" and p["space"] == "points" and p["n_projections"] == 256
    assert "not squared" in p["reported"] and prov["modes"]["split"] == "analytic modes"


def test_swd_plugins_on_images():
    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation.evaluator import Evaluator

    ev = Evaluator("digits", {}, dataset_info("digits"), ["swd", "swd_features"], "random", 300, None)
    real_val = load_split("digits", "val").x
    good, prov = ev.evaluate(real_val, "test")
    noise, _ = ev.evaluate(torch.rand(180, 1, 8, 8) * 2 - 1, "test")
    assert good["swd"] < noise["swd"] / 2 and good["swd_features"] < noise["swd_features"]
    assert prov["swd"]["space"] == "pixels" and "d = 64" in prov["swd"]["scale"]
    assert prov["swd"]["n_real"] == 300 and prov["swd"]["n_fake"] == 180
    assert prov["swd_features"]["space"] == "features" and prov["swd_features"]["extractor"] == "random"


def test_metric_functions_name_known_inputs():
    """A plug-in's parameters are the inputs the evaluator computes for it; an unknown name is refused at import."""
    from ganbench.evaluation.metric import METRICS, metric

    assert METRICS.get("swd").inputs == ("fake", "real", "info", "split")
    assert METRICS.get("fid").fits("image") and not METRICS.get("fid").fits("toy")
    with pytest.raises(ValueError, match="not all available"):
        metric("bad_input", "image", {"x": "min"}, "")(lambda fake, reall: {})
    with pytest.raises(ValueError, match="not all available"):
        metric("bad_kind", "toy", {"x": "min"}, "")(lambda fake_features: {})
    assert "bad_input" not in METRICS.names() and "bad_kind" not in METRICS.names()
