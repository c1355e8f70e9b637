"""PacGAN's 2D-mixture networks (Lin et al. 2018, "PacGAN: the power of two samples in GANs"), for flat data.

After the authors' code (github.com/fjxmlzn/PacGAN, synthetic_data_experiments/2DGrid_GAN&PacGAN: config.py and
pacgan_task.py), with hidden sizes scaled by w / 64 for w = ``width`` (w = 64 is the paper's: 400 and 200):
- G: z -> 4 x (linear 400, no bias -> [BN] -> ReLU) -> linear n (with bias) -> tanh. The authors end with a linear
  output on unscaled data; ganbench's toys are scaled into (-1, 1) and every G ends in tanh (ganbench's
  convention), which is close to linear over the data's range. Without BN (g_norm='none') the hidden linears
  keep their bias. G uses ReLU whatever ``activation`` says.
- D: 3 x (linear maxout 200 units x 5 pieces: linear 1000 -> max over each unit's 5 consecutive pieces, as blocks'
  LinearMaxout) -> linear 1. The first layer is never normalised; ``d_norm`` batch/layer acts on the outputs of the
  second and third maxout layers, spectral on every linear. ``activation`` has no meaning (maxout is the
  nonlinearity). With ``pac = m`` the first layer takes m*n inputs (the Discriminator wrapper packs samples).
- Init: N(0, 0.02) weights, biases 0, BN scale 1 and offset 0 (the authors' IsotropicGaussian(0.02), Constant(0),
  and blocks' batch-norm defaults). Their batch-norm population update is 0.95 p + 0.05 batch (momentum 0.05).
The authors' training setting (a suite's job): z ~ N(0, I_2), batch 100, Adam lr 1e-4, beta1 0.8, NS-GAN loss,
400 epochs of 100k points (400k steps); m in {1, 2, 3, 4}.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ganbench.zoo.models.layers import ArchOptions, assemble, d_norm1d, g_norm1d, init_normal_
from ganbench.registry import GanbenchError

G_HIDDEN, D_HIDDEN, PIECES, G_LAYERS, D_LAYERS = 400, 200, 5, 4, 3


def scaled(units: int, width: int) -> int:
    """Hidden size at width w: units * w / 64, at least 1."""
    return max(1, units * width // 64)


class Maxout(nn.Module):
    """Linear to units * pieces, then the max over each unit's ``pieces`` consecutive outputs."""

    def __init__(self, n_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(n_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


class PacGAN2DGeneratorBody(nn.Module):
    def __init__(self, z_in: int, out: int, hidden: int, g_norm: str):
        super().__init__()
        layers: list[nn.Module] = []
        n = z_in
        for _ in range(G_LAYERS):
            layers += [nn.Linear(n, hidden, bias=g_norm == "none"), g_norm1d(g_norm, hidden), nn.ReLU()]
            n = hidden
        layers += [nn.Linear(n, out), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def pacgan2d_discriminator_body(n_in: int, hidden: int, opts: ArchOptions) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [Maxout(n_in, hidden, PIECES)]
    for _ in range(D_LAYERS - 1):
        layers += [Maxout(hidden, hidden, PIECES), d_norm1d(opts.d_norm, hidden)]
    return nn.Sequential(*layers), hidden


def build_pacgan2d(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                   num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    shape = tuple(data_shape)
    if len(shape) != 1 or isinstance(shape[0], bool) or shape[0] < 1:
        raise GanbenchError(f"architecture 'pacgan2d' cannot serve data shape {shape}; it supports flat data (n,), "
                            "e.g. the 2D mixtures (2,)")
    n = shape[0]

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return PacGAN2DGeneratorBody(z_in, n, scaled(G_HIDDEN, opts.width), g_norm)

    def make_d(n_in: int) -> tuple[nn.Module, int]:
        return pacgan2d_discriminator_body(n_in, scaled(D_HIDDEN, opts.width), opts)

    return assemble(shape, opts, num_classes, z_dim, make_g, make_d, init=lambda m: init_normal_(m, 0.02, bn_std=0.0),
                    flat_input=True)
