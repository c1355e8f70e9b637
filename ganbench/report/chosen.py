"""The configuration each variant is scored by, chosen on validation (``ganbench.selection``), and what a reader must
know about it: the runs its headline score comes from (confirmation runs on fresh seeds where the suite ran them,
else the search's own seeds, marked optimistic), trials still improving at their last evaluation, a choice at the
edge of the values searched, and what differs between the compared variants beyond the loss (equal tuning)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganbench import selection

SCORED = ("completed", "diverged")
# Shown in the equal-tuning table whether or not they differ: what the GAN papers tune beside the loss.
TUNING_ALWAYS = ("optimizer", "lr", "beta1", "beta2", "n_disc", "penalty_weight")


@dataclass
class Choice:
    """One variant's chosen configuration and the runs that score it."""
    name: str
    key: str  # selection.configuration_key
    label: str  # the searched hyperparameters' values, in words
    val_mean: float  # its mean validation value over the search seeds (what chose it)
    configurations: int  # distinct configurations it was chosen from
    runs: pd.DataFrame  # the scored trials its headline numbers come from
    source: str  # "confirm" (fresh seeds) or "search" (the seeds it was chosen on)
    optimistic: bool  # scored on the seeds it was chosen on


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def searched_columns(frame: pd.DataFrame) -> list[str]:
    """The ``hp_*`` columns that take more than one value among these trials (what the search varied)."""
    hp = [c for c in frame.columns if str(c).startswith("hp_")]
    return [c for c in hp if frame[c].dropna().astype(str).nunique() > 1]


def label(frame: pd.DataFrame, row) -> str:
    """A configuration in words: the values of the hyperparameters its variant's search varied."""
    parts = [f"{c.removeprefix('hp_')}={_fmt(row[c])}" for c in searched_columns(frame)]
    return ", ".join(parts) if parts else "the only configuration"


def is_confirm(frame: pd.DataFrame) -> pd.Series:
    if "phase" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["phase"].astype(str) == "confirm"


def choose(frame: pd.DataFrame, names: pd.Series, metric: str, direction: str,
           history: pd.DataFrame | None = None) -> dict[str, Choice]:
    """Variant name -> its Choice (a variant with no validation value to choose on is absent)."""
    col = f"best_{metric}"
    data = frame.assign(gan=names.reindex(frame.index))
    chosen = selection.choose_configurations(data, metric, direction, history)
    keys = selection.configuration_keys(data)
    scored = data["status"].isin(SCORED) & (data[col].notna() if col in data else False)
    confirm = is_confirm(data)
    out = {}
    for row in chosen.itertuples(index=False):
        name = str(row.gan)
        if name in out:  # one table holds one protocol: a second row would be a second architecture's
            continue
        mine = data[(data["gan"] == name) & (keys == row.configuration) & scored]
        runs, source = mine[confirm.reindex(mine.index)], "confirm"
        if runs.empty:
            runs, source = mine[~confirm.reindex(mine.index)], "search"
        optimistic = source == "search" or bool(set(runs["seed"]) & set(row.seeds))
        search = data[(data["gan"] == name) & ~confirm]
        out[name] = Choice(name, row.configuration, label(search, mine.iloc[0]) if len(mine) else row.configuration,
                           float(row.val_mean), int(row.configurations), runs, source, optimistic)
    return out


def still_improving(frame: pd.DataFrame, history: pd.DataFrame | None) -> pd.Series:
    """Per trial: completed with its chosen checkpoint at its last evaluation point (training was still improving
    the validation score when the budget ran out)."""
    last = pd.Series(np.nan, index=frame.index)
    if history is not None and not history.empty and {"trial_id", "d_steps"} <= set(history.columns):
        last_step = history.groupby("trial_id")["d_steps"].max()
        last = frame["trial_id"].map(last_step)
    if "d_steps" in frame:
        last = last.fillna(pd.to_numeric(frame["d_steps"], errors="coerce"))
    best = pd.to_numeric(frame.get("best_d_steps", pd.Series(np.nan, index=frame.index)), errors="coerce")
    return (frame["status"] == "completed") & best.notna() & (best >= last)


def edge_warnings(frame: pd.DataFrame, names: pd.Series, choices: dict[str, Choice]) -> list[str]:
    """A sentence per chosen value of a searched numeric hyperparameter that sits at the edge of the values tried
    (at least three tried): the best region may lie outside the search."""
    out = []
    for name, choice in sorted(choices.items()):
        search = frame[(names.reindex(frame.index) == name) & ~is_confirm(frame)]
        row = choice.runs.iloc[0] if len(choice.runs) else None
        for c in searched_columns(search) if row is not None else []:
            values = pd.to_numeric(search[c], errors="coerce").dropna().unique()
            value = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if len(values) < 3 or pd.isna(value) or values.min() < value < values.max():
                continue
            edge = "lowest" if value == values.min() else "highest"
            out.append(f"**{name}**: its chosen {c.removeprefix('hp_')} = {_fmt(value)} is the {edge} of the "
                       f"{len(values)} values tried ({_fmt(values.min())} to {_fmt(values.max())}); its best region "
                       "may lie outside the search.")
    return out


def _setting(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "-"
    distinct = sorted(v.astype(str).unique())
    if len(distinct) == 1:
        return _fmt(v.iloc[0])
    num = pd.to_numeric(v, errors="coerce")
    if num.notna().all():
        return f"searched: {_fmt(num.min())} to {_fmt(num.max())} ({len(distinct)} values)"
    return f"searched: {', '.join(distinct)}"


def tuning_table(frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """Per variant, what differs beyond the loss: optimiser, betas, n_disc, penalty and its weight, every
    hyperparameter whose setting differs between variants, which were searched, and the number of distinct
    configurations drawn (the search budget)."""
    search = frame[~is_confirm(frame)]
    vnames = names.reindex(search.index)
    hp = [c for c in search.columns if str(c).startswith("hp_") and search[c].notna().any()]
    rows = {}
    for name, g in sorted(search.groupby(vnames)):
        rows[name] = {"loss": _setting(g["loss"]) if "loss" in g else "-",
                      "penalty": _setting(g["penalty"]) if "penalty" in g else "-",
                      **{c.removeprefix("hp_"): _setting(g[c]) for c in hp},
                      "searched": ", ".join(c.removeprefix("hp_") for c in searched_columns(g)) or "nothing",
                      "configurations": int(selection.configuration_keys(g).nunique())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.empty:
        return table
    keep = [c for c in table.columns if c in ("loss", "penalty", "searched", "configurations", *TUNING_ALWAYS)
            or table[c].nunique() > 1]
    return table[keep].rename_axis("variant").reset_index()


def unequal_budgets(tuning: pd.DataFrame) -> str:
    """A sentence when the compared variants were not tuned with equal search budgets ("" when they were)."""
    if tuning.empty or len(tuning) < 2:
        return ""
    budgets = tuning.set_index("variant")[["configurations", "searched"]]
    if budgets["configurations"].nunique() == 1 and budgets["searched"].nunique() == 1:
        return ""
    listing = "; ".join(f"{v} {r.configurations} configuration(s) over {r.searched}" for v, r in budgets.iterrows())
    return (f"**Unequal search budgets** ({listing}): a verdict between these variants compares how well each was "
            "tuned as well as its loss.")
