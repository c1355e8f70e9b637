"""Report figures (matplotlib, Agg). One colour per variant in every figure, from one palette keyed by the sorted
variant names of the whole report; no legend that lists a single value; every shaded band says what it is; a log
axis where the values span an order of magnitude or more."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.report.stats import budget_curve

DPI = 110


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette(names) -> dict:
    """Variant name -> colour, in sorted order: the same variant has the same colour in every figure."""
    plt = pyplot()
    names = sorted({str(n) for n in names})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def spans_decades(values) -> bool:
    v = np.asarray(pd.Series(values).dropna(), dtype=float)
    v = v[np.isfinite(v)]
    return len(v) > 1 and (v > 0).all() and v.max() / v.min() >= 10


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)


def _legend(ax, colors: dict, **kw) -> None:
    """A legend only when it tells something: variants only when there are two or more (one variant is named in
    the title), and what each line or band that is not a variant shows."""
    pairs = dict(zip(*reversed(ax.get_legend_handles_labels())))  # label -> handle, first wins
    variants = [label for label in pairs if label in colors]
    if len(variants) == 1:
        pairs.pop(variants[0])
    if pairs:
        ax.legend(list(pairs.values()), list(pairs), fontsize=7, **kw)


def _baseline_lines(ax, entry: dict | None, threshold: float | None, horizontal: bool = True) -> None:
    if not entry:
        return
    line = ax.axhline if horizontal else ax.axvline
    span = ax.axhspan if horizontal else ax.axvspan
    noise, real = entry["noise"], entry["real"]
    n = len(noise.get("values") or [])
    line(float(noise["mean"]), color="0.45", ls="--", lw=1, label=f"noise mean ({n} draws)")
    if threshold is not None:
        line(threshold, color="0.45", ls=":", lw=1, label="learned threshold (10% of noise-to-real)")
    r_mean, r_std = float(real["mean"]), float(real.get("std") or 0.0)
    line(r_mean, color="k", lw=1, label="real data mean")
    if r_std > 0:
        span(r_mean - r_std, r_mean + r_std, color="k", alpha=0.08, label="real data mean +- std (resampling)")


def plot_scores(data: pd.DataFrame, col: str, colors: dict, path: Path, title: str, ylabel: str,
                entry: dict | None = None, threshold: float | None = None) -> bool:
    """Every trial's score per variant (points) over a box of the quartiles, with the baselines as lines."""
    plt = pyplot()
    data = data[data[col].notna()]
    if data.empty:
        return False
    order = sorted(data["name"].unique())
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(order) + 3), 3.6))
    ax.boxplot([data[data.name == v][col] for v in order], positions=range(len(order)), widths=0.5,
               showfliers=False, medianprops={"color": "0.3"}, boxprops={"color": "0.6"}, whiskerprops={"color": "0.6"},
               capprops={"color": "0.6"})
    rng = np.random.default_rng(0)
    failed = data["not_learned"].astype(bool) if "not_learned" in data else pd.Series(False, index=data.index)
    for i, v in enumerate(order):
        d = data[data.name == v]
        x = i + rng.uniform(-0.12, 0.12, len(d))
        nl = failed.reindex(d.index).to_numpy()
        ax.scatter(x[~nl], d[col][~nl], color=colors[v], s=22, zorder=3, edgecolor="white", lw=0.5)
        if nl.any():
            ax.scatter(x[nl], d[col][nl], facecolor="none", edgecolor=colors[v], s=22, zorder=3, lw=1,
                       label="open marker: not learned")
    ax.set_xticks(range(len(order)), order, rotation=30 if len(order) > 4 else 0, ha="right" if len(order) > 4
                  else "center")
    _baseline_lines(ax, entry, threshold)
    values = [*data[col]] + ([float(entry["noise"]["mean"]), float(entry["real"]["mean"])] if entry else [])
    if spans_decades(values):
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    _legend(ax, colors, loc="best")
    _save(fig, path)
    return True


def plot_curves(history: pd.DataFrame, metric: str, colors: dict, path: Path, title: str) -> bool:
    """The validation score against D steps (median over a variant's trials, band: their 25-75%), against wall
    seconds and, where recorded, against FLOPs (one line per trial)."""
    plt = pyplot()
    if history.empty or metric not in history or history[metric].notna().sum() == 0:
        return False
    data = history[history[metric].notna()]
    axes_x = [("d_steps", "discriminator steps"), ("seconds", "wall seconds since the trial started")]
    if "flops" in data and data["flops"].notna().any():
        axes_x.append(("flops", "FLOPs"))
    fig, axes = plt.subplots(1, len(axes_x), figsize=(4.2 * len(axes_x), 3.4), sharey=True, squeeze=False)
    for ax, (x, label) in zip(axes[0], axes_x):
        if x not in data:
            ax.set_visible(False)
            continue
        for variant, d in sorted(data.groupby("name")):
            c = colors[variant]
            if x == "d_steps":
                q = d.groupby(x)[metric].quantile([0.25, 0.5, 0.75]).unstack()
                ax.plot(q.index, q[0.5], color=c, marker="o", ms=3, label=variant)
                if d.groupby(x)[metric].count().max() > 1:
                    ax.fill_between(q.index, q[0.25], q[0.75], color=c, alpha=0.18)
            else:
                for i, (_, t) in enumerate(d.groupby("trial_id")):
                    ax.plot(t[x], t[metric], color=c, alpha=0.6, lw=1, label=variant if i == 0 else None)
        if x == "flops" and spans_decades(data[x]):
            ax.set_xscale("log")
        ax.set_xlabel(label)
    axes[0][0].set_ylabel(f"{metric} (validation)")
    if spans_decades(data[metric]):
        axes[0][0].set_yscale("log")
    ax0 = axes[0][0]
    if data.groupby(["name", "d_steps"])[metric].count().max() > 1:
        ax0.fill_between([], [], [], color="0.5", alpha=0.18, label="shaded: 25-75% of the variant's trials")
    _legend(ax0, colors, loc="best")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


def plot_budget(per_config: dict, better_max: bool, colors: dict, path: Path, title: str, ylabel: str) -> bool:
    """Best score reachable with k configurations, per variant, from one score per configuration (one seed)."""
    plt = pyplot()
    if not per_config or max(len(v) for v in per_config.values()) < 3:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for variant, scores in sorted(per_config.items()):
        if len(scores):
            curve = budget_curve(np.asarray(scores, float), better_max)
            ax.plot(curve.k, curve["mean"], marker="o", ms=3, color=colors[variant], label=variant)
            ax.fill_between(curve.k, curve.q05, curve.q95, color=colors[variant], alpha=0.18)
    ax.fill_between([], [], [], color="0.5", alpha=0.18, label="shaded: 5-95% of 1000 bootstrap draws")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("search budget k (configurations, one seed)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    _legend(ax, colors)
    _save(fig, path)
    return True


def plot_seed_spread(spread: pd.DataFrame, colors: dict, path: Path, title: str, ylabel: str) -> bool:
    """Per configuration, the std of its score over seeds; one column per variant."""
    plt = pyplot()
    if spread.empty:
        return False
    order = sorted(spread.name.unique())
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(order) + 3), 3.4))
    rng = np.random.default_rng(1)
    for i, v in enumerate(order):
        y = spread[spread.name == v]["std"].to_numpy(float)
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(y)), y, color=colors[v], s=22)
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    _save(fig, path)
    return True


def plot_hparams(data: pd.DataFrame, col: str, hps: list[str], colors: dict, path: Path, title: str,
                 ylabel: str) -> bool:
    """The score of every trial against each searched hyperparameter (log axis for learning rates and other
    values that span decades)."""
    plt = pyplot()
    data = data[data[col].notna()]
    if data.empty or not hps:
        return False
    fig, axes = plt.subplots(1, len(hps), figsize=(3.8 * len(hps), 3.3), sharey=True, squeeze=False)
    for ax, hp in zip(axes[0], hps):
        name = hp.removeprefix("hp_")
        numeric = pd.api.types.is_numeric_dtype(data[hp]) and not pd.api.types.is_bool_dtype(data[hp])
        cats = sorted(data[hp].astype(str).unique())
        for v, d in sorted(data.groupby("name")):
            x = d[hp].astype(float) if numeric else d[hp].astype(str).map(cats.index)
            ax.scatter(x, d[col], color=colors[v], s=18, label=v)
        if numeric and ("lr" in name or spans_decades(data[hp])):
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(name + (" (log axis)" if numeric and ax.get_xscale() == "log" else ""))
    axes[0][0].set_ylabel(ylabel)
    if spans_decades(data[col]):
        axes[0][0].set_yscale("log")
    _legend(axes[0][0], colors)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


def plot_precision_recall(data: pd.DataFrame, colors: dict, path: Path, title: str,
                          baseline: dict | None = None) -> bool:
    plt = pyplot()
    if not {"best_precision", "best_recall"} <= set(data.columns):
        return False
    data = data[data.best_precision.notna() & data.best_recall.notna()]
    if data.empty:
        return False
    fig, ax = plt.subplots(figsize=(4.6, 4))
    for v, d in sorted(data.groupby("name")):
        ax.scatter(d.best_recall, d.best_precision, color=colors[v], s=22, label=v)
    metrics = (baseline or {}).get("metrics") or {}
    for kind, marker in (("noise", "x"), ("real", "*")):
        p, r = (metrics.get(m, {}).get(kind) for m in ("precision", "recall"))
        if p and r:
            ax.scatter([r["mean"]], [p["mean"]], color="k", marker=marker, s=60, label=f"{kind} baseline (mean)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recall (test)")
    ax.set_ylabel("precision (test)")
    ax.set_title(title, fontsize=9)
    _legend(ax, colors, loc="best")
    _save(fig, path)
    return True
