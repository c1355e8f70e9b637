"""The timeline of a run (ganbench.execution.timeline): marks only when asked for, and their breakdown into what a
run, a round and a pack cost beyond training."""
import json

import pytest

from ganbench.execution import timeline


def test_marks_are_written_only_when_the_variable_names_a_file(tmp_path, monkeypatch):
    path = tmp_path / "t.jsonl"
    monkeypatch.delenv(timeline.ENV, raising=False)
    timeline.mark("run_start")
    with timeline.span("ray_init"):
        pass
    assert not path.exists()
    monkeypatch.setenv(timeline.ENV, str(path))
    timeline.mark("run_start", x=1)
    with timeline.span("ray_init", what="w"):
        pass
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [m["event"] for m in lines] == ["run_start", "ray_init"]
    assert lines[0]["x"] == 1 and lines[1]["what"] == "w" and lines[1]["seconds"] >= 0
    assert lines[1]["t0"] <= lines[1]["t"] and all(m["pid"] > 0 for m in lines)


def _span(event, t0, t, pid=1, **kw):
    return {"event": event, "t0": t0, "t": t, "seconds": t - t0, "pid": pid, **kw}


def _mark(event, t, pid=1, **kw):
    return {"event": event, "t": t, "pid": pid, **kw}


def test_breakdown_adds_up_a_hand_made_run():
    """A run of one round, two workers (pids 2 and 3), three packs of 2 trials: each figure is what the marks say."""
    marks = [_mark("run_start", 0.0), _span("ray_init", 1.0, 4.0), _span("prepare", 4.0, 4.5),
             # worker 2 started at 3.0 (before the round: counted from the round's start, 5.0), first pack at 9.0
             _mark("pack_start", 9.0, 2, n=2, process_started=3.0), _span("restore", 9.0, 9.1, 2),
             _span("report", 10.0, 10.2, 2, checkpoint=True), _span("report", 11.0, 11.1, 2, checkpoint=False),
             _mark("pack_end", 12.0, 2, n=2),
             _mark("pack_start", 12.5, 2, n=2, process_started=3.0), _mark("pack_end", 15.0, 2, n=2),
             # worker 3 started during the round, at 6.0; first pack at 10.0
             _mark("pack_start", 10.0, 3, n=2, process_started=6.0), _mark("pack_end", 14.0, 3, n=2),
             _span("gather", 13.0, 13.4, 1), _span("tune_fit", 5.0, 16.0, what="search"),
             _span("ray_shutdown", 16.5, 17.5), _mark("run_end", 18.0)]
    b = timeline.breakdown(sorted(marks, key=lambda m: m["t"]))
    assert b["run_seconds"] == 18.0
    assert b["run"] == pytest.approx({"before_ray": 1.0, "ray_init": 3.0, "ray_shutdown": 1.0,
                                      "after_last_round": 0.5, "prepare": 0.5})
    assert b["rounds"] == [pytest.approx({"round": "search", "seconds": 11.0, "packs": 3, "to_first_pack": 4.0,
                                          "after_last_pack": 1.0})]
    p = b["packs"]
    assert (p["packs"], p["trials"], p["workers"], p["reports"]) == (3, 6, 2, 2)
    assert p["worker_start"] == pytest.approx(4.0 + 4.0)  # 9 - max(3, 5) and 10 - 6
    assert p["turnaround"] == pytest.approx(0.5)  # worker 2: end 12.0 -> next start 12.5
    assert (p["restore"], p["report_checkpoint"], p["report_plain"], p["gather"]) == pytest.approx((0.1, 0.2, 0.1,
                                                                                                      0.4))
    assert b["per_trial"] == pytest.approx((0.5 + 0.1 + 0.2 + 0.1) / 6)
    assert b["per_trial_gather"] == pytest.approx(0.4 / 6)
    assert b["fixed"] == pytest.approx(1.0 + 3.0 + 1.0 + 0.5 + 0.5 + 4.0 + 1.0)


def test_turnaround_never_spans_two_rounds():
    """A worker pid seen in two rounds (a reused process id) counts no gap between the rounds as turnaround."""
    marks = [_mark("pack_start", 1.0, 2, process_started=0.0), _mark("pack_end", 2.0, 2),
             _span("tune_fit", 0.5, 2.5), _mark("pack_start", 11.0, 2, process_started=0.0),
             _mark("pack_end", 12.0, 2), _span("tune_fit", 10.0, 12.5)]
    p = timeline.pack_costs(sorted(marks, key=lambda m: m["t"]))
    assert p["turnaround"] == 0.0 and p["worker_start"] == pytest.approx(0.5 + 1.0)


def test_an_unwritable_timeline_is_one_clear_error_before_the_run_and_never_a_trials_failure(tmp_path, monkeypatch):
    from ganbench.registry import GanbenchError

    bad = tmp_path / "no-such-dir" / "t.jsonl"
    monkeypatch.setenv(timeline.ENV, str(bad))
    with pytest.raises(GanbenchError, match=r"GANBENCH_TIMELINE=.*no-such-dir.*cannot write the run's timeline"):
        timeline.check()
    timeline.mark("pack_start")  # dropped: a diagnostic never fails a trial
    with timeline.span("report"):
        pass
    assert not bad.exists()
    monkeypatch.setenv(timeline.ENV, str(tmp_path / "ok.jsonl"))
    timeline.check()


def test_ganbench_run_refuses_an_unwritable_timeline_with_one_line(tmp_path, monkeypatch, capsys):
    from ganbench.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0]\n"
                     "budget: {d_steps: 10}\n")
    monkeypatch.setenv(timeline.ENV, str(tmp_path / "missing" / "t.jsonl"))
    assert main(["run", str(suite), "--results", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GANBENCH_TIMELINE" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "r").exists()
