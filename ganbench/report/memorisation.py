"""Does a generator copy its training set, and how large is its support? From the results of the ``memorisation``
and ``birthday`` metrics and each trial's ``nearest.png``, for the best learned trial of each variant.

- Nearest neighbours (after Arora & Zhang 2017 and the GAN papers' memorisation checks): each row of a trial's
  ``nearest.png`` is a generated sample followed by its 3 nearest training images in pixel space; beside it, the
  fraction of samples closer to a training image than the 1st percentile of held-out real images are
  (``copies_pixels``, ``copies_features``) and the median nearest-training distance of the samples against that of
  held-out real images.
- Birthday paradox: the collision support size of the samples with its 95% interval, next to the same estimate for
  real images of the scored split under the same near-duplicate threshold. With no duplicate pair the estimate is a
  lower bound (``support_hi`` absent; provenance ``lower_bound``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.results import read_summary, trial_dir

MEMORISATION = ("copies_pixels", "copies_features", "nn_pixels_fake_q50", "nn_pixels_real_q50",
                "nn_features_fake_q50", "nn_features_real_q50")
OWN_PREFIXES = ("copies_", "nn_", "support")  # metrics shown in these tables, not in the table of every metric


def best_learned(frame: pd.DataFrame, col: str, direction: str | None, names: pd.Series,
                 not_learned: pd.Series) -> dict:
    """Variant name -> the row of its best learned trial by ``col`` (in sorted variant order)."""
    if col not in frame:
        return {}
    data = frame.assign(name=names)
    data = data[data[col].notna() & ~not_learned.reindex(data.index).fillna(False).astype(bool)]
    return {name: g.sort_values([col, "trial_id"], ascending=[direction != "max", True]).iloc[0]
            for name, g in sorted(data.groupby("name"))}


def _num(row: pd.Series, key: str) -> float:
    value = row.get(key)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _provenance(results: Path, tid: str, metric: str) -> dict:
    return (getattr(read_summary(results, tid), "provenance", None) or {}).get(metric) or {}


def memorisation_table(best: dict, frame: pd.DataFrame, names: pd.Series, results: Path) -> pd.DataFrame:
    """One row per variant whose best trial ran the ``memorisation`` metric (test split, best generator)."""
    rows = []
    for name, row in best.items():
        if not np.isfinite(_num(row, "best_copies_pixels")):
            continue
        prov = _provenance(results, row.trial_id, "copies_pixels")
        mine = frame[(names == name)]
        mean_copies = pd.to_numeric(mine.get("best_copies_pixels"), errors="coerce").mean()
        rows.append({"variant": name, "trial": row.trial_id,
                     "copies (pixels)": _num(row, "best_copies_pixels"),
                     "copies (features)": _num(row, "best_copies_features"),
                     "NN pixels: samples median": _num(row, "best_nn_pixels_fake_q50"),
                     "NN pixels: held-out median": _num(row, "best_nn_pixels_real_q50"),
                     "NN features: samples median": _num(row, "best_nn_features_fake_q50"),
                     "NN features: held-out median": _num(row, "best_nn_features_real_q50"),
                     "copy threshold (pixels)": prov.get("copy_threshold_pixels", np.nan),
                     "copies (pixels), mean over the variant's trials": mean_copies})
    return pd.DataFrame(rows)


def support_table(best: dict, results: Path) -> pd.DataFrame:
    """One row per variant whose best trial ran the ``birthday`` metric: samples' and real data's support sizes."""
    rows = []
    for name, row in best.items():
        if not np.isfinite(_num(row, "best_support")):
            continue
        prov = _provenance(results, row.trial_id, "support")
        out = {"variant": name, "trial": row.trial_id}
        for who, label in (("", "samples"), ("_real", "real")):
            hi = _num(row, f"best_support{who}_hi")
            lower = bool(prov.get(f"lower_bound{who}", not np.isfinite(hi)))
            out.update({f"{label}: support": _num(row, f"best_support{who}"),
                        f"{label}: CI low": _num(row, f"best_support{who}_lo"),
                        f"{label}: CI high": np.nan if lower else hi,
                        f"{label}: lower bound": "yes" if lower else "no",
                        f"{label}: duplicate pairs": _num(row, f"best_support{who}_dup_pairs")})
        batches = [f"{prov.get(f'batches{w}')} x {prov.get(f'batch_size{w}')}" for w in ("", "_real")
                   if prov.get(f"batches{w}") is not None]
        out.update({"batches (samples; real)": "; ".join(batches), "threshold (pixels)": prov.get("threshold", np.nan)})
        rows.append(out)
    return pd.DataFrame(rows)


def _size(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _interval(row: pd.Series, label: str) -> str:
    if row[f"{label}: lower bound"] == "yes":
        return f"at least {_size(row[f'{label}: CI low'])} (no near-duplicate pair seen: a 95% lower bound)"
    return (f"{_size(row[f'{label}: support'])} (95% CI {_size(row[f'{label}: CI low'])} to "
            f"{_size(row[f'{label}: CI high'])})")


def support_sentences(table: pd.DataFrame) -> list[str]:
    out = []
    for _, row in table.iterrows():
        text = (f"**{row.variant}**: support size {_interval(row, 'samples')}, against {_interval(row, 'real')} for "
                f"real images under the same threshold")
        s, r = row["samples: support"], row["real: support"]
        if row["samples: lower bound"] == "no" and row["real: lower bound"] == "no" and r > 0:
            text += f": {s / r:.2g} times the real data's"
            if row["samples: CI high"] < row["real: CI low"]:
                text += ", smaller beyond the intervals' overlap (fewer distinct outputs than the data)"
        out.append(text + ".")
    return out


def section(doc, best: dict, frame: pd.DataFrame, names: pd.Series, metric: str, results: Path, out: Path,
            slug: str, slugify) -> None:
    """The nearest-neighbour figures and the memorisation and support-size tables of one protocol group."""
    memo = memorisation_table(best, frame, names, results)
    support = support_table(best, results)
    figures = []
    for name, row in best.items():
        src = trial_dir(results, row.trial_id) / "nearest.png"
        if src.is_file():
            dest = f"samples/{slugify(row.dataset, name, row.trial_id)}-nearest.png"
            shutil.copyfile(src, out / dest)
            figures.append((dest, name, row))
    if not (figures or len(memo) or len(support)):
        return
    doc.heading("Memorisation and support size", 3)
    if figures:
        doc.para("Each row: a sample of the best learned trial's best generator (left), then its 3 nearest training "
                 "images in pixel space (Euclidean, nearest first). A sample that repeats a training image shows "
                 "as a row of near-identical cells.")
        memo_by = memo.set_index("variant") if len(memo) else pd.DataFrame()
        for dest, name, row in figures:
            caption = f"**{name}** (trial {row.trial_id}, {metric} {_num(row, f'best_{metric}'):.4g})"
            if name in memo_by.index:
                m = memo_by.loc[name]
                caption += (f": copies {m['copies (pixels)']:.3g} in pixels, {m['copies (features)']:.3g} in "
                            f"features; median nearest-training distance {m['NN pixels: samples median']:.4g} for "
                            f"samples against {m['NN pixels: held-out median']:.4g} for held-out real images "
                            f"(pixels)")
            doc.figure(dest, f"nearest training images of {name}", caption)
    if len(memo):
        q = _provenance(results, memo.trial.iloc[0], "copies_pixels").get("threshold_quantile")
        q_text = f"the {q:g} quantile" if isinstance(q, (int, float)) else "a low quantile"
        doc.para(f"**Copies**: the fraction of samples whose nearest training image is closer than {q_text} of the "
                 "held-out real images' nearest-training distances (about that quantile for a generator as novel "
                 "as fresh data, 1 for one that returns training images). NN: distance to the nearest image of a "
                 "fixed training subset; held-out: the same for the scored split's real images.")
        doc.table(memo, f"{slug}-memorisation", "Memorisation of each variant's best learned trial (test split)")
    if len(support):
        cal = _provenance(results, support.trial.iloc[0], "support").get("calibration")
        doc.para("**Birthday paradox** (Arora & Zhang 2017): near-duplicate pairs (pixel distance at most a "
                 f"threshold{f' calibrated on real data: {cal}' if isinstance(cal, str) else ''}) within disjoint "
                 "batches of samples; support = pairs / duplicate pairs (the collision support size), with an exact "
                 "Poisson 95% interval. Real data scored the same way is the reference: a generator with a smaller "
                 "support than real data repeats itself more than the data does.")
        doc.table(support, f"{slug}-support", "Support size of each variant's best learned trial, and of real "
                                             "images under the same threshold")
        doc.bullets(support_sentences(support))
