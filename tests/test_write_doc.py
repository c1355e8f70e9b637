"""docs/performance.md's section 2b: one row per machine measured, from this run's JSON and the earlier machines'
JSON kept in bench/machines/, each with its own figures."""
import json

from conftest import load_bench


def _trainer(cpu: str, k1: float, k16: float, commit=None) -> dict:
    packs = {"mlp-grid25": {"1": {"member_steps_per_s": k1, "speedup": 1.0, "speedup_median": 1.0},
                            "16": {"member_steps_per_s": k16, "speedup": k16 / k1, "speedup_median": 0.9 * k16 / k1}},
             "mlp-digits": {"1": {"speedup": 1.0}, "16": {"speedup": 1.25}}}
    return {"cpu": cpu, "cores": 2, "date": "2026-12-05", "commit": commit, "packs": packs,
            "trainer": {"mlp-grid25": {"ratio": 1.1, "ganbench": {"member_steps_per_s": k1 - 10}}}}


def _suite() -> dict:
    return {"rows": {"ganbench run, a trial per Ray trial": {"speedup_vs_sequential": 1.6, "breakdown": {"per_trial": 0.13}},
                     "ganbench run, pack: auto": {"speedup_vs_sequential": 2.2}}}


def test_the_machines_section_has_a_row_per_machine_with_its_own_figures(tmp_path, monkeypatch):
    write_doc = load_bench("write_doc")
    old = tmp_path / "bench" / "machines" / "old-cpu"
    old.mkdir(parents=True)
    (old / "results-trainer.json").write_text(json.dumps({**_trainer("Old CPU", 600.0, 840.0), "code_label": "older"}))
    monkeypatch.chdir(tmp_path)
    md = write_doc.machines_section(_trainer("New CPU", 300.0, 570.0, commit="abc1234"), _suite())
    rows = [line for line in md if line.startswith("| ") and "CPU" in line]
    assert len(rows) == 2
    new, old_row = rows
    assert new.startswith("| New CPU, 2 cores | 2026-12-05 | abc1234 | 290 | 1.90; 1.71 | 16 (x1.90) | 1.25 | 1.10 | 1.60 "
                          "| 2.20 | 0.130 |")
    assert old_row.startswith("| Old CPU, 2 cores | 2026-12-05 | older | 590 | 1.40; 1.26 |")
    assert old_row.endswith("| not run |  |  |")
