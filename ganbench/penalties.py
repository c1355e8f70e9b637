"""Discriminator penalties (added to D's loss) and constraints (applied to D after each of its steps).

Penalty convention: ``penalty(d_fn, real, fake, **options) -> Tensor``, a scalar, *unweighted*: the trainer adds
``weight * penalty`` to D's loss. ``d_fn(x) -> [B]`` returns D's raw outputs (logits); it is a closure so that
conditional discriminators can bind their labels. Gradients are taken with ``create_graph=True`` so the penalty
backpropagates into D's parameters. ``real`` and ``fake`` are detached first: a penalty trains D only. Random draws
use the global torch RNG (the trainer seeds it). Per-sample gradient norms sum over every non-batch dimension;
they are per-sample only if D treats samples independently (no batch norm in D, as in the studies' GP/DRAGAN runs).

Constraint convention: ``constraint(module) -> None`` modifies D's parameters in place after each D step.

``spectral_norm(module)`` wraps every Conv/ConvTranspose/Linear layer of a module with
torch.nn.utils.parametrizations.spectral_norm (Miyato et al. 2018); architectures call it for their ``spectral``
normalisation option.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import Tensor, nn

from ganbench.registry import GanbenchError, Registry, unknown_name

DFn = Callable[[Tensor], Tensor]

PENALTIES: Registry = Registry("penalty")
CONSTRAINTS: Registry = Registry("constraint")


def _grad_of_outputs(d_fn: DFn, x: Tensor) -> Tensor:
    """d sum_i d_fn(x)_i / dx, i.e. the per-sample input gradients, kept in the graph."""
    x = x.detach().requires_grad_(True)
    out = d_fn(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def _unit_gradient_penalty(d_fn: DFn, x: Tensor, eps: float) -> Tensor:
    """E[(sqrt(eps + ||grad d_fn(x)||^2) - 1)^2]."""
    slopes = torch.sqrt(eps + _grad_of_outputs(d_fn, x).pow(2).sum(dim=1))
    return (slopes - 1.0).pow(2).mean()


def _per_sample(shape: torch.Size, like: Tensor) -> Tensor:
    """U[0, 1) draws, one per sample, broadcastable over the sample's dimensions."""
    return torch.rand((shape[0],) + (1,) * (len(shape) - 1), dtype=like.dtype, device=like.device)


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise GanbenchError(f"penalty option eps={eps!r} must be a number >= 0")


def _check_dragan(form: str = "compare_gan", scale: float | None = None, eps: float = 1e-4) -> None:
    if form not in ("compare_gan", "standard"):
        raise GanbenchError(f"penalty 'dragan': form={form!r} is not allowed; allowed values: 'compare_gan', 'standard'")
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise GanbenchError(f"penalty 'dragan': scale={scale!r} must be a number > 0 (or None for the form's default)")
    _check_eps(eps)


def _check_clip(clip: float = 0.01) -> None:
    if not (isinstance(clip, (int, float)) and clip > 0):
        raise GanbenchError(f"constraint 'clip': clip={clip!r} must be a number > 0")


@PENALTIES.register("none", help="no penalty (returns 0)")
def no_penalty(d_fn: DFn, real: Tensor, fake: Tensor) -> Tensor:
    """Zero, for losses trained without a penalty."""
    return torch.zeros((), dtype=real.dtype, device=real.device)


@PENALTIES.register("gp", help="WGAN-GP (Gulrajani 2017): E[(||grad D(x_hat)|| - 1)^2] between real and fake")
def gradient_penalty(d_fn: DFn, real: Tensor, fake: Tensor, eps: float = 1e-4) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x d_fn(x_hat)|| - 1)^2] on the raw (logit) output.

    x_hat = x + a (G(z) - x), a ~ U[0, 1] drawn once per sample. The norm is sqrt(eps + sum g^2): ``eps=1e-4``
    (default) is google/compare_gan's convention, which keeps the square root differentiable at g = 0;
    ``eps=0`` is the paper's plain Euclidean norm (its gradient is undefined where a sample's input gradient is
    exactly zero). The paper's weight is lambda = 10.
    """
    _check_eps(eps)
    real, fake = real.detach(), fake.detach()
    x_hat = real + _per_sample(real.shape, real) * (fake - real)
    return _unit_gradient_penalty(d_fn, x_hat, eps)


@PENALTIES.register("dragan", help="DRAGAN (Kodali 2017): unit-gradient penalty around perturbed real data")
def dragan_penalty(d_fn: DFn, real: Tensor, fake: Tensor, form: str = "compare_gan",
                   scale: float | None = None, eps: float = 1e-4) -> Tensor:
    """DRAGAN (Kodali et al. 2017, "On convergence and stability of GANs"): E[(||grad D(x_p)|| - 1)^2] near the data.

    ``fake`` is unused. std = the standard deviation of all entries of the real batch (population, as numpy's
    ``std()``); U draws are per element from the global RNG; norm sqrt(eps + sum g^2) as in ``gp``.
    - ``form="compare_gan"`` (default; google/compare_gan v1.0, the Lucic et al. 2018 study, after the authors'
      code): x_p = x + scale * std * U[0, 1) with ``scale=0.5``; x_hat = x + a (x_p - x), a ~ U[0, 1] per sample;
      the gradient is that of D's *sigmoid* output, sigmoid(d_fn(x_hat)).
    - ``form="standard"`` (later compare_gan): x_hat = x + scale * std * (U[0, 1) - 0.5) with ``scale=1.0``, no
      interpolation; the gradient is that of the raw *logit* output d_fn(x_hat). (compare_gan also clipped x_hat to
      its [0, 1] pixel range; ganbench leaves the data range to the dataset and does not clip.)
    The paper's own perturbation is Gaussian, x + delta with delta ~ N(0, c I); both forms follow the public code.
    """
    _check_dragan(form, scale, eps)
    if scale is None:
        scale = 0.5 if form == "compare_gan" else 1.0
    real = real.detach()
    std = real.std(correction=0)
    noise = torch.rand_like(real)
    if form == "compare_gan":
        perturbed = real + scale * std * noise
        x_hat = real + _per_sample(real.shape, real) * (perturbed - real)
        return _unit_gradient_penalty(lambda x: torch.sigmoid(d_fn(x)), x_hat, eps)
    x_hat = real + scale * std * (noise - 0.5)
    return _unit_gradient_penalty(d_fn, x_hat, eps)


@PENALTIES.register("r1", help="R1 (Mescheder 2018): E[||grad D(x)||^2] on real data; trainer weight gamma/2")
def r1_penalty(d_fn: DFn, real: Tensor, fake: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018, "Which training methods for GANs do actually converge?"): E[||grad_x d_fn(x)||^2].

    On real data only (``fake`` is unused), raw logit output, squared norm without eps. The paper's regulariser is
    gamma/2 * E[||grad D(x)||^2], so the trainer's weight for ``r1`` is gamma/2 (gamma = 10 gives weight 5).
    """
    return _grad_of_outputs(d_fn, real).pow(2).sum(dim=1).mean()


@CONSTRAINTS.register("none", help="no constraint")
def no_constraint(module: nn.Module) -> None:
    """Leave D's parameters unchanged."""


@CONSTRAINTS.register("clip", help="WGAN weight clipping (Arjovsky 2017): clamp every D parameter to [-clip, clip]")
def clip_weights(module: nn.Module, clip: float = 0.01) -> None:
    """Clamp every parameter of ``module`` (weights, biases, norm scales: all of them, as compare_gan does) in place."""
    _check_clip(clip)
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip, clip)


_SN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every Linear/Conv/ConvTranspose layer of ``module`` (itself included) with spectral normalisation.

    Uses torch.nn.utils.parametrizations.spectral_norm (one power iteration per training-mode forward). Layers that
    already carry a ``weight`` parametrisation are left alone, so calling it twice is harmless. Returns ``module``.
    """
    for layer in module.modules():
        if isinstance(layer, _SN_LAYERS) and not nn.utils.parametrize.is_parametrized(layer, "weight"):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


_CHECKS = {gradient_penalty: _check_eps, dragan_penalty: _check_dragan, clip_weights: _check_clip}


class _Bound:
    """A registered function with its options bound; ``name`` and ``options`` describe it."""

    def __init__(self, fn: Callable, name: str, options: dict):
        self.fn, self.name, self.options = fn, name, options

    def __call__(self, *args) -> Tensor | None:
        return self.fn(*args, **self.options)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({opts[2:]})"


def _bind(registry: Registry, name: str, n_positional: int, options: dict) -> _Bound:
    fn = registry.get(name)
    params = list(inspect.signature(fn).parameters.values())[n_positional:]
    allowed = {p.name: p.default for p in params}
    for key in options:
        if key not in allowed:
            raise GanbenchError(f"{registry.kind} {name!r}: {unknown_name('option', key, sorted(allowed))}")
    resolved = {**allowed, **options}
    check = _CHECKS.get(fn)
    if check is not None:
        check(**resolved)  # bad values fail here, before training starts
    return _Bound(fn, name, resolved)


def get_penalty(name: str, **options) -> Callable[[DFn, Tensor, Tensor], Tensor]:
    """The penalty ``name`` with ``options`` bound: call it as ``penalty(d_fn, real, fake)``."""
    return _bind(PENALTIES, name, 3, options)


def get_constraint(name: str, **options) -> Callable[[nn.Module], None]:
    """The constraint ``name`` with ``options`` bound: call it as ``constraint(module)`` after each D step."""
    return _bind(CONSTRAINTS, name, 1, options)
