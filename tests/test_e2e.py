"""End to end through Ray Tune on a local Ray bound to loopback: run, resume, widen, report."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from ganbench.suite.schema import load_suite
from ganbench.results import finished_ids, record_failure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(tmp_path_factory, request):
    """`ganbench run` and `ganbench report` as a user types them (one local Ray, started and stopped by the CLI)."""
    from conftest import SUITE

    root = tmp_path_factory.mktemp("e2e")
    suite = root / "tiny.yaml"
    suite.write_text(SUITE)
    results = root / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GANBENCH_TIMELINE": str(root / "timeline.jsonl")}
    run = subprocess.run([sys.executable, "-m", "ganbench.cli", "run", str(suite), "--results", str(results),
                          "--num-cpus", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    report = subprocess.run([sys.executable, "-m", "ganbench.cli", "report", str(results)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    return suite, results, run.stdout


def test_the_timeline_shows_where_the_runs_time_went(ran):
    """With $GANBENCH_TIMELINE set, the driver and the Ray workers mark one file: Ray's start and shutdown, one round
    (the search), every pack's start and end on a worker with its reports, the driver's gathering; the breakdown adds
    them up into per-trial and fixed costs that fit inside the run's wall time."""
    from ganbench.execution.timeline import breakdown, read

    suite, _, _ = ran
    marks = read(suite.parent / "timeline.jsonl")
    b = breakdown(marks)
    events = {m["event"] for m in marks}
    assert {"run_start", "ray_init", "prepare", "tune_fit", "pack_start", "import_training", "trainer", "report",
            "gather", "pack_end", "ray_shutdown", "run_end", "tune_trial_start", "tune_trial_complete"} <= events
    assert b["packs"]["trials"] == 4 and b["packs"]["packs"] == 4 and len(b["rounds"]) == 1
    assert 1 <= b["packs"]["workers"] <= 2  # --num-cpus 2: at most two workers, reused for the next packs
    assert {m["pid"] for m in marks if m["event"] == "pack_start"}.isdisjoint(
        {m["pid"] for m in marks if m["event"] == "run_start"})
    assert b["packs"]["reports"] >= 4 * 3 and b["packs"]["report_checkpoint"] > 0
    assert 0 < b["run"]["ray_init"] and 0 < b["rounds"][0]["to_first_pack"] < b["rounds"][0]["seconds"]
    assert 0 < b["fixed"] + b["per_trial"] * 4 < b["run_seconds"]


def test_every_trial_completed_with_its_files(ran):
    _, results, stdout = ran
    frame = pd.read_csv(results / "trials.csv")
    assert len(frame) == 4 and set(frame.status) == {"completed"}
    assert set(frame.gan) == {"ns", "wgan-gp"} and set(frame.dataset) == {"ring8", "digits"}
    for col in ("trial_id", "node_id", "seed", "architecture", "hp_lr", "hp_n_disc", "d_steps", "g_steps",
                "images", "wall_seconds", "best_d_steps"):
        assert col in frame and frame[col].notna().all(), col
    assert frame.node_id.str.len().min() > 10  # a Ray node id
    assert (frame.d_steps == 60).all()
    assert set(frame[frame.gan == "wgan-gp"].g_steps) == {12} and set(frame[frame.gan == "ns"].g_steps) == {60}
    digits = frame[frame.dataset == "digits"]
    assert digits.best_fid.notna().all() and (digits.fid_extractor == "classifier").all()
    assert frame[frame.dataset == "ring8"].best_modes.notna().all()
    for tid in frame.trial_id:
        d = results / "trials" / tid
        assert {"config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "samples.png"} <= \
               {p.name for p in d.iterdir()}
    assert "[4/4]" in stdout


def test_report_has_tables_and_figures(ran):
    _, results, _ = ran
    report = results / "report"
    md = (report / "report.md").read_text()
    assert "## digits: fid (lower is better)" in md and "## ring8: mode_tv (lower is better)" in md
    assert "Provenance: extractor=classifier" in md
    figures = list((report / "figures").glob("*.png"))
    assert len(figures) >= 4 and all(f.stat().st_size > 1000 for f in figures)
    assert len(list((report / "samples").glob("*.png"))) == 4
    summary = pd.read_csv(report / "summary.csv")
    assert set(summary.columns) >= {"dataset", "metric", "gan", "selected_on", "median", "chosen config mean", "trials"}


def test_rerun_skips_finished_and_widening_runs_only_new(ran, tmp_path):
    from ganbench.execution.tune import run_suite

    suite_path, results, _ = ran
    before = pd.read_csv(results / "trials.csv")
    logs = []
    run_suite(load_suite(suite_path), results, log=logs.append)
    assert "4 already finished" in logs[0] and "0 to run" in logs[0]
    # widen: one more variant -> only its two trials run; a failed trial is retried
    record_failure(results, before.trial_id[0], "RuntimeError: simulated")
    assert before.trial_id[0] not in finished_ids(results)
    wider = tmp_path / "wider.yaml"
    wider.write_text(suite_path.read_text().replace("gans: [ns, wgan-gp]", "gans: [ns, wgan-gp, ls]"))
    logs = []
    counts = run_suite(load_suite(wider), results, log=logs.append, num_cpus=2)
    assert "3 already finished" in logs[0] and "3 to run" in logs[0]
    after = pd.read_csv(results / "trials.csv")
    assert len(after) == 6 and counts == {"completed": 6}
    assert set(before.trial_id) < set(after.trial_id)
    kept = after.set_index("trial_id").loc[before.trial_id[1:]]
    pd.testing.assert_series_equal(kept.best_d_steps, before.set_index("trial_id").loc[before.trial_id[1:]]
                                   .best_d_steps)
