import subprocess
import sys

import pytest

from ganbench.cli import main


def test_validate_prints_one_line_per_trial(tiny_suite, capsys):
    assert main(["validate", str(tiny_suite)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "valid; 4 trials" in out[4]  # then the phases and the design (tests/test_validate.py)
    assert all(len(line.split()[0]) == 12 for line in out[:4])
    assert out[5].startswith("phase 1 (search): 4 trials")


def test_validate_set_changes_the_trials(tiny_suite, capsys):
    assert main(["validate", str(tiny_suite), "--set", "budget.d_steps=7"]) == 0
    assert "d_steps=7" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["validate", "missing.yaml"], "missing.yaml: no such suite file"),
    (["report", "no/such/dir"], "no/such/dir: no such results directory"),
])
def test_user_errors_are_one_line_without_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"ganbench: error: {message}"


def test_bad_suite_from_the_shell(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndatasets: [ring8]\ngans: [nss]\narchitectures: [mlp]\nbudget: {d_steps: 5}\n")
    proc = subprocess.run([sys.executable, "-m", "ganbench.cli", "run", str(bad), "--results", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ganbench: error: {bad}: gans[0].name: unknown GAN variant 'nss' (did you mean 'ns'?); allowed: "
        + ", ".join(sorted(__import__("ganbench.zoo.variants", fromlist=["VARIANTS"]).VARIANTS.names()))]
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_architecture_that_cannot_serve_the_data_fails_before_running(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndatasets: [ring8]\ngans: [ns]\narchitectures: [dcgan]\nbudget: {d_steps: 5}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "architecture 'dcgan' on 'ring8'" in err and len(err.strip().splitlines()) == 1


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("GAN variants:", "wgan-gp", "architectures:", "mlp", "datasets:", "digits", "metrics:", "fid",
                 "feature extractors:", "inception"):
        assert word in out


def test_stats_precomputes_reference_statistics(capsys):
    import numpy as np

    assert main(["stats", "digits", "--n", "150", "--no-baselines"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("digits val: classifier n=150 -> ")
    with np.load(lines[1].split(" -> ")[1]) as f:
        assert f["mu"].shape == (64,) and f["features"].shape == (150, 64)
    assert main(["stats", "ring8", "--n-samples", "500", "--draws", "2"]) == 0  # toys: baselines only
    out = capsys.readouterr().out
    assert "ring8" in out and "mode_tv" in out


def test_max_trials_is_a_flag_with_the_documented_default(tmp_path, capsys):
    from ganbench.cli import build_parser
    from ganbench.suite.expand import MAX_TRIALS

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0, 1, 2, 3]\n"
                     "budget: {d_steps: 5}\n")
    assert main(["validate", str(suite), "--max-trials", "3"]) == 2
    assert "expands to 4 trials" in capsys.readouterr().err
    assert main(["validate", str(suite), "--max-trials", "4"]) == 0
    assert f"(default: {MAX_TRIALS:,})" in " ".join(build_parser()._subparsers._group_actions[0]
                                                   .choices["validate"].format_help().split())


def test_command_line_mistakes_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["validate"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganbench: error: ganbench validate: ") and "suite" in err
