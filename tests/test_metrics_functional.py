"""Known answers for ganbench.evaluation.metrics.functional: closed forms, hand-computed values and invariances.

FID bias for two independent N-samples of the same d-dim Gaussian N(0, I), covariances with ddof=1:
  E|mu1 - mu2|^2 = 2 d / N exactly.  Write S = I + A, S' = I + B (A, B independent, zero mean). The Bures
  distance tr(S + S' - 2 (S S')^{1/2}) is (1/4) |A - B|_F^2 to second order (Bures metric at I), and
  E|A|_F^2 = sum_ij Var(S_ij) = (2 d + d (d - 1)) / (N - 1) = d (d + 1) / (N - 1) (Wishart moments).
  Hence E[FID] ~ 2 d / N + d (d + 1) / (2 (N - 1)), with relative corrections of order d / N.
"""
import math
import warnings

import numpy as np
import pytest

from ganbench.evaluation.metrics.functional import (
    MetricInputError,
    density_coverage,
    features_to_stats,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mode_metrics,
    precision_recall,
)
from ganbench.registry import GanbenchError


def _spd(rng, d, n=None):
    x = rng.standard_normal((n or 4 * d, d))
    return np.cov(x, rowvar=False)


def _ring8():
    t = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(t), np.sin(t)], axis=1)


# --------------------------------------------------------------------------------------------- FD
def test_fd_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 7
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)


def test_fd_commuting_rotated_equals_diagonal():
    """Same eigenbasis: FD = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2, whatever the rotation."""
    rng = np.random.default_rng(1)
    d = 5
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.2, 4, d), rng.uniform(0.2, 4, d)
    expected = 4.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    mu2 = np.zeros(d)
    mu2[0] = 2.0
    got = frechet_distance(np.zeros(d), q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-10)


def test_fd_two_by_two_non_commuting_closed_form():
    """For 2x2, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) with M = S1 S2 (eigenvalues of M are >= 0)."""
    s1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    m = s1 @ s2
    tr_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    expected = 1.0 + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance([0.0, 0.0], s1, [1.0, 0.0], s2) == pytest.approx(expected, rel=1e-12)


def test_fd_symmetric_zero_for_identical_and_scaling():
    rng = np.random.default_rng(2)
    s1, s2 = _spd(rng, 20), _spd(rng, 20)
    mu1, mu2 = rng.standard_normal(20), rng.standard_normal(20)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-10)
    # S2 = c^2 S1: (S1 S2)^{1/2} = c S1, so FD = (1 - c)^2 tr S1
    assert frechet_distance(mu1, s1, mu1, 9 * s1) == pytest.approx(4 * np.trace(s1), rel=1e-10)


def test_fd_singular_covariances_are_finite_real_and_exact():
    rng = np.random.default_rng(3)
    d = 50
    s1 = _spd(rng, d, n=10)  # rank 9
    s2 = _spd(rng, d, n=12)  # rank 11
    fd = frechet_distance(np.zeros(d), s1, np.ones(d), s2)
    assert isinstance(fd, float) and np.isfinite(fd) and fd > d
    # a zero covariance is the most singular case: (S1 S2)^{1/2} = 0
    assert frechet_distance(np.zeros(d), np.zeros((d, d)), np.ones(d), s2) == pytest.approx(d + np.trace(s2))
    assert frechet_distance(np.zeros(d), s1, np.ones(d), np.zeros((d, d))) == pytest.approx(d + np.trace(s1))
    # float32 statistics with rounding-level negative eigenvalues are accepted
    f32 = s1.astype(np.float32)
    assert np.isfinite(frechet_distance(np.zeros(d, np.float32), f32, np.zeros(d, np.float32), f32))


@pytest.mark.parametrize(
    "args, words",
    [
        ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "mu2"),
        ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "sigma1"),
        ((np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), "mu1"),
        ((np.zeros(2), np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
        ((np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2)), "sigma1 is not positive semi-definite"),
        ((np.zeros(2), np.eye(2), np.zeros(2), np.diag([0.0, -1.0])), "sigma2 is not positive semi-definite"),
        ((np.array([0.0, np.nan]), np.eye(2), np.zeros(2), np.eye(2)), "NaN"),
    ],
)
def test_fd_rejects_bad_input(args, words):
    with pytest.raises(MetricInputError, match=words) as info:
        frechet_distance(*args)
    assert isinstance(info.value, GanbenchError) and isinstance(info.value, ValueError)


# --------------------------------------------------------------------------------------------- FID
def test_features_to_stats_matches_numpy_and_fid_is_permutation_invariant():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((300, 6)), rng.standard_normal((200, 6)) + 0.3
    mu, sigma = features_to_stats(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.T, ddof=1))
    fid = fid_from_features(x, y)
    assert fid_from_features(x[rng.permutation(300)], y[rng.permutation(200)]) == pytest.approx(fid, rel=1e-10)
    assert fid_from_features(x, y) == pytest.approx(fid_from_features(y, x), rel=1e-9)


def test_fid_warns_but_is_finite_when_fewer_samples_than_dims():
    rng = np.random.default_rng(5)
    with pytest.warns(RuntimeWarning, match="singular"):
        fid = fid_from_features(rng.standard_normal((20, 64)), rng.standard_normal((30, 64)))
    assert np.isfinite(fid) and fid > 0
    with pytest.warns(RuntimeWarning, match="biased"):
        features_to_stats(rng.standard_normal((8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_features(rng.standard_normal((65, 64)), rng.standard_normal((65, 64)))


@pytest.mark.parametrize("d, n", [(4, 1000), (8, 400)])
def test_fid_finite_sample_bias_matches_derivation(d, n):
    rng = np.random.default_rng(d)
    values = [fid_from_features(rng.standard_normal((n, d)), rng.standard_normal((n, d))) for _ in range(300)]
    expected = 2 * d / n + d * (d + 1) / (2 * (n - 1))
    assert np.mean(values) == pytest.approx(expected, rel=0.12)


def test_fid_bias_shrinks_as_one_over_n():
    rng = np.random.default_rng(6)

    def mean_fid(n):
        return np.mean([fid_from_features(rng.standard_normal((n, 3)), rng.standard_normal((n, 3)))
                        for _ in range(300)])

    assert 3.3 < mean_fid(200) / mean_fid(800) < 4.7


# --------------------------------------------------------------------------------------------- KID
def test_kid_full_subset_equals_hand_computed_unbiased_mmd():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = kid_from_features(x, y, subsets=3, subset_size=50)  # capped at 6: every subset is the full set
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    rng = np.random.default_rng(8)
    real = rng.standard_normal((2000, 16))
    same = rng.standard_normal((2000, 16))
    shifted = rng.standard_normal((2000, 16)) + 0.5
    m_same, s_same = kid_from_features(real, same, subsets=20, subset_size=500)
    m_shift, s_shift = kid_from_features(real, shifted, subsets=20, subset_size=500)
    assert abs(m_same) < 0.01 and abs(m_same) < 3 * s_same
    assert m_shift > 0.2 and m_shift > 10 * s_shift


def test_kid_is_deterministic_given_seed():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    assert kid_from_features(a, b, 5, 100, seed=1) == kid_from_features(a, b, 5, 100, seed=1)
    assert kid_from_features(a, b, 5, 100, seed=1) != kid_from_features(a, b, 5, 100, seed=2)
    with pytest.raises(MetricInputError, match="subset_size"):
        kid_from_features(a, b, subset_size=1)


# --------------------------------------------------------------------------------------------- IS
def test_is_uniform_predictions_give_one():
    assert inception_score_from_logits(np.zeros((100, 10))) == pytest.approx((1.0, 0.0))


def test_is_confident_even_predictions_give_number_of_used_classes():
    labels = np.arange(100) % 5
    logits = 1000.0 * np.eye(6)[labels]  # class 5 is never predicted: p(y=5) = 0 must not give NaN
    mean, std = inception_score_from_logits(logits, splits=10)
    assert mean == pytest.approx(5.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_hand_computed_two_samples_and_split_statistics():
    p = np.array([[0.8, 0.2], [0.4, 0.6]])
    kl1 = 0.8 * math.log(0.8 / 0.6) + 0.2 * math.log(0.2 / 0.4)
    kl2 = 0.4 * math.log(0.4 / 0.6) + 0.6 * math.log(0.6 / 0.4)
    assert inception_score_from_logits(np.log(p) + 3.0, splits=1)[0] == pytest.approx(math.exp((kl1 + kl2) / 2))
    # split 1 uniform (IS 1), split 2 confident over 4 classes (IS 4): mean 2.5, std 1.5
    logits = np.vstack([np.zeros((4, 4)), 1000.0 * np.eye(4)])
    assert inception_score_from_logits(logits, splits=2) == pytest.approx((2.5, 1.5))
    with pytest.raises(MetricInputError, match="splits"):
        inception_score_from_logits(logits, splits=9)


# ------------------------------------------------------------------------------- precision / recall
def test_pr_identical_sets_and_far_apart_sets():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((200, 5))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_pr_hand_computed_1d_and_boundary_is_inclusive():
    real, fake = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[0.5], [10.0], [3.9]])
    assert precision_recall(real, fake, k=1) == pytest.approx((2 / 3, 1.0))
    # distance exactly equal to the radius counts as covered (<=, Kynkaanniemi et al.)
    assert precision_recall(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]), k=1) == (0.5, 0.5)


def test_pr_invariant_to_block_size_and_row_order():
    rng = np.random.default_rng(11)
    real, fake = rng.standard_normal((150, 4)), rng.standard_normal((120, 4)) * 1.3
    ref = precision_recall(real, fake)
    assert 0 < ref[0] < 1 and 0 < ref[1] < 1
    for block in (1, 7, 1000):
        assert precision_recall(real, fake, block_rows=block) == ref
    assert precision_recall(real[rng.permutation(150)], fake[rng.permutation(120)]) == ref


def test_pr_mode_collapse_has_full_precision_and_tiny_recall():
    rng = np.random.default_rng(12)
    real = rng.standard_normal((100, 3))
    fake = np.repeat(real[:1], 50, axis=0)  # every fake sample is one real point
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0 and recall == pytest.approx(0.01)


# ----------------------------------------------------------------------------- density / coverage
def test_density_coverage_hand_computed_1d():
    real = np.array([[0.0], [1.0], [3.0], [6.0]])  # k=1 radii: 1, 1, 2, 3
    assert density_coverage(real, np.array([[0.5], [2.5], [7.0]]), k=1) == pytest.approx((4 / 3, 1.0))
    assert density_coverage(real, np.array([[0.5], [7.0]]), k=1) == pytest.approx((1.5, 0.75))
    # strict <: a fake point exactly on a ball's boundary is not counted (prdc's convention)
    assert density_coverage(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]), k=1) == (0.0, 0.0)


def test_density_coverage_identical_far_and_invariances():
    rng = np.random.default_rng(13)
    real, fake = rng.standard_normal((200, 4)), rng.standard_normal((150, 4))
    assert density_coverage(real, real.copy())[1] == 1.0
    assert density_coverage(real, real + 100.0) == (0.0, 0.0)
    ref = density_coverage(real, fake)
    assert density_coverage(real[::-1], fake[::-1], block_rows=3) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("k", [0, 4, 2.5, True])
def test_knn_metrics_reject_bad_k(k):
    x = np.zeros((4, 2))
    with pytest.raises(MetricInputError, match="k must be"):
        precision_recall(x, x, k=k)


def test_knn_metrics_reject_mismatched_dims_and_nan():
    with pytest.raises(MetricInputError, match="feature dimensions"):
        density_coverage(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(MetricInputError, match="NaN"):
        precision_recall(np.full((10, 2), np.nan), np.zeros((10, 2)))
    with pytest.raises(MetricInputError, match="2-D"):
        precision_recall(np.zeros(10), np.zeros(10))


# ----------------------------------------------------------------------------------- mode metrics
def test_mode_metrics_all_modes_hit_evenly():
    rng = np.random.default_rng(14)
    centers = _ring8()
    samples = np.repeat(centers, 50, axis=0) + 0.01 * rng.standard_normal((400, 2))
    out = mode_metrics(samples[rng.permutation(400)], centers, std=0.01)
    assert out["modes"] == 8 and out["hq"] > 0.95 and out["reverse_kl"] < 0.01


def test_mode_metrics_single_mode_and_far_away_samples():
    centers = _ring8()
    assert mode_metrics(np.repeat(centers[3:4], 20, axis=0), centers, 0.01) == pytest.approx(
        {"modes": 1, "hq": 1.0, "reverse_kl": math.log(8), "mode_tv": 7 / 8})  # 1/2 (7/8 + 7 x 1/8)
    far = mode_metrics(np.full((30, 2), 50.0), centers, 0.01)
    assert far == {"modes": 0, "hq": 0.0, "reverse_kl": pytest.approx(math.log(8)), "mode_tv": 1.0}


def test_mode_metrics_hand_computed_uneven_histogram_and_strict_threshold():
    centers = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    # hq: 2 at center 0, 1 at center 1, 1 at center 2; low quality: 3 far points and one exactly at 2 std
    samples = np.array([[0.1, 0.0], [0.0, -0.1], [4.0, 0.2], [0.0, 3.9],
                        [2.0, 2.0], [9.0, 9.0], [-5.0, 0.0], [4.5, 4.0]])
    out = mode_metrics(samples, centers, std=0.25, threshold=2.0)  # radius 0.5, strict <
    q = np.array([0.5, 0.25, 0.25])
    # p over modes (0.25, 0.125, 0.125, 0), off-mode 0.5: 1/2 (0 + 0.125 + 0.125 + 0.25 + 0.5) = 0.5
    assert out == pytest.approx({"modes": 3, "hq": 0.5, "reverse_kl": float(np.sum(q * np.log(4 * q))),
                                 "mode_tv": 0.5})
    with pytest.raises(MetricInputError, match="std"):
        mode_metrics(samples, centers, std=0.0)


def test_mode_tv_by_hand():
    """TV between the samples over {modes, off-mode} and the ideal (1/n per mode, nothing off-mode)."""
    from ganbench.evaluation.metrics.functional import mode_metrics

    centers = np.array([[0.0, 0.0], [1.0, 0.0]])
    # 2 samples on mode 0, 1 on mode 1, 1 off-mode (std 0.01, threshold 3 std)
    x = np.array([[0.0, 0.001], [0.002, 0.0], [1.0, 0.0], [0.5, 0.5]])
    out = mode_metrics(x, centers, 0.01)
    # p = (0.5, 0.25), off 0.25: 1/2 (|0.5 - 0.5| + |0.25 - 0.5| + 0.25) = 0.25
    assert out["mode_tv"] == pytest.approx(0.25)
    perfect = mode_metrics(np.array([[0.0, 0.0], [1.0, 0.0]]), centers, 0.01)["mode_tv"]
    one_mode = mode_metrics(np.zeros((4, 2)), centers, 0.01)["mode_tv"]
    nothing = mode_metrics(np.full((4, 2), 5.0), centers, 0.01)["mode_tv"]
    assert (perfect, one_mode, nothing) == (0.0, pytest.approx(0.5), 1.0)
