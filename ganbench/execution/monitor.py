"""What the driver does while Ray Tune runs a suite: gather every reported checkpoint into the results directory,
record trials that failed or were stopped early, and show progress.

Progress: on a terminal, a tqdm bar of trials (fractions count as trials advance, so the time left is estimated from
the D steps done) with how many are done, running, failed and pending; elsewhere (a log file, CI) a progress line at
least every minute (``progress: ...``) and one line per finished trial. Either way each finished trial gets a result
line naming its configuration: ``[k/N] id dataset gan arch seed=S [confirm] [lr=..., ...]: status primary=value
(seconds)``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Optional

from ganbench.suite.plan import Trial
from ganbench.results import TERMINAL, read_summary, record_failure, record_stopped, summary_status
from ganbench.execution.storage import gather
from ganbench.execution.trainable import Job
from ganbench.execution.timeline import mark, span


PROGRESS_EVERY = 60.0  # seconds between progress lines when no terminal shows the bar


def pack_ids(tune_trial) -> list[str]:
    """The ganbench trial ids of a Tune trial (a pack)."""
    return Job.from_dict(tune_trial.config["job"]).ids


class Monitor:
    """The driver's view of a run (see the module's docstring); ``make_monitor`` makes it a Tune callback."""

    def __init__(self, trials: list[Trial], resumed: dict[str, int], results: Path, log: Callable[[str], None],
                 bar: bool, scheduler: Optional[str], max_failures: int):
        from tqdm import tqdm

        from ganbench.training.budget import expected_d_steps

        self.results, self.log, self.scheduler, self.max_failures = results, log, scheduler, max_failures
        self.trials = {t.id: t for t in trials}
        self.expected = {t.id: expected_d_steps(t) for t in trials}
        self.fraction = {tid: self._fraction(tid, resumed.get(tid, 0)) for tid in self.trials}
        self.status = {tid: "pending" for tid in self.trials}
        self.finished = 0
        self.gather_errors: list[str] = []
        self.ids: dict[str, list[str]] = {}  # Tune trial id -> its pack's trial ids
        self.started = self.last_progress = time.monotonic()
        self.bar = tqdm(total=len(trials), initial=sum(self.fraction.values()), desc="trials ", disable=not bar,
                        dynamic_ncols=True, bar_format="{desc}{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"
                                                       "{postfix}")
        self._postfix()

    # ---- display
    def _fraction(self, tid: str, d_steps) -> float:
        """How far a trial is by its D steps; its final scoring is the last 5%, counted when it is done."""
        expected = self.expected.get(tid)
        return 0.95 * min(1.0, d_steps / expected) if expected and d_steps else 0.0

    def _advance(self, tid: str, fraction: float) -> None:
        delta = fraction - self.fraction[tid]
        if delta > 0:
            self.fraction[tid] = fraction
            self.bar.update(delta)

    def _postfix(self) -> None:
        counts = {k: sum(1 for s in self.status.values() if s == k) for k in ("running", "pending", "failed")}
        done = len(self.status) - sum(counts.values())
        self.bar.set_postfix_str(f"{done} done, {counts['running']} running, {counts['failed']} failed, "
                                 f"{counts['pending']} pending", refresh=True)

    def _line(self, tid: str, status: str, text: str) -> None:
        self.finished += 1
        self.status[tid] = status
        self._advance(tid, 1.0)
        t, config = self.trials[tid], self.trials[tid].configuration()
        line = f"[{self.finished}/{len(self.trials)}] {tid} {t.dataset} {t.gan} {t.architecture} seed={t.seed}" \
               f"{' confirm' if t.phase == 'confirm' else ''}{' [' + config + ']' if config else ''}: {text}"
        if self.bar.disable:
            self.log(line)
        else:
            self.bar.write(line)
        self._postfix()

    def _pack(self, tune_trial) -> list[str]:
        if tune_trial.trial_id not in self.ids:
            self.ids[tune_trial.trial_id] = pack_ids(tune_trial)
        return self.ids[tune_trial.trial_id]

    def _running(self, tid: str) -> bool:
        return self.status.get(tid) in ("pending", "running")

    def progress_line(self) -> str:
        """Where the run stands: trials by state and the share of the work done."""
        counts = {k: sum(1 for s in self.status.values() if s == k) for k in ("running", "pending", "failed")}
        done = len(self.status) - sum(counts.values())
        share = 100 * sum(self.fraction.values()) / max(1, len(self.fraction))
        return (f"progress: {done} of {len(self.status)} trials done, {counts['running']} running, "
                f"{counts['failed']} failed, {counts['pending']} pending; {share:.0f}% of the work "
                f"({time.monotonic() - self.started:.0f}s)")

    # ---- Tune's events
    def on_step_end(self, iteration, trials, **info):
        """Without a terminal (a log file, CI), a progress line at least every PROGRESS_EVERY seconds."""
        if self.bar.disable and time.monotonic() - self.last_progress >= PROGRESS_EVERY:
            self.last_progress = time.monotonic()
            self.log(self.progress_line())

    def on_trial_start(self, iteration, trials, trial, **info):
        mark("tune_trial_start", trial=trial.trial_id)
        for tid in self._pack(trial):
            if self.status.get(tid) == "pending":
                self.status[tid] = "running"
        self._postfix()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        event = result.get("event")
        if event == "eval" and result.get("member") in self.fraction:
            self._advance(result["member"], self._fraction(result["member"], result.get("d_steps")))
        elif event == "checkpoint":
            for tid in self._pack(trial):
                if self._running(tid):
                    self._advance(tid, self._fraction(tid, result.get("d_steps")))
        elif event == "done" and self._running(result.get("member")):
            p = result.get("primary")
            score = f" {p}={result.get('best_' + p, math.nan):.4g}" if p else ""
            self._line(result["member"], result.get("status", "?"),
                       f"{result.get('status', '?')}{score} ({result.get('wall_seconds', 0):.0f}s)")

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        try:
            with span("gather"):
                manifest = gather(checkpoint.filesystem, checkpoint.path, self.results)
        except OSError as err:
            self.gather_errors.append(f"{checkpoint.path}: {err}")
            return
        for tid, m in ((manifest or {}).get("members") or {}).items():
            if m.get("status") == "failed" and self._running(tid):
                error = getattr(read_summary(self.results, tid), "error", None) or ""
                self._line(tid, "failed", f"failed: {error.strip().splitlines()[-1] if error else '?'}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        ids = ", ".join(tid for tid in self._pack(trial) if self._running(tid))
        msg = f"lost {ids} ({_error_line(trial)}); Tune restarts it from its last checkpoint " \
              f"(failure {trial.num_failures} of at most {self.max_failures})"
        self.bar.write(msg) if not self.bar.disable else self.log(msg)

    def on_trial_complete(self, iteration, trials, trial, **info):
        mark("tune_trial_complete", trial=trial.trial_id)
        last = trial.last_result or {}
        if last.get("event") == "end":
            return
        # ended without its final report and without an error: an early-stopping scheduler stopped it
        for tid in self._pack(trial):
            if self._running(tid):
                d_steps = int(last.get("eval_d_steps") or last.get("d_steps") or 0)
                score = last.get("score")
                record_stopped(self.results, tid, d_steps, self.scheduler or "scheduler",
                               None if score is None or math.isnan(score) else float(score))
                self._line(tid, "stopped", f"stopped early by {self.scheduler} at D step {d_steps}")

    def on_trial_error(self, iteration, trials, trial, **info):
        error = _error_line(trial)
        for tid in self._pack(trial):
            if self._running(tid) and summary_status(self.results, tid) not in TERMINAL:
                record_failure(self.results, tid, f"Tune gave up after {trial.num_failures} failures: {error}")
                self._line(tid, "failed", f"failed: {error}")

    def on_experiment_end(self, trials, **info):
        self.bar.close()


def make_monitor(trials: list[Trial], resumed: dict[str, int], results: Path, log: Callable[[str], None],
                 bar: bool, scheduler: Optional[str], max_failures: int):
    """A Tune callback (built here so that importing this module needs no Ray). ``resumed``: trial id -> the D step
    its checkpoint is at."""
    from ray.tune import Callback

    return type("TuneMonitor", (Monitor, Callback), {})(trials, resumed, results, log, bar, scheduler, max_failures)


def _error_line(trial) -> str:
    try:
        text = trial.get_error()
    except Exception:  # noqa: BLE001  (the error file may not have reached storage yet)
        text = None
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the trial's worker or node was lost"
