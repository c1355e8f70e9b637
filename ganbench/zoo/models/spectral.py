"""Spectral normalisation (Miyato et al. 2018) as a weight parametrisation that also works for packs of trials.

The same computation as ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training-mode
forward, u and v kept as buffers, sigma = u^T W v, 15 warm-up iterations at construction), written with in-place
``copy_`` into the buffers instead of ``out=`` arguments, so that ``torch.func.vmap`` can run K trials' copies of a
network as one (see ganbench.training.members). The state-dict keys are torch's: ``parametrizations.weight.original``
and ``parametrizations.weight.0._u`` / ``._v``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
           nn.Embedding)


class SpectralNorm(nn.Module):
    def __init__(self, weight: torch.Tensor, dim: int = 0, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.n_power_iterations, self.eps = dim, n_power_iterations, eps
        mat = self._matrix(weight.detach())
        h, w = mat.shape
        self.register_buffer("_u", F.normalize(mat.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(mat.new_empty(w).normal_(0, 1), dim=0, eps=eps))
        self._power_method(mat, 15)

    def _matrix(self, weight: torch.Tensor) -> torch.Tensor:
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    @torch.no_grad()
    def _power_method(self, mat: torch.Tensor, iterations: int) -> None:
        for _ in range(iterations):
            self._u.copy_(F.normalize(mat @ self._v, dim=0, eps=self.eps))
            self._v.copy_(F.normalize(mat.mT @ self._u, dim=0, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        mat = self._matrix(weight)
        if self.training:
            self._power_method(mat.detach(), self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * (mat @ v)).sum()
        return weight / sigma


def spectral_norm(layer: nn.Module) -> nn.Module:
    """Parametrise ``layer.weight`` with spectral norm (dim 1 for transposed convolutions, as torch does)."""
    dim = 1 if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    parametrize.register_parametrization(layer, "weight", SpectralNorm(layer.weight, dim=dim))
    return layer


def apply_spectral_norm_(module: nn.Module) -> nn.Module:
    """Spectral norm on every conv / transposed conv / linear / embedding weight of ``module`` (itself included);
    layers already parametrised are left alone, so calling it twice is harmless. Returns ``module``."""
    for layer in list(module.modules()):
        if isinstance(layer, _LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer)
    return module
