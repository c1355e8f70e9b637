"""The report's "What these numbers can and cannot show", written from the results: how many seeds stand behind each
comparison, which differences are distinguishable from seed noise and which cannot be with these sample sizes, the
budget's unit and what it does and does not hold equal, and how many evaluation points stand behind a curve."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganbench import selection
from ganbench.report import stats

UNITS = {
    "d_steps": "discriminator steps (compare_gan's convention): every variant gets the same number of D updates, so "
               "a variant with n_disc > 1 makes fewer G updates, and FLOPs and wall seconds differ between variants "
               "(see the tables' G steps, wall s and FLOPs)",
    "g_steps": "generator steps: a variant with n_disc > 1 makes that many more D updates and uses more compute",
    "images": "real images seen by D: equal data, not equal compute",
    "seconds": "training seconds on the machine that ran it: equal wall time there, not reproducible on another "
               "machine or under another load",
    "flops": "FLOPs counted per trial (matmuls and convolutions of D and G steps): equal compute, whatever the "
             "variant spends it on",
}


@dataclass
class GroupFacts:
    label: str  # dataset (metric), budget
    unit: str
    steps: float
    seeds: dict = field(default_factory=dict)  # variant -> seeds of its chosen configuration
    configs: dict = field(default_factory=dict)  # variant -> distinct configurations (resolved hyperparameters)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    points: float = np.nan  # evaluation points per trial (median)


def facts(group, table: pd.DataFrame, pairs: pd.DataFrame, history: pd.DataFrame) -> GroupFacts:
    p = group.protocol
    steps = p.get("budget_steps")
    label = f"{group.dataset} ({group.metric}, {p.get('budget_unit')}={_num(steps)})"
    seeds = {r["gan"]: int(r["seeds"]) for _, r in table.iterrows() if "seeds" in table and pd.notna(r.get("seeds"))}
    names = group.frame["gan"].astype(str)
    configs = selection.configuration_keys(group.frame).groupby(names).nunique().to_dict()
    points = np.nan
    if not history.empty and "trial_id" in history:
        counts = history[history.trial_id.isin(group.frame.trial_id)].groupby("trial_id").size()
        points = float(counts.median()) if len(counts) else np.nan
    return GroupFacts(label, str(p.get("budget_unit")), steps, seeds, configs, pairs, points)


def _num(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4g}" if not v.is_integer() or abs(v) >= 1e6 else str(int(v))


def _range(values) -> str:
    values = sorted(set(values))
    return str(values[0]) if len(values) == 1 else f"{values[0]} to {values[-1]}"


def bullets(all_facts: list[GroupFacts], partial: bool) -> list[str]:
    out = []
    if partial:
        out.append("**The results are partial**: unfinished trials are counted but not scored; every number below "
                   "may move when they finish.")
    for f in all_facts:
        text = f"**{f.label}**: "
        if f.seeds:
            text += (f"{_range(f.seeds.values())} seed(s) behind each variant's chosen configuration "
                     f"({', '.join(f'{v} {n}' for v, n in sorted(f.seeds.items()))})")
        else:
            text += "no variant has a chosen configuration yet (no validation value to choose on)"
        if f.configs and max(f.configs.values()) > 1:
            text += f"; {_range(f.configs.values())} search configuration(s) per variant"
        if not np.isnan(f.points):
            text += f"; {_num(f.points)} evaluation points per trial (median)"
        out.append(text + ".")
        best = f.pairs[f.pairs.level == "best configuration over seeds"] if len(f.pairs) else f.pairs
        if len(best):
            real = best[best["verdict"].isin(["better", "worse"])]
            blind = best[(best["verdict"] == "undecided") & (best["attainable p (Holm)"] >= stats.ALPHA)]
            sequential = "family" in best and best["family"].astype(str).str.contains("spending").any()
            rule = ("the adaptive design's group-sequential rule" if sequential
                    else f"Holm-adjusted p < {stats.ALPHA}")
            text = (f"Of {len(best)} pairwise comparison(s) of best configurations, {len(real)} "
                    f"{'is' if len(real) == 1 else 'are'} distinguishable from seed noise ({rule})")
            if len(real):
                text += ": " + ", ".join(f"{r.A} vs {r.B}" for r in real.itertuples())
            if len(blind):
                text += (f"; {len(blind)} cannot be with these numbers of seeds, whatever the scores (the exact "
                         f"test's smallest p after Holm is at least {stats.ALPHA}): more seeds are needed to tell "
                         "them apart")
            out.append(text + ".")
        elif f.seeds and len(f.seeds) > 1:
            out.append("No pairwise comparison could be made (fewer than two variants with a best configuration).")
        out.append(f"Budget in {UNITS.get(f.unit, f.unit)}.")
    searched = any(f.configs and max(f.configs.values()) > 1 for f in all_facts)
    out.append("Every comparison holds for the datasets, architectures, budgets and "
               + ("search spaces" if searched else "hyperparameters") + " above and says nothing of others: a ranking "
               "after a short budget need not be the ranking at convergence"
               + (", and a search of a few configurations finds a variant's good region only by luck (see the "
                  "search-budget curves)." if searched else ", and one configuration per variant says nothing of "
                                                           "how sensitive it is to its hyperparameters."))
    return out


def section(doc, all_facts: list[GroupFacts], partial: bool) -> None:
    if not all_facts:
        return
    doc.heading("What these numbers can and cannot show")
    doc.bullets(bullets(all_facts, partial))
