"""Which trials learned: the rule of ``baselines`` applied to a table's trials, and the rule in words.

A toy dataset whose baselines score mode coverage is judged by ``modes`` and ``mode_tv`` together (a collapse fails
both); an image dataset by its FID-like score on a log scale; any other metric by the generic rule. Where precision is
scored it must beat noise too (a weak feature space's FID can be beaten by blobs). Metrics that uniform noise beats
GANs on (``NOT_EVIDENCE``) never judge.
"""
from __future__ import annotations

import pandas as pd

from ganbench.report import baselines as bl

TOY_RULE = (("modes", "max"), ("mode_tv", "min"))
GATE_METRICS = ("precision",)


def _direction(entry: dict, fallback: str | None) -> str | None:
    d = entry.get("direction")
    return d if d in ("max", "min") else fallback


def judges(record: dict | None, metric: str, direction: str | None, columns) -> list[tuple[str, dict, str]]:
    """(metric, baseline entry, direction) of every metric that decides whether a trial of this table learned."""
    metrics = (record or {}).get("metrics") or {}
    columns = set(columns)
    toy = [(m, metrics[m], _direction(metrics[m], d)) for m, d in TOY_RULE
           if m in metrics and f"best_{m}" in columns]
    if len(toy) == len(TOY_RULE):
        out = toy
    elif metric in metrics and metric not in bl.NOT_EVIDENCE and direction and f"best_{metric}" in columns:
        out = [(metric, metrics[metric], direction)]
    else:
        out = []
    out += [(m, metrics[m], "max") for m in GATE_METRICS
            if m in metrics and m not in {j[0] for j in out} and f"best_{m}" in columns]
    return out


def reasons(frame: pd.DataFrame, record: dict | None, metric: str, direction: str | None) -> pd.Series:
    """Per trial, why it did not learn ("" where it learned, or where it has no score to judge)."""
    out = pd.Series("", index=frame.index, dtype=object)
    for m, entry, d in judges(record, metric, direction, frame.columns):
        threshold = bl.learned_threshold(entry, d, m)
        fails = pd.to_numeric(frame[f"best_{m}"], errors="coerce").map(lambda v: bl.not_learned(v, entry, d, m))
        word = "below" if d == "max" else "above"
        text = f"{m} {word} {threshold:.3g}"
        out[fails.astype(bool)] = out[fails.astype(bool)].map(lambda r: f"{r}; {text}" if r else text)
    return out


def marks(frame: pd.DataFrame, record: dict | None, metric: str, direction: str | None) -> pd.Series:
    """True where a trial did not learn."""
    return reasons(frame, record, metric, direction) != ""


def _rule(m: str, entry: dict, d: str) -> str:
    t = bl.learned_threshold(entry, d, m)
    noise, real = float(entry["noise"]["mean"]), float(entry["real"]["mean"])
    bound = "at least" if d == "max" else "at most"
    if bl.log_scaled(m, entry):
        how = (f"{bl.LOG_SHARE:.0%} of the way from noise ({noise:.3g}) to real data ({real:.3g}) on a log scale, "
               "the geometric mean" if bl.LOG_SHARE == 0.5 else f"{bl.LOG_SHARE:.0%} of the way from noise "
               f"({noise:.3g}) to real data ({real:.3g}) on a log scale")
    elif m == "modes":
        how = f"{bl.MODE_SHARE:.0%} of the {real:.3g} modes real data covers"
    elif m == "mode_tv":
        how = f"{bl.MODE_TV_SHARE:.0%} of the way from noise ({noise:.3g}) to real data ({real:.3g})"
    else:
        how = (f"better than the best noise draw by {bl.NOT_LEARNED_FRACTION:.0%} of the distance between the noise "
               f"({noise:.3g}) and real-data ({real:.3g}) means")
    return f"{m} is {bound} {t:.3g} ({how})"


def rule_text(record: dict | None, metric: str, direction: str | None, columns) -> str:
    """The rule in words, or "" where nothing can judge (no baseline)."""
    js = judges(record, metric, direction, columns)
    if not js:
        return ""
    text = "A trial counts as **learned** when its " + " and its ".join(_rule(*j) for j in js) + "."
    if [j[0] for j in js[:2]] == [m for m, _ in TOY_RULE]:
        text += " A collapse fails this rule: one of ring8's 8 modes (mode_tv 0.875) or 4 of grid25's 25 (0.84)."
    return text + " The rule judges the test scores of each trial's chosen checkpoint; it never chooses anything."


def not_evidence_text(means: pd.DataFrame) -> list[str]:
    """One sentence per metric of a table of means (a ``variant`` column, one column per metric named
    "<metric> (...)", rows "noise baseline (mean)" and "real baseline (mean)" where known) that is never evidence of
    learning: reverse KL over high-quality samples always, any other metric of ``NOT_EVIDENCE`` where uniform noise
    scores better than some variant."""
    if means.empty or "variant" not in means:
        return []
    out = []
    noise_rows = means[means["variant"].astype(str).str.startswith("noise baseline")]
    variants = means[~means["variant"].astype(str).str.contains("baseline")]
    for col in means.columns[1:]:
        m, lower = str(col).split(" (")[0], "lower better" in str(col)
        if m not in bl.NOT_EVIDENCE:
            continue
        beaten = []
        if len(noise_rows) and pd.notna(noise_rows[col].iloc[0]):
            noise = float(noise_rows[col].iloc[0])
            v = pd.to_numeric(variants[col], errors="coerce")
            beaten = list(variants["variant"][(v > noise) if lower else (v < noise)])
        if m == "reverse_kl" or beaten:
            tail = f" (here noise beats {', '.join(map(str, beaten))})" if beaten else ""
            out.append(f"**{m}** is never evidence that a GAN learned: {bl.NOT_EVIDENCE[m]}{tail}.")
    return out
