"""``ganbench validate SUITE --results DIR``: which trials are finished there and which would run, and a warning
when an edit to the suite leaves finished trials unused."""
import json

from ganbench.cli import main
from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand
from ganbench.results import atomic_write_json, trial_dir, write_trial_config

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
    assert err == ""  # nothing unused
    assert main(["validate", str(suite_file), "--results", str(tmp_path / "empty")]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[:4]] == ["run"] * 4
    assert not (tmp_path / "empty").exists()  # validate writes nothing


def test_an_edit_that_leaves_finished_trials_unused_is_warned(tmp_path, capsys):
    suite_file, res, trials = _results(tmp_path)
    suite_file.write_text(SUITE.replace("n_samples: 400", "n_samples: 200"))
    assert main(["validate", str(suite_file), "--results", str(res)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[:4]] == ["run"] * 4
    assert err.strip() == (
        f"ganbench: warning: 2 finished trials of suite 'loop' in {res} are not in the suite any more, so a run "
        f"leaves them unused: eval.n_samples 400 -> 200 (2 trials). They stay in the directory and in its report "
        f"(in their own tables where the protocol differs); use another --results to keep the two apart.")
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
    err = capsys.readouterr().err.splitlines()
    assert [line.split("'")[1] for line in err] == ["gp-bn", "dragan-bn"]
    assert all(line.startswith("ganbench: warning: gans entry") and "batch norm in D" in line for line in err)
