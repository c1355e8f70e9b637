"""The generator EMA: the half-life-in-images to beta conversion, the average against a hand-computed one (single
trials and stacked pack members), buffers copied, its state round trip, and the EMA generator scored and labelled
as such in the metrics' provenance."""
import json

import pytest
import torch
from torch import nn

from ganbench.suite.expand import expand
from ganbench.suite.schema import load_suite
from ganbench.training import run_trial
from ganbench.training.ema import GeneratorEMA, ema_beta
from ganbench.training.members import Members


def test_beta_from_a_half_life_in_images():
    assert ema_beta(64, 10_000) == 0.5 ** (64 / 10_000)
    # after half_life / batch updates, the starting weights count for one half
    assert ema_beta(100, 1_000) ** 10 == pytest.approx(0.5, rel=1e-12)
    # rampup (StyleGAN2-ADA): half-life min(half_life, rampup * images so far); the first update copies G
    assert ema_beta(64, 10_000, rampup=0.05, images_done=0) == 0.0
    assert ema_beta(64, 10_000, rampup=0.05, images_done=64_000) == 0.5 ** (64 / 3_200)
    assert ema_beta(64, 10_000, rampup=0.05, images_done=1e9) == 0.5 ** (64 / 10_000)


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


@pytest.mark.parametrize("k", [1, 2])
def test_the_average_is_the_hand_computed_one(k):
    nets = [_net(s) for s in range(k)]
    G = Members(nets, "vmap" if k > 1 else None)
    ema = GeneratorEMA(G, nets, half_life_images=40.0, rampup=None, images_per_step=8)
    beta = 0.5 ** (8 / 40)
    expected = [{n: v.clone() for n, v in net.state_dict().items()} for net in nets]
    gen = torch.Generator().manual_seed(1)
    for step in range(5):
        for i in range(k):  # a G step: new weights and batch-norm statistics
            new = {n: torch.randn(v.shape, generator=gen) if v.is_floating_point() else v + 1
                   for n, v in G.member_state(i).items()}
            G.load_member_state(i, new)
            for n, v in new.items():
                param = not n.endswith(("running_mean", "running_var", "num_batches_tracked"))
                expected[i][n] = beta * expected[i][n] + (1 - beta) * v if param else v.clone()
        ema.update(G)
        for i in range(k):
            got = ema.G.member_state(i)
            for n in got:
                assert torch.allclose(got[n].double(), expected[i][n].double(), atol=1e-6), (step, i, n)
    assert ema.updates == 5


def test_state_round_trip_and_a_frozen_member_does_not_hold_the_count_back():
    nets = [_net(s) for s in range(2)]
    G = Members(nets, "vmap")
    ema = GeneratorEMA(G, nets, 100.0, None, 4)
    ema.update(G)
    state = {n: v.clone() for n, v in ema.state_dict().items()}
    state["ema.updates"][0] = 0  # a frozen member's zeroed entry
    other = GeneratorEMA(G, [_net(5), _net(6)], 100.0, None, 4)
    other.load_state_dict(state)
    assert other.updates == 1
    for n in ema.G.keys:
        assert torch.equal(other.G.member_state(1)[n], ema.G.member_state(1)[n])


def _run(tmp_path, tag, hparams):
    p = tmp_path / f"{tag}.yaml"
    p.write_text(f"name: e\ndatasets: [digits]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0]\n"
                 f"hparams: {{batch_size: 16, ema_half_life_images: 160.0, {hparams}}}\nbudget: {{d_steps: 40}}\n"
                 "eval: {every_d_steps: 20, n_samples: 100}\n")
    (trial,) = expand(load_suite(p))
    summary = run_trial(trial, tmp_path / tag)
    history = [json.loads(x) for x in (tmp_path / tag / "metrics.jsonl").read_text().splitlines()]
    return summary, history


def test_the_ema_generator_is_scored_and_labelled(tmp_path):
    """Training does not depend on which generator is scored, so the numbers scored ``instead`` of G are exactly
    those scored ``beside`` it (``ema_<value>``), and differ from the raw G's; the provenance says which is which."""
    instead, h_instead = _run(tmp_path, "instead", "ema_eval: instead")
    beside, h_beside = _run(tmp_path, "beside", "ema_eval: beside")
    for a, b in zip(h_instead, h_beside):
        assert a["fid"] == b["ema_fid"] and a["fid"] != b["fid"]
    assert instead["final_fid"] == beside["ema_final_fid"] != beside["final_fid"]
    assert "ema_fid" not in h_instead[0] and "ema_final_fid" not in instead
    assert h_instead[0]["provenance"]["generator"] == {"weights": "ema", "half_life_images": 160.0, "rampup": None,
                                                      "images_per_g_step": 16}
    assert instead["provenance"]["generator"]["weights"] == "ema"
    assert h_beside[0]["provenance"]["generator"] == {"weights": "raw"}
    assert h_beside[0]["provenance"]["ema_values"]["prefix"] == "ema_"
    # the best checkpoint holds the EMA's weights: scored on test it gives best_fid again
    best = torch.load(tmp_path / "instead" / "best_generator.pt", weights_only=True)
    ck = torch.load(tmp_path / "instead" / "checkpoint.pt", weights_only=True)
    ema_final = {n[4:]: v for n, v in ck["loss_state"].items() if n.startswith("ema.") and n != "ema.updates"}
    assert best["d_steps"] in (20, 40) and set(best["generator"]) == set(ema_final)
    if best["d_steps"] == 40:  # the final EMA is the best one
        assert all(torch.equal(best["generator"][n], ema_final[n]) for n in ema_final)
    assert not all(torch.equal(ck["generator"][n], ema_final[n]) for n in ema_final)
