"""The report's pairwise comparisons (``ganbench.report.inference``): every pair of variants gets the difference with
its 95% t interval, the rank test's p (exact, or Monte Carlo labelled with its resamples and error), Holm's p over its
family, the TOST p against the suite's declared margin (``analysis_margin`` in trials.csv), a verdict (better, worse,
equivalent, undecided) and the seeds per variant that would decide it at the observed spread.

Two families per group (dataset x protocol): the chosen configurations over their seeds (paired by seed where both
variants ran the same seeds), and, where there is a search, every trial of the search (paired where draws are shared;
no equivalence is claimed at this level: the margin is declared for a configuration's mean, not a search's).
Where the confirmation seeds were added adaptively (``design_of``), the chosen configurations are judged by the same
group-sequential rule that stopped them, at the look each pair was decided (n_A, n_B: the seeds it took)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ganbench.report import inference
from ganbench.report.sequential import SequentialDesign
from ganbench.report.tables import SCORED, Group, _searched, variant_names

CHOSEN = "best configuration over seeds"
SEARCH = "whole search"
COLUMNS = ["level", "family", "A", "B", "n_A", "n_B", "paired", "difference [95% CI]", "test", "p", "p method",
           "p (Holm)", "margin", "TOST p", "TOST p (Holm)", "verdict", "seeds needed", "attainable p (Holm)"]


def margin_of(frame: pd.DataFrame) -> float | None:
    """The suite's declared equivalence margin for these trials (``analysis_margin``), None where absent or not one
    value."""
    if "analysis_margin" not in frame:
        return None
    values = pd.to_numeric(frame["analysis_margin"], errors="coerce").dropna().unique()
    return float(values[0]) if len(values) == 1 and values[0] > 0 else None


def _pairable(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Search trials pair when both variants hold the same (search sample, seed) keys and the hyperparameters that
    both search take the same values at each sample (shared draws); without a search there is nothing to pair on."""
    keys_a, keys_b = set(zip(a["sample"], a.seed)), set(zip(b["sample"], b.seed))
    shared = sorted(set(_searched(a)) & set(_searched(b)))
    if keys_a != keys_b or not shared:
        return False
    va = a.groupby("sample")[shared].first().sort_index()
    vb = b.groupby("sample")[shared].first().sort_index()
    return va.equals(vb)


def _by_seed(runs: pd.DataFrame, col: str) -> pd.Series:
    return runs.set_index("seed")[col].astype(float) if "seed" in runs else pd.Series(dtype=float)


def _chosen_pair(ra: pd.DataFrame, rb: pd.DataFrame, col: str,
                 nested: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """Two chosen configurations' scores, paired by seed when both ran the same (distinct) seeds; with ``nested``
    (adaptive runs, where a cell whose pairs were all decided stopped at an earlier look), on the seeds both ran
    when one's seeds contain the other's."""
    sa, sb = _by_seed(ra, col), _by_seed(rb, col)
    common = set(sa.index) & set(sb.index)
    same = set(sa.index) == set(sb.index) or (nested and common in (set(sa.index), set(sb.index)))
    if len(common) >= 2 and sa.index.is_unique and sb.index.is_unique and same:
        keep = sorted(common)
        return sa.loc[keep].to_numpy(), sb.loc[keep].to_numpy(), True
    return ra[col].to_numpy(float), rb[col].to_numpy(float), False


DESIGN_COLUMNS = ("confirm_max_seeds", "confirm_step", "analysis_alpha")


def design_of(frame: pd.DataFrame):
    """The sequential design adaptive confirmation runs were stopped by (columns ``confirm_max_seeds``,
    ``confirm_step``, ``analysis_alpha`` of trials.csv, one value each among confirmation trials), else None."""
    if not all(c in frame for c in DESIGN_COLUMNS) or "phase" not in frame:
        return None
    confirm = frame[frame["phase"].astype(str) == "confirm"]
    values = [pd.to_numeric(confirm[c], errors="coerce").dropna().unique() for c in DESIGN_COLUMNS]
    if any(len(v) != 1 for v in values):
        return None
    max_seeds, step, alpha = int(values[0][0]), int(values[1][0]), float(values[2][0])
    return SequentialDesign(alpha=alpha, max_seeds=max_seeds, first=step, step=step)


def sequential_verdict(design, a: np.ndarray, b: np.ndarray, direction: str, margin: float | None, m: int):
    """The design's verdict at its first decisive look over seeds in order (a, b paired by seed, sorted), or at the
    last look the seeds reach: the verdict and the seeds it took, as the adaptive run judged it."""
    c = None
    for n in design.looks:
        if n > len(a):
            break
        c = design.decide(a[:n], b[:n], direction, True, margin, m)
        if c.verdict != "undecided":
            return c
    return c if c is not None else design.decide(a, b, direction, True, margin, m)


def _rows(level: str, family: str, pairs: list, direction: str, margin: float | None, design=None) -> list[dict]:
    """One family's rows: compare each (A, B, a, b, paired), Holm over the family; with a sequential design (and
    paired seeds), the design's verdict at the look it decided, its family error split alpha / m."""
    m = len(pairs)
    if design is not None and all(p for *_, p in pairs):
        done = [sequential_verdict(design, a, b, direction, margin, m) for _, _, a, b, _ in pairs]
        done = [replace(c, family=f"{family}: {c.family}", p_holm=min(1.0, c.p * m)) for c in done]
    else:
        raw = [inference.compare_pair(a, b, direction, paired=p, margin=margin, m=m) for _, _, a, b, p in pairs]
        done = inference.correct_family(raw, family)
    rows = []
    for (name_a, name_b, *_), c in zip(pairs, done):
        rows.append({"level": level, "family": c.family, "A": name_a, "B": name_b, "n_A": c.n_a, "n_B": c.n_b,
                     "paired": c.paired, "difference [95% CI]": inference.interval_text(c.diff, c.low, c.high),
                     "test": c.test, "p": c.p, "p method": c.p_method, "p (Holm)": c.p_holm,
                     "margin": np.nan if c.margin is None else c.margin, "TOST p": c.tost_p,
                     "TOST p (Holm)": c.tost_p_holm, "verdict": c.verdict, "seeds needed": c.seeds_needed,
                     "attainable p (Holm)": inference.attainable_p(c.n_a, c.n_b, c.paired, c.m)})
    return rows


def chosen_pairs(runs: dict, col: str, nested: bool = False) -> list:
    """(A, B, a, b, paired) for every pair of variants whose runs (name -> trials) hold scores in ``col``."""
    names = sorted(n for n, r in runs.items() if len(r) and col in r and r[col].notna().any())
    return [(a, b, *_chosen_pair(runs[a], runs[b], col, nested)) for i, a in enumerate(names) for b in names[i + 1:]]


def chosen_family(group: Group, runs: dict, col: str, family: str, design=None) -> list[dict]:
    """The rows of the family of chosen configurations scored by ``col`` (``best_<metric>``, or a budget
    milestone's ``milestone_<unit>_<value>_<metric>``): Holm over its pairs, or the sequential ``design``."""
    pairs = chosen_pairs(runs, col, nested=design is not None)
    if not pairs or group.direction is None:
        return []
    return _rows(CHOSEN, family, pairs, group.direction, margin_of(group.frame), design)


def pairwise_table(group: Group, choices: dict, col: str | None = None, label: str = "",
                   search: bool = True) -> pd.DataFrame:
    """Every pair of variants in two families: the chosen configurations over seeds, and every trial of the search
    (where there is one, and ``search``). Differences are A - B oriented so that a positive difference means A is
    better. ``col``: the score compared (default ``best_<metric>``); ``label`` is added to the families' names."""
    frame, metric, direction = group.frame, group.metric, group.direction
    col = col or f"best_{metric}"
    if direction is None or col not in frame:
        return pd.DataFrame()
    rows = chosen_family(group, {n: c.runs for n, c in choices.items()}, col,
                         f"{group.dataset} x chosen configurations{label}", design_of(frame))
    scored = frame[frame.status.isin(SCORED) & frame[col].notna()]
    if "phase" in scored:
        scored = scored[scored["phase"].astype(str) != "confirm"]
    snames = variant_names(frame).reindex(scored.index)
    if search and len(scored) and scored.groupby(snames)["sample"].nunique().max() > 1:
        variants, pairs = sorted(snames.unique()), []
        for i, a in enumerate(variants):
            for b in variants[i + 1:]:
                fa, fb = scored[snames == a], scored[snames == b]
                paired = _pairable(fa, fb)
                if paired:
                    fa, fb = fa.sort_values(["sample", "seed"]), fb.sort_values(["sample", "seed"])
                pairs.append((a, b, fa[col].to_numpy(float), fb[col].to_numpy(float), paired))
        rows += _rows(SEARCH, f"{group.dataset} x whole search{label}", pairs, direction, None)
    return pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame()


def verdict(row: dict) -> str:
    """One pair in words. An undecided pair is called undecided, with the seeds that would decide it: never a tie."""
    a, b = row["A"], row["B"]
    pairing = "paired by seed" if row["paired"] else "unpaired"
    head = (f"**{a}** vs **{b}** ({row['level']}, {row['n_A']} vs {row['n_B']} runs, {pairing}): {a} - {b} = "
            f"{row['difference [95% CI]']} (positive: {a} better); {row['test']} p = {row['p']:.3g} "
            f"({row['p method']}), Holm {row['p (Holm)']:.3g}")
    margin = row["margin"]
    if pd.notna(margin):
        tost_holm = row["TOST p (Holm)"]
        head += f"; TOST within +-{margin:g}: p = {row['TOST p']:.3g}" + (
            f", Holm {tost_holm:.3g}" if pd.notna(tost_holm) else "")
    v = row["verdict"]
    if v in ("better", "worse"):
        return head + f". **{a} is {v}** than {b}."
    if v == "equivalent":
        return head + f". **Equivalent** within +-{margin:g}."
    why = "no margin is declared, so equivalence cannot be shown" if pd.isna(margin) else "neither test decides"
    seeds = ("no feasible number of seeds" if row["seeds needed"] >= inference.MAX_SEEDS else
             f"about {row['seeds needed']} seeds per variant")
    return head + f". **Undecided** ({why}); at the observed spread {seeds} would decide it."


def reach(rows: pd.DataFrame) -> list[float]:
    """Per pair of a family: the smallest Holm-corrected p its exact rank test can reach at its seed counts. The
    family cannot reject only if none of its pairs can (a family may mix paired pairs with unpaired ones of other
    counts)."""
    return [inference.attainable_p(int(r.n_A), int(r.n_B), bool(r.paired), len(rows)) for r in rows.itertuples()]


def family_lines(pairs: pd.DataFrame) -> list[str]:
    """Per family: its name, and the zero-power warning where its seed counts cannot reject at all."""
    out = []
    for family, rows in pairs.groupby("family", sort=False):
        first = rows.iloc[0]
        if str(first["p method"]).startswith("group-sequential"):  # its own boundaries; no rank-test ceiling
            out.append(f"Family **{family}**.")
            continue
        best = rows.iloc[int(np.argmin(reach(rows)))]
        warning = inference.family_warning(int(best.n_A), int(best.n_B), bool(best.paired), len(rows))
        out.append(f"Family **{family}**" + (f": **{warning}**." if warning else "."))
    return out
