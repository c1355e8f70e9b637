import json
import math

import pytest
import torch

from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand
from ganbench.training import run_trial


def make_trials(tmp_path, gans="[ns]", budget="{d_steps: 20}", extra="", datasets="[ring8]",
                eval_="{every_d_steps: 10, n_samples: 200}"):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: s\ndatasets: {datasets}\ngans: {gans}\narchitectures: [mlp]\nbudget: {budget}\n"
                 f"eval: {eval_}\n{extra}")
    return expand(load_suite(p))


@pytest.mark.parametrize("budget, hparams, expect", [
    ("{d_steps: 20}", "{n_disc: 5}", (20, 4)),
    ("{d_steps: 22}", "{n_disc: 5}", (22, 4)),
    ("{g_steps: 3}", "{n_disc: 5}", (15, 3)),
    ("{g_steps: 3}", "{n_disc: 2, d_warmup_steps: 7}", (13, 3)),
    ("{d_steps: 12}", "{d_warmup_steps: 10}", (12, 2)),
])
def test_budget_is_exact(tmp_path, budget, hparams, expect):
    (trial,) = make_trials(tmp_path, budget=budget, extra=f"hparams: {{batch_size: 16, {hparams[1:]}\n")
    s = run_trial(trial, tmp_path / "t")
    assert (s["d_steps"], s["g_steps"]) == expect
    assert s["images"] == 16 * expect[0]
    assert s["wall_seconds"] >= s["train_seconds"] > 0


def test_same_config_and_seed_same_numbers(tmp_path):
    (trial,) = make_trials(tmp_path, extra="seeds: [3]\n", datasets="[digits]")
    a = run_trial(trial, tmp_path / "a")
    b = run_trial(trial, tmp_path / "b")
    strip = lambda s: {k: v for k, v in s.items() if not k.endswith("seconds")}  # noqa: E731
    assert strip(a) == strip(b)
    ha = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in ha] == \
           [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in hb]
    ga = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["generator"]
    gb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["generator"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


def test_other_seed_other_numbers(tmp_path):
    trials = make_trials(tmp_path, extra="seeds: [0, 1]\n", datasets="[digits]")
    a, b = (run_trial(t, tmp_path / t.id) for t in trials)
    assert a["final_fid"] != b["final_fid"]


def test_trial_files_and_history(tmp_path):
    (trial,) = make_trials(tmp_path, datasets="[digits]")
    s = run_trial(trial, tmp_path / "t")
    files = {p.name for p in (tmp_path / "t").iterdir()}
    assert {"metrics.jsonl", "summary.json", "checkpoint.pt", "best_generator.pt", "samples.png"} <= files
    history = [json.loads(l) for l in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    assert [h["d_steps"] for h in history] == [10, 20]
    for h in history:
        assert h["split"] == "val" and math.isfinite(h["fid"])
        assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "g_grad_norm"} <= set(h)
    p = history[0]["provenance"]["fid"]  # written on the first record, and again only when it changes
    assert p["extractor"] == "classifier" and p["n_fake"] == 200 and p["n_real"] == 180 and p["split"] == "val"
    assert {"torch", "torchvision", "pytorch_fid", "ganbench", "weights_sha"} <= set(p)
    assert "provenance" not in history[1]
    assert s["provenance"]["fid"]["split"] == "test" and s["provenance"]["fid"]["n_real"] == 200
    assert s["status"] == "completed" and s["best_d_steps"] in (10, 20)


def test_checkpoint_loads_weights_only_and_carries_config(tmp_path):
    (trial,) = make_trials(tmp_path)
    run_trial(trial, tmp_path / "t")
    ckpt = torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)
    assert ckpt["trial"]["gan"] == "ns" and ckpt["counters"]["d_steps"] == 20
    from ganbench.suite.expand import Trial

    assert Trial.from_dict(ckpt["trial"]).id == trial.id


def test_divergence_stops_the_trial_with_last_good_metrics(tmp_path):
    # a learning rate of 1e12 blows the weights up within a few steps
    (trial,) = make_trials(tmp_path, budget="{d_steps: 200}", gans="[wgan]",
                           extra="hparams: {lr: 1.0e+12, clip: 1.0e+9, optimizer: adam}\n")
    s = run_trial(trial, tmp_path / "t")
    assert s["status"] == "diverged"
    assert s["d_steps"] < 200  # caught at the first check (every 100 D steps), not trained to the end


def test_label_smoothing_only_for_bce_losses(tmp_path):
    from ganbench.registry import GanbenchError
    from ganbench.suite.checks import check_trials

    (trial,) = make_trials(tmp_path, gans="[wgan-gp]", extra="hparams: {label_smoothing: 0.1}\n")
    with pytest.raises(GanbenchError, match="label_smoothing and label_flip apply to the BCE losses"):
        check_trials([trial])  # before anything runs; the trainer trusts a checked trial


@pytest.mark.parametrize("hparams", [
    "{label_smoothing: 0.1, label_flip: 0.05}",
    "{instance_noise: 0.1}",
    "{optimizer: rmsprop, lr_g: 1.0e-4, lr_d: 4.0e-4}",
    "{beta1_g: 0.0, beta2_d: 0.9, d_warmup_steps: 5}",
    "{z_dist: uniform, z_dim: 16}",
    "{conditioning: concat}",
])
def test_training_practices_run(tmp_path, hparams):
    (trial,) = make_trials(tmp_path, datasets="[digits]", extra=f"hparams: {hparams}\n")
    s = run_trial(trial, tmp_path / "t")
    assert s["status"] == "completed" and math.isfinite(s["final_fid"])


def test_per_network_optimiser_settings(tmp_path):
    from ganbench.training.parts import build_pack

    (trial,) = make_trials(tmp_path, extra="hparams: {lr: 1.0e-3, lr_g: 1.0e-4, beta1: 0.5, beta1_d: 0.0, "
                                           "beta2_g: 0.9}\n")
    pack = build_pack([trial], torch.device("cpu"))
    g, d = pack.opt_g.opt.param_groups[0], pack.opt_d.opt.param_groups[0]
    assert g["lr"] == 1e-4 and g["betas"] == (0.5, 0.9)
    assert d["lr"] == 1e-3 and d["betas"] == (0.0, 0.999)


@pytest.mark.parametrize("arch, conditioning, d_steps", [("mlp", "concat", 2000), ("dcgan", "concat", 600),
                                                     ("dcgan", "projection", 600)])
def test_conditional_generator_follows_its_labels(tmp_path, arch, conditioning, d_steps):
    """Class-conditional training on digits: after training, the generator's samples for label c are classified as c
    by the digits classifier more often than chance (10%)."""
    from ganbench.evaluation.extractors import get_extractor

    p = tmp_path / "s.yaml"
    p.write_text(f"name: c\ndatasets: [digits]\ngans: [ns]\narchitectures: [{arch}]\nbudget: {{d_steps: {d_steps}}}\n"
                 f"hparams: {{conditioning: {conditioning}}}\neval: {{n_samples: 200}}\n")
    (trial,) = expand(load_suite(p))
    run_trial(trial, tmp_path / "t")
    from ganbench.zoo.models import build_models
    from ganbench.suite.plan import arch_options

    G, _ = build_models(arch, (1, 8, 8), trial.hparams["z_dim"], arch_options(trial), num_classes=10)
    G.load_state_dict(torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)["generator"])
    y = torch.arange(10).repeat(50)
    with torch.no_grad():
        x = G.eval()(torch.randn(500, trial.hparams["z_dim"]), y)
    _, logits = get_extractor("classifier", "digits").features_and_logits(x)
    accuracy = (torch.from_numpy(logits).argmax(1) == y).float().mean().item()
    assert accuracy > 0.5, accuracy


def test_patience_stops_a_trial_that_no_longer_improves(tmp_path):
    """eval.patience (exploration suites): a generator that cannot move (lr 1e-12) never beats its first score,
    so with patience 2 it stops at the third evaluation, alone or inside a pack, with the same final scores."""
    from ganbench.training import run_pack

    trials = make_trials(tmp_path, budget="{d_steps: 100}", extra="hparams: {lr: [1.0e-12, 2.0e-4]}\n",
                         eval_="{every_d_steps: 10, n_samples: 200, patience: 2}")
    frozen = next(t for t in trials if t.hparams["lr"] < 1e-6)
    alone = run_trial(frozen, tmp_path / "alone")
    assert alone["status"] == "completed" and alone["stopped_early_at"] == 30 and alone["d_steps"] == 30
    packed = run_pack(trials, [tmp_path / t.id for t in trials])
    mine = packed[trials.index(frozen)]
    assert mine["stopped_early_at"] == 30 and mine["final_mode_tv"] == pytest.approx(alone["final_mode_tv"])
    other = packed[1 - trials.index(frozen)]
    assert other["status"] == "completed" and other["d_steps"] >= 30
    # patience is part of the trial's identity only when set
    assert "patience" in trials[0].identity()["eval"]
    assert "patience" not in make_trials(tmp_path)[0].identity()["eval"]


def test_instance_noise_anneals_linearly_and_uses_the_trials_stream(tmp_path):
    from ganbench.training.budget import instance_noise_std
    from ganbench.training.parts import build_pack
    from ganbench.training.steps import Diagnostics, d_step

    assert [instance_noise_std(0.2, u, 100) for u in (0, 25, 50, 100, 120)] == \
        pytest.approx([0.2, 0.15, 0.1, 0.0, 0.0])
    (trial,) = make_trials(tmp_path, extra="hparams: {batch_size: 512}\n")
    pack = build_pack([trial], torch.device("cpu"))
    pack.joint_d = False
    seen = []
    inner = pack.D

    class Recorder:
        def __getattr__(self, name):
            return getattr(inner, name)

        def __call__(self, x, y=None):
            seen.append(x.detach().clone())
            return inner(x, y)

    data_state = pack.streams.gens["data"][0].get_state()
    pack.D = Recorder()
    d_step(pack, Diagnostics(), noise_std=0.3)
    g = torch.Generator().manual_seed(0)
    g.set_state(data_state)
    clean = pack.x[torch.randint(len(pack.x), (512,), generator=g)]
    noise = (seen[0][0] - clean) / 0.3
    assert abs(noise.mean().item()) < 0.05 and noise.std().item() == pytest.approx(1.0, abs=0.05)


def test_a_diverged_trial_keeps_its_last_good_metrics(tmp_path, monkeypatch):
    """NaN from the 16th D step on: the evaluations at 5, 10, 15 stand, the check at step 20 stops the trial, and its
    final_* metrics are exactly those of the last good evaluation (15); best_* are its best generator on test."""
    from ganbench.zoo.losses import NonSaturatingLoss

    calls = {"n": 0}
    original = NonSaturatingLoss.d_loss

    def failing(self, real_out, fake_out):
        calls["n"] += 1
        out = original(self, real_out, fake_out)
        return out * float("nan") if calls["n"] > 16 else out  # call 1 is the FLOP count's step

    monkeypatch.setattr(NonSaturatingLoss, "d_loss", failing)
    (trial,) = make_trials(tmp_path, budget="{d_steps: 100}", eval_="{every_d_steps: 5, n_samples: 200}")
    s = run_trial(trial, tmp_path / "t")
    history = [json.loads(line) for line in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    assert s["status"] == "diverged" and s["d_steps"] == 20
    assert [h["d_steps"] for h in history] == [5, 10, 15]
    for name in ("mode_tv", "modes", "hq", "reverse_kl"):
        assert s[f"final_{name}"] == history[-1][name]
    assert s["best_d_steps"] in (5, 10, 15) and "best_mode_tv" in s


def test_best_checkpoint_is_the_best_validation_point_and_its_value_is_recorded(tmp_path):
    """Only the evaluation point with the best validation value of the primary metric may be the chosen checkpoint
    (keeping the worst fails here), and summary.json records that value as ``best_val_<primary>``."""
    (trial,) = make_trials(tmp_path, budget="{d_steps: 60}", datasets="[digits]",
                           eval_="{every_d_steps: 10, n_samples: 200}")
    s = run_trial(trial, tmp_path / "t")
    history = [json.loads(line) for line in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    values = {h["d_steps"]: h["fid"] for h in history}
    assert len(set(values.values())) == len(values) == 6  # distinct values: one point alone is the best
    best = min(values, key=values.get)
    assert s["primary"] == "fid" and s["best_d_steps"] == best and s["best_val_fid"] == values[best]
