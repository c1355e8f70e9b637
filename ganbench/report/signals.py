"""Training signals against sample quality: does a loss, the critic's Wasserstein estimate or the sliced Wasserstein
distance track the primary metric over training, and so serve as a stopping criterion?

Per trial, over its evaluation points (``metrics.jsonl``), the Spearman rank correlation (``scipy.stats.spearmanr``)
between the **step-to-step changes** of each training signal and of the primary metric (detrended: on a falling
curve the step alone correlates with everything, so levels would give rho near 1 for any signal that drifts; WGAN's
critic estimate "tracks" FID in levels and not in changes), both turned into "lower = closer to the data":

- ``critic_w`` (E[D(real)] - E[D(fake)] on held-out data, WGAN-loss variants), ``swd``, ``began_m`` (BEGAN's
  convergence measure) and ``g_loss`` as recorded;
- ``d_loss`` negated: D's loss rises as D can no longer tell real from fake (a WGAN critic's loss is minus its
  Wasserstein estimate on training batches; an optimal NS discriminator's loss is 2 log 2 - 2 JS);
- the primary as recorded when lower is better, negated when higher is better.

So rho = +1 means the signal falls exactly when the samples improve (it tracks quality), -1 that it moves the other
way, 0 that its ranking says nothing about quality. Per variant: the median over trials with a 95% percentile
bootstrap interval (``scipy.stats.bootstrap``), the quartiles, the trials of each sign, and a two-sided Wilcoxon
signed-rank test of the trials' rho against 0 (``scipy.stats.wilcoxon``).

The rule (``verdict``): a signal **tracks** quality in a variant when the median rho >= ``TRACKS`` (0.5) and at least
``CONSISTENT`` (80%) of its trials have rho > 0, from at least ``MIN_TRIALS`` trials with ``MIN_POINTS`` evaluation
points each; **inverted** with the signs turned; otherwise **weak** (|median| < 0.5) or **inconsistent** (signs
disagree). A tracking signal is usable as a stopping criterion; any other is not. "The WGAN loss is a stopping
criterion" holds for a variant when the critic's estimate tracks (it must fall as quality improves); "the NS loss is
meaningless as one" holds when neither the D nor the G loss tracks or is inverted (an inverted loss still tells).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

# signal -> (sign that turns it into "lower = closer to the data", label)
SIGNALS = {
    "critic_w": (1, "critic's W estimate"),
    "d_loss": (-1, "D loss"),
    "g_loss": (1, "G loss"),
    "swd": (1, "SWD"),
    "began_m": (1, "BEGAN M"),
}
MIN_POINTS = 4  # evaluation points a trial needs for a correlation (3 changes)
MIN_TRIALS = 2  # trials a variant needs for a verdict
TRACKS = 0.5
CONSISTENT = 0.8
INFORMATIVE = ("tracks", "inverted")  # |median rho| >= TRACKS with a consistent sign
WGAN_LOSSES = ("wgan",)
NS_LOSSES = ("ns",)


def orient_primary(direction: str | None) -> int:
    return -1 if direction == "max" else 1


def trial_correlations(history: pd.DataFrame, primary: str, direction: str | None,
                       on: str = "changes") -> pd.DataFrame:
    """One row per trial x signal present: the oriented Spearman rho of the step-to-step changes (``on="levels"``:
    of the values themselves, which the shared time trend inflates), its p-value and the number of evaluation
    points (where both the signal and the primary are finite). rho is nan when either is constant."""
    cols = ["trial_id", "signal", "rho", "p", "points"]
    if history.empty or primary not in history:
        return pd.DataFrame(columns=cols)
    rows = []
    sign_p = orient_primary(direction)
    for tid, h in history.groupby("trial_id", sort=True):
        h = h.sort_values("d_steps") if "d_steps" in h else h
        y = pd.to_numeric(h[primary], errors="coerce").to_numpy(float)
        for signal, (sign_s, _) in SIGNALS.items():
            if signal == primary or signal not in h:
                continue
            x = pd.to_numeric(h[signal], errors="coerce").to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < (MIN_POINTS if on == "changes" else MIN_POINTS - 1):
                continue
            xs, ys = sign_s * x[ok], sign_p * y[ok]
            if on == "changes":
                xs, ys = np.diff(xs), np.diff(ys)
            if np.ptp(xs) == 0 or np.ptp(ys) == 0:
                rho, p = np.nan, np.nan
            else:
                res = stats.spearmanr(xs, ys)
                rho, p = float(res.statistic), float(res.pvalue)
            rows.append({"trial_id": tid, "signal": signal, "rho": rho, "p": p, "points": int(ok.sum())})
    return pd.DataFrame(rows, columns=cols)


def _median_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    if len(values) < 2 or np.ptp(values) == 0:
        return (float(values[0]), float(values[0])) if len(values) and np.ptp(values) == 0 else (np.nan, np.nan)
    res = stats.bootstrap((values,), np.median, n_resamples=2000, confidence_level=0.95, method="percentile",
                          random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def verdict(rhos) -> str:
    """"tracks", "inverted", "weak", "inconsistent" or "too few trials" by the module's rule (``summarise`` says
    "constant" for a signal that never moved)."""
    r = np.asarray(rhos, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < MIN_TRIALS:
        return "too few trials"
    med = float(np.median(r))
    if abs(med) < TRACKS:
        return "weak"
    same_sign = (r > 0).mean() if med > 0 else (r < 0).mean()
    if same_sign < CONSISTENT:
        return "inconsistent"
    return "tracks" if med > 0 else "inverted"


def summarise(corr: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """Per variant x signal: trials, median rho with its 95% bootstrap interval, quartiles, signs, the Wilcoxon
    test of rho against 0 and the verdict. ``names``: trial_id -> variant name."""
    if corr.empty:
        return pd.DataFrame()
    data = corr.assign(variant=corr.trial_id.map(names))
    rows = []
    for (variant, signal), g in data.groupby(["variant", "signal"], sort=True):
        r = g.rho.to_numpy(float)
        r = r[np.isfinite(r)]
        lo, hi = _median_ci(r)
        p = np.nan
        if len(r) >= 2 and np.any(r != 0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = float(stats.wilcoxon(r).pvalue)
        rows.append({"variant": variant, "signal": signal, "trials": len(r),
                     "points (median)": float(g.points.median()),
                     "median rho": float(np.median(r)) if len(r) else np.nan, "CI low": lo, "CI high": hi,
                     "q25": float(np.quantile(r, 0.25)) if len(r) else np.nan,
                     "q75": float(np.quantile(r, 0.75)) if len(r) else np.nan,
                     "rho > 0": int((r > 0).sum()), "rho < 0": int((r < 0).sum()), "Wilcoxon p": p,
                     "verdict": verdict(r) if len(r) else "constant"})
    order = {s: i for i, s in enumerate(SIGNALS)}
    table = pd.DataFrame(rows)
    return table.sort_values(["variant", "signal"], key=lambda c: c.map(order) if c.name == "signal" else c,
                             ignore_index=True)


def _phrase(signal: str, row: pd.Series, metric: str) -> str:
    label = SIGNALS[signal][1]
    words = {"tracks": f"tracks {metric}", "inverted": f"moves against {metric}",
             "weak": f"does not track {metric}", "inconsistent": f"tracks {metric} in some trials and not others",
             "too few trials": "has too few trials for a verdict"}.get(row.verdict)
    if words is None:  # constant in every trial: no ranking to compare
        return f"the {label} is constant over training"
    ci = f" [{row['CI low']:.2f}, {row['CI high']:.2f}]" if np.isfinite(row["CI low"]) else ""
    return (f"the {label} {words} (median rho {row['median rho']:.2f}{ci}, {row['rho > 0']} of {row.trials} "
            f"trials > 0)")


def sentences(table: pd.DataFrame, losses: dict, metric: str) -> list[str]:
    """One sentence per variant. ``losses``: variant -> its loss name (to tell the WGAN family and NS apart)."""
    out = []
    if table.empty:
        return out
    for variant, g in table.groupby("variant", sort=True):
        g = g.set_index("signal")
        loss = losses.get(variant)
        wgan = loss in WGAN_LOSSES or "critic_w" in g.index
        parts = [_phrase(s, g.loc[s], metric) for s in g.index]
        text = f"**{variant}**: " + "; ".join(parts) + "."
        if wgan:
            key = "critic_w" if "critic_w" in g.index else "d_loss" if "d_loss" in g.index else None
            if key is not None and g.loc[key, "verdict"] != "too few trials":
                holds = g.loc[key, "verdict"] == "tracks"
                text += (f" \"The WGAN loss is a stopping criterion\" **{'holds' if holds else 'does not hold'}** "
                         f"here (judged on the {SIGNALS[key][1]}).")
        elif loss in NS_LOSSES:
            judged = [s for s in ("d_loss", "g_loss") if s in g.index and g.loc[s, "verdict"] != "too few trials"]
            if judged:
                informative = [s for s in judged if g.loc[s, "verdict"] in INFORMATIVE]
                if informative:
                    how = []
                    for which, one, several in (("tracks", "tracks", "track"),
                                                ("inverted", "moves consistently against", "move consistently against")):
                        named = [f"the {SIGNALS[s][1]}" for s in informative if g.loc[s, "verdict"] == which]
                        if named:
                            how.append(f"{' and '.join(named)} {one if len(named) == 1 else several} {metric}")
                    text += (" \"The NS loss is meaningless as a stopping criterion\" **does not hold** here: "
                             + "; ".join(how) + ".")
                else:
                    text += (" \"The NS loss is meaningless as a stopping criterion\" **holds** here: neither "
                             + " nor ".join(f"the {SIGNALS[s][1]}" for s in judged) + f" moves consistently with "
                             f"{metric}.")
        out.append(text)
    return out


def representative(corr: pd.DataFrame, table: pd.DataFrame, names: pd.Series) -> dict:
    """Per variant, the trial whose rho on its main signal (critic_w for the WGAN family where recorded, else
    d_loss, else the first signal present) is closest to the variant's median; ties: the lower trial id."""
    out = {}
    if corr.empty:
        return out
    data = corr.assign(variant=corr.trial_id.map(names))
    for variant, g in data.groupby("variant", sort=True):
        present = [s for s in SIGNALS if s in set(g.signal)]
        key = next((s for s in ("critic_w", "d_loss") if s in present), present[0])
        rows = g[(g.signal == key) & g.rho.notna()]
        if rows.empty:
            out[variant] = sorted(g.trial_id)[0]
            continue
        med = float(table[(table.variant == variant) & (table.signal == key)]["median rho"].iloc[0])
        dist = (rows.rho - med).abs()
        best = rows.assign(dist=dist).sort_values(["dist", "trial_id"]).iloc[0]
        out[variant] = best.trial_id
    return out


# ---------------------------------------------------------------------------------------------------------- figures
SIGNAL_STYLE = {"critic_w": ("tab:red", "-"), "d_loss": ("tab:blue", "--"), "g_loss": ("tab:green", "-."),
                "swd": ("tab:purple", ":"), "began_m": ("tab:orange", "--")}


def _scaled(values: np.ndarray) -> np.ndarray:
    span = np.nanmax(values) - np.nanmin(values)
    return (values - np.nanmin(values)) / span if span > 0 else np.zeros_like(values)


def plot_traces(history: pd.DataFrame, picks: dict, corr: pd.DataFrame, metric: str, direction: str | None,
                colors: dict, path, title: str) -> bool:
    """One panel per variant (its representative trial): the primary and each signal against D steps, each turned
    to "lower = closer to the data" and scaled to [0, 1] over the trial, so that tracking shows as lines that rise
    and fall together."""
    from ganbench.report.figures import _save, pyplot

    plt = pyplot()
    if not picks:
        return False
    n = len(picks)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (variant, tid) in zip(axes.flat, sorted(picks.items())):
        h = history[history.trial_id == tid].sort_values("d_steps")
        y = orient_primary(direction) * pd.to_numeric(h[metric], errors="coerce").to_numpy(float)
        ax.plot(h.d_steps, _scaled(y), color="k", lw=2.2, marker="o", ms=3, label=f"{metric} (primary)")
        rhos = corr[corr.trial_id == tid].set_index("signal").rho
        for signal in rhos.index:
            sign, label = SIGNALS[signal]
            x = sign * pd.to_numeric(h[signal], errors="coerce").to_numpy(float)
            color, ls = SIGNAL_STYLE[signal]
            rho = rhos[signal]
            ax.plot(h.d_steps, _scaled(x), color=color, ls=ls, lw=1.3,
                    label=f"{'-' if sign < 0 else ''}{label}" + (f" (rho {rho:.2f})" if np.isfinite(rho) else ""))
        ax.set_title(f"{variant}, trial {tid}", fontsize=8, color=colors.get(variant, "k"))
        ax.set_xlabel("discriminator steps")
        ax.set_ylabel("scaled to [0, 1] (lower = better)", fontsize=7)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


def plot_distribution(corr: pd.DataFrame, names: pd.Series, colors: dict, path, title: str) -> bool:
    """One panel per signal: each trial's rho (points, variant colours) over the quartiles of its variant (box),
    with the rule's thresholds (+-0.5) and 0."""
    from ganbench.report.figures import _save, pyplot

    plt = pyplot()
    data = corr[corr.rho.notna()].assign(variant=lambda d: d.trial_id.map(names))
    if data.empty:
        return False
    signals = [s for s in SIGNALS if s in set(data.signal)]
    order = sorted(data.variant.unique())
    fig, axes = plt.subplots(1, len(signals), figsize=(max(3.2, 0.9 * len(order) + 1.6) * len(signals), 3.6),
                             sharey=True, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, signal in zip(axes[0], signals):
        d = data[data.signal == signal]
        present = [v for v in order if (d.variant == v).any()]
        ax.boxplot([d[d.variant == v].rho for v in present], positions=[order.index(v) for v in present],
                   widths=0.5, showfliers=False, medianprops={"color": "0.3"}, boxprops={"color": "0.6"},
                   whiskerprops={"color": "0.6"}, capprops={"color": "0.6"})
        for v in present:  # every panel puts a variant at the same place
            r = d[d.variant == v].rho
            ax.scatter(order.index(v) + rng.uniform(-0.12, 0.12, len(r)), r, color=colors.get(v, "k"), s=20,
                       zorder=3)
        ax.axhline(0, color="0.5", lw=1)
        for t in (TRACKS, -TRACKS):
            ax.axhline(t, color="0.5", ls=":", lw=1)
        ax.set_xticks(range(len(order)), order, rotation=30 if len(order) > 3 else 0,
                      ha="right" if len(order) > 3 else "center", fontsize=7)
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_title(f"{'-' if SIGNALS[signal][0] < 0 else ''}{SIGNALS[signal][1]}", fontsize=8)
        ax.set_ylim(-1.05, 1.05)
    axes[0][0].set_ylabel("Spearman rho with the primary\n(+1: tracks quality; dotted: +-0.5)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True


# ---------------------------------------------------------------------------------------------------------- section
def section(doc, group, history: pd.DataFrame, names: pd.Series, colors: dict, out, slug: str) -> pd.DataFrame:
    """The "training signals against sample quality" part of one protocol group; returns the summary table."""
    metric, direction = group.metric, group.direction
    frame = group.frame
    if history.empty:
        return pd.DataFrame()
    h = history[history.trial_id.isin(frame.trial_id)]
    corr = trial_correlations(h, metric, direction)
    if corr.empty:
        return pd.DataFrame()
    by_id = pd.Series(names.to_numpy(), index=frame.trial_id.to_numpy())
    table = summarise(corr, by_id)
    losses = dict(zip(by_id.to_numpy(), frame["loss"].astype(str))) if "loss" in frame else {}
    doc.heading("Training signals against sample quality", 3)
    doc.para(f"Per trial, the Spearman rank correlation between the **step-to-step changes** of each training "
             f"signal and of {metric} (validation) over its evaluation points: detrended, since on a falling curve "
             f"the step alone correlates with every signal that drifts. Both are read as \"lower = closer to the data\": the D loss negated (it rises "
             f"as D can no longer tell real from fake), {metric} {'negated' if direction == 'max' else 'as is'}, "
             f"the others as recorded. **rho = +1: the signal tracks quality.** Per variant: the median over "
             f"trials with a 95% bootstrap interval, the quartiles, the trials of each sign and a two-sided "
             f"Wilcoxon signed-rank test of the rho against 0. **Rule**: a signal tracks {metric} (and can serve "
             f"as a stopping criterion) when its median rho is at least {TRACKS} and at least {CONSISTENT:.0%} of "
             f"the trials have rho > 0 (at least {MIN_TRIALS} trials of at least {MIN_POINTS} evaluation points); "
             f"*weak*: |median| < {TRACKS}; *inconsistent*: the trials disagree in sign; *inverted*: it tracks "
             f"with the sign turned. \"The WGAN loss is a stopping criterion\" holds where the critic's estimate "
             f"tracks; \"the NS loss is meaningless as one\" holds where neither NS loss tracks nor is inverted.")
    doc.table(table, f"{slug}-signals", f"Spearman rho between training signals and {metric}, per variant")
    doc.bullets(sentences(table, losses, metric))
    points = int(corr.points.median())
    if points < 7:
        n = points - 1
        doc.para(f"With {points} evaluation points per trial (median, {n} changes) a trial's rho takes at most "
                 f"{n * (n ** 2 - 1) // 6 + 1} values: read the agreement across trials, not one trial's rho.")
    fig = f"figures/{slug}-signals-traces.png"
    picks = representative(corr, table, by_id)
    if plot_traces(h, picks, corr, metric, direction, colors, out / fig, f"{group.dataset}: training signals and "
                   f"{metric} over training (one representative trial per variant)"):
        doc.figure(fig, "training signals against the primary metric over training",
                   "One trial per variant (the one whose rho on the critic's estimate, else the D loss, is closest "
                   "to its variant's median): every curve turned to lower = better and scaled to [0, 1] over the "
                   "trial; a signal that tracks quality follows the black line.")
    fig = f"figures/{slug}-signals-rho.png"
    if plot_distribution(corr, by_id, colors, out / fig, f"{group.dataset}: Spearman rho of each training signal "
                         f"with {metric}, per trial"):
        doc.figure(fig, "distribution of the correlations per variant and signal",
                   "Each point a trial, box: quartiles of the variant's trials; dotted: the rule's +-0.5.")
    return table
