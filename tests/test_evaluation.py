import numpy as np
import pytest
import torch

from ganbench.datasets import dataset_info, load_split
from ganbench.evaluation.evaluator import Evaluator, ReferenceKey, compute_reference
from ganbench.evaluation.extractors import INCEPTION_ENV, InceptionPool3, get_extractor
from ganbench.registry import GanbenchError


@pytest.fixture(scope="module")
def classifier():
    return get_extractor("classifier", "digits")


def test_classifier_is_accurate_and_cached(classifier):
    assert classifier.extra["classifier_test_accuracy"] > 0.9
    again = get_extractor("classifier", "digits")
    assert again.weights_sha == classifier.weights_sha


def test_feature_extraction_is_batch_size_invariant(classifier):
    x = load_split("digits", "test").x
    a, la = classifier.features_and_logits(x, batch_size=359)
    b, lb = classifier.features_and_logits(x, batch_size=13)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(la, lb, rtol=1e-5, atol=1e-5)


def test_reference_stats_are_pytorch_fid_npz(classifier, tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance

    key = ReferenceKey("digits", (), "test", "classifier", classifier.weights_sha, 300)
    path = compute_reference(key, classifier)
    with np.load(path) as f:  # what `python -m pytorch_fid` reads
        mu, sigma, feats = f["mu"], f["sigma"], f["features"]
    assert mu.shape == (64,) and sigma.shape == (64, 64) and feats.shape == (300, 64)
    assert calculate_frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-6)
    assert compute_reference(key, classifier) == path  # cached, not recomputed


def test_evaluator_real_data_scores_better_than_noise():
    info = dataset_info("digits")
    ev = Evaluator("digits", {}, info, ["fid", "kid", "pr"], "classifier", n_samples=300, n_real=None)
    real = load_split("digits", "val").x
    good, prov = ev.evaluate(real, "test")
    bad, _ = ev.evaluate(torch.rand(300, 1, 8, 8) * 2 - 1, "test")
    assert good["fid"] < bad["fid"] / 5 and good["kid"] < bad["kid"]
    assert good["precision"] > bad["precision"]
    assert prov["fid"]["n_real"] == 300 and prov["fid"]["n_fake"] == 180 and prov["kid"]["metric"] == "kid"


def test_evaluator_rejects_metric_of_wrong_kind():
    with pytest.raises(GanbenchError, match="metric 'fid' is for image datasets"):
        Evaluator("ring8", {}, dataset_info("ring8"), ["fid"], None, 100, None)


def test_mode_metrics_on_real_mixture():
    info = dataset_info("grid25")
    ev = Evaluator("grid25", {}, info, ["modes"], None, 2500, None)
    values, prov = ev.evaluate(load_split("grid25", "test").x[:2500], "test")
    assert values["modes"] == 25 and values["hq"] > 0.99 and values["reverse_kl"] < 0.02
    assert prov["modes"]["extractor"] == "none"


def test_inception_missing_weights_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(GanbenchError, match=f"{INCEPTION_ENV}=.*nope.pth: no such file"):
        get_extractor("inception", "digits")
    monkeypatch.delenv(INCEPTION_ENV)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from ganbench.evaluation import extractors

    with pytest.raises(GanbenchError) as err:
        extractors.ensure_inception_weights(download=False)
    msg = str(err.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert INCEPTION_ENV in msg and "\n" not in msg


def test_inception_pool3_matches_pytorch_fid_network(monkeypatch):
    """Same (random) weights in our InceptionPool3 and pytorch-fid's InceptionV3 give the same pool3 features."""
    import pytorch_fid.inception as pfi

    torch.manual_seed(0)
    ours = InceptionPool3(None).eval()
    state = ours.net.state_dict()
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = pfi.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
    x = torch.rand(2, 3, 40, 40) * 2 - 1  # ganbench images are in [-1, 1]; pytorch-fid takes [0, 1]
    with torch.no_grad():
        f_ours, logits = ours(x)
        f_theirs = theirs((x + 1) / 2)[0].flatten(1)
    torch.testing.assert_close(f_ours, f_theirs, rtol=1e-4, atol=1e-5)
    assert logits.shape == (2, 1008)


def test_real_inception_weights_if_present():
    from ganbench.evaluation.extractors import inception_weights_path

    path = inception_weights_path()
    if not path.is_file():
        pytest.skip(f"pytorch-fid's Inception weights are not installed at {path} (no network here)")
    ext = get_extractor("inception", "digits")
    feats, logits = ext.features_and_logits(torch.zeros(2, 3, 32, 32))
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)


def test_random_extractor_is_fixed_and_needs_no_labels():
    a, b = get_extractor("random", "digits"), get_extractor("random", "digits")
    assert a.weights_sha == b.weights_sha and a.name == "random"
    x = load_split("digits", "test").x[:50]
    np.testing.assert_array_equal(a.features_and_logits(x)[0], b.features_and_logits(x)[0])


def test_dataset_entry_chooses_its_extractor(tmp_path):
    from ganbench.suite.schema import load_suite
    from ganbench.suite.expand import expand

    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndatasets: [{name: digits, extractor: random}]\ngans: [ns]\narchitectures: [mlp]\n"
                 "budget: {d_steps: 5}\neval: {extractor: classifier}\n")
    (trial,) = expand(load_suite(p))
    assert trial.eval.extractor == "random"
