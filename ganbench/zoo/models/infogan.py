"""The InfoGAN-style network that Lucic et al. 2018 ("Are GANs Created Equal?") use for every dataset.

Layer by layer as in compare_gan v1.0's ``src/gans/abstract_gan.py:67-116`` (Chen et al. 2016's MNIST net), for
(C, H, H) images with H divisible by 4. With w = ``width`` (w = 64 is the paper's net: 64, 128, 1024):
- G: FC 16w -> [BN] -> lReLU(0.2); FC 2w*(H/4)*(H/4) -> [BN] -> lReLU; reshape to (2w, H/4, H/4);
  deconv 4x4 s2 w -> [BN] -> lReLU; deconv 4x4 s2 C -> tanh. compare_gan ends with a sigmoid because its data lie
  in [0, 1]; ganbench data lie in [-1, 1], so the output is tanh (= 2 sigmoid(2a) - 1, the same family).
  G always uses LeakyReLU(0.2), as compare_gan does; ``activation`` affects D only.
- D: conv 4x4 s2 w -> act; conv 4x4 s2 2w -> [d_norm] -> act; FC 16w -> [d_norm] -> act; FC 1.
  act = LeakyReLU(0.2) (compare_gan) or ReLU. ``downsample=avgpool`` replaces both strided convs by conv 3x3 +
  2x2 average pooling. compare_gan's D batch norm is this module's ``d_norm='batch'``.
- Init: compare_gan v1.0's (``init_compare_gan_``): conv weights truncated normal (std 0.02, re-drawn beyond
  2 std), linear and transposed-conv weights N(0, 0.02), biases 0, batch-norm scale 1 and offset 0.
- Autoencoder D (d_output='autoencoder', BEGAN) as compare_gan v1.0's BEGAN (src/gans/BEGAN.py:64-96): encoder
  conv 4x4 s2 w -> act; conv 4x4 s2 2w (no activation); FC 64 -> [d_norm] -> act (the code); decoder
  FC 2w*(H/4)^2 -> [d_norm] -> act; deconv 4x4 s2 w -> [d_norm] -> act; deconv 4x4 s2 C -> tanh (compare_gan:
  sigmoid, its data lying in [0, 1]). About 1.07M parameters at 1x28x28 and w = 64, against 8.5M for the logit D.
The paper draws z ~ U(-1, 1)^64 with batch 64; sampling z is the trainer's job.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ganbench.zoo.models.layers import (AE_CODE_DIM, ArchOptions, act, assemble, d_norm1d, d_norm2d, down_conv, g_norm1d,
                                    g_norm2d, image_shape, init_compare_gan_)
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


def infogan_autoencoder(c_in: int, c_out: int, side: int, width: int,
                        opts: ArchOptions) -> tuple[nn.Module, nn.Module]:
    """compare_gan v1.0's BEGAN autoencoder D: (encoder x -> code [B, AE_CODE_DIM], decoder code -> x)."""
    q = side // 4
    encoder = nn.Sequential(
        down_conv(c_in, width, opts.downsample), act(opts.activation),
        down_conv(width, 2 * width, opts.downsample), nn.Flatten(),
        nn.Linear(2 * width * q * q, AE_CODE_DIM), d_norm1d(opts.d_norm, AE_CODE_DIM), act(opts.activation))
    decoder = nn.Sequential(
        nn.Linear(AE_CODE_DIM, 2 * width * q * q), d_norm1d(opts.d_norm, 2 * width * q * q), act(opts.activation),
        nn.Unflatten(1, (2 * width, q, q)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), d_norm2d(opts.d_norm, width), act(opts.activation),
        nn.ConvTranspose2d(width, c_out, 4, 2, 1), nn.Tanh())
    return encoder, decoder


def build_infogan(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                  num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    c, h = image_shape("infogan", data_shape, SUPPORTED)
    if h % 4 != 0:
        raise GanbenchError(f"architecture 'infogan' cannot serve data shape {tuple(data_shape)}; "
                            f"it supports {SUPPORTED}")
    w = opts.width

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return InfoGANGeneratorBody(z_in, c, h, w, g_norm)

    def make_d(c_in: int) -> tuple[nn.Module, int]:
        return infogan_discriminator_body(c_in, h, w, opts)

    def make_ae(c_in: int) -> tuple[nn.Module, nn.Module]:
        return infogan_autoencoder(c_in, c, h, w, opts)

    return assemble(tuple(data_shape), opts, num_classes, z_dim, make_g, make_d, init=init_compare_gan_,
                    make_ae=make_ae)
