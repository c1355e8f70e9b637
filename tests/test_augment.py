"""Augmentation of D's input (DiffAugment, ADA) and consistency regularisation (CR, bCR): each transform against
hand-computed pixels and gradients, ADA's p update against its rule, CR and bCR against their formulas, the options
in packs (a member steps as it does alone) and a resume that is bitwise identical."""
import json

import pytest
import torch

from ganbench.registry import GanbenchError
from ganbench.suite.expand import expand
from ganbench.suite.schema import load_suite
from ganbench.training import RunOptions, run_pack, run_trial
from ganbench.training.streams import Streams
from ganbench.zoo import augment as A


def _image(h=4, w=4, c=1):
    return torch.arange(c * h * w, dtype=torch.float64).reshape(1, c, h, w) + 1.0


def _grad(fn, x, weight):
    x = x.clone().requires_grad_(True)
    (fn(x) * weight).sum().backward()
    return x.grad


def test_translation_shifts_pixels_pads_zeros_and_passes_gradients():
    x = _image()  # 4x4: shifts of up to int(4/8 + 0.5) = 1 pixel
    u = torch.tensor([[0.9, 0.5]])  # tx = floor(0.9 * 3) - 1 = 1, ty = floor(0.5 * 3) - 1 = 0
    out = A.translation(x, u)
    expected = torch.zeros_like(x)
    expected[0, 0, :3] = x[0, 0, 1:]  # out[i, j] = x[i + 1, j]; the last row is padded with zeros
    assert torch.equal(out, expected)
    u = torch.tensor([[0.5, 0.0]])  # tx = 0, ty = -1: out[i, j] = x[i, j - 1]
    expected = torch.zeros_like(x)
    expected[0, 0, :, 1:] = x[0, 0, :, :3]
    assert torch.equal(A.translation(x, u), expected)
    w = torch.rand_like(x)
    g = _grad(lambda v: A.translation(v, u), x, w)  # d/dx[i, j] = w[i, j + 1]; the last column feeds nothing
    assert torch.equal(g[..., :3], w[..., 1:]) and torch.equal(g[..., 3], torch.zeros_like(g[..., 3]))


def test_cutout_zeros_a_square_and_its_gradient():
    x = _image()  # side 4: a 2x2 square; offsets in [0, 4 + 1)
    u = torch.tensor([[0.5, 0.0]])  # rows from floor(2.5) - 1 = 1 to 2, columns from -1 to 0 (clipped)
    keep = torch.ones_like(x)
    keep[0, 0, 1:3, 0] = 0
    assert torch.equal(A.cutout(x, u), x * keep)
    w = torch.rand_like(x)
    assert torch.equal(_grad(lambda v: A.cutout(v, u), x, w), w * keep)


def test_colour_transforms_match_diffaugment_and_their_gradients():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    u = torch.tensor([[0.2], [0.9]], dtype=torch.float64)
    c = u[:, :, None, None]
    assert torch.allclose(A.brightness(x, u), x + c - 0.5)
    mean_c = x.mean(1, keepdim=True)
    assert torch.allclose(A.saturation(x, u), (x - mean_c) * 2 * c + mean_c)
    mean = x.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(A.contrast(x, u), (x - mean) * (c + 0.5) + mean)
    w = torch.rand_like(x)
    # d/dx of sum(w * ((x - mean) * f + mean)) = f * w + (1 - f) * mean(w), the mean over what ``mean`` averages
    assert torch.allclose(_grad(lambda v: A.contrast(v, u), x, w), (c + 0.5) * w + (0.5 - c) * w.mean((1, 2, 3), True))
    assert torch.allclose(_grad(lambda v: A.saturation(v, u), x, w), 2 * c * w + (1 - 2 * c) * w.mean(1, True))
    assert torch.equal(_grad(lambda v: A.brightness(v, u), x, w), w)


def test_flip_and_rot90():
    x = _image()
    assert torch.equal(A.flip(x, torch.tensor([[0.3]])), x.flip(3))
    assert torch.equal(A.flip(x, torch.tensor([[0.7]])), x)
    for q in range(4):
        assert torch.equal(A.rot90(x, torch.tensor([[q / 4 + 0.1]])), torch.rot90(x, q, dims=(2, 3)))


def test_ada_gates_each_transform_with_p():
    x = _image().repeat(2, 1, 1, 1)
    prims = ("flip",)
    u = torch.tensor([[0.1, 0.3], [0.1, 0.3]])  # flip draw 0.1 (flips), gate draw 0.3
    out = A.apply_policy(x, prims, u, torch.tensor([0.2, 0.4]))  # gate 0.3 < p: only the second image
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], x[1].flip(2))


def test_policies_parse_and_refuse_unknown_names():
    assert A.parse_policy("color,translation") == ("brightness", "saturation", "contrast", "translation")
    with pytest.raises(GanbenchError, match="did you mean 'cutout'"):
        A.parse_policy("color,cutuot")


def test_a_trial_draws_the_same_augmentation_alone_and_in_a_pack():
    x = torch.randn(1, 5, 1, 8, 8).expand(2, -1, -1, -1, -1).contiguous()
    prims = A.parse_policy(A.DEFAULT_POLICY["diffaugment"])
    pack = Streams([3, 4], "cpu")
    both = A.augment_images(x, prims, lambda s: pack.uniform("aux", s))
    for k, seed in enumerate((3, 4)):
        alone = Streams([seed], "cpu")
        assert torch.equal(both[k], A.augment_images(x[k:k + 1], prims, lambda s: alone.uniform("aux", s))[0])
    assert not torch.equal(both[0], both[1])  # each member its own draws


def test_ada_p_follows_the_sign_rule():
    """p <- clip(p + sign(r_t - target) * images_per_step * interval / (kimg * 1000), 0, 1) every interval D steps,
    r_t the mean sign of D(real) over the interval."""
    ada = A.AdaController(k=2, device="cpu", target=0.6, kimg=0.1, interval=2, images_per_step=10)
    step = 10 * 2 / 100  # 0.2
    signs = [(1, -1), (1, -1), (1, 1), (1, 1), (1, 1), (-1, 1), (1, 1), (1, 1)]  # per D step, per member
    expected = torch.zeros(2)
    history = []
    for i, (a, b) in enumerate(signs):
        ada.observe(torch.tensor([[a, a, a, 0.5 * a], [b, b, b, b]]))  # sign, not magnitude
        if i % 2 == 1:
            rt = torch.tensor([sum(s[0] for s in signs[i - 1:i + 1]) / 2, sum(s[1] for s in signs[i - 1:i + 1]) / 2])
            expected = (expected + torch.sign(rt - 0.6) * step).clamp(0, 1)
        history.append(ada.p.clone())
        assert torch.allclose(ada.p, expected), i
    # member 0: r_t = 1, 1, 0, 1 -> 0.2, 0.4, 0.2, 0.4; member 1: -1, 1, 1, 1 -> 0 (clipped), 0.2, 0.4, 0.6
    assert torch.allclose(history[-1], torch.tensor([0.4, 0.6]))
    assert torch.equal(history[0], torch.zeros(2))  # nothing moves between updates
    ada.observe(torch.full((2, 4), 0.6))  # signs, not outputs, are averaged: r_t = 1 > 0.6, so p moves up
    ada.observe(torch.full((2, 4), 0.6))
    assert torch.allclose(ada.p, torch.tensor([0.6, 0.8]))


def test_consistency_term_is_crs_formula_on_a_tiny_d():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 1).double()

    def D(v):  # [K, B, 1, 4, 4] -> [K, B]
        return lin(v.flatten(2)).squeeze(-1)

    x = torch.randn(1, 3, 1, 4, 4, dtype=torch.float64)
    u = torch.tensor([[[0.2, 0.9, 0.5], [0.7, 0.5, 0.0], [0.4, 0.1, 0.9]]], dtype=torch.float64)  # flip, tx, ty
    term = A.consistency_term(D, x, D(x), lambda shape: u)
    t = x.clone()
    t[0, 0] = x[0, 0].flip(-1)
    t[0, 2] = x[0, 2].flip(-1)  # flip where u < 0.5 (images 0 and 2)
    shifted = torch.zeros_like(t)
    shifted[0, 0, :, :3] = t[0, 0, :, 1:]  # image 0: tx = +1: out[i] = t[i + 1]
    shifted[0, 1, :, :, 1:] = t[0, 1, :, :, :3]  # image 1: tx = 0, ty = -1: out[:, j] = t[:, j - 1]
    shifted[0, 2, :, 1:, :3] = t[0, 2, :, :3, 1:]  # image 2: tx = -1, ty = +1: out[i, j] = t[i - 1, j + 1]
    expected = (D(x) - D(shifted)).pow(2).mean(1)
    assert torch.allclose(term, expected)
    # both outputs carry D's gradient (the CR paper's loss; StudioGAN's too)
    got = torch.autograd.grad(term.sum(), lin.weight)[0]
    assert torch.allclose(got, torch.autograd.grad(expected.sum(), lin.weight)[0])


def test_cr_and_bcr_are_weighted_into_the_d_objective(tmp_path):
    """d_step's CR and bCR values equal the formula at the networks before the step, and the step's D loss moves by
    their weighted sum (a zero weight leaves no trace)."""
    from ganbench.training.parts import build_pack
    from ganbench.training.steps import _consistency

    (trial,) = _trials(tmp_path, "{cr_weight: 2.0, bcr_weight: 3.0, batch_size: 8}", seeds="[0]")
    pack = build_pack([trial], torch.device("cpu"))
    real, fake = torch.randn(1, 8, 1, 8, 8), torch.randn(1, 8, 1, 8, 8)
    state = pack.streams.member_state(0)
    values = {}
    total = _consistency(pack, real, None, pack.D(real), fake, None, pack.D(fake), values)
    pack.streams.load_member_state(0, state)
    draw = lambda s: pack.streams.uniform("aux", s)  # noqa: E731
    cr = A.consistency_term(pack.D, real, pack.D(real), draw)
    bcr = A.consistency_term(pack.D, fake, pack.D(fake), draw)
    assert torch.allclose(values["cr"], cr) and torch.allclose(values["bcr"], bcr)
    assert torch.allclose(total, 2.0 * cr + 3.0 * bcr)
    assert float(cr.detach()) > 0 and float(bcr.detach()) > 0


# ---------------------------------------------------------------------------------------------- in the trainer
def _trials(tmp_path, hparams, seeds="[0, 1]", steps=60, arch="mlp"):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: a\ndatasets: [digits]\ngans: [ns]\narchitectures: [{arch}]\nseeds: {seeds}\n"
                 f"hparams: {hparams}\nbudget: {{d_steps: {steps}}}\neval: {{every_d_steps: 15, n_samples: 100}}\n")
    return expand(load_suite(p))


OPTIONS = [
    "{augment: diffaugment, batch_size: 16}",
    "{augment: ada, ada_kimg: 0.2, ada_interval: 2, batch_size: 16}",
    "{augment: ada, augment_policy: 'flip,geom,adacolor', ada_kimg: 0.2, ada_interval: 2, batch_size: 16}",
    "{cr_weight: 5.0, bcr_weight: 2.0, batch_size: 16}",
    "{augment: diffaugment, cr_weight: 1.0, ema_half_life_images: 200.0, ema_rampup: 0.1, batch_size: 16}",
]


@pytest.mark.parametrize("hparams", OPTIONS)
def test_a_member_of_a_pack_steps_like_the_trial_alone(tmp_path, hparams):
    """Two D and G steps of a pack (K = 2) against each trial alone from the member's state (networks, optimisers,
    streams, ADA's p, the EMA): the same losses, CR values and ADA p (rel 1e-4), the same G and EMA outputs."""
    from ganbench.training.optimizers import load_optimizer_member_state, optimizer_member_state
    from ganbench.training.parts import build_pack, load_state_dict, state_dict
    from ganbench.training.steps import Diagnostics, d_step, g_step

    trials = _trials(tmp_path, hparams)
    cpu = torch.device("cpu")
    pack = build_pack(trials, cpu)
    solos = [build_pack([t], cpu) for t in trials]
    probe = torch.randn(1, 16, trials[0].hp.z_dim, generator=torch.Generator().manual_seed(0))
    for _ in range(4):  # ADA's p moves after 2 D steps
        for stage in ("d", "g"):
            for k, solo in enumerate(solos):
                solo.G.load_member_state(0, pack.G.member_state(k))
                solo.D.load_member_state(0, pack.D.member_state(k))
                load_optimizer_member_state(solo.opt_g, 0, optimizer_member_state(pack.opt_g, k))
                load_optimizer_member_state(solo.opt_d, 0, optimizer_member_state(pack.opt_d, k))
                solo.streams.load_member_state(0, pack.streams.member_state(k))
                load_state_dict(solo, {n: v[k:k + 1].clone() for n, v in state_dict(pack).items()})
            dp = Diagnostics()
            d_step(pack, dp) if stage == "d" else g_step(pack, dp)
            packed = dp.pop()
            d_values = packed[0] if stage == "d" else d_values
            for k, solo in enumerate(solos):
                d = Diagnostics()
                d_step(solo, d) if stage == "d" else g_step(solo, d)
                alone = d.pop()[0]
                assert set(alone) == set(packed[k])
                for key, value in alone.items():
                    assert packed[k][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (stage, k, key)
                for n, v in state_dict(solo).items():
                    assert torch.allclose(v[0].float(), state_dict(pack)[n][k].float(), rtol=1e-4, atol=1e-5), n
                if pack.ema is not None:
                    with torch.no_grad():
                        a = pack.ema.G(probe.expand(2, -1, -1))[k]
                        b = solo.ema.G(probe)[0]
                    assert torch.allclose(a, b, atol=1e-4)
    if pack.augment is not None and pack.augment.ada is not None:
        assert float(pack.augment.ada.p.max()) > 0  # p moved
    if "cr_weight" in hparams:
        assert "cr" in d_values


class Interrupt(Exception):
    pass


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.endswith("seconds") and k != "resumed_from"}


def _history(path):
    return [_strip(json.loads(x)) for x in (path / "metrics.jsonl").read_text().splitlines()]


def test_a_resumed_pack_with_every_option_equals_the_uninterrupted_run(tmp_path):
    """ADA (p and its running statistic), CR, bCR and the EMA in the checkpoint: cut at D step 40 and resumed, a
    pack ends with exactly the numbers and weights of the run that was not cut."""
    trials = _trials(tmp_path, "{augment: ada, augment_policy: 'flip,translation,geom,adacolor', ada_kimg: 0.3, "
                               "ada_interval: 3, cr_weight: 1.0, bcr_weight: 1.0, ema_half_life_images: 300.0, "
                               "batch_size: 16}")
    options = RunOptions(checkpoint_every_d_steps=20)
    dirs = lambda tag: [tmp_path / f"{tag}{i}" for i in range(len(trials))]  # noqa: E731

    def stop(kind, k, payload):
        if kind == "checkpoint" and payload["d_steps"] == 40:
            raise Interrupt()

    full = run_pack(trials, dirs("full"), options=options)
    with pytest.raises(Interrupt):
        run_pack(trials, dirs("cut"), on_event=stop, options=options)
    resumed = run_pack(trials, dirs("cut"), options=options)
    for f, r, a, b in zip(full, resumed, dirs("full"), dirs("cut")):
        assert r["resumed_from"] == 40 and _strip(r) == _strip(f)
        ha, hb = _history(a), _history(b)
        assert ha == hb and 0 < ha[-1]["ada_p"] and "cr" in ha[-1] and "bcr" in ha[-1]
        ca, cb = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (a, b))
        assert any(n.startswith("ema.") for n in ca["loss_state"])
        for n in ca["loss_state"]:
            assert torch.equal(ca["loss_state"][n], cb["loss_state"][n]), n
        for n in ca["generator"]:
            assert torch.equal(ca["generator"][n], cb["generator"][n]), n


def test_ada_p_is_recorded_at_every_evaluation_point(tmp_path):
    (trial,) = _trials(tmp_path, "{augment: ada, ada_kimg: 0.5, batch_size: 16}", seeds="[0]")
    run_trial(trial, tmp_path / "t")
    history = _history(tmp_path / "t")
    assert len(history) == 4 and all(0 <= r["ada_p"] <= 1 and -1 <= r["ada_rt"] <= 1 for r in history)
    assert len({r["ada_p"] for r in history}) > 1  # it moves


@pytest.mark.parametrize("hparams, dataset, match", [
    ("{augment: diffaugment}", "ring8", "toy dataset"),
    ("{cr_weight: 1.0}", "ring8", "toy dataset"),
    ("{ada_target: 0.5}", "digits", "ada_target applies with augment: ada"),
    ("{augment_policy: color}", "digits", "augment_policy applies with augment"),
    ("{augment: diffaugment, augment_policy: 'color,sheer'}", "digits", "unknown augmentation transform 'sheer'"),
    ("{ema_rampup: 0.05}", "digits", "ema_rampup and ema_eval apply with ema_half_life_images"),
])
def test_mistakes_are_one_line_errors(tmp_path, hparams, dataset, match):
    from ganbench.suite.checks import check_trial

    p = tmp_path / "s.yaml"
    p.write_text(f"name: a\ndatasets: [{dataset}]\ngans: [ns]\narchitectures: [mlp]\nhparams: {hparams}\n"
                 "budget: {d_steps: 10}\n")
    with pytest.raises(GanbenchError, match=match):
        for t in expand(load_suite(p)):
            check_trial(t)


def test_ada_and_cr_refuse_an_autoencoder_d(tmp_path):
    from ganbench.suite.checks import check_trial

    p = tmp_path / "s.yaml"
    p.write_text("name: a\ndatasets: [digits]\ngans: [began]\narchitectures: [mlp]\nhparams: {augment: ada}\n"
                 "budget: {d_steps: 10}\n")
    with pytest.raises(GanbenchError, match="read D's output as a logit"):
        check_trial(expand(load_suite(p))[0])


def test_adas_geometric_transforms_against_known_maps_and_their_gradients():
    """ADA's geometric transforms: no change at the draws that mean none (z = 0, angle 0), a rotation by a quarter
    turn at u = 0.75 (0.25) equals rot90 by one (three) quarters, a translation by 1/8 of an 8-pixel side (z = 1)
    moves every column by one pixel with the border reflected, an isotropic scaling by 2^0.6 (z = 3) samples
    the image's centre at its offsets over 2^0.6; gradients through each by torch.autograd.gradcheck; 'geom' names
    the four in order."""
    from torch.special import ndtr

    x = torch.arange(64, dtype=torch.float64).reshape(1, 1, 8, 8)
    half = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    for fn in (A.scale, A.rotate, A.aniso, A.xfrac):
        assert torch.allclose(fn(x, half), x, atol=1e-9), fn.__name__
    for u, turns in ((0.75, 1), (0.25, 3)):
        assert torch.allclose(A.rotate(x, torch.tensor([[u]], dtype=torch.float64)),
                              torch.rot90(x, turns, dims=(2, 3)), atol=1e-9)
    one = float(ndtr(torch.tensor(1.0, dtype=torch.float64)))
    shifted = A.xfrac(x, torch.tensor([[one, 0.5]], dtype=torch.float64))  # +1 pixel along the width
    assert torch.allclose(shifted[..., 1:], x[..., :-1], atol=1e-6)
    assert torch.allclose(shifted[..., 0], x[..., 0], atol=1e-6)  # reflected at the border
    down = A.xfrac(x, torch.tensor([[0.5, one]], dtype=torch.float64))  # +1 pixel along the height
    assert torch.allclose(down[..., 1:, :], x[..., :-1, :], atol=1e-6)
    zoom = A.scale(x, torch.tensor([[float(ndtr(torch.tensor(3.0, dtype=torch.float64)))]], dtype=torch.float64))
    # s = 2^(0.2 * 3): output pixel (i, j) samples the input at the centre (3.5) plus its offset over s
    rows = 3.5 + (torch.arange(8, dtype=torch.float64) - 3.5) / 2 ** 0.6
    expected = rows[:, None] * 8 + rows[None, :]  # x is linear in (row, column): bilinear sampling is exact
    assert torch.allclose(zoom[0, 0], expected, atol=1e-6)
    small = torch.rand(2, 1, 5, 5, dtype=torch.float64)
    u = torch.rand(2, 2, dtype=torch.float64)
    for fn in (A.scale, A.rotate, A.aniso, A.xfrac):
        assert torch.autograd.gradcheck(lambda v: fn(v, u), (small.clone().requires_grad_(True),)), fn.__name__
    assert A.parse_policy("flip,geom") == ("flip", "scale", "rotate", "aniso", "xfrac")
    assert A.draws_per_image(A.parse_policy("geom"), gated=True) == 1 + 1 + 1 + 2 + 4


def test_adas_colour_transforms_against_their_matrices_and_their_gradients():
    """ADA's colour transforms on RGB in [-1, 1]: brightness adds 0.2 z, contrast multiplies by 2^(0.5 z) about 0,
    saturation scales the chroma about the luma axis by 2^z, the luma flip inverts the mean over the channels and
    keeps the chroma (twice is no change), a hue rotation by 120 degrees about the luma axis permutes R, G, B and
    keeps the luma; one channel: hue is no change and the luma flip negates; gradients by gradcheck."""
    from torch.special import ndtr

    x = torch.rand(2, 3, 4, 4, dtype=torch.float64) * 2 - 1
    z1 = torch.full((2, 1), float(ndtr(torch.tensor(1.0, dtype=torch.float64))), dtype=torch.float64)
    assert torch.allclose(A.ada_brightness(x, z1), x + 0.2)
    assert torch.allclose(A.ada_contrast(x, z1), x * 2 ** 0.5)
    luma = x.mean(dim=1, keepdim=True)
    assert torch.allclose(A.ada_saturation(x, z1), luma + 2 * (x - luma))
    flipped = A.lumaflip(x, torch.zeros(2, 1))
    assert torch.allclose(flipped.mean(dim=1), -x.mean(dim=1)) and torch.allclose(flipped - flipped.mean(1, True),
                                                                                    x - luma)
    assert torch.equal(A.lumaflip(x, torch.full((2, 1), 0.7)), x)
    turned = A.hue(x, torch.full((2, 1), 5 / 6, dtype=torch.float64))  # angle (2u - 1) pi = 2 pi / 3
    assert torch.allclose(turned, x[:, [2, 0, 1]]) and torch.allclose(turned.mean(dim=1), x.mean(dim=1))
    gray = x[:, :1]
    assert torch.equal(A.hue(gray, z1), gray) and torch.allclose(A.lumaflip(gray, torch.zeros(2, 1)), -gray)
    assert torch.allclose(A.ada_saturation(gray, z1), gray)
    u = torch.rand(2, 1, dtype=torch.float64)
    small = torch.rand(2, 3, 3, 3, dtype=torch.float64)
    for fn in (A.ada_brightness, A.ada_contrast, A.lumaflip, A.hue, A.ada_saturation):
        assert torch.autograd.gradcheck(lambda v: fn(v, u), (small.clone().requires_grad_(True),)), fn.__name__
    assert A.parse_policy("adacolor") == ("ada_brightness", "ada_contrast", "lumaflip", "hue", "ada_saturation")
