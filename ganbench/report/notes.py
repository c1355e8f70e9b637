"""What the report says next to each table of chosen configurations: equal tuning, choices at the edge of the
search, trials still improving when their budget ran out, the rule for "learned", and which trials' samples are
shown (the chosen configuration's, never picked by a test score)."""
from __future__ import annotations

import pandas as pd

from ganbench.report import chosen, learned

SCORED = ("completed", "diverged")


def improving_sentence(frame: pd.DataFrame, history: pd.DataFrame | None) -> str:
    """How many scored trials chose their last evaluation point; says the budget is too short where most did."""
    done = frame[frame["status"] == "completed"]
    if done.empty:
        return ""
    flags = chosen.still_improving(done, history)
    n, k = len(done), int(flags.sum())
    text = (f"**Still improving**: {k} of {n} completed trials chose their last evaluation point as their best "
            "checkpoint (the validation score was still improving when the budget ran out).")
    if k > n / 2:
        text += (" **Most trials were still improving: this budget is too short** for a ranking that would hold at "
                 "convergence.")
    return text


def choice_notes(doc, group, table: pd.DataFrame, choices: dict, names: pd.Series, history, slug: str) -> None:
    """Under the table of chosen configurations: variants with nothing to choose on, optimism, still improving,
    edge-of-range warnings, and the equal-tuning table with its verdict on search budgets."""
    frame = group.frame
    scored = frame[frame["status"].isin(SCORED)]
    missing = sorted(set(names.reindex(scored.index)) - set(choices))
    if missing:
        doc.para("No validation value to choose a configuration on for: " + ", ".join(f"**{m}**" for m in missing)
                 + "; they are left out of the comparison of chosen configurations.")
    if any(c.optimistic for c in choices.values()):
        doc.para("*Optimistic*: scored on the seeds it was chosen on (no confirmation runs on fresh seeds); its "
                 "test mean is biased in its favour by the choice among configurations.")
    text = improving_sentence(frame, history)
    if text:
        doc.para(text)
    edges = chosen.edge_warnings(frame, names, choices)
    if edges:
        doc.bullets(edges)
    tuning = chosen.tuning_table(frame, names)
    if len(tuning) > 1:
        doc.table(tuning, f"{slug}-tuning", f"{group.dataset}: what differs between the variants beyond the loss "
                  "(optimiser, its settings, n_disc, penalty, what was searched and how many configurations)")
        sentence = chosen.unequal_budgets(tuning)
        if sentence:
            doc.para(sentence)


def learned_notes(doc, group, not_learned: pd.Series) -> None:
    """The rule for "learned" in words, and how many trials failed it."""
    rule = learned.rule_text(group.baseline, group.metric, group.direction, group.frame.columns)
    if rule:
        n = int(not_learned.sum())
        doc.para(rule + (f" **{n} trial(s) not learned** (counted in *not learned*)." if n else
                         " Every scored trial learned."))
    elif group.direction:
        doc.para("No baseline matches this protocol (dataset, options, split, extractor, n_real, n_fake) in "
                 "`baselines.json`: 'not learned' is not assessed here, and scores have no noise or real-data "
                 "reference.")


def shown_trials(choices: dict, not_learned: pd.Series, learned_only: bool) -> dict:
    """Variant name -> the trial whose samples are shown: the chosen configuration's run of the lowest seed (among
    those that learned, with ``learned_only``). No score picks it."""
    out = {}
    for name, choice in sorted(choices.items()):
        runs = choice.runs
        if learned_only:
            runs = runs[~not_learned.reindex(runs.index).fillna(False).astype(bool)]
        if len(runs):
            out[name] = runs.sort_values(["seed", "trial_id"]).iloc[0]
    return out
