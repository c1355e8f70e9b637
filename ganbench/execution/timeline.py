"""Where a run's time goes: marks written by the driver and the Ray workers into one JSON-lines file, and their
breakdown into what a run, a round of trials and a pack cost beyond training.

Nothing is written unless ``$GANBENCH_TIMELINE`` names a file (``bench/suite.py`` sets it; a user may too). Every
process appends one line per mark, ``{"t": unix seconds, "pid": ..., "event": ..., ...}``, with ``O_APPEND`` so that
the driver and the workers of one machine share the file. A span is one line at its end with its ``seconds``. Runs
across nodes need a shared path and clocks in step; on one machine they are the same clock.

The marks: ``run_start``/``run_end`` and the spans ``ray_init``, ``prepare``, ``tune_fit`` (one per round),
``ray_shutdown`` (the driver); ``tune_trial_start``/``tune_trial_complete`` and the span ``gather`` (the driver's Tune
callback); ``pack_start`` (with the worker process's start time), ``pack_end`` and the spans ``restore``,
``import_training``, ``trainer`` and ``report`` (the workers).
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ENV = "GANBENCH_TIMELINE"


def check() -> None:
    """Before a run: where ``$GANBENCH_TIMELINE`` names a file that cannot be written, one clear error."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as err:
        from ganbench.registry import GanbenchError

        raise GanbenchError(f"{ENV}={path}: cannot write the run's timeline there ({err.strerror}); name a "
                            f"writable file or unset {ENV}") from None


def mark(event: str, **fields) -> None:
    """Append one mark (no-op unless ``$GANBENCH_TIMELINE`` is set; a mark that cannot be written is dropped, never
    a trial's failure: ``check`` says so once, before the run)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event, **fields}) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@contextmanager
def span(event: str, **fields) -> Iterator[None]:
    """Mark ``event`` at the end of the block, with its start ``t0`` and its ``seconds``."""
    if not os.environ.get(ENV):
        yield
        return
    t0 = time.time()
    try:
        yield
    finally:
        mark(event, t0=t0, seconds=time.time() - t0, **fields)


def process_started() -> float | None:
    """When this process started (unix seconds), for a worker's start-up cost; None where the system does not say
    (read from /proc on Linux, else psutil when installed)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime: clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except ImportError:
        return None


def read(path: Path) -> list[dict]:
    """Every mark of a timeline file, oldest first."""
    marks = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return sorted(marks, key=lambda m: m["t"])


def _total(marks: list[dict], event: str, **match) -> float:
    return sum(m["seconds"] for m in marks if m["event"] == event and all(m.get(k) == v for k, v in match.items()))


def _one(marks: list[dict], event: str) -> dict | None:
    return next((m for m in marks if m["event"] == event), None)


def _fits(marks: list[dict]) -> list[dict]:
    """The rounds' ``tune_fit`` spans; without any (a run through ``ganbench trial``), the whole file as one."""
    fits = [m for m in marks if m["event"] == "tune_fit"]
    return fits or ([{"t0": marks[0]["t"], "t": marks[-1]["t"], "seconds": marks[-1]["t"] - marks[0]["t"]}]
                    if marks else [])


def run_costs(marks: list[dict]) -> dict:
    """Once per run: before Ray starts and the driver prepares (suite, checks, storage), Ray's start, the
    preparation of every round (reference statistics, baselines, configs), the end of the run after Ray, Ray's
    shutdown (seconds; absent marks give 0)."""
    start, end = _one(marks, "run_start"), _one(marks, "run_end")
    init, down = _one(marks, "ray_init"), _one(marks, "ray_shutdown")
    first = min([m["t0"] for m in marks if m["event"] in ("ray_init", "prepare")], default=None)
    return {"before_ray": (first - start["t"]) if first is not None and start else 0.0,
            "ray_init": init["seconds"] if init else 0.0,
            "ray_shutdown": down["seconds"] if down else 0.0,
            "after_last_round": (end["t"] - down["t"]) if down and end else 0.0,
            "prepare": _total(marks, "prepare")}


def round_costs(marks: list[dict]) -> list[dict]:
    """Per round (one ``tuner.fit``): from its start to the first pack's start on a worker (Tune's set-up, the
    workers' processes and imports), and from the last pack's end to its return (Tune's wind-down)."""
    out = []
    for fit in _fits(marks):
        inside = [m for m in marks if fit["t0"] <= m["t"] <= fit["t"]]
        starts = [m["t"] for m in inside if m["event"] == "pack_start"]
        ends = [m["t"] for m in inside if m["event"] == "pack_end"]
        out.append({"round": fit.get("what", ""), "seconds": fit["seconds"], "packs": len(starts),
                    "to_first_pack": (min(starts) - fit["t0"]) if starts else fit["seconds"],
                    "after_last_pack": (fit["t"] - max(ends)) if ends else 0.0})
    return out


def pack_costs(marks: list[dict]) -> dict:
    """Summed over every pack: what a pack costs beyond its trainer. ``worker_start``: from a worker process's start
    (or its round's, if later) to its first pack of the round; ``turnaround``: a reused worker's gap between one
    pack's end and its next one's start (Tune's bookkeeping and scheduling); ``import_training``: importing
    the trainer's modules (a worker's first pack; torch is loaded before a pack starts, within ``worker_start``);
    ``restore``, ``report`` (with and without a checkpoint), ``gather`` (the driver copying checkpoints, concurrent
    with training)."""
    worker_start = turnaround = 0.0
    workers = set()
    for fit in _fits(marks):
        by_pid: dict[int, list[dict]] = defaultdict(list)
        for m in marks:
            if m["event"] in ("pack_start", "pack_end") and fit["t0"] <= m["t"] <= fit["t"]:
                by_pid[m["pid"]].append(m)
        workers |= set(by_pid)
        for seq in by_pid.values():
            first = next(m for m in seq if m["event"] == "pack_start")
            born = first.get("process_started")
            worker_start += first["t"] - max(first["t"] if born is None else born, fit["t0"])
            for prev, nxt in zip(seq, seq[1:]):
                if prev["event"] == "pack_end" and nxt["event"] == "pack_start":
                    turnaround += nxt["t"] - prev["t"]
    packs = [m for m in marks if m["event"] == "pack_start"]
    return {"packs": len(packs), "trials": sum(m.get("n", 1) for m in packs), "workers": len(workers),
            "worker_start": worker_start, "turnaround": turnaround,
            "import_training": _total(marks, "import_training"), "restore": _total(marks, "restore"),
            "report_checkpoint": _total(marks, "report", checkpoint=True),
            "report_plain": _total(marks, "report", checkpoint=False),
            "reports": sum(1 for m in marks if m["event"] == "report"),
            "gather": _total(marks, "gather"), "trainer": _total(marks, "trainer")}


def breakdown(marks: list[dict]) -> dict:
    """The whole account of a run (seconds): ``run``, ``rounds``, ``packs`` (see their functions), the run's wall
    time, and the costs that grow with the number of trials (``per_trial``: turnaround, restore, reports and
    gathering, divided by the trials) against those paid once per run or round (``fixed``)."""
    run, rounds, packs = run_costs(marks), round_costs(marks), pack_costs(marks)
    start, end = _one(marks, "run_start"), _one(marks, "run_end")
    marginal = packs["turnaround"] + packs["restore"] + packs["report_checkpoint"] + packs["report_plain"]
    fixed = (run["before_ray"] + run["ray_init"] + run["ray_shutdown"] + run["after_last_round"] + run["prepare"]
             + sum(r["to_first_pack"] + r["after_last_pack"] for r in rounds))
    return {"run_seconds": (end["t"] - start["t"]) if start and end else None, "run": run, "rounds": rounds,
            "packs": packs, "per_trial": marginal / max(1, packs["trials"]), "per_trial_gather":
            packs["gather"] / max(1, packs["trials"]), "fixed": fixed}
