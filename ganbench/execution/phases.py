"""The study's two phases (Lucic et al.): a search, then each cell's chosen configuration retrained on fresh seeds.

A *cell* is a dataset x GAN entry x architecture; its *comparison family* is every GAN entry of the same dataset x
architecture (the pairs the report compares, Holm over them). Once every search trial of a cell is finished
(completed or diverged), the configuration with the best mean validation value of the primary metric over its seeds
(``ganbench.selection.choose_configurations``: test scores never choose) is trained again on the suite's
confirmation seeds ``confirm.seed_offset, seed_offset + 1, ...``, disjoint from the search's seeds.

- ``confirm: {seeds: N}``: the first N confirmation seeds, for every cell.
- ``confirm: {seeds: adaptive, max_seeds: M, step: k}``: rounds of k seeds. At each look (k, 2k, ... M seeds) every
  pair of a family still undecided is judged on the test scores of its first n confirmation seeds, paired by seed,
  with the sequential rule of ``ganbench.report.sequential.SequentialDesign`` (its alpha spending keeps looking after
  every round from inflating the error rates); a verdict other than "undecided" is final. A cell gets its next round
  only while one of its pairs is undecided: no seeds are spent on decided pairs.

Everything is derived from the results directory (configs and summaries), so a killed run resumes, and a rerun that
asks for more seeds trains only the new ones (a confirmation trial's id is its configuration and seed).
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Callable, Optional

from ganbench.results import collect_rows, finished_ids, read_history, read_summary, score_key
from ganbench.suite.expand import confirm_trials
from ganbench.suite.plan import Trial
from ganbench.suite.schema import Suite

Cell = tuple  # (dataset, gan, architecture)


def cell_of(t: Trial) -> Cell:
    return t.dataset, t.gan, t.architecture


def _hp_row(t: Trial) -> dict:
    return {f"hp_{k}": v for k, v in t.hparams.items()}


def choose(search: list[Trial], results: Path) -> dict[Cell, Trial]:
    """Per cell whose search trials are all finished: the search trial (first seed) of the configuration chosen on
    validation. A cell none of whose trials has a validation value gets no choice."""
    import pandas as pd

    from ganbench.evaluation.metric import output_direction
    from ganbench.selection import choose_configurations, configuration_key

    done = finished_ids(results)
    cells: dict[Cell, list[Trial]] = {}
    for t in search:
        cells.setdefault(cell_of(t), []).append(t)
    complete = {c: ts for c, ts in cells.items() if all(t.id in done for t in ts)}
    if not complete:
        return {}
    ids = {t.id for ts in complete.values() for t in ts}
    rows = [r for r in collect_rows(results) if r.get("trial_id") in ids]
    frame = pd.DataFrame(rows)
    history = read_history(results, sorted(ids))
    out: dict[Cell, Trial] = {}
    for primary in sorted({ts[0].eval.primary for ts in complete.values()}):
        chosen = choose_configurations(frame[frame["primary"] == primary] if "primary" in frame else frame,
                                       primary, output_direction(primary), history)
        for _, row in chosen.iterrows():
            for c, ts in complete.items():
                if c[0] != row["dataset"] or c[1] != row["gan"] or c[2] != row["architecture"]:
                    continue
                match = [t for t in ts if configuration_key(_hp_row(t)) == row["configuration"]]
                if match:
                    out[c] = min(match, key=lambda t: t.seed)
    return out


def _score(results: Path, t: Trial) -> Optional[float]:
    """A finished confirmation trial's test score at its chosen checkpoint (None when it has none)."""
    summary = read_summary(results, t.id)
    value = summary.scores.get(score_key("best", t.eval.primary)) if summary else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def design_for(suite: Suite):
    from ganbench.report.sequential import SequentialDesign

    c = suite.confirm
    return SequentialDesign(alpha=suite.analysis.alpha, max_seeds=c.max_seeds, first=c.step, step=c.step)


def looks(suite: Suite) -> list[int]:
    c = suite.confirm
    return sorted({*range(c.step, c.max_seeds + 1, c.step), c.max_seeds})


def pair_state(suite: Suite, a: Trial, b: Trial, done: set, results: Path, decide) -> tuple[str, int]:
    """(verdict, seeds) of a pair of chosen configurations: the first look at which the sequential rule decides it,
    or ("undecided", the last look it was judged at) when it reached max_seeds undecided, or ("pending", the look it
    waits for) while that look's trials are not all finished."""
    from ganbench.evaluation.metric import output_direction

    last = 0
    for n in looks(suite):
        seeds = suite.confirm.seed_list(n)
        arms = [confirm_trials(t, seeds) for t in (a, b)]
        if not all(x.id in done for arm in arms for x in arm):
            return "pending", n
        scores = [[_score(results, x) for x in arm] for arm in arms]
        paired = [(x, y) for x, y in zip(*scores) if x is not None and y is not None]
        if len(paired) >= 2:
            verdict = decide([x for x, _ in paired], [y for _, y in paired], output_direction(a.eval.primary),
                             a.analysis_margin)
            if verdict != "undecided":
                return verdict, n
        last = n
    return "undecided", last


def adaptive_seeds(suite: Suite, chosen: dict[Cell, Trial], results: Path,
                   log: Callable[[str], None] = print) -> dict[Cell, int]:
    """Per chosen cell, how many confirmation seeds the adaptive design asks for now: the first look always, and
    for each of its pairs the look it waits for (pending) or took (decided, or undecided at max_seeds): a cell whose
    pairs are all decided gets no more."""
    design = design_for(suite)
    done = finished_ids(results)
    first = looks(suite)[0]
    want = {c: first for c in chosen}
    families: dict[tuple, list[Cell]] = {}
    for c in chosen:
        families.setdefault((c[0], c[2]), []).append(c)
    for (dataset, arch), cells in sorted(families.items()):
        others = len({g.name for g in suite.gans})
        m = max(1, others * (others - 1) // 2)

        def decide(x, y, direction, margin):
            return design.decide(x, y, direction=direction, paired=True, margin=margin, m=m).verdict

        for ca, cb in itertools.combinations(sorted(cells), 2):
            _, n = pair_state(suite, chosen[ca], chosen[cb], done, results, decide)
            want[ca], want[cb] = max(want[ca], n), max(want[cb], n)  # the look it waits for, or was decided at
    return want


def confirm_due(suite: Suite, search: list[Trial], results: Path,
                log: Callable[[str], None] = print) -> list[Trial]:
    """Every confirmation trial the design asks for now (finished ones included: the caller skips those)."""
    if suite.confirm is None:
        return []
    chosen = choose(search, results)
    if not chosen:
        return []
    counts = adaptive_seeds(suite, chosen, results, log) if suite.confirm.adaptive else \
        {c: suite.confirm.seeds for c in chosen}
    return [t for c in sorted(chosen) for t in confirm_trials(chosen[c], suite.confirm.seed_list(counts[c]))]


def run_phases(suite: Suite, results: Path, search: list[Trial], run_round: Callable[[list[Trial], str], None],
               log: Callable[[str], None] = print, also_done: tuple = ()) -> list[Trial]:
    """Run the unfinished search trials, then, round after round, the confirmation trials the finished cells ask
    for, until nothing new is due. ``run_round(todo, what)`` trains a list of trials; a trial is tried at most once
    per call (a failed one waits for the next run). Returns every trial of the suite's two phases known now."""
    attempted: set[str] = set()
    while True:
        done = finished_ids(results, also=also_done)
        confirm = confirm_due(suite, search, results, log)
        todo = [t for t in search + confirm if t.id not in done and t.id not in attempted]
        if not todo:
            return search + confirm
        attempted |= {t.id for t in todo}
        n_confirm = sum(1 for t in todo if t.phase == "confirm")
        what = (f"phase 2: {n_confirm} confirmation trials of {len({cell_of(t) for t in confirm})} chosen "
                f"configurations" if n_confirm else "search")
        if n_confirm and n_confirm < len(todo):
            what = f"search and {what}"
        run_round(todo, what)
