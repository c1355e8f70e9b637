"""``ganbench report``: aggregate every trial of a results directory into tables (CSV + Markdown) and figures.

Scores are the test-split values of each trial's best generator (selected on the validation split), in the
``best_<metric>`` columns of ``trials.csv``. Numbers of different provenance (extractor, n_real, n_fake, split)
are never put in one table. Reads files only: no models, no torch.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.evaluation import OUTPUT_DIRECTIONS
from ganbench.registry import GanbenchError
from ganbench.results import atomic_write_text, read_history, trial_dir

PROVENANCE_COLS = ("extractor", "n_real", "n_fake", "split")


def load_trials(results: Path) -> pd.DataFrame:
    path = Path(results) / "trials.csv"
    if not path.is_file():
        raise GanbenchError(f"{results}: no trials.csv here; run `ganbench run SUITE --results {results}` first")
    frame = pd.read_csv(path)
    if frame.empty:
        raise GanbenchError(f"{path}: no trials recorded yet")
    return frame


def _md_cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_md_cell(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def provenance_groups(frame: pd.DataFrame, metric: str):
    """Split rows by the provenance of ``metric`` so one table never mixes protocols."""
    cols = [f"{metric}_{c}" for c in PROVENANCE_COLS if f"{metric}_{c}" in frame.columns]
    if not cols:
        yield {}, frame
        return
    for key, group in frame.groupby(cols, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip([c.removeprefix(metric + "_") for c in cols], key)), group


def variant_table(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per GAN entry (and architecture): best and median over trials, and mean +- std over seeds of the best
    configuration (search sample), plus trial counts by status."""
    col = f"best_{metric}"
    better_max = OUTPUT_DIRECTIONS.get(metric) == "max"
    rows = []
    for (gan, arch), g in frame.groupby(["gan", "architecture"], sort=True):
        ok = g[g.status.isin(["completed", "diverged"]) & g[col].notna()] if col in g else g.iloc[:0]
        row = {"gan": gan, "architecture": arch, "trials": len(g),
               "diverged": int((g.status == "diverged").sum()), "failed": int((g.status == "failed").sum())}
        if len(ok):
            per_config = ok.groupby("sample")[col].agg(["mean", "std", "count"])
            best_cfg = per_config["mean"].idxmax() if better_max else per_config["mean"].idxmin()
            row.update({
                "best": ok[col].max() if better_max else ok[col].min(),
                "median": ok[col].median(),
                "best config mean": per_config.loc[best_cfg, "mean"],
                "best config std": per_config.loc[best_cfg, "std"],
                "seeds": int(per_config.loc[best_cfg, "count"]),
            })
        rows.append(row)
    return pd.DataFrame(rows)


def _primary(frame: pd.DataFrame) -> str:
    values = frame["primary"].dropna() if "primary" in frame else pd.Series(dtype=str)
    return values.mode().iloc[0] if len(values) else "fid"


def _plot_scores(frame: pd.DataFrame, metric: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    col = f"best_{metric}"
    data = frame[frame[col].notna()] if col in frame else frame.iloc[:0]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * data.gan.nunique() + 2), 3.5), dpi=110)
    if len(data):
        sns.boxplot(data=data, x="gan", y=col, ax=ax, color="0.9", fliersize=0)
        sns.stripplot(data=data, x="gan", y=col, hue="architecture", ax=ax, dodge=False, size=5)
    ax.set_ylabel(f"{metric} (test, best checkpoint)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_curves(history: pd.DataFrame, frame: pd.DataFrame, metric: str, path: Path, title: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    if history.empty or metric not in history:
        return False
    data = history.merge(frame[["trial_id", "gan", "architecture"]], on="trial_id")
    data = data[data[metric].notna()]
    if data.empty:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    sns.lineplot(data=data, x="d_steps", y=metric, hue="gan", style="architecture", errorbar=("ci", 95),
                 ax=ax, marker="o", markersize=3)
    ax.set_xlabel("discriminator steps")
    ax.set_ylabel(f"{metric} (validation)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def budget_curve(scores: np.ndarray, better_max: bool, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Lucic et al.'s search-budget analysis: the best score reachable with k sampled configurations, estimated by
    drawing k of the observed scores with replacement, n_boot times, for k = 1..len(scores). Returns k, mean and
    the 5% / 95% quantiles of the best-of-k."""
    scores = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, len(scores) + 1):
        draws = scores[rng.integers(len(scores), size=(n_boot, k))]
        best = draws.max(axis=1) if better_max else draws.min(axis=1)
        rows.append({"k": k, "mean": best.mean(), "q05": np.quantile(best, 0.05), "q95": np.quantile(best, 0.95)})
    return pd.DataFrame(rows)


def _plot_budget(frame: pd.DataFrame, metric: str, path: Path, title: str) -> bool:
    """Best score reachable with a search budget of k trials, per variant (only where some variant has > 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    col = f"best_{metric}"
    groups = {g: d[col].dropna().to_numpy() for g, d in frame.groupby("gan")} if col in frame else {}
    if not groups or max(len(v) for v in groups.values()) < 3:
        return False
    better_max = OUTPUT_DIRECTIONS.get(metric) == "max"
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for gan, scores in sorted(groups.items()):
        if len(scores):
            curve = budget_curve(scores, better_max)
            ax.plot(curve.k, curve["mean"], marker="o", markersize=3, label=gan)
            ax.fill_between(curve.k, curve.q05, curve.q95, alpha=0.2)
    ax.set_xlabel("search budget k (trials)")
    ax.set_ylabel(f"{'max' if better_max else 'min'} {metric} over k (test)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _slug(*parts) -> str:
    parts = [int(p) if isinstance(p, float) and p.is_integer() else p for p in parts]
    return "-".join("".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(p)) for p in parts)


def make_report(results: Path, out: Path | None = None) -> Path:
    results = Path(results)
    frame = load_trials(results)
    out = Path(out) if out else results / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    history = read_history(results, frame.trial_id)
    md = [f"# ganbench report: {', '.join(_md_cell(s) for s in sorted(frame.suite.unique()))}", "",
          f"{len(frame)} trials: " + ", ".join(f"{n} {s}" for s, n in frame.status.value_counts().items()) + ".",
          "Scores are on the **test** split, for each trial's best generator chosen on the **validation** split "
          "(held-out model selection); curves are validation scores during training. 'best config' is the search "
          "sample with the best mean over seeds; its std is over seeds.", ""]
    tables = []
    for dataset, dframe in frame.groupby("dataset", sort=True):
        metric = _primary(dframe)
        for prov, group in provenance_groups(dframe, metric):
            direction = OUTPUT_DIRECTIONS.get(metric)
            label = ", ".join(f"{k}={_md_cell(v)}" for k, v in prov.items())
            md += [f"## {_md_cell(dataset)}: {metric} ({'higher' if direction == 'max' else 'lower'} is better)",
                   "", f"Provenance: {label or 'n/a'}. Budget: "
                   + ", ".join(f"{u}={s}" for u, s in group[["budget_unit", "budget_steps"]].drop_duplicates()
                               .itertuples(index=False)) + ".", ""]
            table = variant_table(group, metric)
            table.insert(0, "dataset", dataset)
            table.insert(1, "metric", metric)
            tables.append(table.assign(**{f"prov_{k}": v for k, v in prov.items()}))
            md += [markdown_table(table.drop(columns=["dataset", "metric"])), ""]
            other = [c for c in group.columns if c.startswith("best_") and c not in (f"best_{metric}", "best_d_steps")
                     and group[c].notna().any()]
            if other:
                means = group.groupby("gan")[other].mean().reset_index()
                means.columns = ["gan", *[c.removeprefix("best_") for c in other]]
                md += ["All metrics of the best checkpoints (mean over trials):", "", markdown_table(means), ""]
            fig = f"figures/{_slug('scores', dataset, metric, *prov.values())}.png"
            _plot_scores(group, metric, out / fig, f"{dataset}: {metric} per GAN variant")
            md += [f"![{metric} per variant on {_md_cell(dataset)}]({fig})", ""]
            curve = f"figures/{_slug('curves', dataset, metric, *prov.values())}.png"
            if _plot_curves(history, group, metric, out / curve, f"{dataset}: {metric} during training"):
                md += [f"![{metric} against discriminator steps]({curve})", ""]
            budget = f"figures/{_slug('budget', dataset, metric, *prov.values())}.png"
            if _plot_budget(group, metric, out / budget, f"{dataset}: best {metric} reachable with k trials"):
                md += [f"Best {metric} reachable with a search budget of k trials (bootstrap over this variant's "
                       "trials, 1000 draws; band 5-95%), as in Lucic et al. 2018:", "",
                       f"![{metric} against search budget]({budget})", ""]
        md += _best_samples(results, dframe, metric, out)
    summary = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    md += ["## How these numbers were made", "",
           "Every trial trained one GAN variant under the budget above and was scored at its evaluation points; "
           "per-trial configs, metric histories (`metrics.jsonl`) and provenance are in `trials/<trial_id>/` "
           "of the results directory, and every row is in `trials.csv`. Tables as CSV: `summary.csv`.", ""]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    return out / "report.md"


def _best_samples(results: Path, dframe: pd.DataFrame, metric: str, out: Path) -> list[str]:
    col = f"best_{metric}"
    if col not in dframe:
        return []
    md = ["### Samples of the best trial per variant", ""]
    ascending = OUTPUT_DIRECTIONS.get(metric) != "max"
    for gan, g in dframe[dframe[col].notna()].groupby("gan", sort=True):
        best = g.sort_values(col, ascending=ascending).iloc[0]
        src = trial_dir(results, best.trial_id) / "samples.png"
        if src.is_file():
            name = f"samples/{_slug(best.dataset, gan, best.trial_id)}.png"
            shutil.copyfile(src, out / name)
            md += [f"**{_md_cell(gan)}** (trial {best.trial_id}, {metric} {best[col]:.4g}):", "",
                   f"![samples of {_md_cell(gan)}]({name})", ""]
    return md if len(md) > 2 else []
