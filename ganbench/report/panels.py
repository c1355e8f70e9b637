"""The figures of one table (dataset x protocol) and their captions: every trial's score, each variant's chosen
configuration with its interval beside the baselines, its validation curves, precision against recall, the score
against each searched hyperparameter, the search budget (chosen on validation among k, at least ``MIN_K``), the seed
spread of each configuration, and the diagnostics of a failing trial next to a healthy one (picked on validation)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ganbench import selection
from ganbench.report import chosen, diagnostics, figures

SCORED = ("completed", "diverged")


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float, np.floating)) and np.isfinite(v) else "n/a"


def budget_scores(scored: pd.DataFrame, metric: str, names: pd.Series) -> dict:
    """Per variant, (validation values, test scores) of one trial per configuration at one seed (the seed with the
    most configurations), search trials only."""
    col, out = f"best_{metric}", {}
    data = scored[~chosen.is_confirm(scored)]
    data = data.assign(_key=selection.configuration_keys(data), _val=data.get(f"best_val_{metric}", np.nan))
    for name, g in data.groupby(names.reindex(data.index)):
        g = g[g["_val"].notna()]
        if g.empty:
            continue
        seed = g.groupby("seed")["_key"].nunique().sort_index().idxmax()
        one = g[g.seed == seed].groupby("_key")[["_val", col]].first()
        out[name] = (one["_val"].to_numpy(float), one[col].to_numpy(float))
    return out


def seed_spread(scored: pd.DataFrame, col: str, names: pd.Series) -> pd.DataFrame:
    """Per variant x configuration (resolved hyperparameters): the std of its test score over seeds."""
    data = scored.assign(name=names.reindex(scored.index), _key=selection.configuration_keys(scored))
    spread = data.groupby(["name", "_key"])[col].std(ddof=1).rename("std").reset_index()
    return spread[spread["std"].notna()]


def _chosen_ids(choices: dict, frame: pd.DataFrame, names: pd.Series) -> set:
    """Every trial (search and confirmation) of each variant's chosen configuration."""
    keys = selection.configuration_keys(frame)
    ids = set()
    for name, c in choices.items():
        ids |= set(frame.trial_id[(names.reindex(frame.index) == name) & (keys == c.key)])
    return ids


def group_figures(doc, group, history, colors, out, slug, names, not_learned, choices, table) -> None:
    frame, metric, direction = group.frame, group.metric, group.direction
    col = f"best_{metric}"
    val = selection.validation_values(frame, metric, history)
    data = frame.assign(name=names, not_learned=not_learned, **{f"best_val_{metric}": val})
    scored = data[data.status.isin(SCORED) & data[col].notna()] if col in data else data.iloc[:0]
    fig = lambda kind: f"figures/{slug}-{kind}.png"  # noqa: E731
    ylabel = f"{metric} (test, best checkpoint)"
    entry = group.entry
    if choices and figures.plot_chosen({n: c.runs[col] for n, c in choices.items()}, colors, out / fig("chosen"),
                                       f"{group.dataset}: {metric} of each variant's chosen configuration", ylabel,
                                       _intervals(table), entry, metric):
        doc.figure(fig("chosen"), f"{metric} of each chosen configuration",
                   "Each variant's configuration chosen on validation: its seeds' test scores (points) and their "
                   "mean with its 95% interval (bar); lines: noise and real-data baselines.")
    if figures.plot_scores(scored, col, colors, out / fig("scores"), f"{group.dataset}: {metric} of every trial",
                           ylabel, entry, None):
        doc.figure(fig("scores"), f"{metric} per variant on {group.dataset}",
                   "Every trial of the search and confirmation (points; open: not learned) over the quartiles of its "
                   "variant (box); lines: baselines.")
    ids = _chosen_ids(choices, frame, names)
    if not history.empty and ids:
        h = history[history.trial_id.isin(ids)].merge(data[["trial_id", "name"]], on="trial_id")
        if figures.plot_curves(h, metric, colors, out / fig("curves"), f"{group.dataset}: {metric} during training "
                               "(chosen configurations)"):
            doc.figure(fig("curves"), f"{metric} against D steps and wall seconds",
                       "Each variant's chosen configuration. Left: median over its seeds against D steps (band: "
                       "25-75% of its seeds); right: each of its trials against wall seconds (and FLOPs where "
                       "recorded).")
    _search_figures(doc, group, scored, colors, out, fig, names, ylabel)
    pair = diagnostics.pick_worst_and_healthy(data, f"best_val_{metric}", direction or "min", not_learned)
    if diagnostics.plot_diagnostics(history.merge(data[["trial_id", "name"]], on="trial_id") if not history.empty
                                    else history, pair, metric, colors, out / fig("diagnostics"),
                                    f"{group.dataset}: worst trial next to a healthy one", not_learned):
        doc.figure(fig("diagnostics"), "training diagnostics of the worst and a healthy trial",
                   "Picked on validation (the worst: diverged, else not learned, else the worst validation value; "
                   "the healthy: the best validation value among learned trials). D accuracy on real and fake "
                   "batches, G gradient norm and sample diversity against D steps.")


def _intervals(table: pd.DataFrame) -> dict:
    if table.empty or "chosen config mean" not in table:
        return {}
    return {r["gan"]: (r["chosen config mean"], r.get("CI low", np.nan), r.get("CI high", np.nan))
            for _, r in table.iterrows() if pd.notna(r["chosen config mean"])}


def _search_figures(doc, group, scored, colors, out, fig, names, ylabel) -> None:
    metric, direction = group.metric, group.direction
    col = f"best_{metric}"
    if figures.plot_precision_recall(scored, colors, out / fig("pr"), f"{group.dataset}: precision against recall",
                                     group.baseline):
        doc.figure(fig("pr"), "precision against recall", "Each trial's best checkpoint (test).")
    # searched within some variant (a setting that only differs between variants is in the equal-tuning table)
    hps = sorted(set().union(*(chosen.searched_columns(g) for _, g in scored.groupby(names.reindex(scored.index)))))
    if figures.plot_hparams(scored, col, hps, colors, out / fig("hparams"), f"{group.dataset}: {metric} against "
                            "each searched hyperparameter", ylabel):
        doc.figure(fig("hparams"), f"{metric} against searched hyperparameters", "Each trial (every seed).")
    if direction and figures.plot_budget(budget_scores(scored, metric, names), direction == "max", colors,
                                         out / fig("budget"), f"{group.dataset}: {metric} of the configuration "
                                         "chosen on validation among k", f"{metric} (test) of the chosen one"):
        doc.figure(fig("budget"), f"{metric} against search budget",
                   "Search budget (Lucic et al. 2018), held out: k configurations drawn with replacement from those "
                   "at one seed, the one with the best validation value chosen, its test score shown (1000 "
                   f"bootstrap draws; band: 5-95%). Drawn only with at least {figures.MIN_K} configurations per "
                   "variant.")
    spread = seed_spread(scored, col, names)
    if figures.plot_seed_spread(spread, colors, out / fig("seeds"), f"{group.dataset}: seed variance of each "
                                "configuration", f"std over seeds of {metric}"):
        keyed = scored.assign(_key=selection.configuration_keys(scored))
        across = keyed.groupby([names.reindex(scored.index), "_key"])[col].mean().std(ddof=1)
        text = f"Seed variance: the std over seeds of each configuration (median {_num(spread['std'].median())})"
        if np.isfinite(across):
            text += f"; the std of the configuration means across the search is {_num(across)}"
        doc.figure(fig("seeds"), "seed variance per configuration", text + ".")
