"""SNDCGAN: the standard CNN of Miyato et al. 2018 ("Spectral normalization for GANs", Table 3), as used by
Kurach et al. 2019 ("A large-scale study on regularization and normalization in GANs").

With w = ``width`` (w = 64 gives the paper's channel counts):
- D: conv3x3 s1 w; conv4x4 s2 w; conv3x3 s1 2w; conv4x4 s2 2w; conv3x3 s1 4w; conv4x4 s2 4w; conv3x3 s1 8w;
  linear 1, each conv followed by act = LeakyReLU(0.1) (or ReLU). The three stride-2 convs become conv3x3 + 2x2
  average pooling with ``downsample=avgpool``. ``d_norm`` batch/layer follows every conv but the first; with
  ``d_norm='spectral'`` (and no other normalisation) this is the paper's SN-DCGAN discriminator. The paper's
  channel sequence is used; compare_gan's code instead uses 64, 128, 128, 256, 256, 512, 512.
  D works for any square side (three halvings: 32 -> 4, 64 -> 8, 28 -> 3, 8 -> 1 before the linear layer).
- G: z -> linear base*base*(w*2^s) -> [BN] -> ReLU -> s x (deconv 4x4 s2, channels halving -> [BN] -> ReLU)
  -> conv3x3 s1 C -> tanh, ending at w channels before the output conv. s = 3 stages from an H/8 base when H is
  a multiple of 8 and at least 16 (32 -> 4x4 base with 512 channels at w = 64, the paper's net; 64 -> 8x8);
  otherwise s = 2 from an H/4 base (28 -> 7x7, 8 -> 2x2). G uses ReLU whatever ``activation`` says.
- Init: N(0, 0.02) for conv/linear weights, biases 0, BN scale 1 and offset 0: compare_gan v2.0's (the Kurach et
  al. code; src/gans/dcgan_architecture.py sn_discriminator passes tf.random_normal_initializer to every conv, ops.py
  linear and deconv2d draw N(0, 0.02), and tf.contrib.layers.batch_norm starts its scale at 1). Its G's batch norm
  (batch_norm_dcgan: decay 0.9, eps 2e-5) is close to PyTorch's defaults (momentum 0.1, eps 1e-5, bn_style torch).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ganbench.zoo.models.layers import (ArchOptions, act, assemble, d_norm2d, down_conv, g_norm2d, halvings,
                                    image_shape, init_normal_)
from ganbench.registry import GanbenchError

SUPPORTED = "(C, H, H) images with H divisible by 4 (e.g. 8, 28, 32, 64)"
LEAK = 0.1


def sndcgan_g_stages(data_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, base side, number of upsampling stages) of the SNDCGAN generator."""
    c, h = image_shape("sndcgan", data_shape, SUPPORTED)
    if h % 8 == 0 and h >= 16:
        return c, h // 8, 3
    if h % 4 == 0:
        return c, h // 4, 2
    raise GanbenchError(f"architecture 'sndcgan' cannot serve data shape {tuple(data_shape)}; it supports {SUPPORTED}")


class SNDCGANGeneratorBody(nn.Module):
    def __init__(self, z_in: int, c_out: int, base: int, stages: int, width: int, g_norm: str):
        super().__init__()
        ch = width * 2 ** stages
        self.shape = (ch, base, base)
        self.project = nn.Linear(z_in, base * base * ch)
        layers: list[nn.Module] = [g_norm2d(g_norm, ch), nn.ReLU()]
        for _ in range(stages):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), g_norm2d(g_norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.Conv2d(ch, c_out, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.shape))


def sndcgan_discriminator_body(c_in: int, side: int, width: int, opts: ArchOptions) -> tuple[nn.Module, int]:
    w = width
    layers: list[nn.Module] = [nn.Conv2d(c_in, w, 3, 1, 1), act(opts.activation, LEAK)]
    for ch, nxt in ((w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)):
        layers += [down_conv(ch, ch, opts.downsample), d_norm2d(opts.d_norm, ch), act(opts.activation, LEAK),
                   nn.Conv2d(ch, nxt, 3, 1, 1), d_norm2d(opts.d_norm, nxt), act(opts.activation, LEAK)]
    layers.append(nn.Flatten())
    s = halvings(side, 3)
    return nn.Sequential(*layers), 8 * w * s * s


def build_sndcgan(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                  num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    c, base, stages = sndcgan_g_stages(data_shape)
    h = data_shape[1]
    w = opts.width

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return SNDCGANGeneratorBody(z_in, c, base, stages, w, g_norm)

    def make_d(c_in: int) -> tuple[nn.Module, int]:
        return sndcgan_discriminator_body(c_in, h, w, opts)

    return assemble(tuple(data_shape), opts, num_classes, z_dim, make_g, make_d,
                    init=lambda m: init_normal_(m, 0.02, bn_std=0.0))
