"""Losses against hand-computed values, every loss against its formula on random asymmetric D outputs (a sign flip
or a real/fake swap fails), closed forms of the f-divergences, the saturation claim, and the traits."""
import math

import pytest
import torch

from ganbench.zoo.losses import DIVERGENCES, LOSSES, get_loss
from ganbench.registry import GanbenchError

L3 = math.log(3.0)
REAL = [0.0, L3, -2.0]  # sigmoid: 1/2, 3/4, 1/(1+e^2)
FAKE = [L3, -2.0, 0.0]


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def mean(xs):
    return sum(xs) / len(xs)


def losses(name, **options):
    loss = get_loss(name, **options)
    return loss.d_loss(t(REAL), t(FAKE)).item(), loss.g_loss(t(FAKE)).item()


def g_of(loss, fake, real):
    """The G loss, given D's output on a real batch where the loss asks for it (``needs_real_in_g_step``)."""
    return loss.g_loss(fake, real) if loss.needs_real_in_g_step else loss.g_loss(fake)


def test_registry_lists_every_loss_with_help():
    expected = {"mm", "ns", "wgan", "hinge", "ls", "began", "rpgan", "rasgan", "ralsgan", "rahinge"} | {
        f"fgan-{k}" for k in ["kl", "rkl", "pearson", "hellinger", "js", "gan"]}
    assert set(LOSSES.names()) == expected
    assert all(LOSSES.help(n) for n in expected)


def test_minimax_and_non_saturating_by_hand():
    # -log sigmoid(0) = log 2, -log(3/4) = log(4/3), -log sigmoid(-2) = log(1 + e^2)
    d_expected = mean([math.log(2), math.log(4 / 3), math.log(1 + math.e ** 2)]) \
        + mean([-math.log(1 - 0.75), -math.log(1 - sig(-2.0)), -math.log(0.5)])
    d, g = losses("mm")
    assert d == pytest.approx(d_expected, rel=1e-12)
    assert g == pytest.approx(mean([math.log(1 - sig(v)) for v in FAKE]), rel=1e-12)
    d_ns, g_ns = losses("ns")
    assert d_ns == pytest.approx(d_expected, rel=1e-12)
    assert g_ns == pytest.approx(mean([-math.log(sig(v)) for v in FAKE]), rel=1e-12)


def test_wgan_and_hinge_by_hand():
    d, g = losses("wgan")
    assert d == pytest.approx(mean(FAKE) - mean(REAL), rel=1e-12)
    assert g == pytest.approx(-mean(FAKE), rel=1e-12)
    d, g = losses("hinge")
    # relu(1 - [0, log3, -2]) = [1, 0, 3]; relu(1 + [log3, -2, 0]) = [1 + log3, 0, 1]
    assert d == pytest.approx((1 + 0 + 3) / 3 + (1 + L3 + 0 + 1) / 3, rel=1e-12)
    assert g == pytest.approx(-mean(FAKE), rel=1e-12)


def test_least_squares_raw_and_compare_gan_forms():
    d, g = losses("ls")
    assert d == pytest.approx(0.5 * mean([(v - 1) ** 2 for v in REAL]) + 0.5 * mean([v ** 2 for v in FAKE]))
    assert g == pytest.approx(0.5 * mean([(v - 1) ** 2 for v in FAKE]))
    d, g = losses("ls", form="compare_gan")
    # sigmoid(REAL) = [1/2, 3/4, s]: (1/2)^2, (1/4)^2, (1 - s)^2
    s = sig(-2.0)
    assert d == pytest.approx(0.5 * mean([0.25, 1 / 16, (1 - s) ** 2]) + 0.5 * mean([9 / 16, s ** 2, 0.25]))
    assert g == pytest.approx(0.5 * mean([(1 / 4) ** 2, (1 - s) ** 2, 0.25]))
    assert get_loss("ls").options == {"form": "standard"}


def per_sample_g_grad(name, fake):
    v = fake.clone().requires_grad_(True)
    get_loss(name).g_loss(v).backward()
    return v.grad * len(fake)  # undo the batch mean: d loss_i / d v_i


def test_minimax_generator_saturates_non_saturating_does_not():
    fake = torch.full((4,), -10.0, dtype=torch.float64)  # D is sure the fakes are fake: D(G(z)) ~ 4.5e-5
    mm, ns = per_sample_g_grad("mm", fake), per_sample_g_grad("ns", fake)
    assert mm.abs().max() < 1e-4  # -sigmoid(-10)
    assert torch.allclose(mm, torch.full_like(fake, -sig(-10.0)))
    assert torch.allclose(ns, torch.full_like(fake, -sig(10.0)))  # magnitude ~1 per sample
    assert (ns.abs() > 0.999).all()


@pytest.mark.parametrize("name", sorted(set(LOSSES.names()) - {"began"}))  # BEGAN: tests/test_began.py
def test_losses_finite_with_finite_gradients_over_wide_range(name):
    v = torch.linspace(-50, 50, 101, dtype=torch.float32)
    real, fake = v.clone().requires_grad_(True), v.flip(0).clone().requires_grad_(True)
    loss = get_loss(name)
    total = loss.d_loss(real, fake) + g_of(loss, fake, real)
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


# ---- f-GAN: an independent implementation of Nowozin et al.'s table, written directly from the formulas.
TABLE = {  # f(u), f'(u), g_f(v), f*(t)
    "kl": (lambda u: u * math.log(u), lambda u: 1 + math.log(u), lambda v: v, lambda t: math.exp(t - 1)),
    "rkl": (lambda u: -math.log(u), lambda u: -1 / u, lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "pearson": (lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1), lambda v: v, lambda t: t * t / 4 + t),
    "hellinger": (lambda u: (math.sqrt(u) - 1) ** 2, lambda u: 1 - 1 / math.sqrt(u),
                  lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda u: -(u + 1) * math.log((1 + u) / 2) + u * math.log(u), lambda u: math.log(2 * u / (1 + u)),
           lambda v: math.log(2) - math.log(1 + math.exp(-v)), lambda t: -math.log(2 - math.exp(t))),
    "gan": (lambda u: u * math.log(u) - (u + 1) * math.log(u + 1), lambda u: math.log(u / (u + 1)),
            lambda v: -math.log(1 + math.exp(-v)), lambda t: -math.log(1 - math.exp(t))),
}
OPTIMAL_V = {  # v with g_f(v) = f'(r): the optimal discriminator output for density ratio r = p/q
    "kl": lambda r: 1 + math.log(r), "rkl": math.log, "pearson": lambda r: 2 * (r - 1),
    "hellinger": lambda r: math.log(r) / 2, "js": math.log, "gan": math.log,
}
# Two-point space, P = data = (3/4, 1/4), Q = model = (1/4, 3/4), as exact batches of 4 samples each.
P, Q = (0.75, 0.25), (0.25, 0.75)
REAL_IDX, FAKE_IDX = [0, 0, 0, 1], [0, 1, 1, 1]


def divergence(key, p=P, q=Q):
    return sum(qi * TABLE[key][0](pi / qi) for pi, qi in zip(p, q))


def optimal_outputs(key):
    v = [OPTIMAL_V[key](pi / qi) for pi, qi in zip(P, Q)]
    for vi, pi, qi in zip(v, P, Q):  # the inverse above really solves g_f(v) = f'(p/q)
        assert TABLE[key][2](vi) == pytest.approx(TABLE[key][1](pi / qi), rel=1e-12, abs=1e-12)
    return t([v[i] for i in REAL_IDX]), t([v[i] for i in FAKE_IDX])


@pytest.mark.parametrize("key", sorted(DIVERGENCES))
def test_fgan_matches_table_formulas(key):
    _, _, g_f, conj = TABLE[key]
    real, fake = [-1.5, -0.2, 0.3, 1.1], [-0.7, 0.05, 0.4, 0.6]  # inside every f*'s domain (Pearson/KL: all of R)
    loss = get_loss(f"fgan-{key}")
    d_expected = -mean([g_f(v) for v in real]) + mean([conj(g_f(v)) for v in fake])
    assert loss.d_loss(t(real), t(fake)).item() == pytest.approx(d_expected, rel=1e-12)
    assert loss.g_loss(t(fake)).item() == pytest.approx(-mean([g_f(v) for v in fake]), rel=1e-12)


@pytest.mark.parametrize("key", sorted(DIVERGENCES))
def test_fgan_d_loss_at_optimum_is_minus_the_divergence(key):
    real, fake = optimal_outputs(key)
    loss = get_loss(f"fgan-{key}")
    assert loss.d_loss(real, fake).item() == pytest.approx(-divergence(key), rel=1e-12)
    # and it is a minimum: the gradient w.r.t. the per-point outputs vanishes
    v = t([OPTIMAL_V[key](pi / qi) for pi, qi in zip(P, Q)]).requires_grad_(True)
    loss.d_loss(v[REAL_IDX], v[FAKE_IDX]).backward()
    assert v.grad.abs().max().item() < 1e-12


@pytest.mark.parametrize("key", sorted(DIVERGENCES))
def test_fgan_equal_distributions_give_minus_f_of_one(key):
    v_star = t([OPTIMAL_V[key](1.0)] * 3)  # p = q: g_f(v*) = f'(1); -f(1) is 0, or log 4 for "gan"
    expected = -TABLE[key][0](1.0)
    assert get_loss(f"fgan-{key}").d_loss(v_star, v_star).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("d_key", sorted(DIVERGENCES))
@pytest.mark.parametrize("g_key", sorted(DIVERGENCES))
def test_poole_generator_at_optimal_d_is_the_generator_divergence(d_key, g_key):
    _, fake = optimal_outputs(d_key)
    loss = get_loss(f"fgan-{d_key}", generator=g_key)
    assert loss.options == {"generator": g_key}
    assert loss.g_loss(fake).item() == pytest.approx(divergence(g_key), rel=1e-10, abs=1e-12)


def test_poole_formula_by_hand_and_differs_from_fgan_generator():
    values = [-3.0, -1.0, 2.0]
    plain = get_loss("fgan-gan").g_loss(t(values)).item()
    kl = get_loss("fgan-gan", generator="kl").g_loss(t(values)).item()
    # GAN discriminator: r = e^v; KL generator f(r) = r log r = v e^v (the seed note's formula)
    assert kl == pytest.approx(mean([v * math.exp(v) for v in values]), rel=1e-12)
    assert plain == pytest.approx(mean([math.log(1 + math.exp(-v)) for v in values]), rel=1e-12)
    assert abs(kl - plain) > 1.0
    fake = t(FAKE)
    # Hellinger discriminator, reverse-KL generator: r = 1/(1 - t)^2 with t = 1 - e^-v, f(r) = -log r
    rkl = get_loss("fgan-hellinger", generator="rkl").g_loss(fake).item()
    assert rkl == pytest.approx(mean([math.log((1 - (1 - math.exp(-v))) ** 2) for v in FAKE]), rel=1e-12)
    # Pearson discriminator: r = v/2 + 1 is clamped where v <= -2 (no positive ratio exists there)
    pearson_kl = get_loss("fgan-pearson", generator="kl").g_loss(t([-3.0, 2.0])).item()
    assert pearson_kl == pytest.approx(mean([1e-6 * math.log(1e-6), 2 * math.log(2)]), rel=1e-9)


def test_unknown_names_and_options_are_clear_errors():
    with pytest.raises(GanbenchError, match="did you mean 'hinge'"):
        get_loss("hinje")
    with pytest.raises(GanbenchError, match="loss 'ns': unknown option 'form'; allowed: label_flip, label_smoothing"):
        get_loss("ns", form="compare_gan")
    with pytest.raises(GanbenchError, match=r"label_smoothing=0.7 is not allowed; allowed values: a number in \[0.0, 0.5\)"):
        get_loss("ns", label_smoothing=0.7)
    with pytest.raises(GanbenchError, match="allowed values: 'standard', 'compare_gan'"):
        get_loss("ls", form="lucic")
    with pytest.raises(GanbenchError, match="allowed values: 'fgan', 'kl', 'rkl', 'pearson'"):
        get_loss("fgan-js", generator="wasserstein")
    with pytest.raises(GanbenchError, match=r"'generatr' \(did you mean 'generator'\?\); allowed: generator"):
        get_loss("fgan-kl", generatr="kl")


def test_loss_exposes_name_and_options():
    loss = get_loss("fgan-kl")
    assert loss.name == "fgan-kl" and loss.options == {"generator": "fgan"}
    assert get_loss("mm").name == "mm" and get_loss("mm").options == {"label_smoothing": 0.0, "label_flip": 0.0}


def test_losses_reduce_over_the_batch_per_trial():
    """Outputs [K, B] (K trials trained as one pack) give one loss per trial, each the loss of that trial alone."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g)
    for name in sorted(set(LOSSES.names()) - {"began"}):
        loss = get_loss(name)
        d, gl = loss.d_loss(real, fake), g_of(loss, fake, real)
        assert d.shape == (3,) and gl.shape == (3,)
        for k in range(3):
            assert d[k].item() == pytest.approx(loss.d_loss(real[k], fake[k]).item(), rel=1e-6)
            assert gl[k].item() == pytest.approx(g_of(loss, fake[k], real[k]).item(), rel=1e-6)


def test_label_smoothing_targets_by_hand():
    """One-sided smoothing s: real target 1 - s; BCE(v, t) = softplus(v) - t v."""
    real, fake = torch.tensor([[0.0, 2.0]]), torch.tensor([[-1.0, 1.0]])
    loss = get_loss("ns", label_smoothing=0.1)
    got = loss.d_objective(real, fake, None, None).item()
    bce = lambda v, t: math.log1p(math.exp(v)) - t * v  # noqa: E731
    expected = mean([bce(0.0, 0.9), bce(2.0, 0.9)]) + mean([bce(-1.0, 0.0), bce(1.0, 0.0)])
    assert got == pytest.approx(expected, rel=1e-6)


class FixedDraws:
    def __init__(self, values):
        self.values = list(values)

    def rand(self, shape):
        return self.values.pop(0).reshape(shape)


def test_label_flips_use_the_trials_draws():
    """A draw below p flips that sample's target: real 1 -> 0, fake 0 -> 1 (with smoothing: 1 - s -> s)."""
    real, fake = torch.tensor([[0.5, -0.5]]), torch.tensor([[1.5, -2.0]])
    loss = get_loss("mm", label_flip=0.3, label_smoothing=0.2)
    draws = FixedDraws([torch.tensor([[0.1, 0.9]]), torch.tensor([[0.95, 0.2]])])
    got = loss.d_objective(real, fake, None, None, rng=draws).item()
    bce = lambda v, t: math.log1p(math.exp(v)) - t * v  # noqa: E731
    expected = mean([bce(0.5, 0.2), bce(-0.5, 0.8)]) + mean([bce(1.5, 0.0), bce(-2.0, 1.0)])
    assert got == pytest.approx(expected, rel=1e-6)


# ---- every loss against its paper's formula, written here element by element, on random asymmetric D outputs:
# real and fake differ in mean, spread and values, so a sign flip or a real/fake swap changes every number below.
def _sp(x):
    return math.log1p(math.exp(x))


def _lsig(x):  # log sigmoid(x)
    return -_sp(-x)


def _fgan(key):
    _, _, g_f, conj = TABLE[key]
    return (lambda r, f: -mean([g_f(v) for v in r]) + mean([conj(g_f(v)) for v in f]),
            lambda r, f: -mean([g_f(v) for v in f]))


def _relativistic(term_real, term_fake):
    """L_D = E_r term_real(C_r - E C_f) + E_f term_fake(C_f - E C_r); L_G the same with real and fake exchanged."""
    def d(r, f):
        return mean([term_real(v - mean(f)) for v in r]) + mean([term_fake(v - mean(r)) for v in f])
    return d, lambda r, f: d(f, r)


FORMULAS = {  # (name, options): (L_D(real, fake), L_G(real, fake)) from the papers
    ("mm", ()): (lambda r, f: -mean([_lsig(v) for v in r]) - mean([_lsig(-v) for v in f]),
                 lambda r, f: mean([_lsig(-v) for v in f])),  # G: E log(1 - D(G(z)))
    ("ns", ()): (lambda r, f: -mean([_lsig(v) for v in r]) - mean([_lsig(-v) for v in f]),
                 lambda r, f: -mean([_lsig(v) for v in f])),  # G: -E log D(G(z))
    ("wgan", ()): (lambda r, f: mean(f) - mean(r), lambda r, f: -mean(f)),
    ("hinge", ()): (lambda r, f: mean([max(0.0, 1 - v) for v in r]) + mean([max(0.0, 1 + v) for v in f]),
                    lambda r, f: -mean(f)),
    ("ls", ()): (lambda r, f: 0.5 * mean([(v - 1) ** 2 for v in r]) + 0.5 * mean([v ** 2 for v in f]),
                 lambda r, f: 0.5 * mean([(v - 1) ** 2 for v in f])),
    ("ls", (("form", "compare_gan"),)): (
        lambda r, f: 0.5 * mean([(sig(v) - 1) ** 2 for v in r]) + 0.5 * mean([sig(v) ** 2 for v in f]),
        lambda r, f: 0.5 * mean([(sig(v) - 1) ** 2 for v in f])),
    **{(f"fgan-{key}", ()): _fgan(key) for key in TABLE},
    ("rpgan", ()): (lambda r, f: mean([_sp(-(a - b)) for a, b in zip(r, f)]),
                    lambda r, f: mean([_sp(-(b - a)) for a, b in zip(r, f)])),
    ("rasgan", ()): _relativistic(lambda x: _sp(-x), lambda x: _sp(x)),
    ("ralsgan", ()): _relativistic(lambda x: (x - 1) ** 2, lambda x: (x + 1) ** 2),
    ("rahinge", ()): _relativistic(lambda x: max(0.0, 1 - x), lambda x: max(0.0, 1 + x)),
}


def test_every_loss_has_a_formula_here():
    assert {name for name, _ in FORMULAS} == set(LOSSES.names()) - {"began"}  # BEGAN: below and tests/test_began.py


def _asymmetric(seed):
    g = torch.Generator().manual_seed(seed)
    real = 0.8 + 1.0 * torch.randn(7, generator=g, dtype=torch.float64)
    fake = -0.6 + 1.6 * torch.randn(7, generator=g, dtype=torch.float64)
    return real, fake


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name, options", sorted(FORMULAS), ids=[f"{n}{dict(o) or ''}" for n, o in sorted(FORMULAS)])
def test_every_loss_matches_its_formula_on_asymmetric_outputs(name, options, seed):
    real, fake = _asymmetric(seed)
    d_formula, g_formula = FORMULAS[(name, options)]
    r, f = real.tolist(), fake.tolist()
    loss = get_loss(name, **dict(options))
    assert loss.d_loss(real, fake).item() == pytest.approx(d_formula(r, f), rel=1e-10, abs=1e-12)
    assert g_of(loss, fake, real).item() == pytest.approx(g_formula(r, f), rel=1e-10, abs=1e-12)
    # the check has teeth: a flipped sign or swapped real and fake would give another number
    assert abs(d_formula(r, f)) > 1e-2 and abs(g_formula(r, f)) > 1e-2
    assert abs(d_formula(r, f) - d_formula(f, r)) > 1e-2


def test_began_matches_its_formula_with_a_nonzero_k():
    """L_D = L(x) - k L(G(z)), L_G = L(G(z)), L = mean |AE(x) - x| (k = 0.3 here, so both terms count)."""
    g = torch.Generator().manual_seed(3)
    x, xf = torch.randn(1, 5, 4, generator=g), torch.randn(1, 5, 4, generator=g)
    recon_real, recon_fake = x + 0.2 * torch.randn(1, 5, 4, generator=g), xf + torch.randn(1, 5, 4, generator=g)
    loss = get_loss("began")
    loss.init_state(1, "cpu")
    loss.load_state_dict({"k": torch.tensor([0.3])})
    l_real, l_fake = (recon_real - x).abs().mean().item(), (recon_fake - xf).abs().mean().item()
    assert loss.d_objective(recon_real, recon_fake, x, xf).item() == pytest.approx(l_real - 0.3 * l_fake, rel=1e-6)
    assert loss.g_objective(recon_fake, xf).item() == pytest.approx(l_fake, rel=1e-6)
    assert abs(l_real - l_fake) > 0.1


def test_traits_replace_the_names():
    """What the trainer reads instead of a loss's name: label smoothing (mm, ns), a critic estimate (wgan), state
    (began), D on reals in the G step (the relativistic family only)."""
    from ganbench.zoo.losses import loss_class

    def having(trait):
        return {n for n in LOSSES.names() if getattr(loss_class(n), trait)}

    assert having("takes_label_smoothing") == {"mm", "ns"}
    assert having("has_critic_estimate") == {"wgan"}
    assert having("stateful") == {"began"}
    assert having("needs_real_in_g_step") == {"rpgan", "rasgan", "ralsgan", "rahinge"}
    assert {n for n in LOSSES.names() if loss_class(n).d_output == "autoencoder"} == {"began"}
