"""Penalties on critics with closed-form gradients (R2 on generated samples), LeCam against its formula with its
anchors' EMA, the penalties' traits, and the constraints."""
import math

import pytest
import torch
from torch import nn

from ganbench.zoo.models.spectral import apply_spectral_norm_ as spectral_norm
from ganbench.zoo.penalties import CONSTRAINTS, PENALTIES, get_constraint, get_penalty
from ganbench.registry import GanbenchError

SHAPE = (1, 5, 2, 3, 3)  # one trial (K = 1), 5 images: gradient norms sum over every dimension after the first two


def batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(SHAPE, generator=g, dtype=torch.float64)
    fake = torch.randn(SHAPE, generator=g, dtype=torch.float64)
    return real, fake


def linear_critic(norm, requires_grad=False, seed=1):
    w = torch.randn(18, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    w = (w * norm / w.norm()).requires_grad_(requires_grad)
    return w, (lambda x: x.flatten(2) @ w)


def recording(d_fn):
    seen = []

    def fn(x):
        seen.append(x.detach().clone())
        return d_fn(x)

    return fn, seen


def test_registries():
    assert PENALTIES.names() == ["dragan", "gp", "lecam", "none", "r1", "r2"]
    assert CONSTRAINTS.names() == ["clip", "none"]
    assert all(PENALTIES.help(n) for n in PENALTIES.names())


def test_none_is_zero():
    real, fake = batches()
    out = get_penalty("none")(lambda x: x.sum(), real, fake)
    assert out.shape == (1,) and out.item() == 0.0


@pytest.mark.parametrize("eps", [1e-4, 0.0])
def test_gp_vanishes_for_one_lipschitz_linear_critic(eps):
    real, fake = batches()
    _, d_fn = linear_critic(1.0)
    value = get_penalty("gp", eps=eps)(d_fn, real, fake).item()
    assert value == pytest.approx((math.sqrt(1 + eps) - 1) ** 2, abs=1e-15)
    assert value < 3e-9


@pytest.mark.parametrize("eps", [1e-4, 0.0])
def test_gp_of_steep_linear_critic_is_exact(eps):
    real, fake = batches()
    _, d_fn = linear_critic(3.0)
    value = get_penalty("gp", eps=eps)(d_fn, real, fake).item()
    assert value == pytest.approx((math.sqrt(9 + eps) - 1) ** 2, rel=1e-12)  # (3 - 1)^2 up to eps


def test_gp_backpropagates_into_the_critic():
    real, fake = batches()
    w, d_fn = linear_critic(3.0, requires_grad=True)
    get_penalty("gp", eps=0.0)(d_fn, real, fake).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * (3.0 - 1) * w.detach() / 3.0, rtol=1e-10)


def test_gp_interpolates_per_sample_and_detaches_fake():
    real, fake = batches()
    fake = fake.clone().requires_grad_(True)  # as if it came from G
    w, d_fn = linear_critic(2.0, requires_grad=True)
    fn, seen = recording(d_fn)
    torch.manual_seed(3)
    get_penalty("gp")(fn, real, fake).backward()
    assert fake.grad is None and w.grad is not None  # the penalty trains D only
    x_hat = seen[0]
    alpha = (x_hat - real) / (fake.detach() - real)
    a = alpha.flatten(2)[0]
    assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-9)  # one draw per sample
    assert ((a >= 0) & (a <= 1)).all()
    assert a[:, 0].std() > 0  # different draws for different samples
    torch.manual_seed(3)  # the global RNG drives the draws
    fn2, seen_again = recording(d_fn)
    get_penalty("gp")(fn2, real, fake)
    assert torch.equal(seen_again[0], x_hat)


def test_r1_of_linear_critic_is_squared_weight_norm():
    real, fake = batches()
    w, d_fn = linear_critic(3.0, requires_grad=True)
    value = get_penalty("r1")(d_fn, real, fake)
    assert value.item() == pytest.approx(9.0, rel=1e-12)
    value.backward()
    assert torch.allclose(w.grad, 2 * w.detach(), rtol=1e-12)  # d ||w||^2 / dw


def test_r1_of_quadratic_critic():
    real, fake = batches()
    value = get_penalty("r1")(lambda x: x.pow(2).flatten(2).sum(2), real, fake).item()
    assert value == pytest.approx((4 * real.pow(2).flatten(2).sum(2)).mean().item(), rel=1e-12)  # ||2x||^2


def test_dragan_standard_form_on_linear_logit_critic_is_exact():
    real, fake = batches()
    _, d_fn = linear_critic(3.0)
    fn, seen = recording(d_fn)
    value = get_penalty("dragan", form="standard")(fn, real, fake).item()
    assert value == pytest.approx((math.sqrt(9 + 1e-4) - 1) ** 2, rel=1e-12)
    std = real.std(correction=0)
    delta = seen[0] - real  # x + std (U - 0.5): inside [-std/2, std/2)
    assert (delta.abs() <= std / 2).all() and delta.std() > 0.1 * std


def test_dragan_compare_gan_form_uses_sigmoid_and_half_std_perturbation():
    real, fake = batches()
    w, d_fn = linear_critic(3.0)
    fn, seen = recording(d_fn)
    torch.manual_seed(0)
    value = get_penalty("dragan")(fn, real, fake).item()
    x_hat = seen[0]
    delta = x_hat - real  # a * 0.5 std U[0, 1): inside [0, std/2)
    assert (delta >= 0).all() and (delta < 0.5 * real.std(correction=0)).all()
    s = torch.sigmoid(x_hat.flatten(2) @ w)
    slopes = torch.sqrt(1e-4 + (s * (1 - s) * 3.0) ** 2)  # grad sigmoid(w.x) = s (1 - s) w
    assert value == pytest.approx((slopes - 1).pow(2).mean().item(), rel=1e-12)


@pytest.mark.parametrize("form", ["compare_gan", "standard"])
def test_dragan_is_finite_and_backpropagates_into_d(form):
    torch.manual_seed(0)
    d = nn.Sequential(nn.Flatten(), nn.Linear(18, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    real = torch.randn(SHAPE)
    value = get_penalty("dragan", form=form)(lambda x: d(x[0]).squeeze(1).unsqueeze(0), real, torch.randn(SHAPE))
    assert torch.isfinite(value) and value.item() > 0
    value.backward()
    # every weight gets a gradient (the last bias cannot: it does not change grad_x D)
    for layer in (d[1], d[3]):
        assert torch.isfinite(layer.weight.grad).all() and layer.weight.grad.abs().sum() > 0


def test_clip_clamps_every_parameter():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 1))
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(10)
    before = [p.detach().clone() for p in d.parameters()]
    get_constraint("clip", clip=0.05)(d.parameters())
    for old, p in zip(before, d.parameters()):
        assert torch.equal(p, old.clamp(-0.05, 0.05))
    assert get_constraint("clip").options == {"clip": 0.01}


def test_spectral_norm_wraps_every_linear_and_conv_layer():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
                      nn.Flatten(), nn.Linear(3 * 6 * 6, 5), nn.LayerNorm(5))
    assert spectral_norm(d) is d
    spectral_norm(d)  # idempotent: no second wrapping
    layers = [d[0], d[1], d[3]]
    for layer in layers:
        assert len(layer.parametrizations.weight) == 1
    assert not nn.utils.parametrize.is_parametrized(d[4])
    with torch.no_grad():
        for _ in range(50):  # power iterations run in training-mode forwards
            d(torch.randn(2, 2, 3, 3))
    for layer, dim in zip(layers, [0, 1, 0]):
        w = layer.weight.movedim(dim, 0).flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=1e-3)


def test_unknown_names_and_options_are_clear_errors():
    with pytest.raises(GanbenchError, match="did you mean 'gp'"):
        get_penalty("gpp")
    with pytest.raises(GanbenchError, match="did you mean 'clip'"):
        get_constraint("clipp")
    with pytest.raises(GanbenchError, match="penalty 'gp': unknown option 'lam'; allowed: eps"):
        get_penalty("gp", lam=10)
    with pytest.raises(GanbenchError, match="unknown option 'eps'; allowed: none"):
        get_penalty("r1", eps=0.1)
    with pytest.raises(GanbenchError, match="allowed values: 'compare_gan', 'standard'"):
        get_penalty("dragan", form="kodali")
    with pytest.raises(GanbenchError, match="must be a number >= 0"):
        get_penalty("gp", eps=-1.0)
    with pytest.raises(GanbenchError, match="must be a number > 0"):
        get_constraint("clip", clip=0)


class MemberDraws:
    """Per-trial U[0, 1) streams with the interface the trainer passes as ``rng`` (ganbench.training.streams)."""

    def __init__(self, seeds):
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]

    def rand(self, shape):
        return torch.stack([torch.rand(tuple(shape[1:]), generator=g, dtype=torch.float64) for g in self.gens])


@pytest.mark.parametrize("name, options", [("gp", {}), ("dragan", {}), ("dragan", {"form": "standard"}), ("r1", {}),
                                           ("r2", {})])
def test_a_pack_of_trials_gets_each_trials_own_penalty(name, options):
    """K trials at once (a pack): each member's penalty is the one it gets alone with its own random stream, and
    depends only on its own critic and batch."""
    g = torch.Generator().manual_seed(5)
    real = torch.randn((3, 5, 2, 3, 3), generator=g, dtype=torch.float64)
    fake = torch.randn((3, 5, 2, 3, 3), generator=g, dtype=torch.float64)
    ws = torch.randn(3, 18, generator=g, dtype=torch.float64)
    pen = get_penalty(name, **options)
    packed = pen(lambda x: (x.flatten(2) * ws[:, None, :]).sum(-1), real, fake, rng=MemberDraws([10, 11, 12]))
    assert packed.shape == (3,)
    for k in range(3):
        alone = pen(lambda x: x.flatten(2) @ ws[k], real[k:k + 1], fake[k:k + 1], rng=MemberDraws([10 + k]))
        assert alone.item() == pytest.approx(packed[k].item(), rel=1e-12)


# ---- R2 (zero-centred gradient penalty on generated samples, R1's conventions)
def test_r2_of_quadratic_critic_is_on_the_fake_batch_only():
    real, fake = batches()
    d_fn, seen = recording(lambda x: x.pow(2).flatten(2).sum(2))
    value = get_penalty("r2")(d_fn, real, fake).item()
    assert value == pytest.approx((4 * fake.pow(2).flatten(2).sum(2)).mean().item(), rel=1e-12)  # ||2 x_f||^2
    assert value != pytest.approx((4 * real.pow(2).flatten(2).sum(2)).mean().item(), rel=1e-3)
    assert len(seen) == 1 and torch.equal(seen[0], fake)


def test_r2_trains_d_only_and_backpropagates_into_d():
    real, fake = batches()
    w, d_fn = linear_critic(3.0, requires_grad=True)
    fake = fake.clone().requires_grad_(True)  # as if straight from G
    value = get_penalty("r2")(d_fn, real, fake)
    assert value.item() == pytest.approx(9.0, rel=1e-12)  # ||w||^2, no eps
    value.backward()
    assert torch.allclose(w.grad, 2 * w.detach(), rtol=1e-12)
    assert fake.grad is None  # detached from G


def test_traits_replace_the_names():
    traits = {n: get_penalty(n) for n in PENALTIES.names()}
    assert {n for n, p in traits.items() if p.input_gradients} == {"gp", "dragan", "r1", "r2"}
    assert {n for n, p in traits.items() if p.scores_fake} == {"r2"}
    assert {n for n, p in traits.items() if p.uses_outputs} == {"lecam"}
    assert {n for n, p in traits.items() if p.stateful} == {"lecam"}


# ---- LeCam (Tseng et al. 2021), the official code's relu form, anchors' EMA decay 0.99
def _lecam_by_hand(real, fake, a_real, a_fake):
    relu = lambda v: max(0.0, v)  # noqa: E731
    return (sum(relu(r - a_fake) ** 2 for r in real) / len(real)
            + sum(relu(a_real - f) ** 2 for f in fake) / len(fake))


def test_lecam_matches_its_formula_and_moves_its_anchors_before_the_penalty():
    """Step 1: the anchors are the batch means (decay 0 at the first step); step 2 moves them by 1 - decay towards
    the new means, then the penalty uses the moved anchors. Outputs asymmetric, so a swap of a_R and a_F fails."""
    pen = get_penalty("lecam", decay=0.9)
    pen.init_state(1, "cpu")
    r1, f1 = [2.0, 0.5, 1.5], [-1.0, 0.7, -2.5]
    v1 = pen(None, None, None, outputs=(torch.tensor([r1]), torch.tensor([f1]))).item()
    a_r, a_f = sum(r1) / 3, sum(f1) / 3
    assert v1 == pytest.approx(_lecam_by_hand(r1, f1, a_r, a_f), rel=1e-6)
    assert v1 != pytest.approx(_lecam_by_hand(r1, f1, a_f, a_r), rel=1e-3)
    r2, f2 = [0.1, -0.3, 3.0], [0.2, -0.4, 1.9]
    v2 = pen(None, None, None, outputs=(torch.tensor([r2]), torch.tensor([f2]))).item()
    a_r, a_f = 0.9 * a_r + 0.1 * sum(r2) / 3, 0.9 * a_f + 0.1 * sum(f2) / 3
    assert pen.a_real.item() == pytest.approx(a_r, rel=1e-6) and pen.a_fake.item() == pytest.approx(a_f, rel=1e-6)
    assert v2 == pytest.approx(_lecam_by_hand(r2, f2, a_r, a_f), rel=1e-6)


def test_lecam_start_keeps_decay_zero_and_gradients_reach_d_outputs_only():
    pen = get_penalty("lecam", start=2)
    pen.init_state(2, "cpu")
    for _ in range(2):  # steps 0 and 1 < start: the anchors are the batch means
        real_out = torch.randn(2, 4, requires_grad=True)
        fake_out = torch.randn(2, 4, requires_grad=True)
        value = pen(None, None, None, outputs=(real_out, fake_out))
    assert torch.allclose(pen.a_real, real_out.detach().mean(-1))
    assert torch.allclose(pen.a_fake, fake_out.detach().mean(-1))
    value.sum().backward()
    assert real_out.grad is not None and not pen.a_real.requires_grad
    assert get_penalty("lecam").options == {"decay": 0.99, "start": 0}


def test_lecam_state_round_trips_and_packs_keep_members_apart():
    g = torch.Generator().manual_seed(2)
    outs = [(torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g) - 1) for _ in range(4)]
    packed = get_penalty("lecam")
    packed.init_state(3, "cpu")
    values = [packed(None, None, None, outputs=o) for o in outs]
    for k in range(3):
        alone = get_penalty("lecam")
        alone.init_state(1, "cpu")
        for o, v in zip(outs, values):
            assert alone(None, None, None, outputs=(o[0][k:k + 1], o[1][k:k + 1])).item() == pytest.approx(v[k].item())
    copy = get_penalty("lecam")
    copy.init_state(3, "cpu")
    copy.load_state_dict(packed.state_dict())
    nxt = (torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g))
    assert torch.equal(copy(None, None, None, outputs=nxt), packed(None, None, None, outputs=nxt))


def test_lecam_needs_outputs_and_checks_its_options():
    pen = get_penalty("lecam")
    with pytest.raises(TypeError, match="outputs"):
        pen(None, None, None)
    with pytest.raises(GanbenchError, match=r"decay=1.5 must be a number in \[0, 1\)"):
        get_penalty("lecam", decay=1.5)
    with pytest.raises(GanbenchError, match="start=-1 must be an integer >= 0"):
        get_penalty("lecam", start=-1)
