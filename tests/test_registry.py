"""The registry, the search space and results.py: fast unit tests."""
import json

import numpy as np
import pytest

from ganbench.registry import GanbenchError, Registry
from ganbench.results import collect_rows, finished_ids, read_summary, record_failure, write_trial_config
from ganbench.suite.searchspace import parse_expression


def test_registry_duplicates_typos_and_temporary_entries():
    reg = Registry("thing")
    reg.add("alpha", 1, help="the first")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("alpha", 2)
    with pytest.raises(GanbenchError, match="unknown thing 'alpah'.*did you mean 'alpha'"):
        reg.get("alpah")
    with reg.temporarily("beta", 2):
        assert reg.names() == ["alpha", "beta"] and reg.get("beta") == 2
    assert "beta" not in reg and reg.names() == ["alpha"] and reg.help("alpha") == "the first"


@pytest.mark.parametrize("text, lo, hi", [("uniform(0, 1)", 0, 1), ("loguniform(1e-5, 1e-2)", 1e-5, 1e-2)])
def test_search_space_draws_stay_in_range_and_follow_the_seed(text, lo, hi):
    dist = parse_expression(text, "hparams.x")
    ra, rb = np.random.default_rng(0), np.random.default_rng(0)
    a = [dist.sample(ra) for _ in range(200)]
    b = [dist.sample(rb) for _ in range(200)]
    assert a == b and all(lo <= v < hi for v in a)
    if text.startswith("log"):  # log-uniform: about half the draws below the geometric midpoint
        assert 0.35 < np.mean(np.array(a) < np.sqrt(lo * hi)) < 0.65


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "uniform(1, 0)", "choice([])", "lr.real",
                                  "loguniform(0, 1)", "uniform(0)"])
def test_search_space_refuses_what_it_cannot_parse(text):
    with pytest.raises(GanbenchError, match="hparams.x"):
        parse_expression(text, "hparams.x")


def test_results_rows_failures_and_finished(tmp_path):
    from ganbench.suite.schema import load_suite
    from ganbench.suite.expand import expand

    p = tmp_path / "s.yaml"
    p.write_text("name: r\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0, 1]\nbudget: {d_steps: 5}\n")
    a, b = expand(load_suite(p))
    for t in (a, b):
        write_trial_config(tmp_path, t)
    (tmp_path / "trials" / a.id / "summary.json").write_text(json.dumps({"trial_id": a.id, "status": "completed"}))
    record_failure(tmp_path, b.id, "RuntimeError: boom")
    assert finished_ids(tmp_path) == {a.id}
    assert read_summary(tmp_path, b.id).status == "failed"
    rows = {r["trial_id"]: r for r in collect_rows(tmp_path)}
    assert rows[a.id]["status"] == "completed" and rows[b.id]["error"] == "RuntimeError: boom"
    assert rows[a.id]["seed"] == 0 and rows[b.id]["seed"] == 1
