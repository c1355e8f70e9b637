"""Memorisation: exact nearest neighbours, copy statistics on hand-made sets, and the `memorisation` plug-in."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ganbench.evaluation.metrics.functional import MetricInputError
from ganbench.evaluation.metrics.memorisation import copy_statistics, nearest_distances, nearest_neighbours, quantile_label


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    q, ref = rng.normal(size=(70, 9)), rng.normal(size=(130, 9))
    dist, idx = nearest_neighbours(q, ref, k=4, block_rows=7)
    full = cdist(q, ref)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :4], rtol=1e-13)
    d1, i1 = nearest_neighbours(q, ref, k=4)  # default blocks: same answer
    np.testing.assert_array_equal(i1, idx)
    np.testing.assert_array_equal(d1, dist)


def test_copies_are_at_distance_exactly_zero_and_ties_take_the_lower_index():
    ref = np.array([[3.0, 1e8], [1.0, 1.0], [3.0, 1e8], [0.0, 0.0]])
    dist, idx = nearest_neighbours(ref[[2, 1]], ref, k=2)
    # |a|^2 + |b|^2 - 2 a.b is not exactly 0 at 1e16 scale; the recomputed difference is
    np.testing.assert_array_equal(dist[:, 0], [0.0, 0.0])
    np.testing.assert_array_equal(idx, [[0, 2], [1, 3]])
    assert nearest_distances([[1.0, 2.0]], [[4.0, 6.0], [1.0, 5.0]])[0] == 3.0


def test_copy_statistics_exact_on_a_tiny_hand_made_set():
    train = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    held_out = np.array([[1.0, 0.0], [10.0, 2.0], [0.0, 13.0], [14.0, 10.0]])  # nearest-train distances 1, 2, 3, 4
    fake = np.array([[0.0, 0.0], [10.0, 1.0], [5.0, 5.0], [10.0, 11.0]])  # 0, 1, sqrt(50), 1
    real_nn = nearest_distances(held_out, train)
    np.testing.assert_array_equal(real_nn, [1.0, 2.0, 3.0, 4.0])
    st = copy_statistics(nearest_distances(fake, train), real_nn, threshold_quantile=0.01, quantiles=(0.5, 1.0))
    assert st["threshold"] == pytest.approx(1.03, abs=1e-15)  # 1 + 0.01 * 3 * (2 - 1), linear interpolation
    assert st["copy_fraction"] == 0.75  # 0, 1 and 1 are below 1.03
    assert st["fake_q50"] == 1.0 and st["fake_q100"] == pytest.approx(np.sqrt(50))
    assert st["real_q50"] == 2.5 and st["real_q100"] == 4.0
    # strictly below: a sample exactly at the threshold is not a copy
    assert copy_statistics([1.0, 2.0], [1.0, 2.0, 3.0], threshold_quantile=0.5)["copy_fraction"] == 0.5


def test_fresh_samples_score_the_quantile_copies_score_one_noise_scores_zero():
    rng = np.random.default_rng(1)
    train, held_out, fresh = (rng.normal(size=(n, 8)) for n in (3000, 3000, 6000))
    real_nn = nearest_distances(held_out, train)
    fresh_frac = copy_statistics(nearest_distances(fresh, train), real_nn)["copy_fraction"]
    # same distribution as held-out: 1% in expectation; binomial sd 0.13%, threshold estimate adds a little
    assert 0.004 < fresh_frac < 0.018
    assert copy_statistics(nearest_distances(train[rng.permutation(3000)[:500]], train), real_nn)["copy_fraction"] == 1
    noise = rng.uniform(-1, 1, size=(500, 8)) * 20
    assert copy_statistics(nearest_distances(noise, train), real_nn)["copy_fraction"] == 0


def test_quantile_labels_and_bad_inputs():
    assert [quantile_label(q) for q in (0.01, 0.1, 0.5, 0.999, 1.0)] == ["q01", "q10", "q50", "q99.9", "q100"]
    with pytest.raises(MetricInputError, match="fake_nn"):
        copy_statistics([], [1.0])
    with pytest.raises(MetricInputError, match="quantiles must lie"):
        copy_statistics([1.0], [1.0], threshold_quantile=2)
    with pytest.raises(MetricInputError, match="k must be an integer in \\[1, 2\\]"):
        nearest_neighbours(np.zeros((1, 2)), np.zeros((2, 2)), k=3)


# --- the plug-in -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluator():
    from ganbench.datasets import dataset_info
    from ganbench.evaluation.evaluator import Evaluator

    return Evaluator("digits", {}, dataset_info("digits"), ["memorisation"], "random", 300, None)


def test_memorisation_plugin_verbatim_copies_real_and_noise(evaluator):
    from ganbench.datasets import load_split

    train = load_split("digits", "train").x
    copies, prov = evaluator.evaluate(train[:300], "test")
    assert copies["copies_pixels"] == 1.0 and copies["copies_features"] == 1.0
    assert copies["nn_pixels_fake_q50"] == 0.0 and copies["nn_pixels_real_q50"] > 1.0
    held_out, _ = evaluator.evaluate(load_split("digits", "val").x, "test")  # 180 fresh real digits
    assert held_out["copies_pixels"] <= 0.05 and held_out["copies_features"] <= 0.05
    assert held_out["nn_pixels_fake_q50"] == pytest.approx(held_out["nn_pixels_real_q50"], rel=0.2)
    noise, _ = evaluator.evaluate(torch.rand(300, 1, 8, 8) * 2 - 1, "test")
    assert noise["copies_pixels"] == 0.0 and noise["copies_features"] == 0.0
    p = prov["copies_pixels"]
    assert p["metric"] == "memorisation" and p["n_train"] == 1258 and p["threshold_quantile"] == 0.01
    assert p["n_real"] == 300 and p["split"] == "test" and p["copy_threshold_pixels"] == copies["nn_pixels_real_q01"]
    assert set(copies) == set(evaluator.metrics[0].outputs)


def test_memorisation_plugin_matches_the_core_on_the_same_rows(evaluator):
    from ganbench.datasets import load_split
    from ganbench.evaluation.evaluator import real_subset

    train = load_split("digits", "train").x
    test_ref = real_subset(load_split("digits", "test").x, 300)
    fake = load_split("digits", "val").x
    flat = lambda x: x.double().reshape(len(x), -1).numpy()  # noqa: E731
    st = copy_statistics(nearest_distances(flat(fake), flat(train)), nearest_distances(flat(test_ref), flat(train)))
    values, _ = evaluator.evaluate(fake, "test")
    assert values["copies_pixels"] == st["copy_fraction"]
    assert values["nn_pixels_real_q10"] == pytest.approx(st["real_q10"], rel=1e-12)
    assert values["nn_pixels_fake_q90"] == pytest.approx(st["fake_q90"], rel=1e-12)


def test_training_features_are_cached_once_not_per_evaluation(evaluator):
    from ganbench.datasets import dataset_info
    from ganbench.evaluation.evaluator import Evaluator

    train_key = evaluator.references["train"]
    paths = [train_key.path()] + [evaluator.references[s].nn_path(train_key) for s in ("val", "test")]
    stamps = [p.stat().st_mtime_ns for p in paths]
    again = Evaluator("digits", {}, dataset_info("digits"), ["memorisation"], "random", 300, None)
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # a second evaluator reuses the files
    calls = []
    inner = again.extractor.features_and_logits
    again.extractor.features_and_logits = lambda x, **kw: calls.append(len(x)) or inner(x, **kw)
    again.evaluate(torch.rand(50, 1, 8, 8) * 2 - 1, "val")
    again.evaluate(torch.rand(60, 1, 8, 8) * 2 - 1, "val")
    assert calls == [50, 60]  # only the samples go through the extractor
    with np.load(train_key.path()) as f:
        assert f["features"].shape == (1258, 64)
