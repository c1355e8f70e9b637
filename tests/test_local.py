"""`ganbench trial`: trials in this process without Ray, from a suite (--id / --all) or from trial directories."""
import json

import pytest

from ganbench.cli import main

SUITE = """name: loc
datasets: [ring8]
gans: [ns]
architectures: [mlp]
seeds: [0, 1]
budget: {d_steps: 40}
eval: {every_d_steps: 20, n_samples: 200}
resources: {pack: 2}
"""


def test_trial_command_runs_a_suite_then_a_trial_directory(tmp_path, capsys):
    suite = tmp_path / "loc.yaml"
    suite.write_text(SUITE)
    results = tmp_path / "res"
    assert main(["trial", str(suite), "--all", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.count("completed") == 2 and "pack of 2" in out
    summaries = [json.loads(p.read_text()) for p in sorted(results.glob("trials/*/summary.json"))]
    assert [s["pack_size"] for s in summaries] == [2, 2]
    assert (results / "trials.csv").is_file() and (results / "baselines.json").is_file()
    # a finished suite: nothing left to run
    assert main(["trial", str(suite), "--all", "--results", str(results)]) == 0
    assert "2 of the chosen trials already finished" in capsys.readouterr().out
    # a trial directory runs again on its own (its config.json), alone
    one = sorted(results.glob("trials/*"))[0]
    assert main(["trial", str(one)]) == 0
    assert json.loads((one / "summary.json").read_text())["pack_size"] == 1


@pytest.mark.parametrize("argv, message", [
    (["{suite}"], "say which trials: --id ID (repeatable) or --all"),
    (["{suite}", "--id", "zzzz"], "--id zzzz: no trial of"),
    (["{dir}"], "no config.json here"),
    (["{dir}", "--all"], "--id, --all and --set apply to a suite file"),
])
def test_trial_command_errors_are_one_line(tmp_path, capsys, argv, message):
    suite = tmp_path / "loc.yaml"
    suite.write_text(SUITE)
    argv = [a.format(suite=suite, dir=tmp_path) for a in argv]
    assert main(["trial", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_trainer_writes_tensorboard_events_when_the_suite_asks(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    suite = tmp_path / "tb.yaml"
    suite.write_text(SUITE.replace("resources: {pack: 2}", "logging: {tensorboard: true}"))
    assert main(["trial", str(suite), "--all", "--results", str(tmp_path / "res")]) == 0
    for tb in sorted((tmp_path / "res" / "trials").glob("*/tensorboard")):
        acc = EventAccumulator(str(tb))
        acc.Reload()
        tags = acc.Tags()
        assert any("mode_tv" in t for t in tags["scalars"]) and tags["images"]
