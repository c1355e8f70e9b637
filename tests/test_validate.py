"""``ganbench validate SUITE --results DIR``: which trials are finished there and which would run, and a warning
when an edit to the suite leaves finished trials unused."""
import json

from ganbench.cli import main
from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand
from ganbench.paths import atomic_write_json
from ganbench.results import trial_dir, write_trial_config

SUITE = """name: loop
datasets: [ring8]
gans: [ns, wgan-gp]
architectures: [mlp]
seeds: [0, 1]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 400}
"""


def _results(tmp_path):
    """Four trials: ns seed 0 completed, ns seed 1 diverged, wgan-gp seed 0 interrupted, wgan-gp seed 1 failed."""
    suite_file = tmp_path / "loop.yaml"
    suite_file.write_text(SUITE)
    res = tmp_path / "res"
    trials = {(t.gan, t.seed): t for t in expand(load_suite(suite_file))}
    for t in trials.values():
        write_trial_config(res, t)
    for key, status in (((("ns", 0)), "completed"), (("ns", 1), "diverged"), (("wgan-gp", 1), "failed")):
        atomic_write_json(trial_dir(res, trials[key].id) / "summary.json", {"status": status})
    (trial_dir(res, trials["wgan-gp", 0].id) / "metrics.jsonl").write_text('{"d_steps": 30}\n')
    return suite_file, res, trials


def test_marks_finished_and_pending_trials(tmp_path, capsys):
    suite_file, res, trials = _results(tmp_path)
    assert main(["validate", str(suite_file), "--results", str(res)]) == 0
    out, err = capsys.readouterr()
    lines = {line.split()[1]: line.split()[0] for line in out.splitlines()[:4]}
    assert lines == {trials["ns", 0].id: "done", trials["ns", 1].id: "done", trials["wgan-gp", 0].id: "resume",
                     trials["wgan-gp", 1].id: "rerun"}
    assert (f"in {res}: 2 finished (done), 1 to resume from their files (resume), 1 failed before and run again "
            f"(rerun), 0 new (run)") in out
    assert "not in the suite any more" not in err  # nothing unused
    assert main(["validate", str(suite_file), "--results", str(tmp_path / "empty")]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[:4]] == ["run"] * 4
    assert not (tmp_path / "empty").exists()  # validate writes nothing


def test_an_edit_that_leaves_finished_trials_unused_is_warned(tmp_path, capsys):
    suite_file, res, trials = _results(tmp_path)
    suite_file.write_text(SUITE.replace("n_samples: 400", "n_samples: 200"))
    assert main(["validate", str(suite_file), "--results", str(res)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[:4]] == ["run"] * 4
    assert (
        f"ganbench: warning: 2 finished trials of suite 'loop' in {res} are not in the suite any more, so a run "
        f"leaves them unused: eval.n_samples 400 -> 200 (2 trials). They stay in the directory and in its report "
        f"(in their own tables where the protocol differs); use another --results to keep the two apart.") \
        in err.splitlines()
    # a GAN entry dropped: its finished trials have no counterpart at all
    suite_file.write_text(SUITE.replace("gans: [ns, wgan-gp]", "gans: [wgan-gp]"))
    assert main(["validate", str(suite_file), "--results", str(res)]) == 0
    err = capsys.readouterr().err
    assert "no trial with dataset 'ring8', gan 'ns', architecture 'mlp', seed 0, sample 0 any more (1 trial)" in err
    # --set is an edit as well; a finished trial of another suite in the directory is not this suite's business
    foreign = json.loads((trial_dir(res, trials["ns", 0].id) / "config.json").read_text())
    atomic_write_json(res / "trials" / "0123456789ab" / "config.json", {**foreign, "suite": "other"})
    atomic_write_json(res / "trials" / "0123456789ab" / "summary.json", {"status": "completed"})
    suite_file.write_text(SUITE)
    assert main(["validate", str(suite_file), "--results", str(res), "--set", "budget.d_steps=90"]) == 0
    err = capsys.readouterr().err
    assert "2 finished trials of suite 'loop'" in err and "budget_steps 60 -> 90 (2 trials)" in err


def test_results_that_is_a_file(tmp_path, capsys):
    suite_file = tmp_path / "loop.yaml"
    suite_file.write_text(SUITE)
    (tmp_path / "f").write_text("x")
    assert main(["validate", str(suite_file), "--results", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.strip() == f"ganbench: error: --results {tmp_path / 'f'}: is a file; give a " \
                                              f"results directory"


def test_a_gradient_penalty_through_batch_norm_in_d_is_warned_once_per_gans_entry(tmp_path, capsys):
    """DRAGAN at lambda 10 with BN in D stayed at noise FID on digits (results/dragan): validate says so, once per
    GAN entry, and only for entries whose penalty's gradients pass through batch norm."""
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("gans: [ns, wgan-gp]", "gans: [ns, {name: ns-bn, preset: ns, hparams: {d_norm: batch}}, "
                                  "wgan-gp, {name: gp-bn, preset: wgan-gp, hparams: {d_norm: batch}}, "
                                  "{name: dragan-bn, preset: dragan, hparams: {d_norm: batch}}]"))
    assert main(["validate", str(path)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "family" not in line]
    assert [line.split("'")[1] for line in err] == ["gp-bn", "dragan-bn"]
    assert all(line.startswith("ganbench: warning: gans entry") and "batch norm in D" in line for line in err)


# ---------------------------------------------------------------------------------------------- design and sizes
FIVE = """name: five
datasets: [ring8]
gans: [ns, ls, hinge, wgan, wgan-gp]
architectures: [mlp]
seeds: [0, 1, 2, 3, 4]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 400}
"""


def test_five_against_five_seeds_under_holm_over_ten_pairs_cannot_reject(tmp_path, capsys):
    """The committed study's design: 5 vs 5 seeds, 10 pairs. The smallest exact Mann-Whitney p is 2/252; Holm over 10
    makes it 0.079 > 0.05, so no pair could ever be called: validate says so before a trial runs."""
    path = tmp_path / "five.yaml"
    path.write_text(FIVE)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    line = next(x for x in out.splitlines() if x.startswith("family ring8 x mlp"))
    assert "10 pairs (ns-ls, ns-hinge" in line and "Holm over 10" in line
    assert "at 5 vs 5 seeds the smallest corrected p is 0.0794" in line
    assert "cannot be told (no seed spread" in line and "no analysis.margin" in line
    warnings = [x for x in err.splitlines() if "family ring8 x mlp" in x]
    assert len(warnings) == 1 and warnings[0].startswith("ganbench: warning: family ring8 x mlp: ")
    # the same families confirmed on 20 paired seeds can reject: no warning, and a detectable difference
    path.write_text(FIVE + "confirm: {seeds: 20}\nanalysis: {seed_sd: {ring8: 0.05}, margin: {ring8: 0.02}}\n")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    line = next(x for x in out.splitlines() if x.startswith("family ring8 x mlp"))
    assert "at 20 vs 20 seeds" in line and "(seed sd 0.05, analysis.seed_sd)" in line
    assert "equivalence margin 0.02" in line and "family" not in err
    assert "phase 2 (confirm, 5 chosen configurations x 20 seeds): 100 trials, 6,000 D steps and 4,080 G steps" in out  # n_disc 5: wgan, wgan-gp


def test_the_seed_spread_comes_from_earlier_trials_of_the_same_cells(tmp_path, capsys):
    path = tmp_path / "five.yaml"
    path.write_text(FIVE)
    res = tmp_path / "res"
    values = [0.10, 0.20, 0.30, 0.40, 0.50]  # sd 0.158 over the seeds of one configuration
    for t in expand(load_suite(path)):
        write_trial_config(res, t)
        atomic_write_json(trial_dir(res, t.id) / "summary.json",
                          {"status": "completed", "primary": "mode_tv", "best_mode_tv": values[t.seed]})
    assert main(["validate", str(path), "--results", str(res)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("family ring8 x mlp"))
    assert f"(seed sd 0.158, from 25 earlier trials in {res})" in line


def test_phases_and_their_steps(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("budget: {d_steps: 60}", "budget: {g_steps: 20}")
                    + "confirm: {seeds: adaptive, max_seeds: 12, step: 3}\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    # ns: 20 G steps = 20 D steps; wgan-gp: n_disc 5, 100 D steps per trial
    assert "phase 1 (search): 4 trials, 240 D steps and 80 G steps in all" in out
    assert ("phase 2 (confirm, 2 chosen configurations x up to 12 seeds in rounds of 3; at most): 24 trials, "
            "1,440 D steps and 480 G steps in all") in out


def test_a_flops_budget_is_translated_into_the_steps_the_trainer_takes(tmp_path, capsys):
    from ganbench.execution.sizing import d_steps_for, measure_flops
    from ganbench.training import run_trial

    path = tmp_path / "f.yaml"
    path.write_text(SUITE.replace("budget: {d_steps: 60}", "budget: {flops: 6.0e9}")
                    .replace("gans: [ns, wgan-gp]", "gans: [wgan-gp]").replace("seeds: [0, 1]", "seeds: [0]"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("budget flops=6e+09: ring8 wgan-gp mlp: about "))
    d, g = int(line.split("about ")[1].split(" D steps")[0].replace(",", "")), \
        int(line.split(" and ")[1].split(" G steps")[0].replace(",", ""))
    trial = expand(load_suite(path))[0]
    assert d == d_steps_for(trial, measure_flops([trial])[trial.pack_key()])
    summary = run_trial(trial, tmp_path / "t")
    assert (summary["d_steps"], summary["g_steps"]) == (d, g)
    # --set replaces the FLOPs budget with one in D steps
    assert main(["validate", str(path), "--set", "budget.d_steps=40"]) == 0
    assert "budget d_steps=40" in capsys.readouterr().out


def test_a_seconds_budget_needs_and_gets_a_calibration(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("budget: {d_steps: 60}", "budget: {seconds: 3}")
                    .replace("gans: [ns, wgan-gp]", "gans: [ns]"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "budget seconds=3: ring8 ns mlp: D and G steps need --calibrate" in out
    assert "phase 1 (search): 2 trials; D and G steps unknown: a seconds budget needs --calibrate" in out
    assert main(["validate", str(path), "--calibrate", "20"]) == 0
    out = capsys.readouterr().out
    assert out.count("calibrated ring8 ns mlp: ") == 1  # one distinct model, timed once
    line = next(x for x in out.splitlines() if x.startswith("budget seconds=3: ring8 ns mlp: about "))
    assert line.endswith(" G steps (calibrated)")
    assert "of one CPU thread (calibrated; about" in out


def test_the_seed_spread_is_that_of_the_configurations_chosen_on_validation(tmp_path, capsys):
    """A poor configuration's spread says little about the runs the verdicts use: the spread is pooled over each
    GAN entry's configuration chosen on validation."""
    path = tmp_path / "grid.yaml"
    path.write_text(FIVE.replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 2, 3, 4]\nhparams: {lr: [1.0e-4, 4.0e-4]}"))
    res = tmp_path / "res"
    for t in expand(load_suite(path)):
        good = t.hparams["lr"] == 1e-4
        write_trial_config(res, t)
        atomic_write_json(trial_dir(res, t.id) / "summary.json",
                          {"status": "completed", "primary": "mode_tv", "best_val_mode_tv": 0.2 if good else 0.9,
                           "best_mode_tv": (0.1 * t.seed) if good else (10.0 * t.seed)})
    assert main(["validate", str(path), "--results", str(res)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("family ring8 x mlp"))
    assert f"(seed sd 0.158, from 25 earlier trials in {res})" in line
