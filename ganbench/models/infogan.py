"""The InfoGAN-style network that Lucic et al. 2018 ("Are GANs Created Equal?") use for every dataset.

Layer by layer as in compare_gan's ``architectures/infogan.py`` (Chen et al. 2016's MNIST net), for (C, H, H)
images with H divisible by 4. With w = ``width`` (w = 64 is the paper's net: 64, 128, 1024):
- G: FC 16w -> [BN] -> lReLU(0.2); FC 2w*(H/4)*(H/4) -> [BN] -> lReLU; reshape to (2w, H/4, H/4);
  deconv 4x4 s2 w -> [BN] -> lReLU; deconv 4x4 s2 C -> tanh. compare_gan ends with a sigmoid because its data lie
  in [0, 1]; ganbench data lie in [-1, 1], so the output is tanh (= 2 sigmoid(2a) - 1, the same family).
  G always uses LeakyReLU(0.2), as compare_gan does; ``activation`` affects D only.
- D: conv 4x4 s2 w -> act; conv 4x4 s2 2w -> [d_norm] -> act; FC 16w -> [d_norm] -> act; FC 1.
  act = LeakyReLU(0.2) (compare_gan) or ReLU. ``downsample=avgpool`` replaces both strided convs by conv 3x3 +
  2x2 average pooling. compare_gan's D batch norm is this module's ``d_norm='batch'``.
- Init: N(0, 0.02) for conv/linear weights, biases 0, BN weights N(1, 0.02) (compare_gan's initialiser).
The paper draws z ~ U(-1, 1)^64 with batch 64; sampling z is the trainer's job.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ganbench.models.layers import (ArchOptions, act, assemble, d_norm1d, d_norm2d, down_conv, g_norm1d, g_norm2d,
                                    image_shape, init_normal_)
from ganbench.registry import GanbenchError

SUPPORTED = "(C, H, H) images with H divisible by 4 (e.g. 8, 28, 32, 64)"


class InfoGANGeneratorBody(nn.Module):
    def __init__(self, z_in: int, c_out: int, side: int, width: int, g_norm: str):
        super().__init__()
        q = side // 4
        self.shape = (2 * width, q, q)
        self.fc = nn.Sequential(
            nn.Linear(z_in, 16 * width), g_norm1d(g_norm, 16 * width), nn.LeakyReLU(0.2),
            nn.Linear(16 * width, 2 * width * q * q), g_norm1d(g_norm, 2 * width * q * q), nn.LeakyReLU(0.2))
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), g_norm2d(g_norm, width), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(width, c_out, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(z.shape[0], *self.shape))


def infogan_discriminator_body(c_in: int, side: int, width: int, opts: ArchOptions) -> tuple[nn.Module, int]:
    q = side // 4
    body = nn.Sequential(
        down_conv(c_in, width, opts.downsample), act(opts.activation),
        down_conv(width, 2 * width, opts.downsample), d_norm2d(opts.d_norm, 2 * width), act(opts.activation),
        nn.Flatten(),
        nn.Linear(2 * width * q * q, 16 * width), d_norm1d(opts.d_norm, 16 * width), act(opts.activation))
    return body, 16 * width


def build_infogan(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                  num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    c, h = image_shape("infogan", data_shape, SUPPORTED)
    if h % 4 != 0:
        raise GanbenchError(f"architecture 'infogan' cannot serve data shape {tuple(data_shape)}; "
                            f"it supports {SUPPORTED}")
    w = opts.width

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return InfoGANGeneratorBody(z_in, c, h, w, g_norm)

    def make_d(extra: int) -> tuple[nn.Module, int]:
        return infogan_discriminator_body(c + extra, h, w, opts)

    return assemble(tuple(data_shape), opts, num_classes, z_dim, make_g, make_d, init=init_normal_)
