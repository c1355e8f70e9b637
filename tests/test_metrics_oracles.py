"""ganbench's metric core against independent implementations on the same random features.

Oracles: pytorch-fid (Frechet distance), torch-fidelity (KID, precision/recall, Inception Score) and prdc
(precision/recall/density/coverage). Each test skips with a reason when its oracle is not installed.
Conventions to remember: torch-fidelity's input 1 is the generated set; prdc's precision/recall use strict <
where Kynkaanniemi et al. use <= (identical on continuous features, where ties have probability 0).
"""
import numpy as np
import pytest

from ganbench.evaluation.metrics.functional import (
    density_coverage,
    features_to_stats,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    precision_recall,
)


def _features(seed, n_real=600, n_fake=500, d=32):
    """Non-negative, correlated features (like pooled ReLU activations); fake is a distorted copy."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    real = np.abs(rng.standard_normal((n_real, d)) @ mix + 0.5)
    fake = np.abs(1.2 * rng.standard_normal((n_fake, d)) @ mix + 0.6)
    return real, fake


def _torch_pair(fake, real):
    torch = pytest.importorskip("torch")
    return torch.from_numpy(fake), torch.from_numpy(real)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # the oracle's sqrtm
@pytest.mark.parametrize("d", [16, 256])
def test_frechet_distance_matches_pytorch_fid(d):
    fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="pytorch-fid not installed")
    real, fake = _features(d, n_real=4 * d, n_fake=3 * d, d=d)
    mu1, s1 = features_to_stats(real)
    mu2, s2 = features_to_stats(fake)
    ours = frechet_distance(mu1, s1, mu2, s2)
    oracle = float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))
    assert abs(ours - oracle) / oracle < 1e-6


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*covariance is singular:RuntimeWarning")
def test_frechet_distance_matches_pytorch_fid_on_singular_covariances():
    """N < d: both covariances are rank deficient; the square root of a singular product is ill-conditioned
    (errors of order sqrt(eps)), so agreement is to about 1e-8 relative rather than 1e-14."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="pytorch-fid not installed")
    real, fake = _features(5, n_real=40, n_fake=50, d=64)
    mu1, s1 = features_to_stats(real)
    mu2, s2 = features_to_stats(fake)
    ours = frechet_distance(mu1, s1, mu2, s2)
    oracle = float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))
    assert abs(ours - oracle) / oracle < 1e-6


def test_kid_matches_torch_fidelity_subset_for_subset():
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid", reason="torch-fidelity not installed")
    real, fake = _features(1, d=64)
    ours = kid_from_features(real, fake, subsets=10, subset_size=200, seed=2020)
    f1, f2 = _torch_pair(fake, real)  # torch-fidelity: features_1 = generated
    out = metric_kid.kid_features_to_metric(f1, f2, kid_subsets=10, kid_subset_size=200, rng_seed=2020,
                                            verbose=False)
    assert ours[0] == pytest.approx(out[metric_kid.KEY_METRIC_KID_MEAN], rel=1e-9)
    assert ours[1] == pytest.approx(out[metric_kid.KEY_METRIC_KID_STD], rel=1e-7)


@pytest.mark.parametrize("save_cpu_ram", [False, True])
def test_precision_recall_matches_torch_fidelity(save_cpu_ram):
    metric_prc = pytest.importorskip("torch_fidelity.metric_prc", reason="torch-fidelity has no metric_prc")
    real, fake = _features(2)
    f1, f2 = _torch_pair(fake, real)
    out = metric_prc.prc_features_to_metric(f1, f2, prc_neighborhood=3, prc_batch_size=128,
                                            save_cpu_ram=save_cpu_ram, verbose=False)
    precision, recall = precision_recall(real, fake, k=3, block_rows=97)
    assert 0.05 < precision < 0.95 and 0.05 < recall < 0.95  # a comparison that can fail
    assert precision == pytest.approx(out[metric_prc.KEY_METRIC_PRECISION], abs=1e-6)
    assert recall == pytest.approx(out[metric_prc.KEY_METRIC_RECALL], abs=1e-6)


@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_density_coverage_match_prdc(k):
    prdc = pytest.importorskip("prdc", reason="prdc not installed")
    real, fake = _features(3 + k)
    out = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    precision, recall = precision_recall(real, fake, k=k)
    density, coverage = density_coverage(real, fake, k=k)
    assert 0.05 < coverage < 0.95 and 0.05 < density
    assert precision == pytest.approx(out["precision"], abs=1e-12)
    assert recall == pytest.approx(out["recall"], abs=1e-12)
    assert density == pytest.approx(out["density"], rel=1e-12)
    assert coverage == pytest.approx(out["coverage"], abs=1e-12)


def test_inception_score_matches_torch_fidelity():
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc", reason="torch-fidelity not installed")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits = 4.0 * rng.standard_normal((1003, 20))  # 1003 rows: splits of unequal size
    out = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)
    ours = inception_score_from_logits(logits, splits=10)
    assert ours[0] == pytest.approx(out[metric_isc.KEY_METRIC_ISC_MEAN], rel=1e-12)
    assert ours[1] == pytest.approx(out[metric_isc.KEY_METRIC_ISC_STD], rel=1e-9)
    # torch-fidelity's default shuffles rows with RandomState(2020) first; shuffling ourselves reproduces it
    shuffled = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=2020)
    perm = np.random.RandomState(2020).permutation(len(logits))
    assert inception_score_from_logits(logits[perm])[0] == pytest.approx(
        shuffled[metric_isc.KEY_METRIC_ISC_MEAN], rel=1e-12)
