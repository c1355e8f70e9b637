"""bench/paper.py's arithmetic on cases small enough to work out by hand (FLOPs of a linear layer, a trial's training
FLOPs, GPU-hours, a two-pack study's sequential time), and section 6 of bench/write_doc.py rendered from a small
dict."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import load_bench
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paper():
    return load_bench("paper")


def test_count_flops_of_a_linear_layer(paper):
    layer = torch.nn.Linear(8, 4)
    x = torch.zeros(2, 8)
    assert paper.count_flops(lambda: layer(x)) == 2 * 2 * 8 * 4  # 2 x batch x in x out


def _trial(n_disc: int, d_steps: int):
    hp = SimpleNamespace(n_disc=n_disc, d_warmup_steps=0, batch_size=64, pac=1)
    return SimpleNamespace(hp=hp, budget_unit="d_steps", budget_steps=d_steps)


def test_trial_train_flops_counts_d_and_g_steps(paper):
    assert paper.trial_train_flops(_trial(1, 100), 3.0, 7.0) == 100 * 3 + 100 * 7
    assert paper.trial_train_flops(_trial(5, 100), 3.0, 7.0) == 100 * 3 + 20 * 7  # G once every 5 D steps


def test_gpu_hours(paper):
    assert paper.gpu_hours(3.6e15, 1.0) == pytest.approx(1.0)  # 1 TFLOP/s for an hour
    assert paper.gpu_hours(3.6e15, 26.8) == pytest.approx(1 / 26.8)


def test_header_minutes_read_from_the_suites(paper):
    assert paper.header_minutes(ROOT / "suites" / "lucic2018" / "mnist.yaml") == (2.0, 3.0)
    assert paper.header_minutes(ROOT / "suites" / "lucic2018" / "cifar10.yaml") == (10.0, 10.0)


def _summary(tid, pack, wall, train, cpu, start):
    return {"trial_id": tid, "pack": pack, "pack_size": max(1, len(pack)), "wall_seconds": wall,
            "train_seconds": train, "train_cpu_seconds": cpu, "started_at": start}


def test_cpu_study_counts_a_pack_once(paper, tmp_path, monkeypatch):
    monkeypatch.setattr(paper, "ROOT", tmp_path)
    study = tmp_path / "study"
    rows = [_summary("a", ["a", "b"], 10.0, 8.0, 4.0, 100.0), _summary("b", ["a", "b"], 11.0, 8.0, 4.0, 100.0),
            _summary("c", [], 5.0, 4.0, 3.0, 105.0)]
    for s in rows:
        (study / "trials" / s["trial_id"]).mkdir(parents=True)
        (study / "trials" / s["trial_id"] / "summary.json").write_text(json.dumps(s))
    (study / "trials.csv").write_text("trial_id,phase\na,search\nb,search\nc,confirm\n")
    (study / "environments.jsonl").write_text(json.dumps({"recorded_at": "then", "trials_to_run": 3}) + "\n")
    c = paper.cpu_study(study)
    assert c["trials"] == 3 and c["trials_by_phase"] == {"search": 2, "confirm": 1} and c["packs"] == 2
    assert c["sequential_seconds"] == 11.0 + 5.0  # the pack's wall once (its last member's), then the lone trial
    assert c["summed_trial_wall_seconds_as_recorded"] == 26.0
    assert c["train_cpu_seconds"] == 7.0
    assert c["sequential_quiet_seconds"] == 7.0 + (11.0 - 8.0) + (5.0 - 4.0)
    assert c["study_wall_seconds"] == 111.0 - 100.0


def test_paper_section_renders(paper):
    write_doc = load_bench("write_doc")
    d = {"trials": 1050, "train_tflop": 1234.0, "scoring_tflop": 567.0, "gpu_hours_without_packs": 44.0,
         "gpu_hours_with_packs": 11.0, "gpu_hours_with_packs_tf32_sensitivity": 1.5, "header_implied_tflops": 6.6}
    p = {"command": "python bench/paper.py", "date": "2026-12-05", "assumptions": ["an assumption"],
         "cpu_study": {"directory": "results/cpu-study", "trials": 355, "trials_by_phase": {"search": 150,
                                                                                          "confirm": 205},
                       "packs": 62, "pack_sizes": [4, 10], "study_wall_seconds": 6619.0, "train_cpu_seconds": 6676.0,
                       "sequential_seconds": 12837.0, "sequential_quiet_seconds": 7502.0, "study_wall_from": "w",
                       "train_cpu_seconds_are": "c", "sequential_formula": "f", "sequential_covers": "v",
                       "sequential_quiet_formula": "q"},
         "lucic2018": {"inception_gflop_per_image": 11.43, "sustained_tflops": 26.8, "datasets": {"mnist": d},
                       "total": d}}
    md = "\n".join(write_doc.paper_section(p))
    assert "## 6. The figures users compare" in md
    assert "| trials | 355 (150 search, 205 confirmation), in 62 packs of 4 to 10 |" in md
    assert "3.57 h (12,837 s)" in md and "1.85 h (6,676 s)" in md
    assert "| mnist | 1,050 | 1,234 | 567 | 44 | 11 |" in md and "| all | 1,050 |" in md
    assert "- an assumption" in md
    assert "Not computed yet" in "\n".join(write_doc.paper_section(None))
