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
