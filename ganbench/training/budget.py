"""A trial's budget and what it has used, in every unit: the one place the trainer maps a budget unit (a suite's
``budget:`` key, ``ganbench.suite.schema.BUDGET_UNITS``) to its counter. A new unit is a new entry in ``used`` (and,
where D steps can be known in advance, in ``expected_d_steps``).

Counting (compare_gan's convention): a *step* is a discriminator step; G is updated once every ``n_disc`` D steps
(after ``d_warmup_steps``); ``images`` counts the real images D has seen (batch size x pac per D step; one name in
suites, counters, metrics.jsonl, checkpoints and summaries: results written before it call it ``images_seen``);
``flops`` the FLOPs of the D and G steps taken; ``seconds`` the training time without evaluation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass
class Counters:
    d_steps: int = 0
    g_steps: int = 0
    images: int = 0
    flops_per_d: Optional[float] = None  # per trial
    flops_per_g: Optional[float] = None
    prior_wall: float = 0.0  # seconds of earlier runs (resumed trials)
    prior_train: float = 0.0
    prior_train_cpu: float = 0.0
    resumed_from: Optional[int] = None

    @property
    def flops(self) -> float:
        return self.d_steps * (self.flops_per_d or 0.0) + self.g_steps * (self.flops_per_g or 0.0)


def used(c: Counters, train_seconds: float) -> dict[str, float]:
    """Budget unit -> how much of it the trial has used."""
    return {"d_steps": c.d_steps, "g_steps": c.g_steps, "images": c.images, "seconds": train_seconds,
            "flops": c.flops}


def budget_used(trial, c: Counters, train_seconds: float) -> float:
    """How much of its own budget's unit a trial has used."""
    return used(c, train_seconds)[trial.budget_unit]


def expected_d_steps(trial) -> Optional[int]:
    """The D steps a trial's budget allows, where the unit says it in advance (None for seconds and FLOPs)."""
    hp, unit, n = trial.hp, trial.budget_unit, trial.budget_steps
    pac = int(getattr(hp, "pac", 1))
    return {"d_steps": n, "g_steps": hp.d_warmup_steps + n * hp.n_disc,
            "images": math.ceil(n / (hp.batch_size * pac))}.get(unit)


def instance_noise_std(base: float, used_: float, budget: float) -> float:
    """Instance noise (Sonderby et al. 2016) annealed linearly to zero over the budget: base * (1 - used / budget)."""
    return base * max(0.0, 1.0 - used_ / budget)
