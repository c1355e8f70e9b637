"""Choosing configurations on the validation split, never on test.

A *configuration* is the set of resolved hyperparameters a trial trained with (every ``hp_*`` column of the trials
table), never a search sample index: the same sample index can mean two learning rates when a suite changes between
runs into one results directory, and two configurations must never merge.

``choose_configurations`` picks, per dataset x variant x architecture x protocol, the configuration with the best
**mean validation value** of the primary metric over its seeds: each trial's validation value at its chosen
checkpoint (``best_val_<metric>`` in summary.json; for results written before the trainer recorded it, the
validation record of metrics.jsonl at the trial's ``best_d_steps``). Test scores are computed for what was chosen and
never feed a choice. Trials of the confirmation phase (``phase == "confirm"``) never take part in the choice.

Reads tables only (pandas); no torch.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ganbench import protocol

SCORED = ("completed", "diverged")
CELL_COLUMNS = ("gan", "architecture")


def _value_text(value) -> str | None:
    """Canonical text of one hyperparameter value (None for a missing one): 5 and 5.0 read alike, floats keep
    every digit that tells two draws apart (1e-4 and 1.06e-4 stay two)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 else repr(v)
    return str(value)


def configuration_key(row) -> str:
    """The configuration of a trial (a row of the trials table, a Series or a dict): every resolved hyperparameter
    (``hp_*``) with a value, sorted by name, as ``name=value|name=value``. The search sample index is not part of
    it."""
    items = row.items() if hasattr(row, "items") else dict(row).items()
    parts = []
    for col, value in sorted(items, key=lambda kv: str(kv[0])):
        if str(col).startswith("hp_"):
            text = _value_text(value)
            if text is not None:
                parts.append(f"{str(col).removeprefix('hp_')}={text}")
    return "|".join(parts)


def configuration_keys(trials: pd.DataFrame) -> pd.Series:
    """``configuration_key`` of every row, as a Series on the trials' index."""
    hp = [c for c in trials.columns if str(c).startswith("hp_")]
    if not hp:
        return pd.Series("", index=trials.index, dtype=object)
    return trials[hp].apply(configuration_key, axis=1).astype(object)


def validation_values(trials: pd.DataFrame, metric: str, history: pd.DataFrame | None = None) -> pd.Series:
    """Per trial, the validation value of ``metric`` at its chosen checkpoint: ``best_val_<metric>`` where the
    summary recorded it, else (given the history of metrics.jsonl) the ``split == "val"`` record at the trial's
    ``best_d_steps``; NaN where neither is known."""
    col = f"best_val_{metric}"
    values = (pd.to_numeric(trials[col], errors="coerce") if col in trials
              else pd.Series(np.nan, index=trials.index, dtype=float))
    missing = values.isna()
    if (not missing.any() or history is None or history.empty or metric not in history
            or "best_d_steps" not in trials):
        return values
    h = history
    if "split" in h:
        h = h[h["split"].isna() | (h["split"] == "val")]
    h = h.dropna(subset=[metric]).drop_duplicates(["trial_id", "d_steps"], keep="last")
    lookup = h.set_index(["trial_id", "d_steps"])[metric]
    for idx in trials.index[missing]:
        tid, step = trials.at[idx, "trial_id"], trials.at[idx, "best_d_steps"]
        if pd.notna(step) and (tid, int(step)) in lookup.index:
            values.at[idx] = float(lookup.loc[(tid, int(step))])
    return values


def search_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that take part in a choice: the search phase (no ``phase`` column, or any phase but confirm)."""
    if "phase" not in trials:
        return trials
    return trials[trials["phase"].fillna("search").astype(str) != "confirm"]


def _best_row(per_config: pd.DataFrame, direction: str) -> pd.Series:
    """The configuration with the best mean; ties go to the configuration key's order (deterministic)."""
    ordered = per_config.sort_values(["val_mean", "configuration"], ascending=[direction != "max", True],
                                     kind="mergesort")
    return ordered.iloc[0]


def choose_configurations(trials: pd.DataFrame, metric: str, direction: str,
                          history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per dataset x variant (``gan``) x architecture x protocol: the configuration with the best mean validation
    value of ``metric`` over its seeds (``direction``: "max" or "min"). One row per cell with the cell's columns,
    ``configuration`` (its key), ``val_mean``, ``val_seeds`` (how many seeds had a validation value), ``seeds``
    (their seeds, sorted), ``configurations`` (how many distinct configurations competed), ``selected_on`` ("val")
    and the chosen configuration's ``hp_*`` values. Only scored trials (completed or diverged) of the search phase
    with a validation value take part; a cell with none is left out."""
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max' or 'min', not {direction!r}")
    frame = search_trials(trials)
    frame = frame[frame["status"].isin(SCORED)] if "status" in frame else frame
    frame = frame.assign(configuration=configuration_keys(frame),
                         _val=validation_values(frame, metric, history)).dropna(subset=["_val"])
    cell_cols = [c for c in CELL_COLUMNS if c in frame] + protocol.columns(frame, metric)  # never across protocols
    hp = [c for c in frame.columns if str(c).startswith("hp_")]
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=[*cell_cols, "configuration", "val_mean", "val_seeds", "seeds", "configurations",
                                     "selected_on", *hp])
    for _, cell in frame.groupby(cell_cols, dropna=False, sort=True):
        per_config = cell.groupby("configuration", sort=True).agg(
            val_mean=("_val", "mean"), val_seeds=("_val", "size")).reset_index()
        best = _best_row(per_config, direction)
        chosen = cell[cell["configuration"] == best["configuration"]]
        first = chosen.iloc[0]
        rows.append({**{c: first[c] for c in cell_cols}, "configuration": best["configuration"],
                     "val_mean": float(best["val_mean"]), "val_seeds": int(best["val_seeds"]),
                     "seeds": sorted(int(s) for s in chosen["seed"]) if "seed" in chosen else [],
                     "configurations": len(per_config), "selected_on": "val", **{c: first[c] for c in hp}})
    return pd.DataFrame(rows)
