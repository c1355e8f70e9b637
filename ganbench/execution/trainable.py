"""The Ray Tune trainable: one pack of trials (often a single trial) on whichever node Tune places it.

A pack works in a fresh directory on its node, never in the driver's results directory: at each trainer checkpoint and
at the end it reports that directory to Tune (``tune.report(..., checkpoint=...)``), which copies it into the run's
storage, and the driver gathers it from there (ganbench.execution.storage). When Tune restarts a pack (its node was
lost, its worker died), the pack starts from its latest Tune checkpoint (``tune.get_checkpoint()``) and the trainer
resumes each member from its ``running`` checkpoint.pt, bitwise. A pack that an earlier, interrupted run left unfinished
gets its members' checkpoints and histories from the driver's node (``seed`` in its config).

Reference statistics and extractor weights are computed once, by the driver, before any trial starts. A node that
lacks one of a pack's files (or holds another version: checked by SHA-256) fetches it once from the driver's node
into its own ``$GANBENCH_CACHE``, under a lock, so trials on one node share one copy; on the driver's machine the
files are already there and nothing moves.

A trial whose trainer raises is ``failed`` with its error (with the other members of its pack: a pack is one
network) and the pack returns normally, so Tune does not retry a deterministic error; NaN or inf is ``diverged``
(the trainer's). Only failures of the machinery (a node lost, storage unreachable) reach Tune, which restarts the
pack up to ``resources.max_failures`` times.
"""
from __future__ import annotations

import fcntl
import hashlib
import math
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ganbench.suite.plan import Trial
from ganbench.results import TERMINAL, record_failure, summary_status, trial_dir, write_trial_config
from ganbench.execution.storage import MANIFEST, write_manifest
from ganbench.paths import atomic_write_bytes, cache_dir, file_sha256
from ganbench.execution.timeline import mark, process_started, span


class ReportError(Exception):
    """Tune could not take a report (storage unreachable, ...): the machinery failed, not the trial."""


@dataclass(frozen=True)
class Job:
    """What one Ray Tune trial receives (``param_space["job"]``, a dict so that Tune can show and store it): the
    pack's trials, the cache files they read (``prepare.reference_files``: kind, rel, source, sha256) and the
    driver's files the pack resumes from (``tune.seed_files``: rel, source)."""
    pack: tuple[Trial, ...]
    cache_files: tuple[dict, ...] = ()
    seed: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {"pack": [t.to_dict() for t in self.pack], "cache_files": list(self.cache_files),
                "seed": list(self.seed)}

    @classmethod
    def from_dict(cls, d: dict) -> "Job":
        return cls(tuple(Trial.from_dict(t) for t in d["pack"]), tuple(d.get("cache_files") or ()),
                   tuple(d.get("seed") or ()))

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.pack]


def pack_trainable(config: dict) -> None:
    """Train one pack (``config["job"]``, a ``Job``: its trials, the cache files it reads, the files it resumes
    from)."""
    import ray

    job, common = Job.from_dict(config["job"]), config["common"]
    started_at = time.time()
    trials = list(job.pack)
    mark("pack_start", n=len(trials), first=trials[0].id, process_started=process_started())
    with span("restore", what="cache files"):
        fetched = fetch_missing(list(job.cache_files), common["driver_node"])
    context = ray.get_runtime_context()
    assigned = context.get_assigned_resources()
    meta = {"node_id": context.get_node_id(), "ray_cpu": assigned.get("CPU"), "ray_gpu": assigned.get("GPU", 0.0),
            "started_at": round(started_at, 3), "cache_files_fetched": fetched}
    work = Path(tempfile.mkdtemp(prefix="ganbench-pack-"))
    try:
        with span("restore", what="checkpoints"):
            restore(work, list(job.seed), common["driver_node"])
            for t in trials:
                write_trial_config(work, t)
        _Pack(trials, work, common, meta).run("cuda" if ray.get_gpu_ids() else "cpu")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        mark("pack_end", n=len(trials), first=trials[0].id)


class _Pack:
    """Forwards the trainer's events to Tune; reports the working directory at checkpoints and at the end."""

    def __init__(self, trials: list[Trial], work: Path, common: dict, meta: dict):
        from ganbench.evaluation.metric import output_direction

        self.trials, self.work, self.common, self.meta = trials, work, common, meta
        self.state = {t.id: {"status": "running", "d_steps": 0} for t in trials}
        primary = trials[0].eval.primary
        self.sign = -1.0 if output_direction(primary) == "min" else 1.0  # "score": higher is better
        self.score = math.nan  # the latest primary validation value (for an early-stopping scheduler)

    def report(self, metrics: dict, checkpoint_event: str | None = None) -> None:
        metrics = {"score": self.score, **metrics}
        try:
            with span("report", checkpoint=bool(checkpoint_event)):
                self._report(metrics, checkpoint_event)
        except Exception as err:  # noqa: BLE001  (anything Tune raises here is the machinery's)
            raise ReportError(f"{type(err).__name__}: {err}") from err

    def _report(self, metrics: dict, checkpoint_event: str | None) -> None:
        from ray import tune

        if checkpoint_event:
            write_manifest(self.work, self.state, checkpoint_event)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(self.work)))
        else:
            tune.report(metrics)

    def on_event(self, kind: str, k: int, payload: dict) -> None:
        if kind == "eval":
            t = self.trials[k]
            value = payload.get(t.eval.primary)
            if value is not None:
                self.score = self.sign * float(value)
            self.state[t.id]["d_steps"] = payload["d_steps"]
            self.report({"event": "eval", "member": t.id, "eval_d_steps": payload["d_steps"], **payload})
        elif kind == "checkpoint":
            for s in self.state.values():
                if s["status"] == "running":
                    s["d_steps"] = payload["d_steps"]
            self.report({"event": "checkpoint", **payload}, "checkpoint")
        elif kind == "done":
            t = self.trials[k]
            self.state[t.id] = {"status": payload.get("status"), "d_steps": payload.get("d_steps")}
            self.report({"event": "done", "member": t.id, **payload})

    def run(self, device: str) -> None:
        with span("import_training"):  # the trainer's modules, once per worker (torch is loaded by then)
            from ganbench.training import run_pack

        c = self.common
        error = ""
        try:
            with span("trainer"):  # the members' training and scoring, their reports included
                run_pack(self.trials, [trial_dir(self.work, t.id) for t in self.trials], on_event=self.on_event,
                         device=device, data_dir=c["data_dir"], num_threads=max(1, int(c["cpus"])), meta=self.meta,
                         options=c["options"])
        except ReportError:
            raise
        except Exception:  # noqa: BLE001  (the trial's own error: recorded, the suite goes on)
            error = traceback.format_exc()
            for t in self.trials:
                if summary_status(self.work, t.id) not in TERMINAL:
                    record_failure(self.work, t.id, error, **self.meta)
                    self.state[t.id]["status"] = "failed"
        failed = [tid for tid, s in self.state.items() if s["status"] == "failed"]
        self.report({"event": "end", "failed": failed, "error": error.strip().splitlines()[-1] if error else ""},
                    "end")


def restore(work: Path, seed: list[dict], driver_node: str) -> str:
    """Fill a pack's working directory: from its latest Tune checkpoint when Tune restarted it, else from the
    driver's files of an earlier run (``seed``), else nothing. Returns which."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint.to_directory(str(work))
        (work / MANIFEST).unlink(missing_ok=True)
        return "tune"
    if seed:
        for entry, data in zip(seed, read_on_node(driver_node, [e["source"] for e in seed])):
            atomic_write_bytes(work / entry["rel"], data)
        return "seed"
    return "new"


# ------------------------------------------------------------------------------------ cache files, once per node
def local_cache_path(entry: dict) -> Path:
    """Where this node keeps a cache file: under its own $GANBENCH_CACHE, or its Inception (or DINOv2, CLIP)
    weights' place."""
    from ganbench.evaluation.backbones import BACKBONES, weights_path
    from ganbench.evaluation.extractors import inception_weights_path

    if entry["kind"].startswith("weights:"):
        return weights_path(BACKBONES[entry["kind"].removeprefix("weights:")])
    return inception_weights_path() if entry["kind"] == "inception" else cache_dir() / entry["rel"]


def fetch_missing(files: list[dict], driver_node: str) -> int:
    """Make sure this node holds every cache file in ``files`` with the driver's SHA-256; fetch the others from the
    driver's node (one fetch per node: trials on the node wait on one lock). Returns how many were fetched."""
    if not files:
        return 0
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".fetch.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [e for e in files if file_sha256(local_cache_path(e)) != e["sha256"]]
        for entry, data in zip(missing, read_on_node(driver_node, [e["source"] for e in missing])):
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise RuntimeError(f"{entry['source']} changed on the driver's node while the suite ran")
            atomic_write_bytes(local_cache_path(entry), data)
    return len(missing)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@lru_cache(maxsize=1)
def _remote_read():
    import ray

    return ray.remote(num_cpus=0, max_retries=2)(read_bytes)


def read_on_node(node_id: str, paths: list[str]) -> list[bytes]:
    """The bytes of files on another node (the driver's), read there by a zero-CPU Ray task pinned to it."""
    if not paths:
        return []
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = _remote_read().options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    return ray.get([task.remote(p) for p in paths])
