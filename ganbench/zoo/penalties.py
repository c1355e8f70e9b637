"""Discriminator penalties (added to D's loss) and constraints (applied to D after each of its steps).

Penalty convention: ``penalty(d_fn, real, fake, rng=None, **options) -> Tensor``, *unweighted*: the trainer adds
``weight * penalty`` to D's loss. ``real`` and ``fake`` are [K, B, ...]: K trials trained as one pack (K = 1 for a
single trial), B samples each; ``d_fn(x) -> [K, B]`` returns D's raw outputs (logits); it is a closure so that
conditional discriminators can bind their labels. The result is one penalty per trial, shape [K]. Gradients are
taken with ``create_graph=True`` so the penalty backpropagates into D's parameters. ``real`` and ``fake`` are
detached first: a penalty trains D only. Random draws come from ``rng`` (``rng.rand(shape)``: each trial's own
stream, so a trial draws the same numbers alone or in a pack), or from the global torch RNG when ``rng`` is None.
Per-sample gradient norms sum over every dimension after the first two; they are per-sample only if D treats
samples independently (no batch norm in D, as in the studies' GP/DRAGAN runs).

Traits (attributes of the registered function or class, read by the trainer and the suite checks instead of a
penalty's name): ``input_gradients`` (the penalty differentiates D with respect to its inputs, so batch norm in D
couples the samples it assumes independent), ``scores_fake`` (``d_fn`` must bind the generated batch's labels: the
penalty evaluates D on ``fake``), ``uses_outputs`` (called with ``outputs=(real_out, fake_out)``, D's outputs of
the D step, in the graph) and ``stateful`` (``init_state(k, device)``, ``state_dict()``, ``load_state_dict()``).
Several penalties can train one D, each with its own weight (a variant's ``penalties``).

Constraint convention: ``constraint(params) -> None`` modifies D's parameters (an iterable of tensors) in place
after each D step.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import Tensor, nn

from ganbench.registry import GanbenchError, Registry, unknown_name

DFn = Callable[[Tensor], Tensor]
TRAITS = {"input_gradients": False, "scores_fake": False, "uses_outputs": False, "stateful": False}

PENALTIES: Registry = Registry("penalty")
CONSTRAINTS: Registry = Registry("constraint")


def _grad_of_outputs(d_fn: DFn, x: Tensor) -> Tensor:
    """d sum d_fn(x) / dx, i.e. the input gradient of each of D's outputs [K, B, F], kept in the graph. With
    PacGAN packing D judges m samples per output (x holds B m samples): the norm is taken per packed input."""
    x = x.detach().requires_grad_(True)
    out = d_fn(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(*out.shape, -1)


def _unit_gradient_penalty(d_fn: DFn, x: Tensor, eps: float) -> Tensor:
    """E[(sqrt(eps + ||grad d_fn(x)||^2) - 1)^2] per trial."""
    slopes = torch.sqrt(eps + _grad_of_outputs(d_fn, x).pow(2).sum(dim=-1))
    return (slopes - 1.0).pow(2).mean(-1)


def _rand(rng, shape, like: Tensor) -> Tensor:
    """U[0, 1) draws of ``shape`` ([K, ...]) from each trial's stream (or the global RNG when rng is None)."""
    if rng is None:
        return torch.rand(shape, dtype=like.dtype, device=like.device)
    return rng.rand(shape).to(like.dtype)


def _per_sample(real: Tensor, rng) -> Tensor:
    """U[0, 1) draws, one per sample of [K, B, ...], broadcastable over the sample's dimensions."""
    return _rand(rng, real.shape[:2] + (1,) * (real.dim() - 2), real)


def _check_dims(real: Tensor) -> None:
    if real.dim() < 3:
        raise ValueError(f"penalties take [K, B, ...] inputs (K trials, B samples), got shape {list(real.shape)}")


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise GanbenchError(f"penalty option eps={eps!r} must be a number >= 0")


def _check_dragan(form: str = "compare_gan", scale: float | None = None, eps: float = 1e-4) -> None:
    if form not in ("compare_gan", "standard"):
        raise GanbenchError(f"penalty 'dragan': form={form!r} is not allowed; allowed values: 'compare_gan', "
                            "'standard'")
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise GanbenchError(f"penalty 'dragan': scale={scale!r} must be a number > 0 (or None for the form's default)")
    _check_eps(eps)


def _check_clip(clip: float = 0.01) -> None:
    if not (isinstance(clip, (int, float)) and clip > 0):
        raise GanbenchError(f"constraint 'clip': clip={clip!r} must be a number > 0")


@PENALTIES.register("none", help="no penalty (returns 0)")
def no_penalty(d_fn: DFn, real: Tensor, fake: Tensor, rng=None) -> Tensor:
    """Zero per trial, for losses trained without a penalty."""
    return torch.zeros(real.shape[:1], dtype=real.dtype, device=real.device)


@PENALTIES.register("gp", help="WGAN-GP (Gulrajani 2017): E[(||grad D(x_hat)|| - 1)^2] between real and fake")
def gradient_penalty(d_fn: DFn, real: Tensor, fake: Tensor, rng=None, eps: float = 1e-4) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x d_fn(x_hat)|| - 1)^2] on the raw (logit) output.

    x_hat = x + a (G(z) - x), a ~ U[0, 1] drawn once per sample. The norm is sqrt(eps + sum g^2): ``eps=1e-4``
    (default) is google/compare_gan's convention, which keeps the square root differentiable at g = 0;
    ``eps=0`` is the paper's plain Euclidean norm (its gradient is undefined where a sample's input gradient is
    exactly zero). The paper's weight is lambda = 10.
    """
    _check_eps(eps)
    _check_dims(real)
    real, fake = real.detach(), fake.detach()
    x_hat = real + _per_sample(real, rng) * (fake - real)
    return _unit_gradient_penalty(d_fn, x_hat, eps)


@PENALTIES.register("dragan", help="DRAGAN (Kodali 2017): unit-gradient penalty around perturbed real data")
def dragan_penalty(d_fn: DFn, real: Tensor, fake: Tensor, rng=None, form: str = "compare_gan",
                   scale: float | None = None, eps: float = 1e-4) -> Tensor:
    """DRAGAN (Kodali et al. 2017, "On convergence and stability of GANs"): E[(||grad D(x_p)|| - 1)^2] near the data.

    ``fake`` is unused. std = the standard deviation of all entries of each trial's real batch (population, as
    numpy's ``std()``); U draws are per element; norm sqrt(eps + sum g^2) as in ``gp``.
    - ``form="compare_gan"`` (default; google/compare_gan v1.0, the Lucic et al. 2018 study, after the authors'
      code): x_p = x + scale * std * U[0, 1) with ``scale=0.5``; x_hat = x + a (x_p - x), a ~ U[0, 1] per sample;
      the gradient is that of D's *sigmoid* output, sigmoid(d_fn(x_hat)).
    - ``form="standard"`` (later compare_gan): x_hat = x + scale * std * (U[0, 1) - 0.5) with ``scale=1.0``, no
      interpolation; the gradient is that of the raw *logit* output d_fn(x_hat). (compare_gan also clipped x_hat to
      its [0, 1] pixel range; ganbench leaves the data range to the dataset and does not clip.)
    The paper's own perturbation is Gaussian, x + delta with delta ~ N(0, c I); both forms follow the public code.
    """
    _check_dragan(form, scale, eps)
    _check_dims(real)
    if scale is None:
        scale = 0.5 if form == "compare_gan" else 1.0
    real = real.detach()
    std = real.flatten(1).std(dim=1, correction=0).view((-1,) + (1,) * (real.dim() - 1))
    noise = _rand(rng, real.shape, real)
    if form == "compare_gan":
        perturbed = real + scale * std * noise
        x_hat = real + _per_sample(real, rng) * (perturbed - real)
        return _unit_gradient_penalty(lambda x: torch.sigmoid(d_fn(x)), x_hat, eps)
    x_hat = real + scale * std * (noise - 0.5)
    return _unit_gradient_penalty(d_fn, x_hat, eps)


@PENALTIES.register("r1", help="R1 (Mescheder 2018): E[||grad D(x)||^2] on real data; trainer weight gamma/2")
def r1_penalty(d_fn: DFn, real: Tensor, fake: Tensor, rng=None) -> Tensor:
    """R1 (Mescheder et al. 2018, "Which training methods for GANs do actually converge?"): E[||grad_x d_fn(x)||^2].

    On real data only (``fake`` is unused), raw logit output, squared norm without eps. The paper's regulariser is
    gamma/2 * E[||grad D(x)||^2], so the trainer's weight for ``r1`` is gamma/2 (gamma = 10 gives weight 5).
    """
    _check_dims(real)
    return _grad_of_outputs(d_fn, real).pow(2).sum(dim=-1).mean(-1)


@PENALTIES.register("r2", help="R2 (Mescheder 2018; R3GAN, Huang 2024): E[||grad D(x_f)||^2] on generated "
                              "samples detached from G; trainer weight gamma/2")
def r2_penalty(d_fn: DFn, real: Tensor, fake: Tensor, rng=None) -> Tensor:
    """R2: E[||grad_x d_fn(x_f)||^2] on generated samples, detached from G (the penalty trains D only).

    R1's conventions on the other batch (``real`` is unused): raw logit output, squared norm without eps, trainer
    weight gamma/2. R3GAN trains RpGAN with gamma/2 (R1 + R2) and one gamma. ``d_fn`` binds the generated batch's
    labels (``scores_fake``).
    """
    _check_dims(fake)
    return _grad_of_outputs(d_fn, fake).pow(2).sum(dim=-1).mean(-1)


for _fn in (gradient_penalty, dragan_penalty, r1_penalty, r2_penalty):
    _fn.input_gradients = True
r2_penalty.scores_fake = True


@PENALTIES.register("lecam", help="LeCam (Tseng 2021): E relu(D(x_r) - a_F)^2 + E relu(a_R - D(x_f))^2, anchors "
                                 "EMAs (decay 0.99) of D's mean outputs; options decay, start")
class LeCam:
    """LeCam regularisation (Tseng et al. 2021, "Regularizing generative adversarial networks under limited data"),
    in the official code's relu form (google/lecam-gan, ``lecam_reg``):
        R = E_r relu(D(x_r) - a_F)^2 + E_f relu(a_R - D(x_f))^2,
    not the paper's squared distance E (D(x_r) - a_F)^2 + E (D(x_f) - a_R)^2: the relu form penalises only outputs
    beyond the other side's anchor. a_R, a_F are exponential moving averages of D's mean raw output on the real and
    generated batch, one pair per trial ([K]), moved at every D step before R is computed (as the official code
    does), from D's outputs of that step (detached): a <- decay a + (1 - decay) mean D(x). Before ``start`` D steps
    the decay is 0 (the anchor is the batch mean), as the official ``ema_losses`` before ``start_itr``; the anchors
    start at the first batch's means (the official code starts them at 1000, which ``start >= 1`` makes irrelevant).
    StudioGAN's BigGAN-LeCam: lambda 0.3, start 1000. The anchors and the step count are state: in the checkpoint.
    """

    uses_outputs = True
    stateful = True

    def __init__(self, decay: float = 0.99, start: int = 0):
        self.decay, self.start = float(decay), int(start)
        self.init_state(1, "cpu")

    def init_state(self, k: int, device) -> None:
        self.a_real = torch.zeros(k, device=device)
        self.a_fake = torch.zeros(k, device=device)
        self.steps = torch.zeros(k, device=device)

    def state_dict(self) -> dict:
        return {"a_real": self.a_real.clone(), "a_fake": self.a_fake.clone(), "steps": self.steps.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.a_real, self.a_fake, self.steps = (state[n].to(self.a_real.device, self.a_real.dtype)
                                                for n in ("a_real", "a_fake", "steps"))

    def _move_anchors(self, real_out: Tensor, fake_out: Tensor) -> None:
        with torch.no_grad():
            decay = torch.where(self.steps < max(self.start, 1), 0.0, self.decay).to(self.a_real.dtype)
            self.a_real = decay * self.a_real + (1.0 - decay) * real_out.detach().mean(-1).to(self.a_real.dtype)
            self.a_fake = decay * self.a_fake + (1.0 - decay) * fake_out.detach().mean(-1).to(self.a_fake.dtype)
            self.steps = self.steps + 1

    def __call__(self, d_fn: DFn, real: Tensor, fake: Tensor, rng=None, outputs=None) -> Tensor:
        """One D step's penalty per trial [K]; ``outputs`` = (real_out, fake_out), D's outputs [K, B] of the step."""
        if outputs is None:
            raise TypeError("lecam needs D's outputs of the D step: call it with outputs=(real_out, fake_out)")
        real_out, fake_out = outputs
        self._move_anchors(real_out, fake_out)
        a_real, a_fake = self.a_real.to(real_out.dtype)[:, None], self.a_fake.to(real_out.dtype)[:, None]
        return (torch.relu(real_out - a_fake).pow(2).mean(-1) + torch.relu(a_real - fake_out).pow(2).mean(-1))


def _check_lecam(decay: float = 0.99, start: int = 0) -> None:
    if not (isinstance(decay, (int, float)) and not isinstance(decay, bool) and 0 <= decay < 1):
        raise GanbenchError(f"penalty 'lecam': decay={decay!r} must be a number in [0, 1)")
    if not (isinstance(start, int) and not isinstance(start, bool) and start >= 0):
        raise GanbenchError(f"penalty 'lecam': start={start!r} must be an integer >= 0 (D steps)")


@CONSTRAINTS.register("none", help="no constraint")
def no_constraint(params) -> None:
    """Leave D's parameters unchanged."""


@CONSTRAINTS.register("clip", help="WGAN weight clipping (Arjovsky 2017): clamp every D parameter to [-clip, clip]")
def clip_weights(params, clip: float = 0.01) -> None:
    """Clamp every parameter (weights, biases, norm scales: all of them, as compare_gan does) in place. ``params``
    is a module (its parameters are used) or an iterable of tensors."""
    _check_clip(clip)
    if isinstance(params, nn.Module):
        params = params.parameters()
    with torch.no_grad():
        for p in params:
            p.clamp_(-clip, clip)


_CHECKS = {gradient_penalty: _check_eps, dragan_penalty: _check_dragan, clip_weights: _check_clip,
           LeCam: _check_lecam}


class _Bound:
    """A registered function with its options bound; ``name``, ``options`` and the traits describe it."""

    def __init__(self, fn: Callable, name: str, options: dict):
        self.fn, self.name, self.options = fn, name, options
        for trait, default in TRAITS.items():
            setattr(self, trait, getattr(fn, trait, default))

    def __call__(self, *args, outputs=None, **kwargs) -> Tensor | None:
        if self.uses_outputs:
            kwargs["outputs"] = outputs
        return self.fn(*args, **kwargs, **self.options)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({opts[2:]})"


def _bind(registry: Registry, name: str, n_positional: int, options: dict) -> _Bound:
    """A function with ``options`` bound after its ``n_positional`` arguments, or a class (a penalty with state)
    built from them; either way with ``name``, ``options`` and the traits."""
    fn = registry.get(name)
    params = list(inspect.signature(fn).parameters.values())[0 if isinstance(fn, type) else n_positional:]
    allowed = {p.name: p.default for p in params}
    for key in options:
        if key not in allowed:
            raise GanbenchError(f"{registry.kind} {name!r}: {unknown_name('option', key, sorted(allowed))}")
    resolved = {**allowed, **options}
    check = _CHECKS.get(fn)
    if check is not None:
        check(**resolved)  # bad values fail here, before training starts
    if isinstance(fn, type):
        made = fn(**resolved)
        made.name, made.options = name, resolved
        for trait, default in TRAITS.items():
            setattr(made, trait, getattr(made, trait, default))
        return made
    return _Bound(fn, name, resolved)


def get_penalty(name: str, **options) -> Callable[..., Tensor]:
    """The penalty ``name`` with ``options`` bound: call it as ``penalty(d_fn, real, fake, rng)``."""
    return _bind(PENALTIES, name, 4, options)


def get_constraint(name: str, **options) -> Callable[[nn.Module], None]:
    """The constraint ``name`` with ``options`` bound: call it as ``constraint(params)`` after each D step."""
    return _bind(CONSTRAINTS, name, 1, options)
