"""``ganbench report`` on realistic results directories written here (trials/<id>/ with config.json, summary.json,
metrics.jsonl, samples.png; trials.csv; baselines.json; environment.json), with known answers."""
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganbench.registry import GanbenchError
from ganbench.report import build_report, figures, terminal_summary
from ganbench.results import load_results, write_trials_csv

PROV = {"digits": ("fid", "min", {"extractor": "classifier", "n_real": 359, "n_fake": 2500, "split": "test"}),
        "grid25": ("modes", "max", {"extractor": "none", "n_real": 0, "n_fake": 2500, "split": "analytic modes"})}


def write_trial(results: Path, *, dataset="digits", gan="ns", arch="mlp", seed=0, sample=0, hparams=None,
                budget=2000, n_samples=2500, status="completed", score=None, metric=None, direction=None,
                extra_scores=None, history=True, suite="study", flops_per_step=None) -> str:
    """One trial's files as the runner and trainer write them; returns its id."""
    default_metric, default_direction, prov = PROV.get(dataset, ("fid", "min", PROV["digits"][2]))
    metric, direction = metric or default_metric, direction or default_direction
    config = {"suite": suite, "dataset": dataset, "gan": gan, "variant": gan, "loss": gan, "penalty": "none",
              "architecture": arch, "seed": seed, "sample": sample,
              "hparams": {"batch_size": 64, "lr": 2e-4, **(hparams or {})}, "budget_unit": "d_steps",
              "budget_steps": budget, "eval": {"every_d_steps": budget // 4, "every_g_steps": None,
                                               "n_samples": n_samples, "n_real": None, "metrics": [metric],
                                               "extractor": prov["extractor"], "primary": metric},
              "dataset_options": {}, "loss_options": {}, "penalty_options": {}, "searched": []}
    tid = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    d = results / "trials" / tid
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    if status == "pending":
        return tid
    points = [budget // 4 * k for k in range(1, 5)]
    if history:
        lines = []
        for k, step in enumerate(points):
            value = score * (1 + 0.5 * (3 - k)) if score is not None else None
            lines.append(json.dumps({"d_steps": step, "g_steps": step, "seconds": 2.0 * (k + 1), "split": "val",
                                     "d_acc_real": 0.6, "d_acc_fake": 0.5 + 0.1 * k, "g_grad_norm": 10.0 ** k,
                                     "diversity": 1.0 - 0.1 * k, metric: value, "provenance": {},
                                     **({"flops": flops_per_step * step} if flops_per_step else {})}))
        text = "\n".join(lines) + "\n"
        (d / "metrics.jsonl").write_text(text[:-20] if status == "running" else text)  # running: a half line
    if status == "running":
        return tid
    summary = {"trial_id": tid, "status": status, "primary": metric}
    if status != "failed":
        scores = {metric: score, **(extra_scores or {})}
        p = {"n_samples": n_samples, **prov, "n_fake": n_samples}
        summary.update({"d_steps": budget, "g_steps": budget // 5 if gan.startswith("wgan") else budget,
                        "wall_seconds": 1.5 * budget / 100, "best_d_steps": points[-1],
                        **({"flops": flops_per_step * budget} if flops_per_step else {}),
                        **{f"best_{m}": v for m, v in scores.items()}, **{f"final_{m}": v for m, v in scores.items()},
                        "provenance": {m: {"metric": m, "direction": direction if m == metric else "max", **p}
                                       for m in scores}})
        import matplotlib.pyplot as plt

        plt.imsave(d / "samples.png", np.random.default_rng(seed).random((16, 16)))
    else:
        summary["error"] = "RuntimeError: simulated"
    (d / "summary.json").write_text(json.dumps(summary))
    return tid


def baseline_record(dataset="digits", n_fake=2500, noise=400.0, real=10.0) -> dict:
    metric, direction, prov = PROV[dataset]
    return {"dataset": dataset, "dataset_options": {}, **prov, "n_fake": n_fake, "noise_kind": "uniform noise",
            "real_kind": "train split scored against test",
            "metrics": {metric: {"direction": direction,
                                 "noise": {"values": [noise - 5, noise, noise + 5], "mean": noise, "std": 5.0,
                                           "best": noise - 5 if direction == "min" else noise + 5,
                                           "worst": noise + 5 if direction == "min" else noise - 5},
                                 "real": {"values": [real - 0.5, real + 0.5], "mean": real, "std": 0.5}}}}


def write_baselines(results: Path, *records) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "baselines.json").write_text(json.dumps({"version": 1, "baselines": list(records)}))


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(next((out / "tables").glob(f"*{name}.csv")))


def test_protocols_are_never_pooled(tmp_path):
    """2,000- and 10,000-step trials of one suite (and another sample count) make separate tables."""
    res = tmp_path / "r"
    for seed in (0, 1):
        write_trial(res, seed=seed, budget=2000, score=50.0 + seed)
        write_trial(res, seed=seed, budget=10000, score=20.0 + seed)
    write_trial(res, seed=0, budget=2000, n_samples=1000, score=60.0)
    write_trials_csv(res)
    report = build_report(res)
    md = report.path.read_text()
    assert md.count("## digits: fid (lower is better)") == 3
    assert "budget d_steps=2000;" in md and "budget d_steps=10000;" in md and "d_steps=2000, d_steps" not in md
    summary = pd.read_csv(res / "report" / "summary.csv")
    assert {"budget_unit", "budget_steps", "eval_every_d_steps", "eval_n_samples", "extractor", "n_real", "n_fake",
            "split", "dataset_options"} <= set(summary.columns)
    assert sorted(zip(summary.budget_steps, summary.n_fake, summary.seeds)) == [(2000, 1000, 1), (2000, 2500, 2),
                                                                               (10000, 2500, 2)]
    assert summary.set_index("budget_steps").loc[10000, "chosen config mean"] == 20.5


def test_partial_results_directory(tmp_path, capsys):
    res = tmp_path / "r"
    for seed in (0, 1):
        write_trial(res, seed=seed, score=30.0)
    write_trial(res, seed=2, status="running", score=30.0)
    write_trial(res, seed=3, status="pending")
    write_trial(res, seed=4, status="failed")
    from ganbench.cli import main

    assert main(["report", str(res)]) == 0
    printed = capsys.readouterr().out
    assert "chosen mean" in printed and "partial results" in printed
    md = (res / "report" / "report.md").read_text()
    assert "**Partial results**: 2 of 5 trials are not finished (1 running or interrupted, 1 pending)" in md
    row = _table(res / "report", "variants").iloc[0]
    assert (row.trials, row.completed, row.failed, row.running, row.pending, row.seeds) == (5, 2, 1, 1, 1, 2)
    trials, history = load_results(res)
    assert trials.set_index("seed").status.to_dict() == {0: "completed", 1: "completed", 2: "running",
                                                         3: "pending", 4: "failed"}
    assert len(history[history.trial_id == trials.set_index("seed").trial_id[2]]) == 3  # the half line skipped
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_pairwise_statistics_in_words(tmp_path):
    """a and c interleave, b is worse than both in every seed. The seeds are shared, so pairs pair by seed: every
    difference has one sign, the exact signed-rank p is 2 / 2^6 = 1/32 for a vs b and b vs c; a vs c differ by
    0.5 in every seed too (1/32). Holm over three: 3/32 for all, undecided at 0.05; the report says the family of
    6 paired seeds under Holm over 3 pairs cannot reject (3 * 2 / 64 = 0.094), and never calls a pair a tie."""
    res = tmp_path / "r"
    for seed in range(6):
        write_trial(res, gan="a", seed=seed, score=10.0 + seed)
        write_trial(res, gan="b", seed=seed, score=20.0 + seed + 0.1 * seed ** 2)
        write_trial(res, gan="c", seed=seed, score=10.5 + seed + 0.01 * seed ** 2)
    build_report(res)
    pairs = _table(res / "report", "pairwise").set_index(["A", "B"])
    assert list(pairs.level.unique()) == ["best configuration over seeds"]  # no search: one level
    assert pairs.paired.all() and (pairs["p method"] == "exact").all()
    assert pairs.loc[("a", "b"), "p"] == pytest.approx(1 / 32)
    assert pairs.loc[("a", "b"), "p (Holm)"] == pytest.approx(3 / 32)
    assert set(pairs.verdict) == {"undecided"}
    assert pairs.loc[("a", "b"), "attainable p (Holm)"] == pytest.approx(3 / 32)
    # a - b (lower is better, so positive = a better): 10 + 0.1 s^2 over seeds 0..5: mean 10 + 5.5 / 6 = 10.917;
    # half-width t(0.975, 5) * 0.1 * sd(0, 1, 4, 9, 16, 25) / sqrt(6) = 1.015: printed to one decimal
    assert pairs.loc[("a", "b"), "difference [95% CI]"] == "10.9 [9.9, 11.9]"
    md = (res / "report" / "report.md").read_text()
    assert "Family **digits x chosen configurations: 3 pairs, Holm**: **this design cannot reject" in md
    line = next(x for x in md.splitlines() if x.startswith("- **a** vs **c**"))
    assert "**Undecided** (no margin is declared, so equivalence cannot be shown)" in line
    assert "seeds per variant would decide it" in line
    assert not re.search(r"\btie\b|\btied\b|no difference|indistinguishable", md.lower())
    table = _table(res / "report", "variants").set_index("gan")
    assert table.loc["a", "chosen config mean"] == 12.5 and table.loc["a", "seeds"] == 6
    assert table.loc["a", "CI low"] < 12.5 < table.loc["a", "CI high"]
    assert table.loc["b", "G steps"] == 2000 and table.loc["a", "wall s"] == 30.0


def test_baselines_and_not_learned(tmp_path):
    res = tmp_path / "r"
    write_baselines(res, baseline_record())  # fid: noise 400, real 10 -> learned at most sqrt(400 * 10) = 63.2
    for seed in (0, 1):
        write_trial(res, gan="dragan", seed=seed, score=450.0)  # at noise: not learned
        write_trial(res, gan="ns", seed=seed, sample=0, hparams={"lr": 1e-4}, score=50.0 + seed)
    write_trial(res, gan="ns", seed=0, sample=1, hparams={"lr": 1e-3}, score=20.0)  # better, but seed 1 did not learn
    write_trial(res, gan="ns", seed=1, sample=1, hparams={"lr": 1e-3}, score=380.0)
    from ganbench.environment import collect_environment

    (res / "environment.json").write_text(json.dumps(collect_environment()))
    build_report(res)
    out = res / "report"
    table = _table(out, "variants").set_index("gan")
    # "learned" chooses nothing: dragan's only configuration is still its chosen one, counted as not learned
    assert table.loc["dragan", "not learned"] == 2 and table.loc["dragan", "chosen config mean"] == 450.0
    assert table.loc["ns", "not learned"] == 1 and table.loc["ns", "configurations"] == 2
    assert table.loc["ns", "chosen config"] == "lr=0.0001" and table.loc["ns", "chosen config mean"] == 50.5
    assert table.loc["ns", "selected_on"] == "val" and table.loc["ns", "scored on"] == "search seeds (optimistic)"
    assert "best" not in table  # the best test score over the search is a choice made on test
    md = (out / "report.md").read_text()
    assert "its fid is at most 63.2 (50% of the way from noise (400) to real data (10) on a log scale" in md
    assert "**3 trial(s) not learned**" in md
    base = _table(out, "baselines")
    assert list(base.baseline) == ["noise", "real"] and list(base["fid mean"]) == [400.0, 10.0]
    assert "| packages.torch |" in md and "| hardware.cpu_count |" in md
    samples = sorted(p.name for p in (out / "samples").iterdir())
    # ns shows its chosen configuration's learned run; dragan learned nothing and shows its run anyway, marked
    assert len(samples) == 2 and samples[0].startswith("digits-dragan-") and samples[1].startswith("digits-ns-")
    assert "; **not learned**)" in md.split("Samples of each chosen configuration")[1]


def test_aggregate_across_datasets(tmp_path):
    res = tmp_path / "r"
    write_baselines(res, baseline_record(), baseline_record("grid25", noise=18.0, real=25.0))
    for seed in (0, 1):
        write_trial(res, gan="ns", seed=seed, score=10.0)  # the real-data mean: normalised 1
        write_trial(res, gan="ls", seed=seed, score=np.sqrt(4000.0))  # half way on a log scale: 0.5
        write_trial(res, gan="ns", dataset="grid25", seed=seed, score=25.0)
        write_trial(res, gan="ls", dataset="grid25", seed=seed, score=21.5)
    build_report(res)
    agg = _table(res / "report", "aggregate").set_index("variant")
    assert agg.loc["ns", "IQM"] == pytest.approx(1.0) and agg.loc["ls", "IQM"] == pytest.approx(0.5)
    assert agg.loc["ns", "IQM CI low"] == pytest.approx(1.0) and agg.loc["ls", "runs"] == 4
    assert (res / "report" / "figures" / "aggregate.png").stat().st_size > 5000


def test_search_pairs_and_figures(tmp_path):
    """Shared draws of a searched lr pair the trials of two variants; the budget curve uses one seed (and needs 5
    configurations)."""
    res = tmp_path / "r"
    lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    for sample, lr in enumerate(lrs):
        for seed in (0, 1):
            write_trial(res, gan="ns", sample=sample, seed=seed, hparams={"lr": lr}, score=100.0 / (sample + 1) + seed,
                        extra_scores={"precision": 0.5, "recall": 0.1 * sample})
            write_trial(res, gan="wgan-gp", sample=sample, seed=seed, hparams={"lr": lr}, score=90.0 / (sample + 1),
                        extra_scores={"precision": 0.6, "recall": 0.2}, flops_per_step=1e9)
    write_trial(res, gan="wgan-gp", sample=3, seed=2, hparams={"lr": 1e-2}, score=1e4, status="diverged")
    report = build_report(res)
    pairs = _table(res / "report", "pairwise").set_index("level")
    assert pairs.loc["whole search", "test"] == "Mann-Whitney U"  # the extra diverged seed breaks the pairing
    figs = {p.name.split("-", 4)[-1] for p in (res / "report" / "figures").iterdir()}
    assert {"chosen.png", "scores.png", "curves.png", "pr.png", "hparams.png", "budget.png", "seeds.png",
            "diagnostics.png"} <= figs
    assert _table(res / "report", "variants").set_index("gan").loc["wgan-gp", "FLOPs"] == 2e12
    html = (res / "report" / "report.html").read_text()
    assert html.count("<img src=\"data:image/png;base64,") == report.path.read_text().count("![")
    from ganbench.report.panels import budget_scores
    from ganbench.report.tables import variant_names
    from ganbench.selection import validation_values

    trials, history = load_results(res)
    done = trials[trials.status.isin(["completed", "diverged"])]
    done = done.assign(best_val_fid=validation_values(done, "fid", history))
    val, test = budget_scores(done, "fid", variant_names(trials))["ns"]
    np.testing.assert_allclose(sorted(test), sorted(100.0 / np.arange(1, 6)))  # seed 0, one per config
    np.testing.assert_allclose(sorted(val), sorted(test))  # the fixture's validation value equals its test score
    (res / "trials").joinpath(trials[trials.seed == 2].trial_id.iloc[0]).joinpath("summary.json").unlink()
    (res / "trials").joinpath(trials[trials.seed == 2].trial_id.iloc[0]).joinpath("metrics.jsonl").unlink()
    build_report(res, tmp_path / "again")
    assert _table(tmp_path / "again", "pairwise").set_index("level").loc["whole search", "test"] == \
        "Wilcoxon signed-rank, paired"


def test_directions_come_from_the_results(tmp_path):
    res = tmp_path / "r"
    for seed in (0, 1):
        write_trial(res, gan="a", seed=seed, metric="sharpness", direction="max", score=1.0 + seed)
        write_trial(res, gan="b", seed=seed, metric="sharpness", direction="max", score=5.0 + seed)
    build_report(res)
    md = (res / "report" / "report.md").read_text()
    assert "## digits: sharpness (higher is better)" in md
    table = _table(res / "report", "variants").set_index("gan")
    assert table.loc["b", "chosen config mean"] == 5.5 and table.loc["b", "val mean"] == 5.5  # "max": 5.5 beats 1.5
    # results written before directions were stored: trials.csv only, no direction columns; fid falls back to min
    old = tmp_path / "old"
    for seed in (0, 1):
        write_trial(old, seed=seed, score=30.0 + seed)
    write_trials_csv(old)
    frame = pd.read_csv(old / "trials.csv")
    frame.drop(columns=["fid_direction", "eval_n_samples"]).to_csv(old / "trials.csv", index=False)
    import shutil

    shutil.rmtree(old / "trials")
    build_report(old)
    assert "## digits: fid (lower is better)" in (old / "report" / "report.md").read_text()


def test_outputs_escape_user_strings(tmp_path):
    res = tmp_path / "r"
    evil = "<b>x&y</b>_1|z"
    for seed in (0, 1):
        write_trial(res, gan=evil, seed=seed, score=40.0 + seed)
        write_trial(res, gan="ns", seed=seed, score=30.0 + seed)
    report = build_report(res)
    out = res / "report"
    html = (out / "report.html").read_text()
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;_1|z" in html and "<b>x" not in html
    assert "\\<b\\>" not in report.path.read_text() and "x&y</b>_1\\|z" in report.path.read_text()
    tex = next((out / "tables").glob("*variants.tex")).read_text()
    assert "x\\&y</b>\\_1|z" in tex and "\\toprule" in tex
    assert "chosen mean" in terminal_summary(report.summary)


def test_load_results_and_no_torch(tmp_path):
    res = tmp_path / "r"
    for seed in (0, 1):
        write_trial(res, seed=seed, score=30.0 + seed, hparams={"beta1": 0.5})
    trials, history = load_results(res)
    assert len(trials) == 2 and {"hp_lr", "hp_beta1", "best_fid", "fid_direction", "fid_n_fake"} <= set(trials)
    assert set(history.columns) >= {"trial_id", "d_steps", "fid", "g_grad_norm"} and len(history) == 8
    with pytest.raises(GanbenchError, match="no trials/ and no trials.csv"):
        load_results(tmp_path / "empty")
    code = ("import sys, ganbench, ganbench.report\n"
            f"ganbench.report.build_report({str(res)!r})\n"
            "t, h = ganbench.load_results(" + repr(str(res)) + ")\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'ganbench.zoo', "
            "'ganbench.train', 'ganbench.evaluation', 'ganbench.execution', 'ray'))]\n"
            "assert not bad, bad\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr


def test_palette_legend_and_log_axes():
    a = figures.palette(["wgan-gp", "ns", "ns", "ls"])
    assert list(a) == ["ls", "ns", "wgan-gp"] and a == figures.palette(["ls", "wgan-gp", "ns"])
    assert len(set(a.values())) == 3
    plt = figures.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="ns")
    figures._legend(ax, a)
    assert ax.get_legend() is None  # one variant: named in the title, no legend
    ax.plot([0, 1], [1, 0], label="ls")
    figures._legend(ax, a)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ns", "ls"]
    plt.close(fig)
    assert figures.spans_decades([449.0, 16.0]) and not figures.spans_decades([1.0, 8.0])
    assert not figures.spans_decades([-1.0, 100.0])


def test_environment_record(tmp_path):
    import socket

    from ganbench.environment import collect_environment

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\n")
    env = collect_environment(suite)
    assert env["suite"] == {"file": "s.yaml", "sha256": hashlib.sha256(b"name: s\n").hexdigest()}
    assert env["packages"]["torch"] and env["packages"]["pandas"] == pd.__version__
    assert env["hardware"]["cpu_count"] >= 1 and env["python"]["version"].count(".") == 2
    assert set(env["accelerators"]) >= {"torch_cuda_build", "cuda_available", "gpus"}
    text = json.dumps(env)
    host = socket.gethostname()
    assert len(host) < 6 or host not in text  # hardware summary without the host name


def test_a_trial_whose_samples_are_not_precise_is_not_learned_whatever_its_fid(tmp_path):
    """Polygons in a random CNN's features: blobs beat noise's FID while no sample falls on the data's manifold
    (precision 0 against 0.93 for real data). Where precision was scored, it must beat noise by the same rule."""
    res = tmp_path / "r"
    record = baseline_record()  # fid: noise 400, real 10 -> at most 63.2
    record["metrics"]["precision"] = {"direction": "max", "noise": {"values": [0.0, 0.0], "mean": 0.0, "std": 0.0},
                                      "real": {"values": [0.9, 0.96], "mean": 0.93, "std": 0.03}}  # at least 0.093
    write_baselines(res, record)
    for seed in (0, 1):
        write_trial(res, gan="blobs", seed=seed, score=40.0, extra_scores={"precision": 0.0})
        write_trial(res, gan="ns", seed=seed, score=40.0 + seed, extra_scores={"precision": 0.6})
    write_trial(res, gan="no-pr", seed=0, score=40.0)  # precision not scored: judged on its FID alone
    build_report(res)
    table = _table(res / "report", "variants").set_index("gan")
    assert table.loc["blobs", "not learned"] == 2 and table.loc["blobs", "chosen config mean"] == 40.0
    assert table.loc["ns", "not learned"] == 0 and table.loc["ns", "chosen config mean"] == 40.5
    assert table.loc["no-pr", "not learned"] == 0
    md = (res / "report" / "report.md").read_text()
    assert "its fid is at most 63.2 (" in md and "and its precision is at least 0.093 (better than the best noise" in md


def test_pairwise_equivalence_against_the_declared_margin(tmp_path):
    """analysis_margin (trials.csv, from the suite's analysis.margin) makes equivalence decidable: a and b differ by
    at most 0.2 either way over 10 paired seeds (mean 0), well inside a margin of 1; c is worse by 5 in every seed.
    A difference shown wins over equivalence, so b must differ from a in both directions to be equivalent."""
    res = tmp_path / "r"
    rng = np.random.default_rng(0)
    offsets = [0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.15, -0.15, 0.1, -0.1]
    for seed in range(10):
        base = 10.0 + rng.normal(0, 1)
        for gan, score in (("a", base), ("b", base + offsets[seed]), ("c", base + 5 + seed * 0.01)):
            tid = write_trial(res, gan=gan, seed=seed, score=score)
            path = res / "trials" / tid / "config.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), "analysis_margin": 1.0}))
    build_report(res)
    pairs = _table(res / "report", "pairwise").set_index(["A", "B"])
    assert (pairs.margin == 1.0).all()
    assert pairs.loc[("a", "b"), "verdict"] == "equivalent" and pairs.loc[("a", "b"), "TOST p (Holm)"] < 0.05
    assert pairs.loc[("a", "c"), "verdict"] == "better" and pairs.loc[("b", "c"), "verdict"] == "better"
    md = (res / "report" / "report.md").read_text()
    main = md.split("### Do the verdicts hold on two halves")[0]  # a half (5 seeds, 3 pairs) cannot reject
    assert "**Equivalent** within +-1." in main and "cannot reject" not in main
