"""Would a rerun on another machine find the same verdicts (issue 15 item 12)? Per-seed numbers do not travel across
processors (the trajectories part as much as seeds do), so what must reproduce is the verdict. The report's check:
each family of chosen configurations judged again on two disjoint halves of its seeds (the even and the odd
positions of the sorted seed list), by the same comparison (``pairwise.chosen_family``) at a fixed alpha with Holm
over the family and no sequential spending, beside the verdict on all seeds. Two verdicts contradict when both are
decided and differ (better against worse, or equivalent against better or worse); undecided contradicts nothing."""
from __future__ import annotations

import pandas as pd

from ganbench.report import inference, pairwise

DECIDED = ("better", "worse", "equivalent")
COLUMNS = ["A", "B", "all seeds", "half A", "difference half A", "half B", "difference half B", "contradiction"]


def split_seeds(runs: dict) -> tuple[list, list]:
    """The sorted seeds of every variant's runs, split by position: (even positions, odd positions)."""
    seeds = sorted(set().union(*(set(r["seed"]) for r in runs.values() if len(r) and "seed" in r)))
    return seeds[0::2], seeds[1::2]


def contradicts(x: str, y: str) -> bool:
    """Both decided, and not the same verdict."""
    return x in DECIDED and y in DECIDED and x != y


def contradiction(all_seeds: str, a: str, b: str) -> str:
    """Which verdicts of a pair contradict each other: "no", or the first contradicting couple in words."""
    for x, y, words in ((a, b, "half A against half B"), (all_seeds, a, "all seeds against half A"),
                        (all_seeds, b, "all seeds against half B")):
        if contradicts(x, y):
            return words
    return "no"


def _verdict(row) -> str:
    return f"{row['verdict']} ({row['n_A']} vs {row['n_B']})"


def halves(group, choices: dict) -> tuple[pd.DataFrame, tuple[list, list]]:
    """(the rows of each half's family, both halves stacked, with a ``half`` column; the seeds of each half)."""
    runs = {n: c.runs for n, c in choices.items()}
    seeds = split_seeds(runs)
    rows = []
    for name, half in zip("AB", seeds):
        sub = {n: r[r["seed"].isin(half)] for n, r in runs.items()}
        rows += [{**r, "half": name} for r in pairwise.chosen_family(
            group, sub, f"best_{group.metric}", f"{group.dataset} x chosen configurations, half {name}")]
    return pd.DataFrame(rows), seeds


def halves_table(full: pd.DataFrame, halved: pd.DataFrame) -> pd.DataFrame:
    """Per pair of chosen configurations: its verdict on all seeds (as the report judged it), on each half, each
    half's difference with its interval, and which verdicts contradict."""
    chosen = full[full["level"] == pairwise.CHOSEN] if not full.empty else full
    if chosen.empty or halved.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = []
    for row in chosen.to_dict("records"):
        pick = {h: halved[(halved["half"] == h) & (halved["A"] == row["A"]) & (halved["B"] == row["B"])]
                for h in "AB"}
        va, vb = (_verdict(p.iloc[0]) if len(p) else "no seeds" for p in pick.values())
        da, db = (p.iloc[0]["difference [95% CI]"] if len(p) else "" for p in pick.values())
        verdicts = [str(v).split(" (")[0] for v in (row["verdict"], va, vb)]
        out.append({"A": row["A"], "B": row["B"], "all seeds": _verdict(row), "half A": va,
                    "difference half A": da, "half B": vb, "difference half B": db,
                    "contradiction": contradiction(*verdicts)})
    return pd.DataFrame(out, columns=COLUMNS)


def void_sentence(halved: pd.DataFrame) -> str:
    """Where neither half can reject whatever its scores (the smallest p its test reaches after Holm is at least
    alpha), the check cannot replicate a difference: say so, else nothing."""
    if halved.empty:
        return ""
    smallest = pd.Series({h: min(pairwise.reach(rows)) for h, rows in halved.groupby("half")})
    if len(smallest) < 2 or not (smallest >= inference.ALPHA).all():
        return ""
    return (f" **Neither half can call any pair better or worse, whatever the scores** (the smallest p its test "
            f"reaches after Holm is {smallest.min():.3g} >= {inference.ALPHA:g}), so this check can show equivalences "
            "and contradictions but cannot replicate a difference: it is no evidence that the differences on all "
            "seeds replicate.")


def summary_sentence(table: pd.DataFrame) -> str:
    verdicts = table["all seeds"].str.split(" (", regex=False).str[0]
    decided = int(verdicts.isin(DECIDED).sum())
    both = int(sum(v in DECIDED and a.startswith(v) and b.startswith(v)
                   for v, a, b in zip(verdicts, table["half A"], table["half B"])))
    bad = table[table["contradiction"] != "no"]
    text = (f"Of {len(table)} pair(s), {decided} decided on all seeds; {both} of them reach the same verdict on "
            f"both halves. ")
    if bad.empty:
        return text + "No verdicts contradict each other."
    return text + f"**{len(bad)} pair(s) contradict**: " + "; ".join(
        f"{a} vs {b} ({c})" for a, b, c in zip(bad.A, bad.B, bad.contradiction)) + "."


def section(doc, group, choices: dict, full: pd.DataFrame, slug: str) -> None:
    """The verdicts of each pair of chosen configurations on all seeds and on two disjoint halves of them."""
    halved, (half_a, half_b) = halves(group, choices)
    table = halves_table(full, halved)
    if table.empty:
        return
    source = ("confirmation seeds" if all(c.source == "confirm" for c in choices.values()) else
              "seeds the configurations were scored on (search seeds where no confirmation runs exist)")
    doc.heading("Do the verdicts hold on two halves of the seeds?", 3)
    doc.para(f"Per-seed numbers do not reproduce across processors; verdicts should. Each pair is judged again on two "
             f"disjoint halves of the {source}: half A the even positions of the sorted seed list "
             f"({_seeds(half_a)}), half B the odd ones ({_seeds(half_b)}), by the same tests and margin at a fixed "
             f"alpha of {inference.ALPHA:g} with Holm over each half's family, without sequential spending (the "
             "verdict on all seeds is the report's). Two verdicts contradict when both are decided and differ; "
             "undecided on a half contradicts nothing, and a half has half the seeds, so less power.")
    doc.bullets(pairwise.family_lines(halved.drop(columns="half")))
    doc.table(table, f"{slug}-halves", f"{group.dataset}: verdicts on all seeds and on two disjoint halves "
              "(seeds A vs B)")
    doc.para(summary_sentence(table) + void_sentence(halved))


def _seeds(seeds: list) -> str:
    return ", ".join(str(s) for s in seeds[:8]) + (f", ... ({len(seeds)} seeds)" if len(seeds) > 8 else "")
