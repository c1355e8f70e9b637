"""Report figures (matplotlib, Agg). One colour per variant in every report ganbench writes: fixed for the common
variants, else a stable hash of the variant's name into a fixed palette (``palette``); no legend that lists a single
value; every shaded band says what it is; a log axis where the values span an order of magnitude or more, never for a
bounded metric (mode_tv, precision, recall, coverage, ... : anything that lives in [0, 1])."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd


DPI = 110


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# tab20's colours: the strong ten first (fixed variants), then their light shades (the rest, by hash).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5")
FIXED = {"ns": 0, "ls": 1, "hinge": 2, "wgan": 3, "wgan-gp": 4, "dragan": 5, "began": 6, "mm": 7, "r1": 8,
         "rpgan": 9}
BOUNDED = ("mode_tv", "precision", "recall", "coverage", "hq", "density", "modes")


def _slot(name: str) -> int:
    base = name.split("/")[0]
    if base in FIXED:
        return FIXED[base]
    digest = int(hashlib.sha256(base.encode()).hexdigest(), 16)
    return 10 + digest % (len(PALETTE) - 10)


def palette(names) -> dict:
    """Variant name -> colour, the same in every report: a fixed colour for the common variants (ns blue, wgan red,
    wgan-gp purple...), else a stable hash of the name (before any "/architecture") into a fixed palette. Two
    variants of one report never share a colour: the later name (sorted) takes the next free slot."""
    used, out = set(), {}
    for n in sorted({str(n) for n in names}):
        slot = _slot(n)
        while slot in used and len(used) < len(PALETTE):
            slot = (slot + 1) % len(PALETTE)
        used.add(slot)
        out[n] = PALETTE[slot]
    return out


def spans_decades(values, metric: str | None = None) -> bool:
    """A log axis: positive values spanning a factor of 10 or more, unless the metric is bounded (``BOUNDED``) or
    every value lies in [0, 1]."""
    if metric is not None and str(metric).removeprefix("best_").startswith(BOUNDED):
        return False
    v = np.asarray(pd.Series(values).dropna(), dtype=float)
    v = v[np.isfinite(v)]
    return len(v) > 1 and (v > 0).all() and v.max() / v.min() >= 10 and v.max() > 1


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
    _finish_variant_axes(fig, ax, order, entry, threshold, [*data[col]], col, ylabel, title, colors, path)
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
            from matplotlib.ticker import NullFormatter

            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels (3x10^10, 4x10^10...) overlap
        ax.set_xlabel(label)
    axes[0][0].set_ylabel(f"{metric} (validation)")
    if spans_decades(data[metric], metric):
        axes[0][0].set_yscale("log")
    ax0 = axes[0][0]
    if data.groupby(["name", "d_steps"])[metric].count().max() > 1:
        ax0.fill_between([], [], [], color="0.5", alpha=0.18, label="shaded: 25-75% of the variant's trials")
    _legend(ax0, colors, loc="best")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


MIN_K = 5  # a best-of-k curve needs at least this many configurations per variant


def budget_curve(val, test, better_max: bool, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Lucic et al.'s search-budget analysis with the choice held out: draw k configurations with replacement,
    n_boot times, choose the one with the best VALIDATION value, and record its TEST score; k = 1..len(val).
    Returns k, the mean and the 5% / 95% quantiles of the chosen configuration's test score."""
    val, test = np.asarray(val, dtype=float), np.asarray(test, dtype=float)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, len(val) + 1):
        idx = rng.integers(len(val), size=(n_boot, k))
        pick = (val[idx].argmax if better_max else val[idx].argmin)(axis=1)
        chosen = test[idx[np.arange(n_boot), pick]]
        rows.append({"k": k, "mean": chosen.mean(), "q05": np.quantile(chosen, 0.05),
                     "q95": np.quantile(chosen, 0.95)})
    return pd.DataFrame(rows)


def plot_budget(per_config: dict, better_max: bool, colors: dict, path: Path, title: str, ylabel: str) -> bool:
    """Test score of the configuration chosen on validation among k, per variant, from (validation, test) pairs of
    one score per configuration (one seed); drawn only where every variant has at least ``MIN_K``."""
    plt = pyplot()
    if not per_config or min(len(v[0]) for v in per_config.values()) < MIN_K:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for variant, (val, test) in sorted(per_config.items()):
        curve = budget_curve(val, test, better_max)
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


def plot_chosen(runs: dict, colors: dict, path: Path, title: str, ylabel: str, intervals: dict,
                entry: dict | None = None, metric: str | None = None) -> bool:
    """Each variant's chosen configuration: its seeds (points) and mean with its 95% interval (bar), beside the
    noise and real-data baselines."""
    plt = pyplot()
    runs = {k: np.asarray(v, dtype=float) for k, v in runs.items() if len(v)}
    if not runs:
        return False
    order = sorted(runs)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(order) + 3), 3.6))
    rng = np.random.default_rng(2)
    for i, v in enumerate(order):
        y = runs[v]
        ax.scatter(i - 0.15 + rng.uniform(-0.05, 0.05, len(y)), y, color=colors[v], s=16, alpha=0.7, lw=0)
        mean, lo, hi = intervals.get(v, (float(np.mean(y)), np.nan, np.nan))
        err = [[mean - lo], [hi - mean]] if np.isfinite(lo) and np.isfinite(hi) else None
        ax.errorbar([i + 0.15], [mean], yerr=err, fmt="o", color=colors[v], capsize=4, ms=6)
    ax.errorbar([], [], yerr=[], fmt="o", color="0.3", capsize=4, label="mean, bar: 95% interval over seeds")
    _finish_variant_axes(fig, ax, order, entry, None, [*np.concatenate(list(runs.values()))], metric, ylabel, title,
                         colors, path)
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
            from matplotlib.ticker import NullFormatter

            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap
        if not numeric:
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(name + (" (log axis)" if numeric and ax.get_xscale() == "log" else ""))
    axes[0][0].set_ylabel(ylabel)
    if spans_decades(data[col], col):
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


def _finish_variant_axes(fig, ax, order, entry, threshold, values, metric, ylabel, title, colors, path) -> None:
    """Variants along x, the baselines' lines, a log axis only where the values (and baselines) span decades."""
    ax.set_xticks(range(len(order)), order, rotation=30 if len(order) > 4 else 0,
                  ha="right" if len(order) > 4 else "center")
    _baseline_lines(ax, entry, threshold)
    values = values + ([float(entry["noise"]["mean"]), float(entry["real"]["mean"])] if entry else [])
    if spans_decades(values, metric):
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    _legend(ax, colors, loc="best")
    _save(fig, path)
