"""GAN losses as pure functions of the discriminator's raw outputs.

Conventions (every loss):
- Arguments are raw discriminator outputs V(x), shape [B]: logits, no sigmoid applied. D(x) = sigmoid(V(x)) where a
  probability is meant.
- ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)`` (``g_loss(fake_out, real_out)`` for a loss that
  declares ``needs_real_in_g_step``) return what the trainer *minimises*: the mean over the last
  (batch) dimension of the paper's formula with no extra factor (no 1/2 on the cross-entropy terms). Outputs of shape
  [B] give a scalar; outputs of shape [K, B] (K trials trained as one pack) give one loss per trial, shape [K].
- The trainer calls ``d_objective``/``g_objective`` (defaults: ``d_loss``/``g_loss``), which may also use the inputs
  of D and per-trial random draws; ``diagnostics`` returns per-trial values logged at evaluation points. A loss with
  state (BEGAN's balance term k) keeps it as a [K] tensor, updated by ``after_d_step`` and saved by ``state_dict``.
- Logs of sigmoids go through softplus (-log sigmoid(v) = softplus(-v), -log(1 - sigmoid(v)) = softplus(v)), never
  through log(sigmoid(v)), so the losses stay finite for any finite V.
- ``get_loss(name, **options)`` checks the options; ``loss.options`` holds every option with its resolved value.
- Traits, class attributes the trainer, the suite checks and the CLI read instead of testing a loss by its name:
  ``takes_label_smoothing`` (the label_smoothing / label_flip hyperparameters apply), ``has_critic_estimate`` (D's
  outputs estimate a distance, E D(real) - E D(fake) is logged as ``critic_w``), ``stateful`` (state in the
  checkpoint), ``needs_real_in_g_step`` (the G step evaluates D on a real batch too: only these losses pay for it),
  ``d_output`` ("logit" or "autoencoder") and ``HPARAM_OPTIONS`` (option -> the hyperparameter that sets it).
  ``loss_class(name)`` gives the class of a registered loss, to read its traits without building it.

Losses (``ganbench list`` prints them from ``LOSSES``):
- mm, ns: Goodfellow et al. 2014, minimax and non-saturating generator.
- wgan: Arjovsky et al. 2017 (the critic's constraint, clipping or a penalty, lives in ganbench.zoo.penalties).
- hinge: Lim & Ye 2017 / Miyato et al. 2018.
- ls: Mao et al. 2017, or google/compare_gan v1.0's variant (``form="compare_gan"``).
- fgan-*: Nowozin et al. 2016, with Poole et al. 2016's generator objectives (``generator=...``).
- began: Berthelot et al. 2017 (ganbench.zoo.began); rpgan, rasgan, ralsgan, rahinge: Jolicoeur-Martineau 2018 and
  Huang et al. 2024 (ganbench.zoo.relativistic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.registry import GanbenchError, Registry, unknown_name

LOG2 = math.log(2.0)
PEARSON_RATIO_FLOOR = 1e-6

LOSSES: Registry = Registry("loss")


@dataclass(frozen=True)
class Interval:
    """A numeric option's allowed range [lo, hi) and its default."""

    lo: float
    hi: float
    default: float

    def allows(self, value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.lo <= value < self.hi

    def __str__(self) -> str:
        return f"a number in [{self.lo}, {self.hi})"


class Loss:
    """Base class: ``name``, ``options``, ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)``.

    The trainer's protocol (defaults suit every loss of raw logits): ``d_output`` is what D must return ("logit" or
    "autoencoder"); ``d_objective``/``g_objective`` give the per-trial losses; ``diagnostics`` the per-trial values
    logged at evaluation points; ``init_state``/``after_d_step``/``state_dict``/``load_state_dict`` carry state.
    """

    OPTIONS: dict[str, tuple | Interval] = {}  # option -> allowed values (the first is the default) or an Interval
    HPARAM_OPTIONS: dict[str, str] = {}  # option -> the hyperparameter that sets it (when not at its default)
    d_output = "logit"
    takes_label_smoothing = False
    has_critic_estimate = False
    stateful = False
    needs_real_in_g_step = False

    def __init__(self, name: str, **options):
        self.name = name
        self.options = dict(options)

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    # ---- the trainer's protocol
    def d_objective(self, real_out: Tensor, fake_out: Tensor, real: Tensor, fake: Tensor, rng=None) -> Tensor:
        """Per-trial D loss; ``real``/``fake`` are D's inputs, ``rng`` draws per-trial random numbers."""
        return self.d_loss(real_out, fake_out)

    def g_objective(self, fake_out: Tensor, fake: Tensor, real_out: Tensor | None = None) -> Tensor:
        """Per-trial G loss; ``real_out`` (D on a real batch) is given to losses that declare
        ``needs_real_in_g_step`` only."""
        return self.g_loss(fake_out)

    def diagnostics(self, real_out: Tensor, fake_out: Tensor, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Per-trial values of one D step (no gradient): how often D calls real real and fake fake."""
        return {"d_acc_real": (real_out > 0).float().mean(-1), "d_acc_fake": (fake_out < 0).float().mean(-1)}

    def init_state(self, k: int, device) -> None:
        """Make the state of ``k`` trials trained as one (none for stateless losses)."""

    def after_d_step(self, real_out: Tensor, fake_out: Tensor, real: Tensor, fake: Tensor) -> None:
        """Update the state after a D step (no gradient)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({self.name!r}{', ' + opts if opts else ''})"


@LOSSES.register("mm", help="minimax GAN (Goodfellow 2014): G minimises log(1 - D(G(z))), saturates; options "
                          "label_smoothing, label_flip")
class MinimaxLoss(Loss):
    """D: -E[log D(x)] - E[log(1 - D(G(z)))]; G: E[log(1 - D(G(z)))] = -E[softplus(V(G(z)))].

    The generator gradient is -sigmoid(V) per sample: it vanishes when D rejects the fakes (V << 0).

    Training practices of the seed texts, as options of D's cross-entropy (the trainer sets them from the
    hyperparameters of the same names): ``label_smoothing`` s gives real samples the target 1 - s (one-sided
    smoothing, Salimans et al. 2016); ``label_flip`` p flips each D target (real and fake) with probability p,
    drawn per sample from the trial's own random stream.
    """

    OPTIONS = {"label_smoothing": Interval(0.0, 0.5, 0.0), "label_flip": Interval(0.0, 0.5, 0.0)}
    HPARAM_OPTIONS = {"label_smoothing": "label_smoothing", "label_flip": "label_flip"}
    takes_label_smoothing = True

    def d_loss(self, real_out, fake_out):
        return F.softplus(-real_out).mean(-1) + F.softplus(fake_out).mean(-1)

    def g_loss(self, fake_out):
        return -F.softplus(fake_out).mean(-1)

    def d_objective(self, real_out, fake_out, real, fake, rng=None):
        smoothing, flip = self.options.get("label_smoothing", 0.0), self.options.get("label_flip", 0.0)
        if not smoothing and not flip:
            return self.d_loss(real_out, fake_out)
        t_real = torch.full_like(real_out, 1.0 - smoothing)
        t_fake = torch.zeros_like(fake_out)
        if flip:
            draw = rng.rand if rng is not None else (lambda shape: torch.rand(shape, device=real_out.device))
            t_real = torch.where(draw(real_out.shape) < flip, 1.0 - t_real, t_real)
            t_fake = torch.where(draw(fake_out.shape) < flip, 1.0 - t_fake, t_fake)
        bce = F.binary_cross_entropy_with_logits
        return bce(real_out, t_real, reduction="none").mean(-1) + bce(fake_out, t_fake, reduction="none").mean(-1)


@LOSSES.register("ns", help="non-saturating GAN (Goodfellow 2014): G minimises -log D(G(z)); options "
                          "label_smoothing, label_flip")
class NonSaturatingLoss(MinimaxLoss):
    """D as ``mm`` (with its options); G: -E[log D(G(z))] = E[softplus(-V(G(z)))], gradient -sigmoid(-V), about -1
    when D wins."""

    def g_loss(self, fake_out):
        return F.softplus(-fake_out).mean(-1)


@LOSSES.register("wgan", help="Wasserstein GAN (Arjovsky 2017): linear critic, needs clipping or a penalty")
class WassersteinLoss(Loss):
    """D: E[V(G(z))] - E[V(x)]; G: -E[V(G(z))]. The critic's E V(x) - E V(G(z)) on held-out data estimates the
    Wasserstein distance (up to the Lipschitz constant): ``has_critic_estimate``."""

    has_critic_estimate = True

    def d_loss(self, real_out, fake_out):
        return fake_out.mean(-1) - real_out.mean(-1)

    def g_loss(self, fake_out):
        return -fake_out.mean(-1)


@LOSSES.register("hinge", help="hinge loss (Lim & Ye 2017, Miyato 2018): D margin 1, G -E[V(G(z))]")
class HingeLoss(Loss):
    """D: E[relu(1 - V(x))] + E[relu(1 + V(G(z)))]; G: -E[V(G(z))]."""

    def d_loss(self, real_out, fake_out):
        return F.relu(1.0 - real_out).mean(-1) + F.relu(1.0 + fake_out).mean(-1)

    def g_loss(self, fake_out):
        return -fake_out.mean(-1)


@LOSSES.register("ls", help="least squares GAN (Mao 2017) on raw outputs; form=compare_gan on sigmoid outputs")
class LeastSquaresLoss(Loss):
    """Least squares GAN with targets a = 0 (fake), b = 1 (real), c = 1 (what G wants D to say).

    ``form="standard"`` (Mao et al. 2017, default), on the raw output V:
        D: 1/2 E[(V(x) - 1)^2] + 1/2 E[V(G(z))^2];   G: 1/2 E[(V(G(z)) - 1)^2].
    ``form="compare_gan"`` (google/compare_gan v1.0, used by Lucic et al. 2018): the same formulas applied to
    sigmoid(V) instead of V. The sigmoid bounds the targets' reach, so this form saturates like ``mm`` when D is sure.
    """

    OPTIONS = {"form": ("standard", "compare_gan")}

    def _out(self, v: Tensor) -> Tensor:
        return torch.sigmoid(v) if self.options["form"] == "compare_gan" else v

    def d_loss(self, real_out, fake_out):
        return 0.5 * (self._out(real_out) - 1.0).pow(2).mean(-1) + 0.5 * self._out(fake_out).pow(2).mean(-1)

    def g_loss(self, fake_out):
        return 0.5 * (self._out(fake_out) - 1.0).pow(2).mean(-1)


# ----------------------------------------------------------------------------------------------------------------
# f-GAN (Nowozin et al. 2016) and Poole et al. 2016's generator objectives.

@dataclass(frozen=True)
class Divergence:
    """One f-divergence D_f(P || Q) = E_Q[f(p/q)], P = data, Q = model, written in terms of the raw output v.

    activation(v)   g_f(v), the output activation that keeps T = g_f(v) in the domain of f*;
    conjugate(v)    f*(g_f(v)), simplified in closed form so it stays finite over a wide range of v;
    log_ratio(v)    log r with r = (f')^{-1}(g_f(v)), D's estimate of the density ratio p_data / p_model;
    f_of_log(l)     f(r) written as a function of l = log r.
    """

    name: str
    f_text: str
    activation: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    log_ratio: Callable[[Tensor], Tensor]
    f_of_log: Callable[[Tensor], Tensor]


def _pearson_log_ratio(v: Tensor) -> Tensor:
    # r = v/2 + 1 is not positive for v <= -2, where no density ratio exists: clamp it (zero gradient there).
    return torch.log(torch.clamp(0.5 * v + 1.0, min=PEARSON_RATIO_FLOOR))


DIVERGENCES: dict[str, Divergence] = {
    "kl": Divergence(  # g_f = v, f*(t) = exp(t - 1), r = exp(t - 1)
        "Kullback-Leibler", "u log u",
        activation=lambda v: v,
        conjugate=lambda v: torch.exp(v - 1.0),
        log_ratio=lambda v: v - 1.0,
        f_of_log=lambda l: torch.exp(l) * l),
    "rkl": Divergence(  # g_f = -exp(-v), f*(t) = -1 - log(-t) = v - 1, r = -1/t = exp(v)
        "reverse Kullback-Leibler", "-log u",
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda v: v - 1.0,
        log_ratio=lambda v: v,
        f_of_log=lambda l: -l),
    "pearson": Divergence(  # g_f = v, f*(t) = t^2/4 + t, r = t/2 + 1
        "Pearson chi^2", "(u - 1)^2",
        activation=lambda v: v,
        conjugate=lambda v: 0.25 * v * v + v,
        log_ratio=_pearson_log_ratio,
        f_of_log=lambda l: torch.expm1(l).pow(2)),
    "hellinger": Divergence(  # g_f = 1 - exp(-v) < 1, f*(t) = t/(1-t) = exp(v) - 1, r = 1/(1-t)^2 = exp(2v)
        "squared Hellinger", "(sqrt(u) - 1)^2",
        activation=lambda v: -torch.expm1(-v),
        conjugate=lambda v: torch.expm1(v),
        log_ratio=lambda v: 2.0 * v,
        f_of_log=lambda l: torch.expm1(0.5 * l).pow(2)),
    "js": Divergence(  # g_f = log 2 - softplus(-v) < log 2, f*(t) = -log(2 - e^t) = softplus(v) - log 2, r = exp(v)
        "Jensen-Shannon", "u log u - (u + 1) log((u + 1)/2)",
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate=lambda v: F.softplus(v) - LOG2,
        log_ratio=lambda v: v,
        f_of_log=lambda l: torch.exp(l) * l - (1.0 + torch.exp(l)) * (F.softplus(l) - LOG2)),
    "gan": Divergence(  # g_f = -softplus(-v) < 0, f*(t) = -log(1 - e^t) = softplus(v), r = exp(v)
        "GAN (2 JS - log 4)", "u log u - (u + 1) log(u + 1)",
        activation=lambda v: -F.softplus(-v),
        conjugate=lambda v: F.softplus(v),
        log_ratio=lambda v: v,
        f_of_log=lambda l: torch.exp(l) * l - (1.0 + torch.exp(l)) * F.softplus(l)),
}


class FGANLoss(Loss):
    """f-GAN loss (Nowozin et al. 2016) for one divergence f, with an optional Poole et al. generator objective.

    D minimises the negative variational bound on D_f(P || Q) (P = data, Q = model):
        d_loss = -E_P[g_f(V(x))] + E_Q[f*(g_f(V(G(z))))],
    whose minimum over V is -D_f(P || Q), reached at g_f(V) = f'(p/q). g_f and f* follow Nowozin et al.'s table;
    f*(g_f(v)) is simplified in closed form (e.g. Hellinger t/(1-t) = exp(v) - 1, JS -log(2 - e^t) =
    softplus(v) - log 2) so the loss is finite for |v| up to ~80 in float32.

    ``generator="fgan"`` (default): Nowozin et al.'s generator loss -E_Q[g_f(V(G(z)))].

    ``generator=<divergence>`` (Poole et al. 2016, "Improved generator objectives for GANs"): D is read as a
    density-ratio estimator. At D's optimum g_f(V(x)) = f'(r(x)) with r = p_data/p_model, hence
        r(x) = (f')^{-1}(g_f(V(x))),  with  KL r = exp(t - 1), RKL r = -1/t, Pearson r = t/2 + 1,
        Hellinger r = 1/(1 - t)^2, JS r = e^t/(2 - e^t), GAN r = e^t/(1 - e^t)   (t = g_f(v)).
    Composed with each g_f these are r = exp(v - 1) (KL), exp(v) (RKL, JS, GAN), exp(2 v) (Hellinger) and
    v/2 + 1 (Pearson; clamped to >= 1e-6 where v <= -2, since a ratio is positive). The generator then minimises
    the plug-in estimate of its own divergence f_G:
        g_loss = E_z[f_G(r(G(z)))]   ~   D_{f_G}(P || Q) = E_Q[f_G(p/q)],
    the formula L_G = f_G((f')^{-1}(g_f(V(G(z))))) of Poole et al. as summarised in the seed texts; f_G is evaluated
    from log r (e.g. KL f(u) = u log u gives V e^V for a GAN discriminator). Why: at an optimal D this loss *is* the
    f_G-divergence (tests check it for every pair), so D and G can target different divergences. Its gradient
    flows through G(z) with D held fixed; note the exact gradient of D_{f_G} w.r.t. the generator would come from
    the surrogate f_G(r) - r f_G'(r) instead; the two share the stationary point p = q.
    """

    def __init__(self, name: str, divergence: str, generator: str = "fgan"):
        super().__init__(name, generator=generator)
        self.divergence = DIVERGENCES[divergence]
        self.generator_divergence = None if generator == "fgan" else DIVERGENCES[generator]

    def d_loss(self, real_out, fake_out):
        div = self.divergence
        return -div.activation(real_out).mean(-1) + div.conjugate(fake_out).mean(-1)

    def g_loss(self, fake_out):
        if self.generator_divergence is None:
            return -self.divergence.activation(fake_out).mean(-1)
        return self.generator_divergence.f_of_log(self.divergence.log_ratio(fake_out)).mean(-1)


def _fgan_factory(key: str) -> Callable[..., FGANLoss]:
    def make(name: str, generator: str = "fgan") -> FGANLoss:
        return FGANLoss(name, key, generator=generator)

    make.OPTIONS = {"generator": ("fgan", *DIVERGENCES)}
    make.loss_class = FGANLoss
    make.__doc__ = FGANLoss.__doc__
    return make


for _key, _div in DIVERGENCES.items():
    LOSSES.add(f"fgan-{_key}", _fgan_factory(_key),
               help=f"f-GAN (Nowozin 2016), {_div.name} f(u) = {_div.f_text}; option generator= (Poole 2016)")


def _resolve_options(name: str, allowed: dict, options: dict) -> dict:
    """Fill defaults and reject unknown option names or values with one clear line."""
    for key, value in options.items():
        if key not in allowed:
            raise GanbenchError(f"loss {name!r}: {unknown_name('option', key, sorted(allowed))}")
        rule = allowed[key]
        if isinstance(rule, Interval):
            if not rule.allows(value):
                raise GanbenchError(f"loss {name!r}: option {key}={value!r} is not allowed; allowed values: {rule}")
        elif value not in rule:
            values = ", ".join(repr(v) for v in rule)
            raise GanbenchError(f"loss {name!r}: option {key}={value!r} is not allowed; allowed values: {values}")
    return {key: options.get(key, rule.default if isinstance(rule, Interval) else rule[0])
            for key, rule in allowed.items()}


def loss_class(name: str) -> type[Loss]:
    """The class of the loss registered as ``name`` (its traits are class attributes)."""
    factory = LOSSES.get(name)
    return getattr(factory, "loss_class", factory)


def get_loss(name: str, **options) -> Loss:
    """The loss registered as ``name``, configured by ``options`` (see each loss's docstring)."""
    factory = LOSSES.get(name)
    resolved = _resolve_options(name, getattr(factory, "OPTIONS", {}), options)
    return factory(name, **resolved)

