"""Verdicts at budget milestones and on two disjoint halves of the seeds, on results directories written here."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganbench.report import build_report
from ganbench.report.milestones import parse_milestone_key
from ganbench.training.milestones import milestone_keys, milestone_name
from test_report import _table, write_trial


def patch(results: Path, tid: str, summary: dict | None = None, config: dict | None = None) -> None:
    for name, extra in (("summary.json", summary), ("config.json", config)):
        if extra:
            path = results / "trials" / tid / name
            path.write_text(json.dumps({**json.loads(path.read_text()), **extra}))


def test_milestone_keys_parse_as_the_trainer_writes_them():
    keys = milestone_keys({milestone_name("d_steps", 500.0): {"fid": 3.0, "best_d_steps": 500},
                           milestone_name("flops", 5e11): {"mode_tv": 0.5}})
    assert set(keys) == {"milestone_d_steps_500_fid", "milestone_d_steps_500_best_d_steps",
                         "milestone_flops_5e+11_mode_tv"}
    assert parse_milestone_key("milestone_d_steps_500_fid") == ("d_steps", 500.0, "fid")
    assert parse_milestone_key("milestone_flops_5e+11_mode_tv") == ("flops", 5e11, "mode_tv")
    assert parse_milestone_key("milestone_g_steps_0.5_best_d_steps") == ("g_steps", 0.5, "best_d_steps")
    assert parse_milestone_key("best_fid") is None and parse_milestone_key("milestone_epochs_3_fid") is None


def test_verdicts_per_milestone_differ_from_the_full_budget(tmp_path):
    """ns and wgan over 8 paired seeds, margin 1 FID. Full budget: ns better by 5 in every seed (exact signed-rank
    p = 2 / 256). At d_steps 500 (0.25 of 2000): within +-0.2 of each other, both signs: equivalent. At d_steps 1000:
    wgan better by 3 in every seed: ns is worse. wgan makes a G step per 5 D steps, so 500 D steps are 100 of its G
    steps and 500 of ns's; FLOPs 1e6 per D step: 5e8 at the milestone."""
    res = tmp_path / "r"
    rng = np.random.default_rng(0)
    offsets = [0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.15, -0.15]
    for seed in range(8):
        base, early, mid = 10.0 + rng.normal(0, 1), 40.0 + rng.normal(0, 2), 20.0 + rng.normal(0, 1)
        for gan, full, at500, at1000 in (("ns", base, early, mid + 3), ("wgan", base + 5, early + offsets[seed],
                                                                          mid)):
            tid = write_trial(res, gan=gan, seed=seed, score=full, flops_per_step=1e6)
            patch(res, tid, {"milestone_d_steps_500_fid": at500, "milestone_d_steps_500_best_d_steps": 500,
                             "milestone_d_steps_1000_fid": at1000, "milestone_d_steps_1000_best_d_steps": 1000},
                  {"analysis_margin": 1.0})
    build_report(res)
    full = _table(res / "report", "pairwise").set_index(["A", "B"])
    assert full.loc[("ns", "wgan"), "verdict"] == "better"
    early, mid = _table(res / "report", "milestone0"), _table(res / "report", "milestone1")
    assert early.iloc[0]["verdict"] == "equivalent" and early.iloc[0]["n_A"] == 8 and early.iloc[0]["margin"] == 1.0
    assert mid.iloc[0]["verdict"] == "worse" and mid.iloc[0]["p"] == pytest.approx(2 / 256)
    overview = _table(res / "report", "milestones").set_index(["A", "B"])
    assert overview.loc[("ns", "wgan")].to_dict() == {"d_steps = 500": "equivalent (8 vs 8)",
                                                      "d_steps = 1000": "worse (8 vs 8)",
                                                      "d_steps = 2000 (full budget)": "better (8 vs 8)"}
    md = (res / "report" / "report.md").read_text()
    assert ("**At d_steps = 500 (0.25 of the budget of 2000 d_steps); about G steps: ns 500, wgan 100; FLOPs: "
            "5e+08**.") in md
    assert "Family **digits x chosen configurations at d_steps=500: 1 pair, no correction**" in md
    html = (res / "report" / "report.html").read_text()
    assert "Verdicts at budget milestones" in html and "At d_steps = 1000 (0.5 of the budget" in html


def test_no_milestones_no_section(tmp_path):
    res = tmp_path / "r"
    for seed in range(3):
        write_trial(res, gan="ns", seed=seed, score=10.0 + seed)
        write_trial(res, gan="ls", seed=seed, score=12.0 + seed)
    build_report(res)
    assert "milestone" not in (res / "report" / "report.md").read_text().lower()
    assert not list((res / "report" / "tables").glob("*milestone*"))
    assert isinstance(_table(res / "report", "pairwise"), pd.DataFrame)


def test_contradiction_rule():
    from ganbench.report.replication import contradiction, contradicts
    assert contradicts("better", "worse") and contradicts("equivalent", "better") and contradicts("worse",
                                                                                                  "equivalent")
    assert not contradicts("undecided", "better") and not contradicts("better", "better")
    assert contradiction("undecided", "better", "undecided") == "no"
    assert contradiction("better", "better", "equivalent") == "half A against half B"
    assert contradiction("worse", "undecided", "better") == "all seeds against half B"


def test_verdicts_on_two_halves_of_the_seeds(tmp_path):
    """a, b, c over 16 paired seeds (halves of 8: exact signed-rank p >= 2 / 256, Holm over 3 pairs 0.023). b is
    worse than a by 3 in every seed: better on all seeds and on both halves. c beats a by 2 on the even positions and
    loses by 2 on the odd ones: undecided on all seeds, a worse on half A and better on half B: a contradiction."""
    res = tmp_path / "r"
    seeds = [3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181]  # positions, not values, split
    rng = np.random.default_rng(4)
    for i, seed in enumerate(seeds):
        base = 10.0 + rng.normal(0, 1)
        jitter = rng.uniform(0.01, 0.3, 2)
        for gan, score in (("a", base), ("b", base + 3 + jitter[0]),
                           ("c", base + (2 if i % 2 else -2) + jitter[1])):
            write_trial(res, gan=gan, seed=seed, score=score)
    build_report(res)
    table = _table(res / "report", "halves").set_index(["A", "B"])
    assert table.loc[("a", "b")].to_dict() | {"difference half A": "", "difference half B": ""} == {
        "all seeds": "better (16 vs 16)", "half A": "better (8 vs 8)", "difference half A": "",
        "half B": "better (8 vs 8)", "difference half B": "", "contradiction": "no"}
    ac = table.loc[("a", "c")]
    assert ac["all seeds"] == "undecided (16 vs 16)" and ac["half A"] == "worse (8 vs 8)"
    assert ac["half B"] == "better (8 vs 8)" and ac["contradiction"] == "half A against half B"
    # a - c, positive when a is better (lower FID): -2 + jitter on half A, 2 + jitter on half B (jitter 0.01-0.3)
    assert -2 < float(ac["difference half A"].split()[0]) < -1.7 < 2 < float(ac["difference half B"].split()[0]) < 2.3
    md = (res / "report" / "report.md").read_text()
    assert "half A the even positions of the sorted seed list (3, 8, 21, 55, 144, 377, 987, 2584)" in md
    assert "at a fixed alpha of 0.05 with Holm over each half's family, without sequential spending" in md
    assert "**1 pair(s) contradict**: a vs c (half A against half B)." in md
    assert "Family **digits x chosen configurations, half A: 3 pairs, Holm**." in md


def test_halves_use_a_fixed_alpha_where_the_seeds_were_added_adaptively():
    from ganbench.report import pairwise, replication
    from ganbench.report.chosen import Choice
    from ganbench.report.tables import Group
    rng = np.random.default_rng(2)
    base = rng.normal(10.0, 1.0, 20)
    scores = {"a": base, "b": base + 3.0 + rng.normal(0, 0.1, 20)}
    frame = pd.DataFrame([{"gan": g, "architecture": "mlp", "seed": s, "sample": 0, "status": "completed",
                           "phase": "confirm", "best_fid": v[s], "analysis_margin": 1.0, "confirm_max_seeds": 20,
                           "confirm_step": 5, "analysis_alpha": 0.05} for g, v in scores.items() for s in range(20)])
    choices = {g: Choice(g, g, "lr=1", 0.0, 1, frame[frame.gan == g], "confirm", False) for g in scores}
    group = Group("digits", "fid", "min", {}, frame)
    full = pairwise.pairwise_table(group, choices)
    assert full.iloc[0]["p method"].startswith("group-sequential") and full.iloc[0]["n_A"] == 5
    halved, (half_a, half_b) = replication.halves(group, choices)
    assert half_a == list(range(0, 20, 2)) and half_b == list(range(1, 20, 2))
    assert set(halved["p method"]) == {"exact"} and set(halved["n_A"]) == {10}
    table = replication.halves_table(full, halved)
    assert table.iloc[0][["all seeds", "half A", "half B"]].tolist() == ["better (5 vs 5)", "better (10 vs 10)",
                                                                          "better (10 vs 10)"]


@pytest.mark.parametrize("field, other", [("extractor", "inception"), ("split", "val"), ("n_real", 1000)])
def test_two_protocols_keep_their_own_verdicts_through_the_report(tmp_path, field, other):
    """One results directory, two protocols (a metric provenance field differs; for n_real the config's eval.n_real
    too, as a run writes it), 6 paired seeds each: a beats b by 2 in every seed under the first, b beats a under the
    second (seeds 10-15), at the full budget and at the milestone. Pooled, the 12 differences cancel; kept apart, each
    protocol's pairwise, milestone and halves tables say better and worse over 6 seeds."""
    res = tmp_path / "r"
    for seed in range(6):
        for sign, changed in ((1, False), (-1, True)):
            for gan, score in (("a", 10.0 + seed), ("b", 10.0 + seed + 2 * sign + 0.01 * seed)):
                tid = write_trial(res, gan=gan, seed=seed + 10 * changed, score=score)  # ids differ by seed
                patch(res, tid, {"milestone_d_steps_500_fid": score + 5})
                if changed:
                    path = res / "trials" / tid / "summary.json"
                    summary = json.loads(path.read_text())
                    summary["provenance"]["fid"][field] = other
                    path.write_text(json.dumps(summary))
                    if field == "n_real":
                        config = json.loads((res / "trials" / tid / "config.json").read_text())
                        patch(res, tid, config={"eval": {**config["eval"], "n_real": other}})
    build_report(res)
    for name in ("pairwise", "milestone0", "halves"):
        tables = sorted((res / "report" / "tables").glob(f"*-{name}.csv"))
        assert len(tables) == 2, name
        verdicts = sorted(pd.read_csv(t).iloc[0]["verdict" if name != "halves" else "all seeds"] for t in tables)
        assert [v.split(" (")[0] for v in verdicts] == ["better", "worse"], name
        if name != "halves":
            assert all(pd.read_csv(t).iloc[0]["n_A"] == 6 for t in tables)


def test_adaptive_cells_that_stopped_early_pair_on_the_seeds_both_ran():
    """Under the sequential design a cell whose pairs were all decided stops at an earlier look (10 seeds) while
    another goes on (15): the pair is judged on the 10 seeds both ran, paired, as the adaptive run judged it; without
    the design, unequal seed sets stay unpaired."""
    from ganbench.report.pairwise import _chosen_pair

    ra = pd.DataFrame({"seed": range(1000, 1015), "best_fid": np.arange(15.0)})
    rb = pd.DataFrame({"seed": range(1000, 1010), "best_fid": np.arange(10.0) + 0.5})
    a, b, paired = _chosen_pair(ra, rb, "best_fid", nested=True)
    assert paired and len(a) == len(b) == 10 and np.allclose(b - a, 0.5)
    assert _chosen_pair(ra, rb, "best_fid")[2] is False


def test_halves_that_cannot_reject_are_called_no_evidence_of_replication():
    """5 paired seeds per half under Holm over 10 pairs: the exact signed-rank test cannot reach 0.05 (smallest p
    0.625), so the summary says the check cannot replicate a difference; with 10 seeds per half it can (0.0195),
    and nothing is added."""
    from ganbench.report import inference, replication

    def halved(n, n_b=None):
        return pd.DataFrame([{"half": h, "n_A": m, "n_B": m, "paired": True}
                             for h, m in (("A", n), ("B", n_b or n)) for _ in range(10)])

    assert inference.attainable_p(5, 5, True, 10) == pytest.approx(0.625)
    text = replication.void_sentence(halved(5))
    assert "Neither half can call any pair better or worse" in text and "0.625 >= 0.05" in text
    assert replication.void_sentence(halved(10)) == ""
    assert inference.attainable_p(10, 10, True, 10) == pytest.approx(0.0195, abs=1e-4)
    assert replication.void_sentence(halved(5, n_b=10)) == ""  # half B can reject
    assert replication.void_sentence(pd.DataFrame()) == ""


def test_a_family_that_mixes_paired_and_unpaired_pairs_is_judged_by_the_pair_that_can_reject():
    """A half of the CPU study's grid25: one pair paired on 5 seeds (Wilcoxon at Holm over 3 can reach only
    3 * 2/32 = 0.19) beside unpaired pairs of 8 vs 5 (Mann-Whitney reaches 3 * 2/1287 = 0.0047): the family can
    reject, so no 'cannot reject' line; with every pair paired on 5 seeds it cannot, and says so."""
    from ganbench.report import pairwise

    def rows(mixed: bool) -> pd.DataFrame:
        out = [{"family": "f", "p method": "exact", "n_A": 5, "n_B": 5, "paired": True}]
        out += [{"family": "f", "p method": "exact", "n_A": 8 if mixed else 5, "n_B": 5, "paired": not mixed}] * 2
        return pd.DataFrame(out)

    assert pairwise.family_lines(rows(mixed=True)) == ["Family **f**."]
    line = pairwise.family_lines(rows(mixed=False))[0]
    assert "this design cannot reject: with 5 paired seeds" in line and "0.188" in line
