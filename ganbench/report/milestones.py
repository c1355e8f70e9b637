"""Verdicts at the budget milestones (issue 15 item 8): a suite's ``analysis.milestones`` make each trial score its
best-so-far generator (chosen on validation among the evaluation points up to there) on test at each milestone, as
``milestone_<unit>_<value>_<metric>`` in its summary (``ganbench.training.milestones``). The report compares the
chosen configurations at each milestone exactly as at the full budget (``pairwise.chosen_family`` with the milestone's
column), labelled with the milestone in its unit and the D steps, G steps and FLOPs it corresponds to."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ganbench.report import pairwise
from ganbench.suite.base import BUDGET_UNITS

PREFIX = "milestone_"
_KEY = re.compile(rf"^{PREFIX}({'|'.join(BUDGET_UNITS)})_([0-9.eE+-]+)_(.+)$")
COUNTS = (("d_steps", "D steps"), ("g_steps", "G steps"), ("flops", "FLOPs"))
SHOWN = ["A", "B", "n_A", "n_B", "paired", "difference [95% CI]", "p", "p method", "p (Holm)", "margin",
         "TOST p (Holm)", "verdict", "seeds needed"]


def parse_milestone_key(key: str) -> tuple[str, float, str] | None:
    """(unit, value, metric) of ``milestone_<unit>_<value>_<metric>`` (``training.milestones.milestone_name``),
    None for any other key. milestone_d_steps_500_fid -> ("d_steps", 500.0, "fid")."""
    match = _KEY.match(str(key))
    if not match:
        return None
    try:
        return match.group(1), float(match.group(2)), match.group(3)
    except ValueError:
        return None


def milestone_columns(frame: pd.DataFrame, metric: str) -> list[tuple[str, str, float]]:
    """(column, unit, value) of every milestone of ``metric`` with a score, ordered by unit and value."""
    out = []
    for c in frame.columns:
        key = parse_milestone_key(c)
        if key and key[2] == metric and pd.to_numeric(frame[c], errors="coerce").notna().any():
            out.append((c, key[0], key[1]))
    return sorted(out, key=lambda x: (x[1], x[2]))


def _num(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e6 or not float(v).is_integer() else str(int(v))


def _count_at(unit: str, value: float, runs: pd.DataFrame, col: str) -> float:
    """Median over ``runs`` of value / the run's total in ``unit`` x its total in ``col`` (nan where unrecorded)."""
    if unit not in runs or col not in runs:
        return float("nan")
    total, other = (pd.to_numeric(runs[c], errors="coerce") for c in (unit, col))
    at = (value / total.where(total > 0) * other).dropna()
    return float(at.median()) if len(at) else float("nan")


def milestone_label(unit: str, value: float, runs: dict, protocol: dict) -> str:
    """The milestone in its unit, as a fraction of the budget where the unit is the budget's, and the D steps,
    G steps and FLOPs it corresponds to per variant where the summaries record them (``_count_at``: exact for steps
    and FLOPs at a constant cost per step; one number where every variant has the same)."""
    text = f"{unit} = {_num(value)}"
    budget = pd.to_numeric(pd.Series([protocol.get("budget_steps")]), errors="coerce").iloc[0]
    if protocol.get("budget_unit") == unit and np.isfinite(budget) and budget > 0:
        text += f" ({value / budget:.3g} of the budget of {_num(budget)} {unit})"
    parts = []
    for col, name in COUNTS:
        if col == unit:
            continue
        at = {n: _count_at(unit, value, r, col) for n, r in sorted(runs.items()) if len(r)}
        at = {n: float(np.round(v, 0)) if col != "flops" else float(f"{v:.3g}") for n, v in at.items()
              if np.isfinite(v)}
        if len(set(at.values())) == 1:
            parts.append(f"{name}: {_num(next(iter(at.values())))}")
        elif at:
            parts.append(f"{name}: " + ", ".join(f"{n} {_num(v)}" for n, v in at.items()))
    return text + (f"; about {'; '.join(parts)}" if parts else "")


def milestone_tables(group, choices: dict) -> list[tuple[str, pd.DataFrame]]:
    """Per milestone with scores: (its label, the verdict table of the chosen configurations at it)."""
    runs = {n: c.runs for n, c in choices.items()}
    out = []
    for col, unit, value in milestone_columns(group.frame, group.metric):
        label = milestone_label(unit, value, runs, group.protocol)
        rows = pairwise.chosen_family(group, runs, col, f"{group.dataset} x chosen configurations at {unit}="
                                      f"{_num(value)}", pairwise.design_of(group.frame))
        if rows:
            out.append((label, pd.DataFrame(rows, columns=pairwise.COLUMNS)))
    return out


def overview(full: pd.DataFrame, tables: list[tuple[str, pd.DataFrame]], protocol: dict) -> pd.DataFrame:
    """One row per pair of chosen configurations: its verdict (and seeds) at each milestone and at the full budget."""
    chosen = full[full["level"] == pairwise.CHOSEN] if not full.empty else full
    frames = [(label.split(" (")[0].split(";")[0], t) for label, t in tables]
    if not chosen.empty:
        budget = pd.to_numeric(pd.Series([protocol.get("budget_steps")]), errors="coerce").iloc[0]
        name = f"{protocol.get('budget_unit')} = {_num(budget)} (full budget)" if np.isfinite(budget) else "full budget"
        frames.append((name, chosen))
    pairs = sorted({(a, b) for _, t in frames for a, b in zip(t["A"], t["B"])})
    rows = []
    for a, b in pairs:
        row = {"A": a, "B": b}
        for name, t in frames:
            hit = t[(t["A"] == a) & (t["B"] == b)]
            row[name] = (f"{hit.iloc[0]['verdict']} ({hit.iloc[0]['n_A']} vs {hit.iloc[0]['n_B']})"
                         if len(hit) else "")
        rows.append(row)
    return pd.DataFrame(rows)


def section(doc, group, choices: dict, full: pd.DataFrame, slug: str) -> None:
    """The verdicts at every budget milestone the trials scored, beside the full budget's."""
    tables = milestone_tables(group, choices)
    if not tables:
        return
    doc.heading("Verdicts at budget milestones", 3)
    doc.para("At each milestone of the budget (the suite's `analysis.milestones`), every run of each variant's chosen "
             "configuration scored its best-so-far generator on test: the checkpoint with the best validation value "
             "among the evaluation points up to the milestone. The configuration is the one chosen at the full "
             "budget. Each milestone is compared as the full budget is (same tests, margin and seeds; Holm over the "
             "pairs of each milestone's family, or the sequential design that stopped adaptive runs); the milestones "
             "are separate families, not corrected for their number. Equal D steps, G steps or FLOPs: read the "
             "counts each milestone corresponds to.")
    doc.table(overview(full, tables, group.protocol), f"{slug}-milestones", f"{group.dataset}: verdict of each pair "
              "of chosen configurations (seeds A vs B) at each budget milestone and at the full budget")
    for i, (label, table) in enumerate(tables):
        doc.para(f"**At {label}**.")
        doc.bullets(pairwise.family_lines(table))
        doc.table(table[SHOWN], f"{slug}-milestone{i}", f"{group.dataset}: pairwise comparisons of {group.metric} "
                  f"at {label}")
