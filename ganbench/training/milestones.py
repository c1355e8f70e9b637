"""Budget milestones (a suite's ``analysis.milestones``): at each one passed, in any budget unit, every member's
best-so-far generator, chosen on validation at the evaluation points up to there, is scored on test once. The
summary records ``milestone_<unit>_<value>_<metric>`` (and ``..._best_d_steps``, the evaluation point chosen), so a
report can give verdicts at equal D steps, G steps or FLOPs from one run. A milestone passed before any evaluation
records nothing (nothing was chosen there) rather than a later generator."""
from __future__ import annotations

from typing import Callable

from ganbench.training.scoring import generate


def milestone_name(unit: str, value: float) -> str:
    """``milestone_<unit>_<value>``, e.g. milestone_d_steps_2000 or milestone_flops_5e+11."""
    return f"milestone_{unit}_{value:g}"


def milestone_keys(milestones: dict) -> dict:
    """A member's milestones as summary keys ``milestone_<unit>_<value>_<metric>``."""
    return {f"{name}_{metric}": v for name, values in sorted(milestones.items()) for metric, v in values.items()}


def score_milestones(pack, members: list, used: dict, device, generator_of: Callable) -> None:
    """Score, for each milestone of the pack's trials that ``used`` (counter per budget unit) has reached and a
    member has not recorded yet, the member's best-so-far generator on test (``generator_of(state)``: a
    single-trial generator module holding that state)."""
    from ganbench.training.members import Members

    e = pack.trials[0].eval
    due = [milestone_name(u, v) for u, v in e.milestones if used[u] >= v]
    ncls = pack.info.num_classes if pack.conditional else None
    for m in members:
        for name in due:
            if name in m.milestones:
                continue
            if m.best.state is None:  # no evaluation before the milestone: nothing chosen there, ever
                m.milestones[name] = {}
                continue
            fakes, _ = generate(Members([generator_of(m.best.state)]), pack.hp, ncls, e.n_samples, "test", device)
            values, _ = pack.evaluator.evaluate(fakes[0], "test")
            m.milestones[name] = {**values, "best_d_steps": m.best.d_steps}
