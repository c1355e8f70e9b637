"""Typed records of the files ganbench passes around: summary.json (ganbench.results.Summary, one writer and one
reader) and the job a Ray trial receives (ganbench.execution.trainable.Job). The files on disk do not change:
``fixtures/results-before-records`` holds summaries (completed, failed, stopped) and the trials.csv rows that the
code before the records wrote. One change: the budget unit ``images`` is named so everywhere now; results written
before say ``images_seen`` and read as ``images``."""
import json
import shutil
from pathlib import Path

import pytest

from ganbench.results import Summary, collect_rows, current_names, read_history, read_summary, record_failure, \
    record_stopped, summary_status, write_summary

FIXTURE = Path(__file__).parent / "fixtures" / "results-before-records"
IDS = {"completed": "55e13597c4b8", "failed": "2515b4ca8b53", "stopped": "f0f5d52e2c41"}


def _summary(status: str) -> dict:
    return json.loads((FIXTURE / "trials" / IDS[status] / "summary.json").read_text())


@pytest.mark.parametrize("status", sorted(IDS))
def test_a_summary_written_before_reads_and_writes_back_unchanged(status, tmp_path):
    old = _summary(status)
    record = read_summary(FIXTURE, IDS[status])
    assert record.status == status and record.trial_id == IDS[status]
    now = {("images" if k == "images_seen" else k): v for k, v in old.items()}  # the one renamed key
    assert record.to_dict() == now
    write_summary(tmp_path, record)
    assert json.loads((tmp_path / "summary.json").read_text()) == now


def test_the_record_types_what_ganbench_reads():
    done = read_summary(FIXTURE, IDS["completed"])
    assert done.primary == "mode_tv" and done.best_d_steps == 40 and done.d_steps == 40 and done.images == 2560
    assert done.scores["best_val_mode_tv"] == 0.99 and done.scores["final_modes"] == 2.0
    assert "best_d_steps" not in done.scores and "node_id" not in done.scores
    assert done.meta == {"node_id": "n1", "ray_cpu": 1.0, "ray_gpu": 0.0, "started_at": 1.5, "cache_files_fetched": 0}
    assert done.provenance["modes"]["n_fake"] == 200
    failed = read_summary(FIXTURE, IDS["failed"])
    assert failed.error.endswith("boom") and failed.meta == {"node_id": "n2", "ray_cpu": 1.0}
    stopped = read_summary(FIXTURE, IDS["stopped"])
    assert (stopped.early_stopped, stopped.d_steps, stopped.stopped_by, stopped.last_val_score) == (True, 20, "asha",
                                                                                                     -0.5)
    assert summary_status(FIXTURE, IDS["stopped"]) == "stopped" and summary_status(FIXTURE, "nothing") is None


def test_failures_and_stops_write_what_they_wrote_before(tmp_path):
    record_failure(tmp_path, IDS["failed"], "Traceback...\nRuntimeError: boom", node_id="n2", ray_cpu=1.0)
    record_stopped(tmp_path, IDS["stopped"], 20, "asha", -0.5)
    for status in ("failed", "stopped"):
        written = json.loads((tmp_path / "trials" / IDS[status] / "summary.json").read_text())
        assert written == _summary(status)


def test_trials_csv_rows_of_an_old_directory_are_unchanged(tmp_path):
    shutil.copytree(FIXTURE / "trials", tmp_path / "trials")
    rows = json.loads(json.dumps(collect_rows(tmp_path), sort_keys=True, default=str))
    old = json.loads((FIXTURE / "rows.json").read_text())
    assert "images_seen" in old[1] and rows == [current_names(r) for r in old]
    assert rows[1]["images"] == 2560


def test_a_foreign_summary_is_read_without_raising(tmp_path):
    d = tmp_path / "trials" / "x"
    d.mkdir(parents=True)
    for text in ('{"status": ["a"], "trial_id": 3, "pack": 5}', '{}', '[1, 2]', '{"status": "completed"'):
        (d / "summary.json").write_text(text)
        record = read_summary(tmp_path, "x")
        assert record is None or record.to_dict() == json.loads(text)


def test_the_trainer_writes_every_key_it_wrote_before(tmp_path):
    """A trial trained now writes the keys of the fixture's completed summary (scores and meta by their kind)."""
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite
    from ganbench.training import run_trial

    suite = tmp_path / "s.yaml"
    suite.write_text("name: fixture\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0]\n"
                     "budget: {d_steps: 40}\neval: {every_d_steps: 20, n_samples: 200}\n")
    (trial,) = expand(load_suite(suite))
    assert trial.id == IDS["completed"]
    meta = _summary("completed")
    meta = {k: meta[k] for k in ("node_id", "ray_cpu", "ray_gpu", "started_at", "cache_files_fetched")}
    returned = run_trial(trial, tmp_path / "t", meta=meta)
    written = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert returned == written
    old = _summary("completed")
    old = current_names(old)
    assert set(written) == set(old)
    same = ("trial_id", "status", "primary", "best_d_steps", "d_steps", "g_steps", "images", "pack", "notes",
            "resumed_from", "stopped_early_at", *meta)
    assert {k: written[k] for k in same} == {k: old[k] for k in same}
    lines = [json.loads(x) for x in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    assert [x["images"] for x in lines] == [20 * 64, 40 * 64] and not any("images_seen" in x for x in lines)


def test_the_ray_job_round_trips():
    from ganbench.execution.trainable import Job
    from ganbench.suite.plan import Trial

    config = json.loads((FIXTURE / "trials" / IDS["completed"] / "config.json").read_text())
    trial = Trial.from_dict(config)
    job = Job((trial,), ({"kind": "cache", "rel": "a/b.npz", "source": "/c/a/b.npz", "sha256": "0" * 64},),
              ({"rel": f"trials/{trial.id}/checkpoint.pt", "source": "/r/checkpoint.pt"},))
    d = json.loads(json.dumps(job.to_dict()))  # what Tune stores and hands the trial
    assert set(d) == {"pack", "cache_files", "seed"} and d["pack"] == [json.loads(json.dumps(trial.to_dict()))]
    assert Job.from_dict(d) == job and Job.from_dict(d).ids == [trial.id]
    assert Job.from_dict({"pack": d["pack"], "cache_files": []}).seed == ()  # a job without files to resume from


def test_histories_and_checkpoints_written_before_the_rename_read_as_images(tmp_path):
    from ganbench.training.checkpoint import images_count

    d = tmp_path / "trials" / "old"
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text(json.dumps({"d_steps": 20, "images_seen": 1280, "split": "val"}) + "\n"
                                     + json.dumps({"d_steps": 40, "images": 2560, "split": "val"}) + "\n")
    history = read_history(tmp_path, ["old"])
    assert "images_seen" not in history and list(history["images"]) == [1280, 2560]
    assert images_count({"d_steps": 20, "images_seen": 1280}) == 1280 == images_count({"images": 1280})
