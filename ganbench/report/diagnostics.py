"""The training diagnostics of the worst trial of a table (diverged, not learned or worst scored) next to a healthy
one (the best learned trial): D accuracy on real and fake, G gradient norm, the diversity of the samples and the
score, against D steps, from ``metrics.jsonl``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.report.figures import _save, pyplot, spans_decades

PANELS = (("score", "{metric} (validation)"), ("d_acc", "D accuracy"), ("g_grad_norm", "G gradient norm"),
          ("diversity", "diversity (fake spread / real spread)"))


def pick_worst_and_healthy(frame: pd.DataFrame, col: str, direction: str,
                           not_learned: pd.Series) -> tuple[pd.Series, pd.Series] | None:
    """(worst, healthy) trials: the worst is a diverged trial if any, else the worst not-learned one, else the
    worst score; the healthy one is the best learned trial. None when there are not two different trials."""
    scored = frame[frame[col].notna()] if col in frame else frame.iloc[:0]
    if len(scored) < 2:
        return None
    ascending = direction != "max"  # sorted best first
    ranked = scored.sort_values(col, ascending=ascending)
    learned = ranked[~not_learned.reindex(ranked.index).fillna(False).astype(bool)]
    if learned.empty:
        return None
    healthy = learned.iloc[0]
    diverged = frame[frame.status == "diverged"]
    failing = ranked[not_learned.reindex(ranked.index).fillna(False).astype(bool)]
    worst = diverged.iloc[0] if len(diverged) else failing.iloc[-1] if len(failing) else ranked.iloc[-1]
    if worst.trial_id == healthy.trial_id:
        return None
    return worst, healthy


def _why(trial: pd.Series, col: str, not_learned: pd.Series) -> str:
    score = trial.get(col)
    text = f"{trial['name']}, trial {trial.trial_id}, seed {trial.seed}: {trial.status}"
    if bool(not_learned.get(trial.name, False)):
        text += ", not learned"
    if isinstance(score, (float, np.floating)) and np.isfinite(score):
        text += f", {col.removeprefix('best_')} {score:.4g}"
    return text


def plot_diagnostics(history: pd.DataFrame, pair, metric: str, colors: dict, path: Path, title: str,
                     not_learned: pd.Series) -> bool:
    plt = pyplot()
    if pair is None or history.empty:
        return False
    col = f"best_{metric}"
    fig, axes = plt.subplots(len(PANELS), 2, figsize=(9, 2.2 * len(PANELS)), sharex="col", sharey="row", squeeze=False)
    drawn = False
    for j, trial in enumerate(pair):
        h = history[history.trial_id == trial.trial_id].sort_values("d_steps")
        color = colors[trial["name"]]
        axes[0][j].set_title(("worst: " if j == 0 else "healthy: ") + _why(trial, col, not_learned), fontsize=8)
        for i, (key, label) in enumerate(PANELS):
            ax = axes[i][j]
            if key == "score":
                series = [(metric, "-", None)]
            elif key == "d_acc":
                series = [("d_acc_real", "-", "on real"), ("d_acc_fake", "--", "on fake")]
            else:
                series = [(key, "-", None)]
            for name, style, lab in series:
                if name in h and h[name].notna().any():
                    ax.plot(h.d_steps, h[name], ls=style, color=color, marker="o", ms=2, label=lab)
                    drawn = True
            ycol = metric if key == "score" else key
            if key in ("score", "g_grad_norm") and ycol in h and spans_decades(h[ycol], ycol):
                ax.set_yscale("log")
            if key == "d_acc":
                ax.set_ylim(-0.05, 1.05)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=7)
            ax.set_ylabel(label.format(metric=metric), fontsize=8)
        axes[-1][j].set_xlabel("discriminator steps")
    if not drawn:
        plt.close(fig)
        return False
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return True
