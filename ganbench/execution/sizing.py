"""How big a study is before it runs (``ganbench validate``): each phase's trials, D and G steps and, from a short
calibration (``--calibrate``), its time. A FLOPs budget is translated into D and G steps with the FLOPs the trainer
counts per step (ganbench.training.steps.step_flops, on a model built without data statistics); a seconds budget
needs the calibration's seconds per D step.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from ganbench.registry import GanbenchError
from ganbench.suite.plan import Trial
from ganbench.suite.schema import Suite


@dataclass(frozen=True)
class StepCost:
    """One trial's costs per step: FLOPs of a D and a G step, and (calibrated) seconds per D step of training
    (its G steps included) and per evaluation point."""

    flops_d: Optional[float] = None
    flops_g: Optional[float] = None
    seconds_per_d: Optional[float] = None
    seconds_per_eval: Optional[float] = None


def g_steps_after(trial: Trial, d: int) -> int:
    hp = trial.hp
    return max(0, d - hp.d_warmup_steps) // hp.n_disc


def d_steps_for(trial: Trial, cost: Optional[StepCost]) -> Optional[int]:
    """The D steps a trial trains under its budget (None where that needs a cost this run did not measure)."""
    hp, unit, n = trial.hp, trial.budget_unit, trial.budget_steps
    if unit == "d_steps":
        return int(n)
    if unit == "g_steps":
        return hp.d_warmup_steps + int(n) * hp.n_disc
    if unit == "images":
        return math.ceil(n / (hp.batch_size * hp.pac))
    if unit == "flops" and cost is not None and cost.flops_d:
        per = cost.flops_d + (cost.flops_g or 0.0) / hp.n_disc
        d = max(1, int(n // per))
        while d * cost.flops_d + g_steps_after(trial, d) * (cost.flops_g or 0.0) < n:
            d += 1  # the trainer stops at the first D step whose count reaches the budget
        return d
    if unit == "seconds" and cost is not None and cost.seconds_per_d:
        return max(1, math.ceil(n / cost.seconds_per_d))
    return None


def evaluations(trial: Trial, d: int) -> int:
    e = trial.eval
    if e.every_d_steps:
        return d // e.every_d_steps
    if e.every_g_steps:
        return g_steps_after(trial, d) // e.every_g_steps
    return 1


def _group(t: Trial) -> str:
    return t.pack_key()  # everything a step's cost depends on (not the seed, learning rates or betas)


def measure_flops(trials: list[Trial], data_dir=None) -> dict[str, StepCost]:
    """FLOPs per D and G step of each distinct model among ``trials`` (one build each, on the CPU)."""
    import torch

    from ganbench.training.parts import build_pack
    from ganbench.training.steps import step_flops

    out: dict[str, StepCost] = {}
    for t in trials:
        key = _group(t)
        if key in out:
            continue
        try:
            fd, fg = step_flops(build_pack([t], torch.device("cpu"), data_dir, scored=False))
        except (OSError, GanbenchError) as err:
            raise GanbenchError(f"cannot count FLOPs of {t.gan} x {t.architecture} on {t.dataset} to translate "
                                f"the budget ({err})") from None
        out[key] = StepCost(fd, fg)
    return out


def calibrate(trials: list[Trial], steps: int, data_dir=None, log: Callable[[str], None] = print,
              flops: Optional[dict] = None) -> dict[str, StepCost]:
    """Train the first trial of each distinct model for ``steps`` D steps (in a temporary directory, one thread)
    and time it: seconds per D step of training, and per evaluation (the final scoring's time, halved: it scores the
    final and the best generator)."""
    from ganbench.training import run_trial

    out: dict[str, StepCost] = {}
    for t in trials:
        key = _group(t)
        if key in out:
            continue
        probe = replace(t, budget_unit="d_steps", budget_steps=steps,
                        eval=replace(t.eval, every_d_steps=None, every_g_steps=None, milestones=(), patience=None))
        with tempfile.TemporaryDirectory(prefix="ganbench-calibrate-") as tmp:
            s = run_trial(probe, Path(tmp), data_dir=data_dir, num_threads=1)
        per_d = s["train_seconds"] / max(1, s["d_steps"])
        per_eval = max(0.0, s["wall_seconds"] - s["train_seconds"]) / 2
        base = (flops or {}).get(key) or StepCost()
        out[key] = replace(base, seconds_per_d=per_d, seconds_per_eval=per_eval)
        log(f"calibrated {t.dataset} {t.gan} {t.architecture}: {per_d * 1000:.2g} ms per D step, "
            f"{per_eval:.2g} s per evaluation ({steps} D steps, 1 thread)")
    return out


def phase_size(trials: list[Trial], costs: dict[str, StepCost]) -> dict:
    """Totals of a list of trials: trials, D steps, G steps, seconds (None where a cost is missing)."""
    d_total, g_total, seconds, unknown = 0, 0, 0.0, 0
    for t in trials:
        cost = costs.get(_group(t))
        d = d_steps_for(t, cost)
        if d is None:
            unknown += 1
            seconds = None
            continue
        d_total += d
        g_total += g_steps_after(t, d)
        if seconds is not None and cost is not None and cost.seconds_per_d is not None:
            seconds += d * cost.seconds_per_d + (evaluations(t, d) + 2) * cost.seconds_per_eval
        else:
            seconds = None
    return {"trials": len(trials), "d_steps": d_total, "g_steps": g_total, "seconds": seconds, "unknown": unknown}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def size_line(name: str, size: dict, suite: Suite) -> str:
    text = f"{name}: {size['trials']:,} trials"
    if size["unknown"] == size["trials"]:
        return text + (f"; D and G steps unknown: a {suite.budget.unit} budget needs --calibrate")
    text += f", {size['d_steps']:,} D steps and {size['g_steps']:,} G steps in all"
    if size["unknown"]:
        text += f" (and {size['unknown']} trials whose steps need --calibrate)"
    if size["seconds"] is not None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        at_once = max(1, int(cpus // suite.resources.cpu))
        text += (f"; about {_hours(size['seconds'])} of one CPU thread (calibrated; about "
                 f"{_hours(size['seconds'] / at_once)} with {at_once} trials at once on this machine's {cpus} CPUs, "
                 f"less in packs)")
    return text


def budget_lines(trials: list[Trial], costs: dict[str, StepCost]) -> list[str]:
    """For a FLOPs or seconds budget: what it means in D and G steps, per distinct model."""
    out, seen = [], set()
    for t in trials:
        if t.budget_unit not in ("flops", "seconds") or _group(t) in seen:
            continue
        seen.add(_group(t))
        cost = costs.get(_group(t))
        d = d_steps_for(t, cost)
        what = f"{t.dataset} {t.gan} {t.architecture}"
        if d is None:
            out.append(f"budget {t.budget_unit}={t.budget_steps:g}: {what}: D and G steps need --calibrate")
            continue
        per = f" ({cost.flops_d:.3g} FLOPs per D step, {cost.flops_g:.3g} per G step)" \
            if t.budget_unit == "flops" else " (calibrated)"
        out.append(f"budget {t.budget_unit}={t.budget_steps:g}: {what}: about {d:,} D steps and "
                   f"{g_steps_after(t, d):,} G steps{per}")
    return out
