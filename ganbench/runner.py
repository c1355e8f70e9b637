"""Run a suite's trials as Ray Tune trials: embedded local Ray on loopback by default, or an existing cluster.

Before any trial starts, the driver checks every trial (models build for their data shapes), trains or loads the
feature extractors and computes the reference statistics, so trials only read shared caches. Trials already
completed (or diverged) in the results directory are skipped; a trial that raised is recorded as ``failed`` and
tried again by the next run; an interrupted trial resumes from its checkpoint. ``trials.csv`` is rebuilt from every
trial directory at the end.

Packs (``resources: {pack: K}``): trials that differ only in their seed and elementwise optimiser settings are
grouped into packs of at most K, and one Ray Tune trial trains a pack as one network (ganbench.training.members).
Packing is a resource choice: it never changes a trial's id, and every member keeps its own directory and files.

Multi-node runs: the results directory and the cache ($GANBENCH_CACHE) must be on storage every node can write
(trials write their outputs directly there), and ganbench must be installed on every node.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, Optional

from ganbench.config import Suite
from ganbench.expand import Trial, expand
from ganbench.paths import cache_dir
from ganbench.registry import GanbenchError
from ganbench.results import TERMINAL, atomic_write_json, finished_ids, read_summary, record_failure, trial_dir, \
    write_trial_config, write_trials_csv


def preflight(trials: list[Trial]) -> None:
    """Catch configuration errors before Ray starts: cross-field checks and one model build per architecture."""
    from ganbench.datasets import dataset_info
    from ganbench.models import build_models
    from ganbench.plan import arch_options, check_trial

    seen = set()
    for t in trials:
        check_trial(t)
        hp = t.hp
        arch = arch_options(t)
        info = dataset_info(t.dataset, t.dataset_options)
        key = (t.architecture, info.shape, arch, hp.z_dim, info.num_classes)
        if key in seen:
            continue
        seen.add(key)
        try:
            build_models(t.architecture, info.shape, hp.z_dim, arch,
                         num_classes=info.num_classes if hp.conditioning != "none" else None)
        except GanbenchError as err:
            raise GanbenchError(f"gans entry {t.gan!r} x architecture {t.architecture!r} on {t.dataset!r}: {err}") \
                from None


def prepare_references(trials: list[Trial], data_dir=None) -> None:
    """Train/load extractors and compute reference statistics once, in the driver, before trials start."""
    from ganbench.datasets import dataset_info
    from ganbench.evaluation import Evaluator

    seen = set()
    for t in trials:
        e = t.eval
        key = (t.dataset, tuple(sorted(t.dataset_options.items())), e.extractor, e.n_samples, e.n_real, e.metrics)
        if key in seen:
            continue
        seen.add(key)
        info = dataset_info(t.dataset, t.dataset_options)
        Evaluator(t.dataset, t.dataset_options, info, list(e.metrics), e.extractor, e.n_samples, e.n_real,
                  data_dir=data_dir)


def resume_step(results: Path, trial: Trial) -> int:
    """The D step a trial's ``running`` checkpoint is at (0 when it has none): members of a pack resume together."""
    from ganbench.training.loop import read_checkpoint

    ck = read_checkpoint(trial_dir(results, trial.id) / "checkpoint.pt", trial)
    return ck["counters"]["d_steps"] if ck is not None and ck["status"] == "running" else 0


def make_packs(trials: list[Trial], size: int, results: Optional[Path] = None) -> list[list[Trial]]:
    """Group trials into packs of at most ``size``: members share everything but seed, search sample and
    elementwise optimiser settings, and resume from the same D step. Order follows the suite's expansion."""
    if size <= 1:
        return [[t] for t in trials]
    groups: dict[tuple, list[Trial]] = {}
    for t in trials:
        key = (t.pack_key(), resume_step(results, t) if results is not None else 0)
        groups.setdefault(key, []).append(t)
    return [members[i:i + size] for members in groups.values() for i in range(0, len(members), size)]


def run_options(suite: Suite):
    from ganbench.training.loop import RunOptions

    r = suite.resources
    return RunOptions(checkpoint_every_d_steps=r.checkpoint_every_d_steps, amp=r.amp, channels_last=r.channels_last,
                      compile=r.compile, logging=suite.logging.model_dump())


def _trainable(config: dict) -> None:
    """The Ray Tune function trainable: one pack of ganbench trials (often one trial), reported with ``tune.report``."""
    import ray
    from ray import tune

    from ganbench.training import run_pack

    os.environ["GANBENCH_CACHE"] = config["cache_dir"]
    trials = [Trial.from_dict(d) for d in config["pack"]]
    device = "cuda" if ray.get_gpu_ids() else "cpu"

    def on_event(kind: str, k: int, payload: dict) -> None:
        if kind in ("eval", "done"):
            tune.report({"event": kind, "member": trials[k].id, **payload})

    results = Path(config["results"])
    run_pack(trials, [trial_dir(results, t.id) for t in trials], on_event=on_event, device=device,
             data_dir=config["data_dir"], num_threads=max(1, int(config["cpus"])),
             meta={"node_id": ray.get_runtime_context().get_node_id()}, options=config["options"])


def start_ray(address: Optional[str], num_cpus: Optional[int] = None) -> bool:
    """Connect to ``address`` or start an embedded Ray on loopback. Returns True if this call started Ray."""
    if not address:
        # Ray reads this at import: with it, every Ray process of a local instance listens on 127.0.0.1 only.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's quiet legacy console output (verbose=0)
    import ray

    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise GanbenchError(f"--address {address}: cannot connect to a Ray cluster ({err})") from None
        return True
    from ray._private import ray_constants

    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        ray_constants.ENABLE_RAY_CLUSTER = False  # ray was imported before the variable was set: same effect
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    return True


def run_suite(suite: Suite, results: Path, address: Optional[str] = None, max_concurrent: Optional[int] = None,
              log: Callable[[str], None] = print, num_cpus: Optional[int] = None, suite_path: Optional[Path] = None,
              max_trials: Optional[int] = None) -> dict:
    from ganbench.baselines import write_baselines
    from ganbench.environment import collect_environment
    from ganbench.expand import MAX_TRIALS

    results = Path(results).resolve()
    data_dir = str(Path(suite.data_dir).expanduser().resolve()) if suite.data_dir else None
    from ganbench.sinks import check_sinks

    trials = expand(suite, max_trials=max_trials or MAX_TRIALS)
    preflight(trials)
    check_sinks(suite.logging, str(suite_path or suite.name))
    done = finished_ids(results)
    todo = [t for t in trials if t.id not in done]
    log(f"suite {suite.name}: {len(trials)} trials, {len(trials) - len(todo)} already finished in {results}, "
        f"{len(todo)} to run")
    if todo:
        prepare_references(todo, data_dir)
        write_baselines(results, trials, data_dir=data_dir)
        atomic_write_json(results / "environment.json", collect_environment(suite_path))
        for t in todo:
            write_trial_config(results, t)
        packs = make_packs(todo, suite.resources.pack, results)
        if suite.resources.pack > 1:
            log(f"{len(todo)} trials in {len(packs)} packs of at most {suite.resources.pack}")
        _fit(packs, suite, results, data_dir, address, max_concurrent, log, num_cpus)
    csv = write_trials_csv(results)
    import pandas as pd

    frame = pd.read_csv(csv)
    ours = frame[frame.trial_id.isin({t.id for t in trials})]
    counts = ours.status.value_counts().to_dict()
    others = len(frame) - len(ours)
    log(f"wrote {csv}: this suite's {len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; {others} other trials in the directory" if others else ""))
    return counts


def _fit(packs, suite, results, data_dir, address, max_concurrent, log, num_cpus) -> None:
    import ray
    from ray import tune

    started = start_ray(address, num_cpus)
    try:
        res = suite.resources
        trainable = tune.with_resources(_trainable, {"cpu": res.cpu, "gpu": res.gpu})
        total = sum(len(p) for p in packs)
        space = {"pack": tune.grid_search([[t.to_dict() for t in p] for p in packs]), "results": str(results),
                 "data_dir": data_dir, "cache_dir": str(cache_dir().resolve()), "cpus": res.cpu,
                 "options": run_options(suite)}

        def dirname(tune_trial) -> str:
            pack = tune_trial.config["pack"]
            first = Trial.from_dict(pack[0]).id
            return f"trial_{first}" if len(pack) == 1 else f"pack{len(pack)}_{first}"

        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, trial_dirname_creator=dirname),
            run_config=tune.RunConfig(
                name=f"{suite.name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(results / "_ray"),
                verbose=0, failure_config=tune.FailureConfig(max_failures=0),
                callbacks=[_progress_callback(total, log)]))
        grid = tuner.fit()
        for r in grid:
            if r.error is None:
                continue
            for d in r.config["pack"]:
                tid = Trial.from_dict(d).id
                summary = read_summary(results, tid)
                if not summary or summary.get("status") not in TERMINAL:
                    record_failure(results, tid, f"{type(r.error).__name__}: {r.error}")
    finally:
        if started:
            ray.shutdown()


def _progress_callback(total: int, log):
    """A Tune callback printing one line per finished trial (built here so importing this module needs no Ray)."""
    from ray.tune import Callback

    class Progress(Callback):
        def __init__(self):
            self.n = 0

        def _line(self, t: Trial, text: str) -> None:
            self.n += 1
            log(f"[{self.n}/{total}] {t.id} {t.dataset} {t.gan} {t.architecture} seed={t.seed}: {text}")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("event") != "done":
                return
            t = next(Trial.from_dict(d) for d in trial.config["pack"] if Trial.from_dict(d).id == result["member"])
            p = result.get("primary")
            score = f" {p}={result.get('best_' + p, float('nan')):.4g}" if p else ""
            self._line(t, f"{result.get('status', '?')}{score} ({result.get('wall_seconds', 0):.0f}s)")

        def on_trial_error(self, iteration, trials, trial, **info):
            for d in trial.config["pack"]:
                t = Trial.from_dict(d)
                if not (read_summary(Path(trial.config["results"]), t.id) or {}).get("status") in TERMINAL:
                    self._line(t, f"failed (see {trial_dir(Path(trial.config['results']), t.id)}/summary.json)")

    return Progress()
