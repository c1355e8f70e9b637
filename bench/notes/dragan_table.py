"""The DRAGAN investigation's table (issue 8): per GAN entry x learning rate, test FID (final and best) over seeds,
validation FID at 2,000 D steps, and the penalty's mean value over training, from a results directory.

    python bench/notes/dragan_table.py results/dragan
"""
from __future__ import annotations

import sys

import ganbench


def main() -> None:
    trials, hist = ganbench.load_results(sys.argv[1] if len(sys.argv) > 1 else "results/dragan")
    trials = trials[trials.status == "completed"]
    early = hist[hist.d_steps == 2000].set_index("trial_id")["fid"]
    pen = hist.groupby("trial_id")["penalty"].mean() if "penalty" in hist else None
    rows = []
    for (gan, lr), g in trials.sort_values(["hp_lr", "seed"]).groupby(["gan", "hp_lr"], sort=False):
        ids = g.trial_id
        fmt = lambda s: "/".join(f"{v:.1f}" for v in s)  # noqa: E731
        rows.append((gan, lr, fmt(early.reindex(ids)), fmt(g.final_fid), fmt(g.best_fid),
                     "-" if pen is None or pen.reindex(ids).isna().all() else f"{pen.reindex(ids).mean():.3g}"))
    print("| GAN entry | lr | val FID @2k (seeds) | test FID final (seeds) | test FID best (seeds) | mean penalty |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
