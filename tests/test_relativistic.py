"""The relativistic family and the regularisers that came with it: each G loss is its D loss with real and fake
exchanged; the G step shows D a real batch only for the losses that ask (the D forwards of an ns G step stay what
they were); a variant with several penalties, each with its weight; every new loss with R1 + R2 + LeCam on every
architecture trains in a pack of 2 and resumes bitwise."""
import json

import pytest
import torch

from ganbench.datasets import DATASETS, Dataset, DatasetInfo, DataSplit
from ganbench.registry import GanbenchError
from ganbench.suite.expand import expand
from ganbench.suite.schema import load_suite
from ganbench.training import RunOptions, run_pack
from ganbench.zoo.losses import get_loss
from ganbench.zoo.models import ARCHITECTURES
from ganbench.zoo.variants import VARIANTS

RELATIVISTIC = ["rpgan", "rasgan", "ralsgan", "rahinge"]


@pytest.mark.parametrize("name", RELATIVISTIC)
def test_each_g_loss_is_its_d_loss_with_real_and_fake_exchanged(name):
    g = torch.Generator().manual_seed(4)
    a, b = 1.0 + torch.randn(3, 6, generator=g), -0.5 + 2.0 * torch.randn(3, 6, generator=g)
    loss = get_loss(name)
    assert torch.allclose(loss.g_loss(a, b), loss.d_loss(a, b))  # G: fake = a, real = b; D: real = a, fake = b
    assert torch.allclose(loss.g_objective(a, None, real_out=b), loss.d_loss(a, b))
    assert not torch.allclose(loss.g_loss(a, b), loss.d_loss(b, a))  # the exchange matters on asymmetric outputs
    with pytest.raises(TypeError, match="real batch"):
        loss.g_loss(a)


def test_average_forms_follow_the_paper_not_the_reference_codes_sign_error():
    """RaSGAN's second D term is f(C(x_f) - E C(x_r)); the original code's f(E C(x_f) - C(x_r)) is another number."""
    real, fake = torch.tensor([0.6, 0.5, 0.4]), torch.tensor([-6.0, 0.0, 6.0])  # fakes spread, reals not
    sp = torch.nn.functional.softplus
    paper = sp(-(real - fake.mean())).mean() + sp(fake - real.mean()).mean()
    buggy = sp(-(real - fake.mean())).mean() + sp(fake.mean() - real).mean()
    got = get_loss("rasgan").d_loss(real, fake)
    assert got.item() == pytest.approx(paper.item(), rel=1e-6) and abs(got.item() - buggy.item()) > 0.1


def test_each_relativistic_loss_has_a_variant_at_its_papers_defaults():
    for name in RELATIVISTIC:
        v = VARIANTS.get(name)
        assert v.loss == name and v.reference.startswith("Jolicoeur-Martineau 2018")
        assert v.defaults == {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_disc": 1}
    r3 = VARIANTS.get("r3gan")
    assert r3.loss == "rpgan" and r3.penalties == {"r1": "penalty_weight", "r2": "penalty_weight"}
    assert r3.defaults["beta1"] == 0.0


# ---- the G step
def _suite(tmp_path, gans, arch="mlp", dataset="digits", seeds="[0, 1]", hparams=""):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: r\ndatasets: [{dataset}]\ngans: [{gans}]\narchitectures: [{arch}]\nseeds: {seeds}\n"
                 "budget: {d_steps: 2}\neval: {every_d_steps: 1, n_samples: 32, n_real: 32, metrics: [swd]}\n"
                 f"hparams: {{width: 8, batch_size: 8{hparams}}}\n")
    return expand(load_suite(p))


class CountingD:
    """pack.D, recording each call's inputs and outputs."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, x, y=None):
        out = self.inner(x, y)
        self.calls.append((x.detach().clone(), out.detach().clone()))
        return out


@pytest.mark.parametrize("gan, d_norm, forwards", [("ns", "none", 1), ("ns", "batch", 1), ("rpgan", "none", 1),
                                                   ("rpgan", "batch", 2)])
def test_the_g_step_shows_d_a_real_batch_only_when_the_loss_asks(tmp_path, gan, d_norm, forwards):
    """ns: one D forward on the 2 x 8 generated samples, as before. rpgan: D also scores 8 real training samples per
    trial, in the same call where no layer of D couples samples (else in a second call), and the logged G loss is
    rpgan's G formula on those outputs."""
    from ganbench.training.parts import build_pack
    from ganbench.training.steps import Diagnostics, g_step

    trials = _suite(tmp_path, gan, hparams=f", d_norm: {d_norm}")
    pack = build_pack(trials, torch.device("cpu"))
    pack.D = counting = CountingD(pack.D)
    diag = Diagnostics()
    g_step(pack, diag)
    assert len(counting.calls) == forwards
    seen = torch.cat([x for x, _ in counting.calls], 1)  # [K, n, ...] inputs over the calls
    outs = torch.cat([o for _, o in counting.calls], 1)
    assert seen.shape[:2] == (2, 8 if gan == "ns" else 16)
    if gan == "rpgan":
        real, fake_out, real_out = seen[:, :8], outs[:, 8:], outs[:, :8]
        rows = pack.x.flatten(1)
        for k in range(2):  # the real half is drawn from the training split
            assert all((rows == r).all(1).any() for r in real[k].flatten(1))
        expected = torch.nn.functional.softplus(-(fake_out - real_out)).mean(-1)
        logged = [m["g_loss"] for m in diag.pop()]
        assert logged == pytest.approx(expected.tolist(), rel=1e-5)


# ---- several penalties on one variant
def test_several_penalties_each_with_its_weight(tmp_path):
    (t,) = _suite(tmp_path, "{name: x, preset: hinge, penalties: {r1: penalty_weight, r2: 2.5, "
                            "lecam: {weight: 0.3, decay: 0.9}}}", seeds="[0]")
    assert t.penalty == "r1+r2+lecam"
    t = t.__class__.from_dict({**t.to_dict(), "hparams": {**t.hparams, "penalty_weight": 4.0}})
    assert t.regularisers() == [("r1", {}, 4.0), ("r2", {}, 2.5), ("lecam", {"decay": 0.9}, 0.3)]
    (r3,) = _suite(tmp_path, "r3gan", seeds="[0]")
    assert r3.regularisers() == [("r1", {}, 0.025), ("r2", {}, 0.025)]
    (single,) = _suite(tmp_path, "r1", seeds="[0]")
    assert single.penalties == {} and "penalties" not in single.identity()
    assert single.regularisers() == [("r1", {}, 5.0)]


@pytest.mark.parametrize("gans, message", [
    ("{name: x, preset: ns, penalties: {r3: 1.0}}", r"gans\[0\].penalties: unknown penalty 'r3'"),
    ("{name: x, preset: ns, penalties: {r1: lots}}", r"penalties.r1: weight='lots' is not allowed"),
    ("{name: x, preset: ns, penalties: {lecam: {weight: 0.3, decay: 2}}}", r"gans\[0\].penalties: .*decay=2"),
    ("{name: x, preset: r3gan, penalty_options: {eps: 1}}", r"several penalties; give each its options"),
    ("{name: x, preset: began, loss_options: {gamma: 0.5}}", r"set by the hyperparameter began_gamma"),
])
def test_bad_penalties_are_one_line_errors(tmp_path, gans, message):
    with pytest.raises(GanbenchError, match=message):
        _suite(tmp_path, gans)


# ---- every new loss with the new penalties on every architecture: a pack of 2, resumed bitwise
class Blobs32(Dataset):
    """A small labelled 3x32x32 dataset (the resnet architecture serves 32 and 64 only)."""

    def info(self, options):
        return DatasetInfo("blobs32r", "image", (3, 32, 32), num_classes=2, default_metrics=("fid",),
                           default_extractor="random", primary="fid")

    def load(self, split, data_dir, options):
        g = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[split])
        y = torch.randint(2, (64,), generator=g)
        x = torch.rand(64, 3, 32, 32, generator=g) * 0.2 - 0.1 + (y.float() * 1.2 - 0.6).view(-1, 1, 1, 1)
        return DataSplit(x.clamp(-1, 1), y)


class Interrupt(Exception):
    pass


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.endswith("seconds") and k != "resumed_from"}


def _same(a, b):
    ha, hb = ([_strip(json.loads(x)) for x in (d / "metrics.jsonl").read_text().splitlines()] for d in (a, b))
    assert ha == hb
    ca, cb = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (a, b))
    for part in ("generator", "discriminator", "loss_state"):
        assert ca[part].keys() == cb[part].keys()
        assert all(torch.equal(ca[part][k], cb[part][k]) for k in ca[part]), part
    assert {"lecam.a_real", "lecam.a_fake", "lecam.steps"} <= set(ca["loss_state"])


ARCHS = ARCHITECTURES.names()
COMBOS = [(loss, arch) for arch in ARCHS for loss in RELATIVISTIC]
QUICK = [(RELATIVISTIC[i % 4], arch) for i, arch in enumerate(ARCHS)]  # every loss and every architecture once


@pytest.mark.parametrize("loss, arch", [c if c in QUICK else pytest.param(*c, marks=pytest.mark.slow) for c in COMBOS],
                         ids=[f"{c[0]}-{c[1]}" for c in COMBOS])
def test_new_losses_and_penalties_train_in_a_pack_and_resume_bitwise(tmp_path, loss, arch):
    dataset = {"resnet": "blobs32r", "pacgan2d": "ring8"}.get(arch, "digits")
    gans = f"{{name: x, preset: {loss}, penalties: {{r1: 1.0, r2: 1.0, lecam: 0.3}}}}"
    with DATASETS.temporarily("blobs32r", Blobs32(), help="test-only 3x32x32 blobs"):
        trials = _suite(tmp_path, gans, arch=arch, dataset=dataset)
        dirs = lambda tag: [tmp_path / f"{tag}{i}" for i in range(2)]  # noqa: E731
        options = RunOptions(checkpoint_every_d_steps=1)
        full = run_pack(trials, dirs("full"), options=options)

        def stop(kind, k, payload):
            if kind == "checkpoint" and payload["d_steps"] == 1:
                raise Interrupt()

        with pytest.raises(Interrupt):
            run_pack(trials, dirs("cut"), on_event=stop, options=options)
        resumed = run_pack(trials, dirs("cut"), options=options)
    for f, r, a, b in zip(full, resumed, dirs("full"), dirs("cut")):
        assert f["status"] == "completed" and r["resumed_from"] == 1 and _strip(r) == _strip(f)
        _same(a, b)


def test_list_and_show_describe_the_new_parts_with_their_references(capsys):
    from ganbench.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, ref in (("rpgan", "Jolicoeur-Martineau 2018"), ("rasgan", "Jolicoeur-Martineau 2018"),
                      ("ralsgan", "Jolicoeur-Martineau 2018"), ("rahinge", "Jolicoeur-Martineau 2018"),
                      ("r3gan", "Huang et al. 2024"), ("hinge-lecam", "Tseng et al. 2021"), ("r2", "Mescheder 2018"),
                      ("lecam", "Tseng 2021")):
        assert any(line.split()[:1] == [name] and ref in line for line in out.splitlines()), name
    assert main(["show", "r3gan", "hinge-lecam"]) == 0
    out = capsys.readouterr().out
    assert "reference: Huang et al. 2024 (R3GAN)" in out
    assert "penalty: r1 (no options), weight penalty_weight=0.025" in out
    assert "penalty: r2 (no options), weight penalty_weight=0.025" in out
    assert "penalty: lecam (decay=0.99, start=1000), weight 0.3" in out
    assert "loss: rpgan (no options): relativistic pairing GAN" in out


def test_relativistic_accuracies_are_relative_to_the_other_batchs_mean():
    real, fake = torch.tensor([[3.0, 1.0, -1.0]]), torch.tensor([[2.0, -4.0, 0.5]])  # means 1.0 and -0.5
    diag = get_loss("rasgan").diagnostics(real, fake, None, None)
    assert diag["d_acc_real"].tolist() == pytest.approx([2 / 3])  # 3 and 1 above the fakes' mean -0.5
    assert diag["d_acc_fake"].tolist() == pytest.approx([2 / 3])  # -4 and 0.5 below the reals' mean 1.0
