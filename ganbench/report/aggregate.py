"""Aggregates over datasets in the style of rliable (Agarwal et al. 2021): scores normalised by their baselines
(0 = noise mean, 1 = real-data mean; higher is better for every metric; FID-like metrics on a log scale, so that
a dataset whose scores all sit near real data is not squeezed to 1), the interquartile mean and mean over the
pooled runs with stratified bootstrap intervals, and performance profiles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.report import stats
from ganbench.report.baselines import normalise
from ganbench.report.figures import _legend, _save, pyplot


def normalised_runs(tasks: list[tuple]) -> tuple[dict, list[str], list[str]]:
    """``tasks``: (task label, baseline entry, {variant: chosen-configuration scores over seeds}, metric name).
    Returns {variant: [normalised scores per task]} for the variants present in every task (FID-like metrics
    normalised on a log scale, ``baselines.normalise``), the task labels, and the variants left out (absent from some
    task)."""
    tasks = [(*t, None) if len(t) == 3 else t for t in tasks]
    if len(tasks) < 2:
        return {}, [], []
    everywhere = set.intersection(*(set(t[2]) for t in tasks))
    left_out = sorted(set.union(*(set(t[2]) for t in tasks)) - everywhere)
    out = {v: [normalise(runs[v], entry, metric) for _, entry, runs, metric in tasks] for v in sorted(everywhere)}
    return out, [t[0] for t in tasks], left_out


def aggregate_table(runs: dict) -> pd.DataFrame:
    rows = []
    for variant, strata in sorted(runs.items()):
        agg = stats.aggregate(strata)
        rows.append({"variant": variant, "datasets": len(strata), "runs": agg["runs"], "IQM": agg["iqm"],
                     "IQM CI low": agg["iqm_low"], "IQM CI high": agg["iqm_high"], "mean": agg["mean"],
                     "mean CI low": agg["mean_low"], "mean CI high": agg["mean_high"], "median": agg["median"]})
    return pd.DataFrame(rows)


def plot_aggregate(table: pd.DataFrame, runs: dict, colors: dict, path: Path) -> bool:
    """Left: IQM and mean with their 95% stratified bootstrap intervals; right: performance profiles."""
    plt = pyplot()
    if table.empty:
        return False
    fig, (ax_i, ax_p) = plt.subplots(1, 2, figsize=(10, 0.5 * len(table) + 3), gridspec_kw={"width_ratios": [1, 1.3]})
    order = list(table.variant)
    for i, (_, row) in enumerate(table.iterrows()):
        for dy, stat, marker in ((0.12, "IQM", "o"), (-0.12, "mean", "s")):
            point, lo, hi = row[stat], row[f"{stat} CI low"], row[f"{stat} CI high"]
            err = [[point - lo], [hi - point]] if np.isfinite(lo) else None
            ax_i.errorbar([point], [i + dy], xerr=err, fmt=marker, color=colors[row.variant], capsize=3, ms=5)
    ax_i.errorbar([], [], xerr=[], fmt="o", color="0.3", label="IQM, bar: 95% stratified bootstrap CI")
    ax_i.errorbar([], [], xerr=[], fmt="s", color="0.3", label="mean, bar: 95% stratified bootstrap CI")
    ax_i.set_yticks(range(len(order)), order)
    ax_i.axvline(0, color="0.5", ls="--", lw=1)
    ax_i.axvline(1, color="k", lw=1)
    ax_i.set_xlabel("normalised score (0 = noise, 1 = real data)")
    ax_i.legend(fontsize=7, loc="best")
    pooled = np.concatenate([np.concatenate(s) for s in runs.values()])
    taus = np.linspace(min(0.0, pooled.min()), max(1.0, pooled.max()), 41)
    for variant, strata in sorted(runs.items()):
        prof = stats.performance_profile(strata, taus)
        ax_p.plot(prof.tau, prof.fraction, color=colors[variant], label=variant)
        ax_p.fill_between(prof.tau, prof.low, prof.high, color=colors[variant], alpha=0.15)
    ax_p.fill_between([], [], [], color="0.5", alpha=0.15, label="shaded: 95% stratified bootstrap CI")
    ax_p.set_xlabel("normalised score threshold tau")
    ax_p.set_ylabel("fraction of runs with score > tau")
    ax_p.set_ylim(-0.02, 1.02)
    _legend(ax_p, colors, loc="best")
    _save(fig, path)
    return True
