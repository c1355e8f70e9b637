"""Design before running (``ganbench validate``): per comparison family (dataset x architecture: every pair of the
suite's GAN entries, Holm over them), the smallest corrected p its seed counts can reach, the smallest difference
it detects at 80% power given a seed spread, and one warning line for a family that cannot reject at all.

The verdicts come from phase 2 when the suite declares one (the chosen configurations on shared confirmation seeds:
paired by seed; adaptive: at its last look, max_seeds), else from the search's seeds of each chosen configuration
(unpaired, as the report compares them). The seed spread is the pooled standard deviation of the test score over
seeds of one configuration, from earlier finished trials of the same cells in the results directory, else the
suite's ``analysis.seed_sd``; without either the line says it cannot tell.
"""
from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ganbench.suite.schema import Suite


@dataclass(frozen=True)
class Family:
    dataset: str
    architecture: str
    gans: tuple[str, ...]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(self.gans, 2))

    @property
    def m(self) -> int:
        return len(self.pairs)


def families(suite: Suite) -> list[Family]:
    gans = tuple(g.name for g in suite.gans)
    return [Family(d.name, a.name, gans) for d in suite.datasets for a in suite.architectures]


def verdict_seeds(suite: Suite) -> tuple[int, bool, str]:
    """(seeds per arm, paired, which runs) of the verdicts."""
    c = suite.confirm
    if c is None:
        return len(suite.seeds), False, "the search's seeds of each chosen configuration (unpaired)"
    if c.adaptive:
        return c.max_seeds, True, (f"phase 2, adaptive: looks every {c.step} confirmation seeds up to "
                                   f"{c.max_seeds}, paired by seed (figures at the last look)")
    return c.seeds, True, f"phase 2: {c.seeds} confirmation seeds per chosen configuration, paired by seed"


def pooled_sd(results: Optional[Path], suite: Suite, fam: Family) -> tuple[Optional[float], int]:
    """(pooled sd over seeds of one configuration, finished trials behind it) from earlier trials of this family's
    cells in ``results``: the confirmation runs where there are some, else the configurations chosen on validation
    (all configurations where nothing can be chosen); (None, 0) without two seeds of one configuration."""
    if results is None or not (Path(results) / "trials").is_dir():
        return None, 0
    import pandas as pd

    from ganbench.results import TERMINAL, collect_rows
    from ganbench.selection import configuration_keys

    frame = pd.DataFrame(collect_rows(Path(results)))
    if frame.empty or "primary" not in frame:
        return None, 0
    frame = frame[(frame["suite"] == suite.name) & (frame["dataset"] == fam.dataset)
                  & (frame["architecture"] == fam.architecture) & frame["status"].isin(TERMINAL)]
    if frame.empty:
        return None, 0
    primary = frame["primary"].dropna().iloc[0] if frame["primary"].notna().any() else None
    column = f"best_{primary}"
    if primary is None or column not in frame:
        return None, 0
    frame = frame.assign(configuration=configuration_keys(frame), _v=pd.to_numeric(frame[column], errors="coerce"))
    frame = frame.dropna(subset=["_v"])
    if "phase" in frame and (frame["phase"] == "confirm").any():  # the runs verdicts use
        frame = frame[frame["phase"] == "confirm"]
    else:  # each GAN entry's configuration chosen on validation (a poor configuration's spread says little)
        from ganbench.evaluation.metric import output_direction
        from ganbench.selection import choose_configurations

        from ganbench.results import read_history

        history = read_history(Path(results), list(frame["trial_id"]))  # results written before best_val_<metric>
        chosen = choose_configurations(frame, primary, output_direction(primary), history)
        if len(chosen):
            frame = frame[frame["configuration"].isin(set(chosen["configuration"]))]
    groups = [g["_v"].to_numpy() for _, g in frame.groupby(["gan", "configuration"]) if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return None, 0
    ss = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    return math.sqrt(ss / dof), sum(len(g) for g in groups)


def design_lines(suite: Suite, results: Optional[Path] = None) -> tuple[list[str], list[str]]:
    """(lines, warnings) of the design: one line per family, one warning per family that cannot reject."""
    from ganbench.report.inference import attainable_p, detectable_difference, family_warning

    alpha = suite.analysis.alpha
    n, paired, which = verdict_seeds(suite)
    lines = [f"design: verdicts from {which}; alpha {alpha:g}, Holm over the pairs of each family (dataset x "
             f"architecture)"]
    warnings = []
    for fam in families(suite):
        head = f"family {fam.dataset} x {fam.architecture}"
        if fam.m == 0:
            lines.append(f"{head}: one GAN entry, no pairs to compare")
            continue
        p = attainable_p(n, n, paired, fam.m)
        text = (f"{head}: {fam.m} pair{'s' if fam.m != 1 else ''} ({', '.join(f'{a}-{b}' for a, b in fam.pairs)}), "
                f"Holm over {fam.m}; at {n} vs {n} seeds the smallest corrected p is {p:.3g}")
        sd, count = pooled_sd(results, suite, fam)
        source = f"from {count} earlier trials in {results}" if sd is not None else None
        if sd is None and fam.dataset in suite.analysis.seed_sd:
            sd, source = suite.analysis.seed_sd[fam.dataset], "analysis.seed_sd"
        if sd is None:
            text += ("; the smallest detectable difference cannot be told (no seed spread: give analysis.seed_sd or "
                     "--results with earlier trials)")
        else:
            d = detectable_difference(sd, n, n, paired, fam.m, alpha=alpha, power=0.8)
            text += f"; detectable at 80% power: {d:.3g} (seed sd {sd:.3g}, {source})"
        margin = suite.analysis.margin.get(fam.dataset)
        text += (f"; equivalence margin {margin:g}" if margin is not None
                 else "; no analysis.margin: no pair can be called equivalent")
        lines.append(text)
        warning = family_warning(n, n, paired, fam.m, alpha=alpha)
        if warning:
            warnings.append(f"{head}: {warning}")
    return lines, warnings


def print_design(suite: Suite, trials: list, results: Optional[Path] = None,
                 calibrate: Optional[int] = None) -> None:
    """Both phases and their sizes (steps; time with --calibrate), FLOPs/seconds budgets in D and G steps, and the
    design's power per comparison family (warnings on stderr)."""
    from ganbench.execution import sizing
    from ganbench.execution.phases import cell_of
    from ganbench.suite.expand import confirm_trials

    data_dir = str(Path(suite.data_dir).expanduser().resolve()) if suite.data_dir else None
    costs = sizing.measure_flops(trials, data_dir) if suite.budget.unit == "flops" else {}
    if calibrate:
        costs = sizing.calibrate(trials, calibrate, data_dir, flops=costs)
    for line in sizing.budget_lines(trials, costs):
        print(line)
    print(sizing.size_line("phase 1 (search)", sizing.phase_size(trials, costs), suite))
    if suite.confirm is not None:
        first = {}
        for t in trials:
            first.setdefault(cell_of(t), t)
        planned = [c for t in first.values() for c in confirm_trials(t, suite.confirm.seed_list())]
        name = (f"phase 2 (confirm, {len(first)} chosen configurations x up to {suite.confirm.max_seeds} seeds in "
                f"rounds of {suite.confirm.step}; at most)" if suite.confirm.adaptive else
                f"phase 2 (confirm, {len(first)} chosen configurations x {suite.confirm.seeds} seeds)")
        print(sizing.size_line(name, sizing.phase_size(planned, costs), suite))
    else:
        print("phase 2 (confirm): none declared (confirm: {seeds: N} retrains each chosen configuration on fresh "
              "seeds)")
    lines, warnings = design_lines(suite, results)
    for line in lines:
        print(line)
    for warning in warnings:
        print(f"ganbench: warning: {warning}", file=sys.stderr)
