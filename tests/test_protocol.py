"""One protocol key (ganbench.protocol): trials.csv writes it, the report's tables and the choice of configurations
split on it, and trials that differ in any one of its settings or in their metric's provenance never share a table or
a choice."""
import copy
import json

import pandas as pd
import pytest

from ganbench import protocol
from ganbench.report.tables import protocol_groups
from ganbench.results import collect_rows
from ganbench.selection import choose_configurations

BASE = {"suite": "s", "dataset": "digits", "gan": "ns", "variant": "ns", "loss": "ns", "penalty": "none",
        "architecture": "mlp", "seed": 0, "sample": 0, "hparams": {"lr": 2e-4}, "budget_unit": "d_steps",
        "budget_steps": 2000, "eval": {"every_d_steps": 500, "every_g_steps": None, "n_samples": 2500, "n_real": None,
                                       "metrics": ["fid"], "extractor": "classifier", "primary": "fid"},
        "dataset_options": {}, "loss_options": {}, "penalty_options": {}, "searched": []}
PROV = {"extractor": "classifier", "n_real": 359, "n_fake": 2500, "split": "test", "direction": "min"}
# one change per protocol setting (trials.csv column -> how the config differs)
CHANGES = {"dataset": ("dataset", "digits-b"), "dataset_options": ("dataset_options", {"size": 8}),
           "budget_unit": ("budget_unit", "g_steps"), "budget_steps": ("budget_steps", 4000),
           "eval_every_d_steps": ("eval.every_d_steps", 250), "eval_every_g_steps": ("eval.every_g_steps", 100),
           "eval_n_samples": ("eval.n_samples", 1000), "eval_n_real": ("eval.n_real", 500),
           "primary": ("eval.primary", "kid")}


def _write(results, name: str, config: dict, prov: dict) -> None:
    d = results / "trials" / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    primary = config["eval"]["primary"]
    summary = {"trial_id": name, "status": "completed", "primary": primary, "best_d_steps": 2000,
               "best_val_fid": 10.0, "best_fid": 11.0, "best_val_kid": 0.1, "best_kid": 0.2,
               "provenance": {m: {**prov, "metric": m} for m in ("fid", "kid")}}
    (d / "summary.json").write_text(json.dumps(summary))


def _changed(path: str, value) -> dict:
    config = copy.deepcopy(BASE)
    *parents, key = path.split(".")
    target = config
    for p in parents:
        target = target[p]
    target[key] = value
    return config


def test_every_column_is_a_setting_the_tests_change():
    assert set(CHANGES) == set(protocol.COLUMNS)
    assert protocol.config_columns(BASE) == {
        "dataset": "digits", "dataset_options": "{}", "budget_unit": "d_steps", "budget_steps": 2000,
        "primary": "fid", "eval_every_d_steps": 500, "eval_every_g_steps": None, "eval_n_samples": 2500,
        "eval_n_real": None}


def test_trials_of_different_protocol_are_never_pooled_or_chosen_together(tmp_path):
    _write(tmp_path, "base", BASE, PROV)
    for col, (path, value) in CHANGES.items():
        _write(tmp_path, col, _changed(path, value), PROV)
    for field, value in (("n_fake", 1000), ("extractor", "inception"), ("n_real", 100), ("split", "val")):
        _write(tmp_path, f"prov_{field}", BASE, {**PROV, field: value})
    trials = pd.DataFrame(collect_rows(tmp_path))
    assert set(protocol.COLUMNS) <= set(trials.columns)
    groups = protocol_groups(trials)
    assert sorted(len(g.frame) for g in groups) == [1] * len(trials)  # every trial alone in its table
    assert {g.protocol["eval_n_real"] for g in groups if g.frame.trial_id.iloc[0] == "eval_n_real"} == {500}
    fid = trials[trials.primary == "fid"]
    cells = choose_configurations(fid, "fid", "min")
    assert len(cells) == len(fid)  # every trial its own choice: a configuration never crosses a protocol
    assert set(protocol.columns(trials, "fid")) <= set(cells.columns)


def test_evaluation_and_ranking_keys():
    from ganbench.suite.plan import EvalSettings, Trial

    def trial(seed=0, metrics=("fid",), n_samples=2500, primary="fid"):
        e = EvalSettings(500, None, n_samples, None, metrics, "classifier", primary)
        return Trial("s", "digits", "ns", "ns", "ns", "none", "mlp", seed, 0, {"lr": 2e-4}, "d_steps", 2000, e)

    a = trial()
    assert protocol.Evaluation.of(trial(seed=3)) == protocol.Evaluation.of(a)  # seeds share one evaluator
    assert protocol.Evaluation.of(trial(metrics=("fid", "kid"))) == protocol.Evaluation.of(a)  # with both metrics
    assert protocol.Evaluation.of(trial(n_samples=1000)) != protocol.Evaluation.of(a)
    assert protocol.ranked_key(trial(n_samples=1000)) == protocol.ranked_key(a)
    assert protocol.ranked_key(trial(primary="kid")) != protocol.ranked_key(a)


@pytest.mark.parametrize("column", protocol.COLUMNS)
def test_a_column_dropped_from_the_key_pools_trials(column, monkeypatch):
    """The tables split on ``protocol.COLUMNS`` itself: without a column, its two trials share a table."""
    frame = pd.DataFrame([{**protocol.config_columns(BASE), "trial_id": "a", "status": "completed"},
                          {**protocol.config_columns(_changed(*CHANGES[column])), "trial_id": "b",
                           "status": "completed"}])
    assert len(protocol_groups(frame)) == 2
    monkeypatch.setattr(protocol, "COLUMNS", tuple(c for c in protocol.COLUMNS if c != column))
    assert len(protocol_groups(frame)) == 1
