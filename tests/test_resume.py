"""Checkpoints and resume: a trial (or pack) interrupted after a checkpoint and started again ends with exactly
the numbers of the same trial run without interruption (CPU, bitwise)."""
import json

import pytest
import torch

from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand
from ganbench.training import RunOptions, run_pack, run_trial


class Interrupt(Exception):
    pass


def _trials(tmp_path, gans="[ns]", dataset="digits", extra="", seeds="[0]"):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: r\ndatasets: [{dataset}]\ngans: {gans}\narchitectures: [mlp]\nseeds: {seeds}\n"
                 f"budget: {{d_steps: 60}}\neval: {{every_d_steps: 15, n_samples: 100}}\n{extra}")
    return expand(load_suite(p))


def _stop_at_checkpoint(at: int):
    def on_event(kind, k, payload):
        if kind == "checkpoint" and payload["d_steps"] == at:
            raise Interrupt(at)
    return on_event


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.endswith("seconds") and k != "resumed_from"}


def _same_files(a, b):
    ha = [_strip(json.loads(x)) for x in (a / "metrics.jsonl").read_text().splitlines()]
    hb = [_strip(json.loads(x)) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert ha == hb
    for name in ("checkpoint.pt", "best_generator.pt"):
        ca, cb = (torch.load(d / name, weights_only=True) for d in (a, b))
        for net in ("generator", "discriminator"):
            if net in ca:
                assert all(torch.equal(ca[net][k], cb[net][k]) for k in ca[net]), (name, net)


OPTIONS = RunOptions(checkpoint_every_d_steps=20)


@pytest.mark.parametrize("gans, extra", [
    ("[ns]", "hparams: {instance_noise: 0.1, label_flip: 0.1}\n"),  # aux stream draws
    ("[wgan-gp]", ""),  # penalty draws, 5 critic steps per G step
    ("[began]", ""),  # loss state k
])
def test_resumed_trial_equals_uninterrupted(tmp_path, gans, extra):
    (trial,) = _trials(tmp_path, gans, extra=extra)
    full = run_trial(trial, tmp_path / "full", options=OPTIONS)
    with pytest.raises(Interrupt):
        run_trial(trial, tmp_path / "cut", on_event=_stop_at_checkpoint(40), options=OPTIONS)
    resumed = run_trial(trial, tmp_path / "cut", options=OPTIONS)
    assert resumed["resumed_from"] == 40
    assert _strip(resumed) == _strip(full)
    _same_files(tmp_path / "full", tmp_path / "cut")


def _stop_at_eval(at: int):
    def on_event(kind, k, payload):
        if kind == "eval" and payload["d_steps"] == at:
            raise Interrupt(at)
    return on_event


@pytest.mark.parametrize("seeds, lr, stop, at", [
    ("[0, 1, 2]", "[1.0e-4, 3.0e-4]", _stop_at_checkpoint(20), 20),
    # stopped at the evaluation point 45, after the checkpoint at 40: the history written after the checkpoint is
    # cut, and a best generator chosen before the checkpoint (ring8 at lr 0.02: at 15) survives
    ("[0, 1]", "0.02", _stop_at_eval(45), 40),
])
def test_resumed_pack_equals_uninterrupted(tmp_path, seeds, lr, stop, at):
    trials = _trials(tmp_path, dataset="ring8", seeds=seeds, extra=f"hparams: {{lr: {lr}}}\n")
    dirs = lambda tag: [tmp_path / f"{tag}{i}" for i in range(len(trials))]  # noqa: E731
    full = run_pack(trials, dirs("full"), options=OPTIONS)
    with pytest.raises(Interrupt):
        run_pack(trials, dirs("cut"), on_event=stop, options=OPTIONS)
    resumed = run_pack(trials, dirs("cut"), options=OPTIONS)
    if at == 40:
        assert any(f["best_d_steps"] < 40 for f in full)
    for f, r, a, b in zip(full, resumed, dirs("full"), dirs("cut")):
        assert r["resumed_from"] == at and _strip(r) == _strip(f)
        _same_files(a, b)


def test_a_corrupt_checkpoint_starts_over(tmp_path):
    (trial,) = _trials(tmp_path)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    s = run_trial(trial, tmp_path / "t", options=OPTIONS)
    assert s["status"] == "completed" and s["resumed_from"] is None and s["d_steps"] == 60


def test_a_finished_trials_checkpoint_is_not_resumed(tmp_path):
    (trial,) = _trials(tmp_path)
    first = run_trial(trial, tmp_path / "t", options=OPTIONS)
    again = run_trial(trial, tmp_path / "t", options=OPTIONS)
    assert again["resumed_from"] is None and _strip(again) == _strip(first)


@pytest.mark.parametrize("dataset, extra", [
    ("ring8", "hparams: {lr: 0.02}\n"),  # its best validation point (15) comes before the checkpoint (40)
    ("digits", ""),  # its best comes after the checkpoint
])
def test_interrupted_between_a_checkpoint_and_an_evaluation(tmp_path, dataset, extra):
    """Stopped at the evaluation point 45, after the checkpoint at 40: the history line written after the
    checkpoint is cut and written again, and the best-so-far generator chosen before the checkpoint survives."""
    (trial,) = _trials(tmp_path, dataset=dataset, extra=extra)
    full = run_trial(trial, tmp_path / "full", options=OPTIONS)
    with pytest.raises(Interrupt):
        run_trial(trial, tmp_path / "cut", on_event=_stop_at_eval(45), options=OPTIONS)
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["d_steps"] for x in lines] == [15, 30, 45]  # 45 came after the checkpoint at 40
    resumed = run_trial(trial, tmp_path / "cut", options=OPTIONS)
    assert resumed["resumed_from"] == 40
    if dataset == "ring8":  # the case that catches a best generator forgotten on resume
        assert full["best_d_steps"] < 40
    assert resumed["best_d_steps"] == full["best_d_steps"]
    assert _strip(resumed) == _strip(full)
    _same_files(tmp_path / "full", tmp_path / "cut")


def test_a_checkpoint_written_before_the_images_rename_resumes(tmp_path):
    """A checkpoint written before the budget unit had one name counts real images as ``images_seen``."""
    (trial,) = _trials(tmp_path)
    full = run_trial(trial, tmp_path / "full", options=OPTIONS)
    with pytest.raises(Interrupt):
        run_trial(trial, tmp_path / "cut", on_event=_stop_at_checkpoint(40), options=OPTIONS)
    path = tmp_path / "cut" / "checkpoint.pt"
    ck = torch.load(path, weights_only=True)
    ck["counters"]["images_seen"] = ck["counters"].pop("images")
    torch.save(ck, path)
    resumed = run_trial(trial, tmp_path / "cut", options=OPTIONS)
    assert resumed["resumed_from"] == 40 and resumed["images"] == 60 * 64
    assert _strip(resumed) == _strip(full)


def test_read_checkpoint_says_why_it_is_not_resumed(tmp_path):
    from ganbench.training.checkpoint import CHECKPOINT_FORMAT, read_checkpoint, running_d_steps

    (trial,) = _trials(tmp_path)
    with pytest.raises(Interrupt):
        run_trial(trial, tmp_path / "t", on_event=_stop_at_checkpoint(40), options=OPTIONS)
    path = tmp_path / "t" / "checkpoint.pt"
    ck, problem = read_checkpoint(path, trial.id)
    assert problem is None and ck["format"] == CHECKPOINT_FORMAT and ck["counters"]["d_steps"] == 40
    assert running_d_steps(tmp_path / "t", trial.id) == 40
    assert read_checkpoint(path, "another")[1] == f"checkpoint.pt belongs to trial {trial.id!r}, not 'another'"
    assert running_d_steps(tmp_path / "t", "another") == 0
    torch.save({**ck, "format": CHECKPOINT_FORMAT - 1}, path)
    assert read_checkpoint(path, trial.id)[1].startswith(f"checkpoint.pt is of format {CHECKPOINT_FORMAT - 1}")
    assert read_checkpoint(path)[0] is not None  # without a trial id: any readable checkpoint, for inspection
    assert running_d_steps(tmp_path / "t", trial.id) == 0
    s = run_trial(trial, tmp_path / "t", options=OPTIONS)  # an older format is never resumed: it starts over
    assert s["resumed_from"] is None and s["status"] == "completed"
