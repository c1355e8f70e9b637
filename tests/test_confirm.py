"""The study's two phases (ganbench.execution.phases): each cell's configuration chosen on validation is retrained
on fresh seeds once its search is finished; a rerun asking for more seeds trains only the new ones; a run killed in
phase 2 resumes; adaptive rounds stop spending on decided pairs. The driver logic is tested with a stand-in trainer
that writes each trial's files (fast); one end-to-end run trains the toy MLP through ``ganbench trial --all``."""
import json

import numpy as np
import pandas as pd
import pytest

from ganbench.cli import main
from ganbench.execution.phases import choose, confirm_due, run_phases
from ganbench.paths import atomic_write_json
from ganbench.results import trial_dir, write_trial_config
from ganbench.suite.expand import expand
from ganbench.suite.schema import load_suite

SUITE = """name: two
datasets: [ring8]
gans: [ns, ls]
architectures: [mlp]
hparams: {lr: [1.0e-4, 2.0e-4, 4.0e-4]}
seeds: [0, 1]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 300}
"""
# mode_tv (lower is better). lr=4e-4 is the best on test and the worst on validation; lr=1e-4 the best on validation
VAL = {1e-4: 0.30, 2e-4: 0.40, 4e-4: 0.60}
TEST = {1e-4: 0.50, 2e-4: 0.45, 4e-4: 0.20}


def load(tmp_path, extra="confirm: {seeds: 3, seed_offset: 10}\n", name="two.yaml"):
    path = tmp_path / name
    path.write_text(SUITE + extra)
    return load_suite(path)


class Trainer:
    """Stands in for a round of training: writes each trial's config and a completed summary whose validation and
    test values come from ``score(trial) -> (val, test)``; ``kill_after`` raises KeyboardInterrupt (a killed
    driver) after that many trials, leaving the next one started but unfinished."""

    def __init__(self, results, score=None, kill_after=None, fail=()):
        self.results, self.calls, self.kill_after, self.fail = results, [], kill_after, set(fail)
        self.score = score or (lambda t: (VAL[t.hparams["lr"]], TEST[t.hparams["lr"]]))
        self.trained = 0

    def __call__(self, todo, what):
        self.calls.append([t.id for t in todo])
        for t in todo:
            write_trial_config(self.results, t)
            if self.kill_after is not None and self.trained == self.kill_after:
                (trial_dir(self.results, t.id) / "metrics.jsonl").write_text('{"d_steps": 30}\n')
                raise KeyboardInterrupt
            val, test = self.score(t)
            status = "failed" if t.id in self.fail else "completed"
            atomic_write_json(trial_dir(self.results, t.id) / "summary.json",
                              {"trial_id": t.id, "status": status, "primary": "mode_tv", "best_val_mode_tv": val,
                               "best_mode_tv": test, "best_d_steps": 30})
            self.trained += 1


def test_the_chosen_configuration_is_the_validation_best_on_fresh_seeds(tmp_path):
    suite, res = load(tmp_path), tmp_path / "res"
    search = expand(suite)
    trainer = Trainer(res)
    trials = run_phases(suite, res, search, trainer, log=lambda s: None)
    confirm = [t for t in trials if t.phase == "confirm"]
    assert len(trainer.calls) == 2 and set(trainer.calls[0]) == {t.id for t in search}  # search, then phase 2
    assert set(trainer.calls[1]) == {t.id for t in confirm}
    # the planted configuration best on test and worst on validation is never chosen
    assert {(t.gan, t.hparams["lr"]) for t in confirm} == {("ns", 1e-4), ("ls", 1e-4)}
    assert sorted(t.seed for t in confirm if t.gan == "ns") == [10, 11, 12]
    assert not {t.seed for t in confirm} & {t.seed for t in search}  # disjoint from the search's seeds
    frame = pd.read_csv(__import__("ganbench.results", fromlist=["write_trials_csv"]).write_trials_csv(res))
    assert sorted(frame.phase.unique()) == ["confirm", "search"]
    assert (frame.phase == "confirm").sum() == 6


def test_a_cell_is_confirmed_only_once_its_whole_search_is_finished(tmp_path):
    suite, res = load(tmp_path), tmp_path / "res"
    search = expand(suite)
    lost = next(t for t in search if t.gan == "ns")
    trainer = Trainer(res, fail={lost.id})
    trials = run_phases(suite, res, search, trainer, log=lambda s: None)
    assert {t.gan for t in trials if t.phase == "confirm"} == {"ls"}
    assert all(lost.id in call for call in trainer.calls[:1]) and len(trainer.calls) == 2  # tried once per run
    # the next run trains the failed search trial, then ns's confirmation
    again = Trainer(res)
    run_phases(suite, res, search, again, log=lambda s: None)
    assert again.calls[0] == [lost.id]
    assert {t.gan for t in confirm_due(suite, search, res)} == {"ns", "ls"}
    assert len(again.calls) == 2 and len(again.calls[1]) == 3


def test_a_rerun_asking_for_more_seeds_trains_only_the_new_ones(tmp_path):
    res = tmp_path / "res"
    suite = load(tmp_path)
    run_phases(suite, res, expand(suite), Trainer(res), log=lambda s: None)
    more = load(tmp_path, "confirm: {seeds: 5, seed_offset: 10}\n", "more.yaml")
    trainer = Trainer(res)
    trials = run_phases(more, res, expand(more), trainer, log=lambda s: None)
    assert len(trainer.calls) == 1
    new = {t.id: t for t in trials if t.id in trainer.calls[0]}
    assert sorted((t.gan, t.seed) for t in new.values()) == [("ls", 13), ("ls", 14), ("ns", 13), ("ns", 14)]


def test_a_run_killed_in_phase_2_resumes_with_the_same_trials(tmp_path):
    suite, res = load(tmp_path), tmp_path / "res"
    search = expand(suite)
    killed = Trainer(res, kill_after=len(search) + 2)  # the search and two confirmation trials, then killed
    with pytest.raises(KeyboardInterrupt):
        run_phases(suite, res, search, killed, log=lambda s: None)
    planned = killed.calls[1]
    trainer = Trainer(res)
    run_phases(suite, res, search, trainer, log=lambda s: None)
    assert trainer.calls == [planned[2:]]  # the interrupted one and the rest; no search trial, no new choice


def test_choice_reads_the_validation_history_where_the_summary_lacks_it(tmp_path):
    """Results written before the trainer recorded best_val_<metric>: the choice reads metrics.jsonl."""
    suite, res = load(tmp_path, ""), tmp_path / "res"
    search = expand(suite)
    for t in search:
        write_trial_config(res, t)
        atomic_write_json(trial_dir(res, t.id) / "summary.json",
                          {"status": "completed", "primary": "mode_tv", "best_mode_tv": TEST[t.hparams["lr"]],
                           "best_d_steps": 30})
        (trial_dir(res, t.id) / "metrics.jsonl").write_text(
            json.dumps({"d_steps": 30, "split": "val", "mode_tv": VAL[t.hparams["lr"]]}) + "\n")
    chosen = choose(search, res)
    assert {c: t.hparams["lr"] for c, t in chosen.items()} == {("ring8", "ns", "mlp"): 1e-4,
                                                               ("ring8", "ls", "mlp"): 1e-4}


def test_without_confirm_nothing_is_due(tmp_path):
    suite, res = load(tmp_path, ""), tmp_path / "res"
    trainer = Trainer(res)
    trials = run_phases(suite, res, expand(suite), trainer, log=lambda s: None)
    assert len(trainer.calls) == 1 and {t.phase for t in trials} == {"search"}


# ---------------------------------------------------------------------------------------------- adaptive
ADAPTIVE = """name: three
datasets: [ring8]
gans: [ns, ls, hinge]
architectures: [mlp]
seeds: [0, 1]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 300}
confirm: {seeds: adaptive, max_seeds: 12, step: 4, seed_offset: 100}
"""


def test_adaptive_rounds_stop_spending_on_decided_pairs(tmp_path):
    """ns is far better than ls and hinge (decided at the first look, whose O'Brien-Fleming level is strict); ls
    and hinge have the same mean and no margin, so their pair is never called: they take rounds up to max_seeds,
    ns stays at the first look. The trials returned are every one the design took."""
    path = tmp_path / "three.yaml"
    path.write_text(ADAPTIVE)
    suite, res = load_suite(path), tmp_path / "res"
    rng = np.random.default_rng(0)
    noise = {}

    def score(t):
        key = (t.gan, t.seed)
        if key not in noise:
            noise[key] = float(rng.normal(0, 0.001))
        mean = 0.2 if t.gan == "ns" else 0.6
        return mean + noise[key], mean + noise[key]

    trainer = Trainer(res, score=score)
    trials = run_phases(suite, res, expand(suite), trainer, log=lambda s: None)
    seeds = {g: sorted(t.seed for t in trials if t.phase == "confirm" and t.gan == g) for g in ("ns", "ls", "hinge")}
    assert seeds["ns"] == list(range(100, 104))
    assert seeds["ls"] == seeds["hinge"] == list(range(100, 112))
    assert [len(c) for c in trainer.calls] == [6, 12, 8, 8]  # the search, then looks at 4, 8 and 12 seeds
    assert {t.id for t in trials} == {i for c in trainer.calls for i in c}
    # a rerun finds the design complete: nothing more to train
    again = Trainer(res, score=score)
    run_phases(suite, res, expand(suite), again, log=lambda s: None)
    assert again.calls == []


# ---------------------------------------------------------------------------------------------- end to end
TINY = """name: e2e
datasets: [ring8]
gans: [ns]
architectures: [mlp]
hparams: {lr: [1.0e-4, 2.0e-3]}
seeds: [0]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 300}
confirm: {seeds: 2, seed_offset: 50}
"""


def test_trial_all_runs_both_phases(tmp_path, capsys):
    path = tmp_path / "e2e.yaml"
    path.write_text(TINY)
    res = tmp_path / "res"
    assert main(["trial", str(path), "--all", "--results", str(res)]) == 0
    out = capsys.readouterr().out
    assert "search: 2 trials to run" in out and "phase 2: 2 confirmation trials of 1 chosen configurations" in out
    assert sum(1 for line in out.splitlines() if " seed=50 confirm [lr=" in line) == 1  # result lines name it
    frame = pd.read_csv(res / "trials.csv")
    search, confirm = frame[frame.phase == "search"], frame[frame.phase == "confirm"]
    assert len(search) == 2 and sorted(confirm.seed) == [50, 51]
    assert set(frame.status) == {"completed"}
    best = search.loc[search.best_val_mode_tv.idxmin(), "hp_lr"]  # chosen on validation
    assert set(confirm.hp_lr) == {best}


# ---------------------------------------------------------------------------------------------- budget milestones
MILESTONES = """name: ms
datasets: [ring8]
gans: [ns]
architectures: [mlp]
seeds: [0]
budget: {d_steps: 120}
eval: {every_d_steps: 20, n_samples: 300}
analysis: {milestones: [0.5, 1.0, {g_steps: 40}]}
"""


def _history(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_milestones_score_the_best_so_far_on_test_and_change_nothing_else(tmp_path):
    from ganbench.training import run_trial

    path = tmp_path / "ms.yaml"
    path.write_text(MILESTONES)
    trial = expand(load_suite(path))[0]
    path.write_text(MILESTONES.replace("analysis: {milestones: [0.5, 1.0, {g_steps: 40}]}\n", ""))
    plain = expand(load_suite(path))[0]
    s = run_trial(trial, tmp_path / "ms")
    p = run_trial(plain, tmp_path / "plain")
    # training and the final scores are untouched by the milestones
    assert {k: v for k, v in s.items() if k.startswith(("best_", "final_"))} == \
        {k: v for k, v in p.items() if k.startswith(("best_", "final_"))}
    # at the whole budget the best-so-far is the chosen generator: the same test score
    assert s["milestone_d_steps_120_mode_tv"] == s["best_mode_tv"]
    # half way, the best validation point among the evaluations up to D step 60 (never a later one)
    val = [(r["mode_tv"], r["d_steps"]) for r in _history(tmp_path / "ms") if r["d_steps"] <= 60]
    assert s["milestone_d_steps_60_best_d_steps"] == min(val)[1]
    assert s["milestone_g_steps_40_best_d_steps"] == min(val[:2])[1]  # ns: G step 40 is D step 40


def test_milestones_survive_a_resume(tmp_path):
    """A trial killed after a milestone keeps the score it took there: recomputed after the resume it would use
    evaluations past the milestone."""
    from ganbench.training import RunOptions, run_trial

    path = tmp_path / "ms.yaml"
    path.write_text(MILESTONES.replace("milestones: [0.5, 1.0, {g_steps: 40}]", "milestones: [{d_steps: 30}]")
                    .replace("n_samples: 300}", "n_samples: 300, metrics: [modes, swd], primary: swd}")
                    .replace("seeds: [0]", "seeds: [0]\nhparams: {lr: 3.0e-4}"))
    trial = expand(load_suite(path))[0]
    whole = run_trial(trial, tmp_path / "whole")

    class Kill(Exception):
        pass

    def kill(kind, k, payload):
        if kind == "checkpoint" and payload["d_steps"] == 80:
            raise Kill

    options = RunOptions(checkpoint_every_d_steps=40)
    with pytest.raises(Kill):
        run_trial(trial, tmp_path / "cut", on_event=kill, options=options)
    resumed = run_trial(trial, tmp_path / "cut", options=options)
    assert resumed["resumed_from"] == 80
    assert whole["milestone_d_steps_30_best_d_steps"] == 20
    keys = [k for k in whole if k.startswith("milestone_")]
    assert {k: resumed[k] for k in keys} == {k: whole[k] for k in keys}
    # the test can tell: by D step 80 a better validation point than the one at D step 20 exists
    val = {r["d_steps"]: r["swd"] for r in _history(tmp_path / "whole")}
    assert min(val[d] for d in (40, 60, 80)) < val[20]


def test_progress_lines_name_the_configuration_and_come_every_minute(tmp_path, monkeypatch):
    """Without a terminal a run prints a progress line at least every PROGRESS_EVERY seconds, and each result line
    says which configuration (and phase) the trial was."""
    from ganbench.execution import monitor as mon
    from ganbench.suite.expand import confirm_trials

    suite = load(tmp_path)
    search = expand(suite)
    trials = search[:2] + confirm_trials(search[0], [10])
    lines = []
    m = mon.make_monitor(trials, {}, tmp_path / "res", lines.append, False, None, 3)
    m.on_step_end(0, [])
    assert lines == []  # not a minute yet
    monkeypatch.setattr(mon, "PROGRESS_EVERY", 0.0)
    m.on_step_end(1, [])
    assert lines == ["progress: 0 of 3 trials done, 0 running, 0 failed, 3 pending; 0% of the work (0s)"]
    for t in (trials[0], trials[2]):
        m.on_trial_result(2, [], None, {"event": "done", "member": t.id, "status": "completed", "primary": "mode_tv",
                                        "best_mode_tv": 0.5, "wall_seconds": 3})
    assert lines[1] == f"[1/3] {trials[0].id} ring8 ns mlp seed=0 [lr=0.0001]: completed mode_tv=0.5 (3s)"
    assert lines[2] == f"[2/3] {trials[2].id} ring8 ns mlp seed=10 confirm [lr=0.0001]: completed mode_tv=0.5 (3s)"


@pytest.mark.slow
def test_ganbench_run_runs_both_phases_through_ray(tmp_path):
    """`ganbench run` (a local Ray started once for both rounds): the search, then the chosen configuration on the
    confirmation seeds; a second run has nothing left to train."""
    import os
    import subprocess
    import sys

    path = tmp_path / "e2e.yaml"
    path.write_text(TINY)
    res = tmp_path / "res"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "ganbench.cli", "run", str(path), "--results", str(res), "--num-cpus", "2"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "search: 2 trials to run" in run.stdout and "phase 2: 2 confirmation trials" in run.stdout
    frame = pd.read_csv(res / "trials.csv")
    search, confirm = frame[frame.phase == "search"], frame[frame.phase == "confirm"]
    assert sorted(confirm.seed) == [50, 51] and set(frame.status) == {"completed"}
    assert set(confirm.hp_lr) == {search.loc[search.best_val_mode_tv.idxmin(), "hp_lr"]}
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "trials to run" not in again.stdout


def test_the_adaptive_design_travels_from_the_suite_to_the_report(tmp_path):
    """The report judges adaptive confirmation runs by the rule that stopped them: the design's alpha, step and
    max_seeds go from the suite into every trial's config.json and trials.csv (kept out of the trial id)."""
    from ganbench.report.pairwise import design_of
    from ganbench.results import _flatten_row, Summary

    trials = expand(load_suite("suites/cpu/study.yaml"))
    from dataclasses import replace
    confirm_trial = replace(trials[0], seed=1000, phase="confirm")
    row = _flatten_row(confirm_trial.to_dict(), Summary(trial_id=confirm_trial.id, status="completed"))
    assert (row["confirm_max_seeds"], row["confirm_step"], row["analysis_alpha"]) == (15, 5, 0.05)
    design = design_of(pd.DataFrame([row]))
    assert design is not None and (design.max_seeds, design.step, design.alpha) == (15, 5, 0.05)
    assert trials[0].id == replace(trials[0], confirm_max_seeds=None, analysis_alpha=None).id
