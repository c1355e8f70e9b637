"""Fully connected G and D: the seed texts' MNIST MLPs generalised to any flat data size.

Seed texts: D 784-256-128-1 (ReLU or LeakyReLU, linear output), G 100-128-256-784 (ReLU, tanh output).
Here, with n = prod(data_shape) and w = ``width`` (64 gives the seed sizes):
- D: n -> 4w -> act -> 2w -> [d_norm] -> act -> linear 1. ``activation`` picks LeakyReLU(0.2) or ReLU; the first
  layer is not normalised. ``downsample`` has no meaning here and is ignored.
- G: z -> 2w -> [BN] -> ReLU -> 4w -> [BN] -> ReLU -> n -> tanh, reshaped to data_shape (BN per ``g_norm``).
- Conditioning: one-hot labels concatenated to z and to the flattened input of D (concat), or a projection term on
  D's 2w-d features.
- Init: PyTorch's default (Kaiming-uniform) initialisation, as in the seed texts' code; no N(0, 0.02).
Works for (2,) toy data and any image shape (flattened).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ganbench.zoo.models.layers import ArchOptions, act, assemble, d_norm1d, g_norm1d
from ganbench.registry import GanbenchError


class MLPGeneratorBody(nn.Module):
    def __init__(self, z_in: int, out: int, width: int, g_norm: str):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_in, 2 * width), g_norm1d(g_norm, 2 * width), nn.ReLU(),
            nn.Linear(2 * width, 4 * width), g_norm1d(g_norm, 4 * width), nn.ReLU(),
            nn.Linear(4 * width, out), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def mlp_discriminator_body(n_in: int, width: int, opts: ArchOptions) -> tuple[nn.Module, int]:
    body = nn.Sequential(
        nn.Linear(n_in, 4 * width), act(opts.activation),
        nn.Linear(4 * width, 2 * width), d_norm1d(opts.d_norm, 2 * width), act(opts.activation))
    return body, 2 * width


def build_mlp(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
              num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    shape = tuple(data_shape)
    if len(shape) == 0 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise GanbenchError(f"architecture 'mlp' cannot serve data shape {shape}; it supports any tuple of "
                            "positive ints, e.g. (2,) or (C, H, W)")
    n = math.prod(shape)
    w = opts.width

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return MLPGeneratorBody(z_in, n, w, g_norm)

    def make_d(n_in: int) -> tuple[nn.Module, int]:
        return mlp_discriminator_body(n_in, w, opts)

    return assemble(shape, opts, num_classes, z_dim, make_g, make_d, init=lambda m: None, flat_input=True)
