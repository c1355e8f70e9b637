"""Packs: K trials trained as one network give each member the numbers it gets alone (to float32 tolerance),
a diverging member is frozen while the others go on, and the runner groups only compatible trials."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand
from ganbench.execution.tune import make_packs
from ganbench.training import run_pack, run_trial

ADAM_EPS = 1e-8
COMPARED = ("d_loss", "g_loss", "g_grad_norm", "penalty", "d_acc_real", "began_m", "fid", "hq", "reverse_kl",
            "diversity")


def _trials(tmp_path, gans, arch, dataset, extra="", seeds="[0, 1]", steps=20,
            eval_="{every_d_steps: 1, n_samples: 64, n_real: 64}"):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: p\ndatasets: [{dataset}]\ngans: [{gans}]\narchitectures: [{arch}]\nseeds: {seeds}\n"
                 f"budget: {{d_steps: {steps}}}\neval: {eval_}\n{extra}")
    return expand(load_suite(p))


def _history(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def _rgb_folder(root: Path, n: int = 40, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


CASES = [  # (variant, architecture, dataset, extra suite text, how members run): every architecture, both ways of
    # running members (vmap; loop, the CPU default for convolutional networks), a penalty, BEGAN's state
    ("ns", "mlp", "ring8", "hparams: {batch_size: 16, lr: [1.0e-4, 3.0e-4]}\n", None),  # per-member learning rates
    ("wgan-gp", "mlp", "digits", "hparams: {batch_size: 16}\n", None),
    ("ns", "dcgan", "digits", "hparams: {batch_size: 16, d_norm: batch}\n", "vmap"),
    ("ns", "dcgan", "digits", "hparams: {batch_size: 16, d_norm: batch}\n", "loop"),
    ("began", "infogan", "digits", "hparams: {batch_size: 16}\n", None),
    ("hinge", "sndcgan", "digits", "hparams: {batch_size: 16, d_norm: spectral}\n", "vmap"),
    ("ns", "resnet", "imagefolder", "hparams: {batch_size: 8, width: 16}\n", None),
    # D on reals in the G step, R1 + R2 (R2 scores the fake batch), LeCam's state (anchors from D step 3 on)
    ("r3gan", "mlp", "ring8", "hparams: {batch_size: 16, penalty_weight: 1.0}\n", None),
    ("{name: rahinge-lecam, preset: rahinge, penalties: {r1: 1.0, lecam: {weight: 0.3, start: 3}}}", "dcgan", "digits",
     "hparams: {batch_size: 16}\n", "vmap"),
]


def _sync(solo, pack, k):
    """Give the single trial member k's whole state: networks, optimisers, random streams, loss and penalty state."""
    from ganbench.training.members import load_optimizer_member_state, optimizer_member_state
    from ganbench.training.parts import load_state_dict, state_dict

    solo.G.load_member_state(0, pack.G.member_state(k))
    solo.D.load_member_state(0, pack.D.member_state(k))
    load_optimizer_member_state(solo.opt_g, 0, optimizer_member_state(pack.opt_g, k))
    load_optimizer_member_state(solo.opt_d, 0, optimizer_member_state(pack.opt_d, k))
    solo.streams.load_member_state(0, pack.streams.member_state(k))
    state = {n: v[k:k + 1].clone() for n, v in state_dict(pack).items()}
    if state:
        load_state_dict(solo, state)


@pytest.mark.slow
@pytest.mark.parametrize("gan, arch, dataset, extra, mode", CASES, ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES])
def test_member_of_a_pack_steps_like_the_trial_alone(tmp_path, gan, arch, dataset, extra, mode):
    """At each of the first 20 steps, started from the member's own state (networks, optimisers, streams, loss
    state), the single trial computes the same D-step values (loss, penalty, D accuracies, BEGAN's k and M) and
    G-step values (loss, gradient norm) as the member does inside the pack, to float32 tolerance (rel 1e-4).

    After the step, the networks are compared through what they compute (G's samples and D's outputs on fixed
    probes), within 5% of the outputs' scale: Adam divides each gradient entry by |g| + eps, so where a gradient is
    near zero (a bias followed by batch norm has an exactly zero one, and batch norm cancels whole directions of a
    weight's gradient) it turns float32 summation-order noise (batched against single matmuls) into a step of
    either sign. A mixed-up pack (a member fed another's data, noise, gradient or weights) is off by the whole
    scale, from the first step."""
    from ganbench.training.parts import build_pack
    from ganbench.training.steps import Diagnostics, d_step, g_step

    if dataset == "imagefolder":
        folder = _rgb_folder(tmp_path / "rgb")
        dataset = f"{{name: imagefolder, options: {{path: {folder}, size: 32}}, extractor: random}}"
    trials = _trials(tmp_path, gan, arch, dataset, extra)
    cpu = torch.device("cpu")
    pack = build_pack(trials, cpu, mode=mode)
    solos = [build_pack([t], cpu) for t in trials]

    probe_z = torch.randn(1, 32, trials[0].hp.z_dim, generator=torch.Generator().manual_seed(0))
    probe_x = pack.x[:32].unsqueeze(0)
    probe_y = torch.zeros(1, 32, dtype=torch.long) if pack.conditional else None

    def outputs(members, k):
        """What member k's networks compute (eval mode) on fixed probes: G's samples and D's outputs."""
        members_g, members_d = members
        with torch.no_grad():
            members_g.eval(), members_d.eval()
            n = members_g.k
            z, x = probe_z.expand(n, -1, -1), probe_x.expand(n, *probe_x.shape[1:])
            y = None if probe_y is None else probe_y.expand(n, -1)
            out = members_g(z, y)[k], members_d(x, y)[k]
            members_g.train(), members_d.train()
        return out

    def compare(step, packed, alone, k):
        for key, value in alone.items():
            assert packed[key] == pytest.approx(value, rel=1e-4, abs=1e-6), (step, k, key)
        for a, b, what in zip(outputs((pack.G, pack.D), k), outputs((solos[k].G, solos[k].D), 0), ("G", "D")):
            assert (a - b).abs().max() <= 0.05 * a.abs().max(), (step, k, what, (a - b).abs().max().item())

    for step in range(20):
        reuse = step % 2 == 1  # alternate fresh and reused latents for the G step (compare_gan's reuse_z)
        latents = []
        for stage in ("d", "g"):
            for k, solo in enumerate(solos):
                _sync(solo, pack, k)
            dp = Diagnostics()
            if stage == "d":
                z, y = d_step(pack, dp)
            else:
                g_step(pack, dp, (z, y) if reuse else None)
            packed = dp.pop()
            for k, solo in enumerate(solos):
                d = Diagnostics()
                if stage == "d":
                    d_step(solo, d)
                else:
                    g_step(solo, d, (z[k:k + 1], None if y is None else y[k:k + 1]) if reuse else None)
                compare(step, packed[k], d.pop()[0], k)


def test_a_diverging_member_is_frozen_while_the_others_go_on(tmp_path):
    trials = _trials(tmp_path, "wgan", "mlp", "ring8", steps=200, seeds="[0]",
                     extra="hparams: {optimizer: adam, clip: 1.0e+9, lr: [1.0e+12, 1.0e-4]}\n",
                     eval_="{every_d_steps: 50, n_samples: 200}")
    bad, good = sorted(trials, key=lambda t: -t.hparams["lr"])
    summaries = run_pack([bad, good], [tmp_path / "bad", tmp_path / "good"])
    assert [s["status"] for s in summaries] == ["diverged", "completed"]
    assert summaries[0]["d_steps"] < 200 and summaries[1]["d_steps"] == 200
    alone = run_trial(good, tmp_path / "alone")
    for key in ("final_hq", "final_reverse_kl", "best_hq"):
        assert summaries[1][key] == pytest.approx(alone[key], rel=1e-3, abs=1e-3)
    assert all(math.isfinite(r["d_loss"]) for r in _history(tmp_path / "good"))


def test_packs_group_only_compatible_trials(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: g\ndatasets: [ring8]\ngans: [ns, wgan-gp]\narchitectures: [mlp]\nseeds: [0, 1, 2]\n"
                 "hparams: {lr: [1.0e-4, 2.0e-4], n_disc: [1, 2]}\nbudget: {d_steps: 10}\n")
    trials = expand(load_suite(p))
    packs = make_packs(trials, 4)
    assert sum(len(pk) for pk in packs) == len(trials) == 24
    for pk in packs:
        assert len(pk) <= 4 and len({t.pack_key() for t in pk}) == 1
        assert len({(t.gan, t.hparams["n_disc"]) for t in pk}) == 1
    # 4 groups (2 variants x 2 n_disc) of 6 trials (2 lr x 3 seeds): packs of 4 and 2
    assert sorted(len(pk) for pk in packs) == [2, 2, 2, 2, 4, 4, 4, 4]
    assert make_packs(trials, 1) == [[t] for t in trials]
    assert {t.id for t in trials} == {t.id for pk in packs for t in pk}  # packing never changes a trial's id
