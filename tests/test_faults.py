"""What ends a trial other than its budget, and what a suite does then: a driver killed with its whole process group
(the same command again finishes the suite), a trainer that raises (``failed``, the suite goes on), a trial that
diverges (``diverged``), and early stopping (``stopped``)."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from ganbench.suite.schema import load_suite
from ganbench.results import TERMINAL, finished_ids, summary_status
from ganbench.execution.tune import checkpoint_d_steps, run_suite

TESTS = Path(__file__).parent


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def _tagged(tag: str) -> list[int]:
    """PIDs of live processes whose environment carries ``GANBENCH_TEST_TAG=tag``: the driver this test started and
    everything it started (Ray's processes inherit the environment), whatever their process group."""
    pids = []
    needle = f"GANBENCH_TEST_TAG={tag}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _kill_tagged(tag: str) -> list[int]:
    pids = _tagged(tag)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


@pytest.mark.slow
def test_a_killed_driver_then_the_same_command_finishes_the_suite(tmp_path):
    path = _write(tmp_path, """
name: ring
datasets: [ring8]
gans: [ns]
architectures: [mlp]
seeds: [0, 1, 2]
budget: {d_steps: 1200}
eval: {every_d_steps: 400, n_samples: 400}
resources: {checkpoint_every_d_steps: 100}
""")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "ganbench.cli", "run", str(path), "--results", str(results), "--num-cpus", "2"]
    tag = uuid.uuid4().hex
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, env={**os.environ, "GANBENCH_TEST_TAG": tag}, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)  # its own process group
    finished, running = {}, {}
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and first.poll() is None:
            ids = [p.name for p in (results / "trials").iterdir()] if (results / "trials").is_dir() else []
            finished = {t: (results / "trials" / t / "summary.json").read_bytes() for t in ids
                        if summary_status(results, t) in TERMINAL}
            running = {t: checkpoint_d_steps(results, t) for t in ids if t not in finished}
            if finished and any(running.values()):
                break
            time.sleep(0.2)
        assert first.poll() is None, "the first run ended before it could be killed"
        assert finished and any(running.values()), "no trial finished and another checkpointed in time"
        os.killpg(first.pid, signal.SIGKILL)  # the driver, the local Ray it started and its workers
        killed_at = time.time()
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        log.close()
        # Ray's worker processes put themselves in process groups of their own (setpgid), so the group kill misses
        # them; they exit once their raylet is gone. Give them a few seconds, then kill what is left by PID.
        deadline = time.monotonic() + 5
        while _tagged(tag) and time.monotonic() < deadline:
            time.sleep(0.5)
        lingering = _kill_tagged(tag)
    print(f"killed the driver's process group; {len(lingering)} of its processes outlived it by 5 s: {lingering}")
    assert _tagged(tag) == []
    assert (results / "_ray").is_dir()  # the killed run's checkpoints, left in storage

    tag = uuid.uuid4().hex
    try:
        second = subprocess.run(command, env={**os.environ, "GANBENCH_TEST_TAG": tag}, capture_output=True, text=True,
                                timeout=600, start_new_session=True)
    finally:
        _kill_tagged(tag)
    assert second.returncode == 0, second.stdout + second.stderr
    frame = pd.read_csv(results / "trials.csv")
    assert len(frame) == 3 and frame.trial_id.is_unique and set(frame.status) == {"completed"}
    for tid, before in finished.items():  # finished trials were not run again
        assert (results / "trials" / tid / "summary.json").read_bytes() == before
    resumed = {tid: step for tid, step in running.items() if step}
    rows = frame.set_index("trial_id")
    for tid, step in resumed.items():  # unfinished ones resumed, from at least what the results held at the kill
        assert rows.loc[tid, "d_steps"] == 1200
        if pd.isna(rows.loc[tid, "resumed_from"]):
            # it finished in the first run between the look and the kill (its last 100 D steps take a fraction of
            # a second): gathered from storage, never trained again, so its pack started before the kill
            assert rows.loc[tid, "started_at"] < killed_at, f"{tid} was trained again from the start"
        else:
            assert rows.loc[tid, "resumed_from"] >= step
    assert f"{len(finished)} already finished" in second.stdout
    assert "resume from their checkpoints" in second.stdout
    assert not (results / "_ray").exists()  # gathered, then removed: one copy of each file
    for tid in resumed:
        print(f"{tid}: resumed from D step {rows.loc[tid, 'resumed_from']:.0f} of 1200")


def _local_ray_with_hooks(monkeypatch, **env):
    import ray

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR",
             runtime_env={"worker_process_setup_hook": "worker_hooks.install"})


@pytest.mark.slow
def test_a_trial_that_raises_is_failed_one_that_diverges_is_diverged_and_the_suite_goes_on(tmp_path, monkeypatch):
    import ray

    path = _write(tmp_path, """
name: faults
datasets: [ring8]
gans: [{name: wgan, hparams: {optimizer: adam, clip: 1.0e+9}}]
architectures: [mlp]
hparams: {lr: [1.0e+12, 1.0e-4]}
seeds: [0, 1]
budget: {d_steps: 200}
eval: {every_d_steps: 50, n_samples: 200}
""")
    results = tmp_path / "results"
    logs: list[str] = []
    _local_ray_with_hooks(monkeypatch, GANBENCH_TEST_FAIL_SEED="1")  # the trainer raises for seed 1
    try:
        counts = run_suite(load_suite(path), results, log=logs.append)
    finally:
        ray.shutdown()
    assert counts == {"completed": 1, "diverged": 1, "failed": 2}
    frame = pd.read_csv(results / "trials.csv")
    failed = frame[frame.status == "failed"]
    assert set(failed.seed) == {1} and failed.error.str.contains("RuntimeError: injected fault for seed 1").all()
    assert failed.node_id.str.len().min() > 10  # where it failed
    diverged = frame[frame.status == "diverged"].iloc[0]
    assert diverged.hp_lr == 1e12 and diverged.d_steps < 200
    assert sum("failed: RuntimeError: injected fault for seed 1" in line for line in logs) == 2
    assert not finished_ids(results) & set(failed.trial_id)  # the next run tries them again


@pytest.mark.slow
def test_early_stopping_stops_poor_trials_and_records_them(tmp_path):
    from ganbench.suite.expand import expand

    path = _write(tmp_path, """
name: explore
datasets: [ring8]
gans: [ns]
architectures: [mlp]
hparams: {lr: [0.03, 0.1]}
seeds: [0, 1]
budget: {d_steps: 300}
eval: {every_d_steps: 100, n_samples: 400, metrics: [modes, swd], primary: swd}
resources: {early_stopping: {scheduler: asha, reduction_factor: 2}, checkpoint_every_d_steps: 100}
""")
    results = tmp_path / "results"
    logs: list[str] = []
    suite = load_suite(path)
    counts = run_suite(suite, results, log=logs.append, max_concurrent=1)  # one at a time: a fixed order
    order = [t.id for t in expand(suite)]
    frame = pd.read_csv(results / "trials.csv").set_index("trial_id").loc[order]
    assert frame.status.iloc[0] == "completed"  # the first trial at each rung has nothing to lose against
    stopped = frame[frame.status == "stopped"]
    assert len(stopped) >= 1 and set(frame.status) == {"completed", "stopped"}, frame[["status", "d_steps"]]
    assert stopped.early_stopped.all() and (stopped.d_steps < 300).all() and (frame.d_steps[frame.status ==
                                                                                             "completed"] == 300).all()

    def swd_at(tid: str, d_steps: int) -> float:  # from the history, or the summary of a trial stopped there
        summary = json.loads((results / "trials" / tid / "summary.json").read_text())
        if summary["status"] == "stopped" and summary["d_steps"] == d_steps:
            return -summary["last_val_score"]
        path = results / "trials" / tid / "metrics.jsonl"
        history = pd.read_json(path, lines=True).set_index("d_steps") if path.is_file() else None
        return float("nan") if history is None else history.swd.get(d_steps, float("nan"))

    for tid in stopped.index:  # stopped because an earlier trial did better at the same rung
        summary = json.loads((results / "trials" / tid / "summary.json").read_text())
        assert summary["stopped_by"] == "asha"
        rung, swd = summary["d_steps"], -summary["last_val_score"]  # the score is -swd: higher is better
        earlier = [swd_at(other, rung) for other in order[:order.index(tid)]]
        assert swd > min(e for e in earlier if e == e), (tid, rung, swd, earlier)
    assert sum("stopped early by asha" in line for line in logs) == len(stopped)
    # the same exploration again does not re-run what ASHA stopped (a suite without early stopping would resume it)
    logs.clear()
    assert run_suite(suite, results, log=logs.append) == counts and "0 to run" in logs[0]
    print(f"ASHA: {counts}")


@pytest.mark.parametrize("edit, fragment", [
    ("resources: {early_stopping: asha, pack: 2}",
     "resources: early_stopping needs pack: 1 (a Tune trial is a whole pack"),
    ("resources: {early_stopping: {scheduler: hyperband}}", "resources.early_stopping.scheduler"),
    ("resources: {early_stopping: asha}\ndatasets: [ring8, grid25]",
     "resources.early_stopping: ASHA ranks every trial on one score, so the suite needs one dataset and one "
     "evaluation protocol; this one has 2 (grid25, ring8)"),
    ("resources: {early_stopping: asha}\nbudget: {seconds: 30}",
     "resources.early_stopping: needs a budget in d_steps"),
    ("resources: {max_failures: -1}", "resources.max_failures"),
])
def test_early_stopping_and_restarts_that_cannot_work_are_one_line(edit, fragment, tmp_path, capsys):
    from ganbench.cli import main

    base = {"name": "x", "datasets": "[ring8]", "gans": "[ns]", "architectures": "[mlp]",
            "budget": "{d_steps: 100}", "eval": "{every_d_steps: 50, n_samples: 200}"}
    for line in edit.split("\n"):
        key, value = line.split(": ", 1)
        base[key] = value
    path = _write(tmp_path, "\n".join(f"{k}: {v}" for k, v in base.items()) + "\n")
    code = main(["run", str(path), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
