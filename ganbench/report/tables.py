"""Report tables: trials split by protocol, one row per variant, pairwise comparisons.

A table never pools trials of different protocol: dataset and its options, budget unit and size, evaluation settings
(every, n_samples, n_real), primary metric, and the metric's provenance (extractor, n_real, n_fake, split), as
``ganbench.protocol`` defines them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganbench import protocol as protocols
from ganbench.report import chosen, learned, stats

# Only for results written before each metric's direction was stored with it (``<metric>_direction``).
DIRECTION_FALLBACK = {
    "modes": "max", "hq": "max", "reverse_kl": "min", "fid": "min", "kid": "min", "precision": "max",
    "recall": "max", "density": "max", "coverage": "max", "is": "max",
}
SCORED = ("completed", "diverged")


def metric_direction(frame: pd.DataFrame, metric: str) -> str | None:
    """"max", "min" or None, from the ``<metric>_direction`` column the results carry (fallback: known names)."""
    col = f"{metric}_direction"
    if col in frame:
        values = frame[col].dropna().unique()
        if len(values) == 1 and values[0] in ("max", "min"):
            return str(values[0])
    return DIRECTION_FALLBACK.get(metric)


@dataclass
class Group:
    """The trials of one dataset under one protocol, scored by one metric."""
    dataset: str
    metric: str
    direction: str | None
    protocol: dict  # column -> value (the keys that define the group)
    frame: pd.DataFrame
    baseline: dict | None = None  # the matched baselines.json record
    notes: list = field(default_factory=list)

    @property
    def entry(self) -> dict | None:
        """The baseline entry of this group's metric (noise and real), or None."""
        return ((self.baseline or {}).get("metrics") or {}).get(self.metric)

    def match_fields(self) -> dict:
        p = self.protocol
        return {"dataset": self.dataset, "dataset_options": p.get("dataset_options", "{}"),
                **{f: p.get(f"{self.metric}_{f}") for f in ("split", "extractor", "n_real", "n_fake")}}


def _fill_unscored(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Trials without scores (pending, running, failed) take their protocol's metric provenance where it is unique,
    so they are counted in the table of the trials they belong with."""
    frame = frame.copy()
    for col in cols:
        known = frame[col].dropna().unique()
        if len(known) == 1:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), known[0])
    return frame


def protocol_groups(trials: pd.DataFrame) -> list[Group]:
    config_cols = protocols.columns(trials)
    groups = []
    for _, cframe in trials.groupby(config_cols, dropna=False, sort=True):
        dataset = str(cframe.dataset.iloc[0])
        primary = cframe["primary"].dropna() if "primary" in cframe else pd.Series(dtype=object)
        metric = str(primary.mode().iloc[0]) if len(primary) else "fid"
        mcols = protocols.metric_columns(cframe, metric)
        cframe = _fill_unscored(cframe, mcols)
        parts = cframe.groupby(mcols, dropna=False, sort=True) if mcols else [((), cframe)]
        for _, frame in parts:
            protocol = {c: frame[c].iloc[0] for c in [*config_cols, *mcols]}
            groups.append(Group(dataset, metric, metric_direction(frame, metric), protocol, frame))
    return groups


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def protocol_text(group: Group) -> tuple[str, str]:
    """(metric provenance, budget and evaluation) in words."""
    p, m = group.protocol, group.metric
    prov = ", ".join(f"{k}={_fmt(p[f'{m}_{k}'])}" for k in protocols.PROVENANCE
                     if f"{m}_{k}" in p and pd.notna(p[f"{m}_{k}"]))
    every = [f"every {_fmt(p[c])} {u}" for c, u in (("eval_every_d_steps", "D steps"), ("eval_every_g_steps",
                                                                                          "G steps"))
             if c in p and pd.notna(p[c])]
    budget = f"{p.get('budget_unit')}={_fmt(p.get('budget_steps'))}"
    ev = ", ".join([*every, *(f"{k.removeprefix('eval_')}={_fmt(p[k])}" for k in ("eval_n_samples", "eval_n_real")
                              if k in p and pd.notna(p[k]))])
    opts = p.get("dataset_options")
    extra = f"; dataset options {opts}" if isinstance(opts, str) and opts not in ("{}", "") else ""
    return prov or "n/a", f"budget {budget}" + (f"; evaluation {ev}" if ev else "") + extra


def variant_names(frame: pd.DataFrame) -> pd.Series:
    """The name a variant goes by in tables and figures: the GAN entry, with its architecture when the directory
    holds several."""
    if frame["architecture"].nunique() > 1:
        return frame["gan"].astype(str) + "/" + frame["architecture"].astype(str)
    return frame["gan"].astype(str)


def gates(group: Group) -> list[tuple[str, dict]]:
    """(metric, baseline entry) of each gate metric (precision) the group's trials were scored by, other than its
    own."""
    return [(m, e) for m, e, _ in learned.judges(group.baseline, group.metric, group.direction, group.frame.columns)
            if m in learned.GATE_METRICS and m != group.metric]


def mark_not_learned(group: Group) -> pd.Series:
    """Per trial: not learned by the rule of ``report.learned`` (False where there is no baseline or no score)."""
    return learned.marks(group.frame, group.baseline, group.metric, group.direction)


def _searched(frame: pd.DataFrame) -> list[str]:
    hp = [c for c in frame.columns if c.startswith("hp_")]
    return [c for c in hp if frame.groupby("sample")[c].first().nunique(dropna=False) > 1]


def config_label(frame: pd.DataFrame, sample) -> str:
    """Deprecated by configuration keys: the first trial of a search sample, in words (see ``chosen.label``)."""
    return chosen.label(frame, frame[frame["sample"] == sample].iloc[0])


def best_config(group: Group, history: pd.DataFrame | None = None) -> dict:
    """Variant name -> its ``chosen.Choice``: the configuration (resolved hyperparameters) with the best mean
    VALIDATION value over its seeds. Test scores never choose."""
    if group.direction is None:
        return {}
    return chosen.choose(group.frame, variant_names(group.frame), group.metric, group.direction, history)


def _chosen_columns(choice, col: str, improving: pd.Series) -> dict:
    runs = choice.runs[col].to_numpy(dtype=float)
    mean, lo, hi = stats.mean_ci(runs)
    scored_on = "confirmation seeds" if choice.source == "confirm" else "search seeds"
    return {"configurations": choice.configurations, "chosen config": choice.label, "selected_on": "val",
            "val mean": choice.val_mean, "scored on": scored_on + (" (optimistic)" if choice.optimistic else ""),
            "seeds": len(runs), "chosen config mean": mean, "CI low": lo, "CI high": hi,
            "chosen config std": np.std(runs, ddof=1) if len(runs) > 1 else np.nan,
            "still improving": int(improving.reindex(choice.runs.index).fillna(False).sum())}


def variant_table(group: Group, learned: pd.Series | None = None, history: pd.DataFrame | None = None,
                  choices: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per variant: status counts, the configuration chosen on validation with its test mean over seeds
    (confirmation seeds where there are, else the search's, marked optimistic) and interval, how many of those runs
    were still improving at their last evaluation, and the median and quartiles across the whole search (test,
    descriptive: they choose nothing); D steps, G steps and wall seconds. Returns the table and {variant: the
    chosen configuration's test scores over seeds}."""
    frame, metric = group.frame, group.metric
    col = f"best_{metric}"
    if learned is None:
        learned = ~mark_not_learned(group)
    choices = best_config(group, history) if choices is None else choices
    improving = chosen.still_improving(frame, history)
    names = variant_names(frame)
    rows, best_runs = [], {}
    for name in sorted(names.unique()):
        g = frame[names == name]
        scored = g[g.status.isin(SCORED) & g[col].notna()] if col in g else g.iloc[:0]
        status = g.status.value_counts()
        row = {"gan": name, "architecture": g.architecture.iloc[0], "trials": len(g),
               **{s: int(status.get(s, 0)) for s in ("completed", "diverged", "failed")},
               "not learned": int((~learned.reindex(scored.index).astype(bool)).sum())}
        for s in ("running", "pending"):
            if status.get(s, 0):
                row[s] = int(status[s])
        if name in choices and len(choices[name].runs):
            row.update(_chosen_columns(choices[name], col, improving))
            best_runs[name] = choices[name].runs[col].to_numpy(dtype=float)
        if len(scored):
            search = scored[~chosen.is_confirm(scored)]
            row.update({"median": search[col].median(), "q25": search[col].quantile(0.25),
                        "q75": search[col].quantile(0.75)})
            for c, label in (("d_steps", "D steps"), ("g_steps", "G steps"), ("wall_seconds", "wall s"),
                             ("flops", "FLOPs")):
                if c in scored and scored[c].notna().any():
                    row[label] = float(scored[c].median())
        rows.append(row)
    order = ["gan", "architecture", "trials", "completed", "diverged", "failed", "not learned", "running", "pending",
             "configurations", "chosen config", "selected_on", "val mean", "scored on", "seeds", "chosen config mean",
             "CI low", "CI high", "chosen config std", "still improving", "median", "q25", "q75", "D steps",
             "G steps", "wall s", "FLOPs"]
    table = pd.DataFrame(rows)
    for c in ("chosen config", "seeds", "chosen config mean", "CI low", "CI high", "median"):
        if c not in table:  # the same columns whether or not anything was chosen (empty where nothing was)
            table[c] = np.nan
    return table[[c for c in order if c in table]], best_runs


def aggregate_runs(group: Group, best_runs: dict) -> dict:
    """Per variant, the seeds' scores used in aggregates over datasets: its chosen configuration's (every variant
    with a validation value has one, learned or not, so a failing variant counts)."""
    return dict(best_runs)
