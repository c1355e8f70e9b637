"""The report's choices are made on validation and its claims survive a hostile reader: configurations keyed by their
resolved hyperparameters, confirmation runs for the headline, a 'learned' rule that a collapse fails, protocols never
pooled, equal tuning stated, still-improving and edge-of-range flags, an aggregate that keeps datasets apart."""
import json

import numpy as np
import pandas as pd
import pytest

from ganbench.report import aggregate, chosen, learned, tables
from ganbench.report import baselines as bl
from ganbench.results import load_results
from test_report import write_trial


def row(tid, gan, seed, lr, val, test, sample=0, **extra):
    return {"trial_id": tid, "status": "completed", "gan": gan, "variant": gan, "loss": gan, "penalty": "none",
            "architecture": "mlp", "dataset": "digits", "primary": "fid", "seed": seed, "sample": sample,
            "hp_lr": lr, "hp_beta1": 0.5, "hp_optimizer": "adam", "best_val_fid": val, "best_fid": test,
            "best_d_steps": 400, "d_steps": 400, **extra}


def group_of(rows, record=None):
    frame = pd.DataFrame(rows)
    return tables.Group("digits", "fid", "min", {}, frame, record)


def test_the_table_never_chooses_on_test():
    rows = [row(f"a{s}", "ns", s, 1e-4, val=9.0, test=2.0, sample=0) for s in range(3)]  # best test, worst val
    rows += [row(f"b{s}", "ns", s, 2e-4, val=5.0, test=6.0 + s, sample=1) for s in range(3)]
    table, runs = tables.variant_table(group_of(rows))
    r = table.iloc[0]
    assert r["chosen config"] == "lr=0.0002" and r["selected_on"] == "val" and r["val mean"] == 5.0
    assert r["chosen config mean"] == 7.0 and r["scored on"] == "search seeds (optimistic)"
    assert sorted(runs["ns"]) == [6.0, 7.0, 8.0] and "best" not in table


def test_sample_zero_meaning_two_learning_rates_is_two_configurations():
    rows = [row(f"p{s}", "ns", s, 2e-4, val=4.9, test=4.92) for s in range(5)]
    rows += [row(f"q{s}", "ns", s + 5, 5.47e-3, val=8.3, test=8.33) for s in range(5)]  # same sample index 0
    rows += [row(f"r{s}", "ns", s, 1e-3, val=6.0, test=6.0, sample=1) for s in range(5)]
    table, runs = tables.variant_table(group_of(rows))
    r = table.iloc[0]
    assert r["configurations"] == 3 and r["chosen config"] == "lr=0.0002" and r["seeds"] == 5
    assert r["chosen config mean"] == pytest.approx(4.92)  # not 6.62, the mean of two configurations


def test_confirmation_runs_score_the_headline():
    rows = [row(f"a{s}", "ns", s, 1e-4, val=5.0, test=5.0, phase="search") for s in range(3)]
    rows += [row(f"b{s}", "ns", s, 2e-4, val=6.0, test=1.0, phase="search", sample=1) for s in range(3)]
    rows += [row(f"c{s}", "ns", 100 + s, 1e-4, val=0.0, test=7.0 + s, phase="confirm") for s in range(4)]
    rows += [row(f"d{s}", "ns", 200 + s, 2e-4, val=0.0, test=0.0, phase="confirm", sample=1) for s in range(2)]
    table, runs = tables.variant_table(group_of(rows))
    r = table.iloc[0]
    assert r["chosen config"] == "lr=0.0001" and r["scored on"] == "confirmation seeds" and r["seeds"] == 4
    assert sorted(runs["ns"]) == [7.0, 8.0, 9.0, 10.0] and r["median"] == pytest.approx(3.0)  # search only


def test_still_improving_edge_of_range_and_equal_tuning():
    rows = [row(f"a{lr}{s}", "ns", s, lr, val=10 * lr, test=1.0, sample=i, best_d_steps=400 if s else 200)
            for i, lr in enumerate([1e-4, 2e-4, 4e-4]) for s in range(2)]
    rows += [row(f"w{s}", "wgan", s, 5e-5, val=3.0, test=3.0, hp_optimizer="rmsprop", hp_n_disc=5)
             for s in range(2)]
    group = group_of(rows)
    names = tables.variant_names(group.frame)
    history = pd.DataFrame({"trial_id": group.frame.trial_id, "d_steps": 400})
    flags = chosen.still_improving(group.frame, history)
    assert flags.sum() == 5  # seed 0 of ns chose d_steps 200 of 400
    choices = tables.best_config(group, history)
    assert chosen.edge_warnings(group.frame, names, choices) == [
        "**ns**: its chosen lr = 0.0001 is the lowest of the 3 values tried (0.0001 to 0.0004); its best region may "
        "lie outside the search."]
    tuning = chosen.tuning_table(group.frame, names).set_index("variant")
    assert tuning.loc["ns", "lr"] == "searched: 0.0001 to 0.0004 (3 values)" and tuning.loc["wgan", "lr"] == "5e-05"
    assert tuning.loc["wgan", "optimizer"] == "rmsprop" and tuning.loc["wgan", "n_disc"] == "5"
    assert tuning.loc["ns", "configurations"] == 3 and tuning.loc["wgan", "searched"] == "nothing"
    assert "**Unequal search budgets** (ns 3 configuration(s) over lr; wgan 1 configuration(s) over nothing)" in \
        chosen.unequal_budgets(tuning.reset_index())
    equal = tuning.reset_index().assign(configurations=3, searched="lr")
    assert chosen.unequal_budgets(equal) == ""


RING8 = {"modes": {"direction": "max", "noise": {"mean": 6.0, "best": 8.0}, "real": {"mean": 8.0}},
         "mode_tv": {"direction": "min", "noise": {"mean": 0.9934, "best": 0.9916}, "real": {"mean": 0.0282}},
         "reverse_kl": {"direction": "min", "noise": {"mean": 0.42, "best": 0.17}, "real": {"mean": 0.0016}}}
GRID25 = {"modes": {"direction": "max", "noise": {"mean": 23.0, "best": 25.0}, "real": {"mean": 25.0}},
          "mode_tv": {"direction": "min", "noise": {"mean": 0.9755, "best": 0.9724}, "real": {"mean": 0.0475}}}
DIGITS = {"fid": {"direction": "min", "noise": {"mean": 454.3, "best": 451.4}, "real": {"mean": 2.62}}}


def _judge(record, metric, direction, **scores):
    frame = pd.DataFrame([{f"best_{m}": v for m, v in scores.items()}])
    return bool(learned.marks(frame, {"metrics": record}, metric, direction).iloc[0])


def test_a_collapse_is_not_learned():
    # one of ring8's 8 modes, perfectly: mode_tv 0.875 (the old threshold 0.895 called it learned)
    assert _judge(RING8, "mode_tv", "min", modes=1, mode_tv=0.875, reverse_kl=0.01)
    assert _judge(GRID25, "mode_tv", "min", modes=4, mode_tv=0.84)  # 4 of grid25's 25 (old threshold 0.880)
    assert _judge(GRID25, "modes", "max", modes=4, mode_tv=0.84)  # whatever the table's metric
    assert not _judge(GRID25, "mode_tv", "min", modes=17, mode_tv=0.52)  # PacGAN's plain GAN: learned
    assert _judge(GRID25, "mode_tv", "min", modes=17, mode_tv=0.8)  # many modes, mass far from uniform
    assert _judge(RING8, "mode_tv", "min", modes=3, mode_tv=0.5)  # mass spread, too few modes
    for fid in (253.0, 377.0):  # DRAGAN with batch norm in D
        assert _judge(DIGITS, "fid", "min", fid=fid)
    assert not _judge(DIGITS, "fid", "min", fid=8.3) and not _judge(DIGITS, "fid", "min", fid=30.0)
    assert bl.learned_threshold(DIGITS["fid"], "min", "fid") == pytest.approx(np.sqrt(454.3 * 2.62))
    # reverse KL (noise beats GANs on it) never judges: a table of reverse_kl alone has no rule
    only_rkl = {"reverse_kl": RING8["reverse_kl"]}
    assert not _judge(only_rkl, "reverse_kl", "min", reverse_kl=0.9)
    assert learned.rule_text({"metrics": only_rkl}, "reverse_kl", "min", ["best_reverse_kl"]) == ""
    # grid25's committed numbers: noise's reverse KL 0.215 and SWD 0.067 beat NS (0.6, 0.126); hinge's SWD 0.063 not
    means = pd.DataFrame({"variant": ["hinge", "ns", "noise baseline (mean)", "real baseline (mean)"],
                          "reverse_kl (lower better)": [0.5, 0.6, 0.215, 0.006],
                          "swd (lower better)": [0.063, 0.126, 0.067, 0.027], "hq (higher better)": [0.9, 0.9, 0.02, 1]})
    rkl, swd = learned.not_evidence_text(means)
    assert rkl.startswith("**reverse_kl** is never evidence that a GAN learned") and "noise beats hinge, ns" in rkl
    assert swd.startswith("**swd** is never evidence") and swd.endswith("(here noise beats ns).")
    assert len(learned.not_evidence_text(means.assign(**{"swd (lower better)": [0.06, 0.06, 0.6, 0.03]}))) == 1
    text = learned.rule_text({"metrics": RING8}, "mode_tv", "min", ["best_modes", "best_mode_tv"])
    assert "modes is at least 4 (50% of the 8 modes real data covers) and its mode_tv is at most 0.752" in text


def test_aggregate_keeps_digits_fids_apart():
    """FID 4.9 and 8.3 against noise 455 and real 2.6: linear normalisation squeezes them to 0.995 and 0.987;
    on a log scale they read 0.877 and 0.775."""
    entry = {"noise": {"mean": 455.0}, "real": {"mean": 2.6}}
    lin = bl.normalise([4.9, 8.3], entry)
    log = bl.normalise([4.9, 8.3], entry, "fid")
    expect = (np.log(455.0) - np.log([4.9, 8.3])) / (np.log(455.0) - np.log(2.6))
    np.testing.assert_allclose(log, expect)
    assert log[0] - log[1] > 0.1 > 10 * (lin[0] - lin[1])
    runs, labels, _ = aggregate.normalised_runs([("digits (fid)", entry, {"a": [4.9], "b": [8.3]}, "fid"),
                                                 ("grid25 (modes)", GRID25["modes"], {"a": [24.0], "b": [24.0]},
                                                  "modes")])
    assert runs["a"][0][0] == pytest.approx(expect[0]) and runs["b"][0][0] == pytest.approx(expect[1])


@pytest.mark.parametrize("field, other", [("extractor", "inception"), ("split", "val"), ("n_real", 1000)])
def test_two_protocols_in_one_results_directory_are_never_pooled(tmp_path, field, other):
    res = tmp_path / "r"
    for seed in (0, 1):
        write_trial(res, seed=seed, score=10.0 + seed)
        tid = write_trial(res, seed=seed + 10, score=100.0 + seed)
        path = res / "trials" / tid / "summary.json"
        summary = json.loads(path.read_text())
        summary["provenance"]["fid"][field] = other
        path.write_text(json.dumps(summary))
    trials, history = load_results(res)
    groups = tables.protocol_groups(trials)
    assert len(groups) == 2
    means = sorted(tables.variant_table(g, history=history)[0]["chosen config mean"].iloc[0] for g in groups)
    assert means == [10.5, 100.5]


def test_one_colour_per_variant_across_reports_and_bounded_metrics_on_linear_axes():
    from ganbench.report import figures

    one, other = figures.palette(["ns", "wgan", "wgan-gp"]), figures.palette(["wgan-gp", "dragan", "ls", "zz-new"])
    assert one["wgan-gp"] == other["wgan-gp"] != one["wgan"]  # WGAN-GP is never red in one report, purple in another
    assert figures.palette(["zz-new"])["zz-new"] == other["zz-new"]  # a hashed name keeps its colour too
    many = figures.palette([f"v{i}" for i in range(15)])
    assert len(set(many.values())) == 15  # collisions take the next free slot
    assert figures.spans_decades([449.0, 16.0], "best_fid")
    assert not figures.spans_decades([0.01, 0.9], "best_mode_tv") and not figures.spans_decades([0.02, 0.95])
    assert not figures.spans_decades([0.5, 20.0], "modes")


def test_the_report_lists_every_run_that_filled_the_directory(tmp_path):
    from ganbench.report import runs

    res = tmp_path / "r"
    write_trial(res, seed=0, score=10.0, suite="first")
    write_trial(res, seed=1, score=11.0, suite="second")
    (res / "environment.json").write_text(json.dumps({"suite": {"file": "b.yaml", "sha256": "f" * 64}}))
    records, source = runs.read_runs(res)
    assert source == "environment.json" and len(records) == 1  # older directories: only the latest run's
    lines = [{"recorded_at": "2026-12-05T09:00:00", "suite_name": n, "suite": {"file": f, "sha256": "a" * 64},
              "trials_to_run": 1, "hardware": {"cpu_model": cpu}} for n, f, cpu in
             (("first", "a.yaml", "AMD EPYC"), ("second", "b.yaml", "Intel Xeon"))]
    (res / "environments.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    records, source = runs.read_runs(res)
    table = runs.runs_table(records)
    assert source == "environments.jsonl" and list(table["suite file"]) == ["a.yaml", "b.yaml"]
    trials, _ = load_results(res)
    assert runs.suites_table(trials).set_index("suite")["trials"].to_dict() == {"first": 1, "second": 1}
