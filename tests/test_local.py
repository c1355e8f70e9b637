"""`ganbench trial`: trials in this process without Ray, from a suite (--id / --all) or from trial directories."""
import hashlib
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
    env = json.loads((results / "environment.json").read_text())  # the files `ganbench run` writes, this one too
    assert env["suite"] == {"file": "loc.yaml", "sha256": hashlib.sha256(suite.read_bytes()).hexdigest()}
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


def test_prepare_writes_what_both_drivers_share(tmp_path):
    """ganbench.execution.prepare.prepare, called by `ganbench run` (execution/tune.py) and `ganbench trial`
    (execution/local.py): reference files per protocol, baselines.json, environment.json, each trial's config."""
    from ganbench.execution.prepare import prepare
    from ganbench.protocol import Evaluation
    from ganbench.results import read_json_object, trial_dir
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    suite = tmp_path / "loc.yaml"
    suite.write_text(SUITE.replace("datasets: [ring8]", "datasets: [ring8, grid25]"))
    trials = expand(load_suite(suite))
    res = tmp_path / "res"
    assert prepare(res, [], suite_path=suite) == {} and not res.exists()  # nothing to run: nothing written
    files = prepare(res, trials, suite_path=suite)
    assert set(files) == {Evaluation.of(t) for t in trials} and len(files) == 2
    for t in trials:
        assert read_json_object(trial_dir(res, t.id) / "config.json")[0] == json.loads(json.dumps(t.to_dict()))
    records = json.loads((res / "baselines.json").read_text())["baselines"]
    assert {r["dataset"] for r in records} == {"ring8", "grid25"}
    assert json.loads((res / "environment.json").read_text())["suite"]["file"] == "loc.yaml"


def test_the_driver_builds_one_evaluator_per_protocol(tmp_path, monkeypatch):
    """prepare trains or loads each protocol's extractor and reference statistics through one Evaluator, which the
    baselines use too (issue 16: it was built once for the reference files and again for the baselines)."""
    from ganbench.evaluation.evaluator import Evaluator
    from ganbench.execution.prepare import prepare
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    built = []
    init = Evaluator.__init__

    def counting(self, dataset, *args, **kwargs):
        built.append(dataset)
        init(self, dataset, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "__init__", counting)
    suite = tmp_path / "loc.yaml"
    suite.write_text(SUITE.replace("datasets: [ring8]", "datasets: [ring8, grid25]").replace("seeds: [0, 1]",
                                                                                           "seeds: [0, 1, 2]"))
    prepare(tmp_path / "res", expand(load_suite(suite)), suite_path=suite)
    assert sorted(built) == ["grid25", "ring8"]
