"""DCGAN (Radford et al. 2016, "Unsupervised representation learning with deep convolutional GANs"), any size.

The side h is written h = base * 2^s with s up/down-sampling stages, halving while the side is even and above 7
or fewer than two halvings were made: 8 -> 2 (s=2), 28 -> 7 (s=2), 32 -> 4 (s=3), 64 -> 4 (s=4, the paper's
64x64 net). At least two stages keep a normalised hidden layer in D (the first layer is never normalised).
With w = ``width`` and c_i = w * 2^i:
- G: z -> linear base*base*c_{s-1} -> [BN] -> ReLU -> s-1 x (deconv 4x4 s2 -> [BN] -> ReLU, channels halving)
  -> deconv 4x4 s2 C -> tanh. G always uses ReLU (the paper's choice); ``activation`` affects D only.
- D: downsample c_0 -> act (no normalisation on the first layer, as in the paper) -> s-1 x (downsample c_i ->
  [d_norm] -> act) -> flatten -> linear 1 (equivalent to the paper's final base x base valid convolution).
  act = LeakyReLU(0.2) by default; ``downsample=avgpool`` replaces each strided conv by conv 3x3 + 2x2 avg pool.
- Init: N(0, 0.02) for conv/linear weights, BN weights N(1, 0.02), as in the paper.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ganbench.zoo.models.layers import ArchOptions, act, assemble, d_norm2d, down_conv, g_norm2d, image_shape, init_normal_
from ganbench.registry import GanbenchError

SUPPORTED = "(C, H, H) images with H = base * 2^s, base in 2..7, s >= 2 (e.g. 8, 28, 32, 64)"


def dcgan_stages(arch: str, data_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, base side, number of stride-2 stages) of a DCGAN-style net for ``data_shape``."""
    c, h = image_shape(arch, data_shape, SUPPORTED)
    base, stages = h, 0
    while base % 2 == 0 and (base > 7 or stages < 2):
        base //= 2
        stages += 1
    if stages < 2 or not 2 <= base <= 7:
        raise GanbenchError(f"architecture {arch!r} cannot serve data shape {tuple(data_shape)}; "
                            f"it supports {SUPPORTED}")
    return c, base, stages


class DCGANGeneratorBody(nn.Module):
    def __init__(self, z_in: int, c_out: int, base: int, stages: int, width: int, g_norm: str):
        super().__init__()
        ch = width * 2 ** (stages - 1)
        self.project = nn.Linear(z_in, base * base * ch)
        self.shape = (ch, base, base)
        layers: list[nn.Module] = [g_norm2d(g_norm, ch), nn.ReLU()]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), g_norm2d(g_norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c_out, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.shape))


def dcgan_discriminator_body(c_in: int, base: int, stages: int, width: int,
                             opts: ArchOptions) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [down_conv(c_in, width, opts.downsample), act(opts.activation)]
    ch = width
    for _ in range(stages - 1):
        layers += [down_conv(ch, 2 * ch, opts.downsample), d_norm2d(opts.d_norm, 2 * ch), act(opts.activation)]
        ch *= 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), ch * base * base


def build_dcgan(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    c, base, stages = dcgan_stages("dcgan", data_shape)
    w = opts.width

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return DCGANGeneratorBody(z_in, c, base, stages, w, g_norm)

    def make_d(c_in: int) -> tuple[nn.Module, int]:
        return dcgan_discriminator_body(c_in, base, stages, w, opts)

    return assemble(tuple(data_shape), opts, num_classes, z_dim, make_g, make_d, init=init_normal_)
