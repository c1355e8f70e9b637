"""Run a suite's trials as Ray Tune trials: embedded local Ray on loopback by default, or an existing cluster.

Before any trial starts, the driver checks every trial (models build for their data shapes), trains or loads the
feature extractors and computes the reference statistics. Trials already completed (or diverged) in the results
directory are skipped; a trial that raised is recorded as ``failed`` and tried again by the next run; an
interrupted trial resumes from its checkpoint.

Files: no trial writes into the results directory. A pack reports its files through Ray Tune's storage (``--storage``:
by default ``results/<suite>/_ray``; a shared path or an object store URI for nodes without a shared disk) and the
driver gathers them into ``results/<suite>/trials/<id>/`` as they arrive (ganbench.execution.storage,
ganbench.execution.trainable). A node fetches the reference statistics and extractor weights it lacks from the driver's
node, once per node.

Faults: a lost node or worker makes Tune restart the pack elsewhere from its latest checkpoint (up to
``resources.max_failures`` times, ``--max-failures``); a driver killed at any moment leaves its run in storage, and
the same command again gathers it first, skips finished trials and resumes the others from their checkpoints.

Packs (``resources: {pack: K}``): trials that differ only in their seed and elementwise optimiser settings are
grouped into packs of at most K, and one Ray Tune trial trains a pack as one network (ganbench.training.members).
Packing is a resource choice: it never changes a trial's id, and every member keeps its own directory and files.
Early stopping (``resources: {early_stopping: asha}``, exploration only) needs ``pack: 1``.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ganbench.suite.schema import Suite
from ganbench.suite.expand import Trial, expand
from ganbench.registry import GanbenchError
from ganbench.results import TERMINAL, finished_ids, record_failure, summary_status, trial_dir, \
    write_trials_csv
from ganbench.execution.prepare import prepare, run_options
from ganbench.protocol import Evaluation, ranked_key
from ganbench.suite.checks import check_trials
from ganbench.execution.storage import Storage, harvest, open_storage
from ganbench.execution.phases import run_phases
from ganbench.execution.trainable import Job
from ganbench.execution.timeline import check as check_timeline, mark, span


def make_packs(trials: list[Trial], size, results: Optional[Path] = None, slots: int = 1) -> list[list[Trial]]:
    """Group trials into packs of at most ``size`` (a number, or a function of a group's first trial: see
    ganbench.execution.packsize for ``pack: auto``): members share everything but seed, search sample and
    elementwise optimiser settings, and resume from the same D step. A group is cut into as few packs as ``size``
    allows, of sizes that differ by at most one (18 at 16: 9 and 9, not 16 and 2, whose small pack would run alone at
    the end). With fewer packs than ``slots`` (the trials that can run at once), the groups with the largest packs
    are cut further until every slot has a pack (16 at 16 on 2 slots: 8 and 8, not one pack and an idle core).
    Order follows the suite's expansion."""
    if not callable(size) and size <= 1:
        return [[t] for t in trials]
    groups: dict[tuple, list[Trial]] = {}
    for t in trials:
        key = (t.pack_key(), checkpoint_d_steps(results, t.id) if results is not None else 0)
        groups.setdefault(key, []).append(t)
    members = list(groups.values())
    counts = [math.ceil(len(m) / max(1, size(m[0]) if callable(size) else size)) for m in members]
    while sum(counts) < slots:
        widest = max(range(len(members)), key=lambda i: len(members[i]) / counts[i])
        if len(members[widest]) <= counts[widest]:
            break  # every pack holds one trial
        counts[widest] += 1
    return [pack for m, n in zip(members, counts) for pack in balanced_split(m, n)]


def balanced_split(members: list, n_packs: int) -> list[list]:
    """``members`` in ``n_packs`` consecutive packs whose sizes differ by at most one, the larger first."""
    base, extra = divmod(len(members), n_packs)
    out, start = [], 0
    for i in range(n_packs):
        end = start + base + (1 if i < extra else 0)
        out.append(members[start:end])
        start = end
    return out


def concurrent_slots(suite: Suite, max_concurrent: Optional[int] = None) -> int:
    """How many packs the running Ray cluster can train at once for this suite (its CPUs and GPUs over each
    trial's request), at most ``max_concurrent``."""
    import ray

    have = ray.cluster_resources()
    res = suite.resources
    fits = [int(have.get("CPU", 0) // res.cpu)] if res.cpu else []
    if res.gpu:
        fits.append(int(have.get("GPU", 0) // res.gpu))
    slots = max(1, min(fits) if fits else 1)
    return min(slots, max_concurrent) if max_concurrent else slots


def checkpoint_d_steps(results: Path, trial_id: str) -> int:
    """The D step a trial of a results directory resumes from (0 when it has no running checkpoint): members of a
    pack resume together."""
    from ganbench.training.checkpoint import running_d_steps

    return running_d_steps(trial_dir(results, trial_id), trial_id)


def seed_files(results: Path, pack: list[Trial], resumed: dict[str, int]) -> list[dict]:
    """The driver's files a pack resumes from (its members' running checkpoints and histories), shipped to the
    pack's node (ganbench.execution.trainable.restore)."""
    out = []
    for t in pack:
        if resumed.get(t.id):
            for name in ("checkpoint.pt", "metrics.jsonl"):
                path = trial_dir(results, t.id) / name
                if path.is_file():
                    out.append({"rel": f"trials/{t.id}/{name}", "source": str(path)})
    return out


def early_stopping(suite: Suite, trials: list[Trial], source: Optional[Path] = None):
    """Tune's ASHA scheduler on the primary validation metric when the suite asks for it (None otherwise);
    GanbenchError naming the suite file when its trials cannot be ranked on one score."""
    spec = suite.resources.early_stopping
    if spec is None:
        return None
    from ray.tune.schedulers import ASHAScheduler

    from ganbench.training.budget import expected_d_steps

    where = f"{source}: resources.early_stopping" if source else "resources.early_stopping"
    protocols = {ranked_key(t) for t in trials}
    if len(protocols) > 1:
        names = ", ".join(sorted({p[0] for p in protocols}))
        raise GanbenchError(f"{where}: ASHA ranks every trial on one score, so the suite needs one dataset and one "
                            f"evaluation protocol; this one has {len(protocols)} ({names}): one suite per dataset")
    expected = [expected_d_steps(t) for t in trials]
    if None in expected:
        raise GanbenchError(f"{where}: needs a budget in d_steps, g_steps or images (its rungs are D steps); this "
                            f"suite's budget is in {trials[0].budget_unit}")
    e = trials[0].eval
    if not (e.every_d_steps or e.every_g_steps):
        raise GanbenchError(f"{where}: needs evaluation points (eval.every_d_steps or eval.every_g_steps): it "
                            f"decides on validation scores")
    every = e.every_d_steps or e.every_g_steps * min(t.hp.n_disc for t in trials)
    return ASHAScheduler(time_attr="eval_d_steps", metric="score", mode="max", max_t=max(expected),
                         grace_period=spec.grace_evals * every, reduction_factor=spec.reduction_factor,
                         stop_last_trials=False)


def start_ray(address: Optional[str], num_cpus: Optional[int] = None) -> bool:
    """Connect to ``address`` or start an embedded Ray on loopback. Returns True if this call started Ray."""
    if not address:
        # Ray reads this at import: with it, every Ray process of a local instance listens on 127.0.0.1 only.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's quiet legacy console output (verbose=0)
    # no result.json/progress.csv/TensorBoard copies of every report in storage: metrics.jsonl is the record
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import ray

    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    if address:
        try:
            with span("ray_init"):
                ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise GanbenchError(f"--address {address}: cannot connect to a Ray cluster ({err})") from None
        return True
    from ray._private import ray_constants

    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        ray_constants.ENABLE_RAY_CLUSTER = False  # ray was imported before the variable was set: same effect
    with span("ray_init"):
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    return True


@dataclass(frozen=True)
class Launch:
    """Where and how Tune runs the packs (command-line options; none changes what a trial computes)."""

    address: Optional[str] = None
    max_concurrent: Optional[int] = None
    num_cpus: Optional[int] = None
    max_failures: Optional[int] = None  # None: the suite's resources.max_failures
    progress_bar: bool = False


def run_suite(suite: Suite, results: Path, address: Optional[str] = None, max_concurrent: Optional[int] = None,
              log: Callable[[str], None] = print, num_cpus: Optional[int] = None, suite_path: Optional[Path] = None,
              max_trials: Optional[int] = None, storage: Optional[str] = None, max_failures: Optional[int] = None,
              progress_bar: bool = False) -> dict:
    """Run every trial of ``suite`` not already finished in ``results``; returns this suite's counts by status."""
    from ganbench.suite.expand import MAX_TRIALS

    check_timeline()
    mark("run_start")
    launch = Launch(address, max_concurrent, num_cpus, max_failures, progress_bar)
    results = Path(results).resolve()
    data_dir = str(Path(suite.data_dir).expanduser().resolve()) if suite.data_dir else None
    from ganbench.training.sinks import check_sinks

    trials = expand(suite, max_trials=max_trials or MAX_TRIALS)
    check_trials(trials)
    check_sinks(suite.logging, str(suite_path or suite.name))
    scheduler = early_stopping(suite, trials, suite_path)
    store = open_storage(storage, results)
    harvest(store, suite.name, results, lambda tid: checkpoint_d_steps(results, tid), log)
    done = finished_ids(results, also=("stopped",) if scheduler else ())
    n_done = sum(1 for t in trials if t.id in done)
    log(f"suite {suite.name}: {len(trials)} search trials, {n_done} already finished in {results}, "
        f"{len(trials) - n_done} to run" + (f"; phase 2: {describe_confirm(suite)}" if suite.confirm else ""))
    rounds = _Rounds(suite, results, data_dir, store, launch, scheduler, suite_path, log)
    try:
        trials = run_phases(suite, results, trials, rounds.run, log, also_done=("stopped",) if scheduler else ())
    finally:
        rounds.close()
    csv = write_trials_csv(results)
    import pandas as pd

    frame = pd.read_csv(csv)
    ours = frame[frame.trial_id.isin({t.id for t in trials})]
    counts = ours.status.value_counts().to_dict()
    others = len(frame) - len(ours)
    log(f"wrote {csv}: this suite's {len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; {others} other trials in the directory" if others else ""))
    mark("run_end")
    return counts


class _Rounds:
    """Trains one round of trials (the search's, then confirmation rounds as cells finish) through Tune; Ray is
    started once for every round and shut down by ``close``."""

    def __init__(self, suite, results, data_dir, store, launch, scheduler, suite_path, log):
        self.suite, self.results, self.data_dir, self.store = suite, results, data_dir, store
        self.launch, self.scheduler, self.suite_path, self.log = launch, scheduler, suite_path, log
        self.started = False

    def run(self, todo: list[Trial], what: str) -> None:
        from ganbench.execution.packsize import driver_pack_sizer

        suite, results, log = self.suite, self.results, self.log
        log(f"{what}: {len(todo)} trials to run")
        # Ray first: its worker processes start while the driver computes the reference statistics
        self.started = start_ray(self.launch.address, self.launch.num_cpus) or self.started
        with span("prepare"):
            files = prepare(results, todo, self.data_dir, self.suite_path)
        resumed = {t.id: checkpoint_d_steps(results, t.id) for t in todo}
        if any(resumed.values()):
            log(f"{sum(1 for v in resumed.values() if v)} trials resume from their checkpoints")
        packs = make_packs(todo, driver_pack_sizer(suite, self.data_dir, log), results,
                           concurrent_slots(suite, self.launch.max_concurrent))
        if suite.resources.pack != 1:
            log(f"{len(todo)} trials in {len(packs)} packs of at most {max(len(p) for p in packs)}")
        if self.launch.address and self.store.default:
            log(f"note: Tune's storage is {self.store.path}; nodes that cannot reach it need --storage (a shared "
                f"path or an object store URI)")
        with span("tune_fit", what=what):
            _fit(packs, suite, results, self.data_dir, files, resumed, self.store, self.launch, self.scheduler, log)

    def close(self) -> None:
        if self.started:
            import ray

            with span("ray_shutdown"):
                ray.shutdown()


def describe_confirm(suite: Suite) -> str:
    """One line on the suite's confirmation phase."""
    c = suite.confirm
    seeds = c.seed_list()
    if c.adaptive:
        return (f"each cell's configuration chosen on validation, on seeds {seeds[0]}.. in rounds of {c.step} until "
                f"its pairs are decided, at most {c.max_seeds}")
    return f"each cell's configuration chosen on validation, on seeds {seeds[0]}..{seeds[-1]} ({c.seeds})"


def _dirname(tune_trial) -> str:
    ids = Job.from_dict(tune_trial.config["job"]).ids
    return f"trial_{ids[0]}" if len(ids) == 1 else f"pack{len(ids)}_{ids[0]}"


def _fit(packs, suite, results, data_dir, files, resumed, store: Storage, launch: Launch, scheduler, log) -> None:
    import ray
    from ray import tune

    from ganbench.execution.monitor import make_monitor
    from ganbench.execution.trainable import pack_trainable

    started = start_ray(launch.address, launch.num_cpus)
    try:
        res = suite.resources
        max_failures = res.max_failures if launch.max_failures is None else launch.max_failures
        common = {"driver_node": ray.get_runtime_context().get_node_id(), "data_dir": data_dir, "cpus": res.cpu,
                  "options": run_options(suite)}
        jobs = [Job(tuple(p), tuple(files[Evaluation.of(p[0])]), tuple(seed_files(results, p, resumed))).to_dict()
                for p in packs]
        monitor = make_monitor([t for p in packs for t in p], resumed, results, log, launch.progress_bar,
                               "asha" if scheduler else None, max_failures)
        name = store.run_name(suite.name)
        tuner = tune.Tuner(
            tune.with_resources(pack_trainable, {"cpu": res.cpu, "gpu": res.gpu}),
            param_space={"job": tune.grid_search(jobs), "common": common},
            # every pack asks for the same resources, so a finished pack's worker takes the next one: no new
            # process (and no torch import) per pack
            tune_config=tune.TuneConfig(max_concurrent_trials=launch.max_concurrent, trial_dirname_creator=_dirname,
                                        scheduler=scheduler, reuse_actors=True),
            run_config=tune.RunConfig(
                name=name, storage_path=store.path, storage_filesystem=store.fs, verbose=0,
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                sync_config=tune.SyncConfig(sync_artifacts=False), callbacks=[monitor]))
        # Tune's result.json/progress.csv loggers are off (metrics.jsonl is the record): say nothing of their absence
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
        grid = tuner.fit()
        for r in grid:  # a pack Tune could not even start or report: its unfinished members are failed
            if r.error is None:
                continue
            for tid in Job.from_dict(r.config["job"]).ids:
                if summary_status(results, tid) not in TERMINAL + ("failed", "stopped"):
                    record_failure(results, tid, f"{type(r.error).__name__}: {r.error}")
        if monitor.gather_errors:
            log(f"note: {len(monitor.gather_errors)} checkpoints could not be gathered (first: "
                f"{monitor.gather_errors[0]}); they stay in {store.label}, and the next run gathers them")
        else:
            try:
                store.remove(f"{store.path}/{name}")
            except OSError as err:
                log(f"note: could not remove this run's copy in {store.label} ({err})")
    finally:
        if started:
            ray.shutdown()
