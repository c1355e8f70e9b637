"""SNGAN ResNets (Miyato et al. 2018, Table 4; 64x64 as in Miyato & Koyama 2018's code) for 32x32 and 64x64.

With w = ``width`` (w = 64 is the papers' net):
- 32x32 (CIFAR-10): G: z -> linear 4x4x4w -> 3 x up-block(4w) -> BN -> ReLU -> conv3x3 C -> tanh.
  D: optimised down-block(2w) -> down-block(2w) -> block(2w) -> block(2w) -> act -> global sum pool -> linear 1.
- 64x64: G: z -> linear 4x4x16w -> up-blocks 16w->8w->4w->2w->w -> BN -> ReLU -> conv3x3 C -> tanh.
  D: optimised down-block(w) -> down-blocks w->2w->4w->8w->16w -> act -> global sum pool -> linear 1.
Up-block: BN -> ReLU -> 2x nearest upsample -> conv3x3 -> BN -> ReLU -> conv3x3, plus upsample -> conv1x1 shortcut.
Down-block: act -> conv3x3 -> act -> conv3x3 -> 2x2 avg pool, plus conv1x1 -> avg pool shortcut (identity when
neither the channels nor the size change). The optimised first block is conv3x3 -> act -> conv3x3 -> avg pool,
plus avg pool -> conv1x1; it never normalises its raw input. ``d_norm`` batch/layer goes before each activation
inside later blocks. The papers' D is ``activation='relu', downsample='avgpool', d_norm='spectral'``; with
``downsample='stride'`` the residual branch's second conv is a 4x4 stride-2 conv instead of conv3x3 + avg pool
(the shortcut still average-pools, the only parameter-free halving). G always uses ReLU.
Conditioning: with ``projection`` and g_norm='batch', G's block norms are conditional batch norms (Miyato &
Koyama 2018); otherwise labels are concatenated to z.
Init (after the authors' Chainer code): Xavier-uniform with gain sqrt(2) for the residual-branch convs, gain 1 for
shortcuts, linear layers, embeddings and the output conv; biases 0; BN weights 1 (not N(0, 0.02)).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.zoo.models.layers import (ArchOptions, ConditionalBatchNorm2d, act, assemble, d_norm2d, g_norm2d,
                                    image_shape)
from ganbench.registry import GanbenchError

SUPPORTED = "(C, 32, 32) and (C, 64, 64) images"
RESIDUAL_CONVS = ("c1", "c2")  # attribute names of residual-branch convs (gain sqrt(2) at init)


def _norm(m: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
    return m(x, y) if isinstance(m, ConditionalBatchNorm2d) else m(x)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, g_norm: str, num_classes: Optional[int]):
        super().__init__()
        def norm(ch: int) -> nn.Module:
            return ConditionalBatchNorm2d(ch, num_classes) if num_classes else g_norm2d(g_norm, ch)

        self.b1, self.c1 = norm(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.b2, self.c2 = norm(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = F.interpolate(F.relu(_norm(self.b1, x, y)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(_norm(self.b2, self.c1(h), y)))
        return h + self.sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGeneratorBody(nn.Module):
    def __init__(self, z_in: int, c_out: int, channels: list[int], g_norm: str, num_classes: Optional[int]):
        super().__init__()
        self.shape = (channels[0], 4, 4)
        self.project = nn.Linear(z_in, 16 * channels[0])
        self.blocks = nn.ModuleList(UpBlock(a, b, g_norm, num_classes) for a, b in zip(channels[:-1], channels[1:]))
        self.out = nn.Sequential(g_norm2d(g_norm, channels[-1]), nn.ReLU(), nn.Conv2d(channels[-1], c_out, 3, 1, 1),
                                 nn.Tanh())

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], *self.shape)
        for block in self.blocks:
            h = block(h, y)
        return self.out(h)


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, opts: ArchOptions, first: bool = False):
        super().__init__()
        self.first, self.down = first, down
        strided = down and opts.downsample == "stride"
        self.n1 = nn.Identity() if first else d_norm2d(opts.d_norm, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.n2 = d_norm2d(opts.d_norm, cout)
        self.c2 = nn.Conv2d(cout, cout, 4, 2, 1) if strided else nn.Conv2d(cout, cout, 3, 1, 1)
        self.pool = nn.AvgPool2d(2) if down and not strided else nn.Identity()
        self.sc = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.a1, self.a2 = act(opts.activation), act(opts.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(x if self.first else self.a1(self.n1(x)))
        h = self.pool(self.c2(self.a2(self.n2(h))))
        if self.sc is None:
            return h + x
        if self.first:  # optimised block: pool before the 1x1 conv
            return h + self.sc(F.avg_pool2d(x, 2))
        return h + (F.avg_pool2d(self.sc(x), 2) if self.down else self.sc(x))


class ResNetDiscriminatorBody(nn.Module):
    def __init__(self, blocks: list[DownBlock], activation: str):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.act = act(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling


def init_resnet_(module: nn.Module) -> None:
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            gain = math.sqrt(2) if name.rsplit(".", 1)[-1] in RESIDUAL_CONVS else 1.0
            nn.init.xavier_uniform_(m.weight, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def build_resnet(data_shape: tuple[int, ...], z_dim: int, opts: ArchOptions,
                 num_classes: Optional[int]) -> tuple[nn.Module, nn.Module]:
    c, h = image_shape("resnet", data_shape, SUPPORTED)
    w = opts.width
    if h == 32:
        g_channels = [4 * w] * 4
        d_plan = [(c, 2 * w, True), (2 * w, 2 * w, True), (2 * w, 2 * w, False), (2 * w, 2 * w, False)]
    elif h == 64:
        g_channels = [16 * w, 8 * w, 4 * w, 2 * w, w]
        d_plan = [(c, w, True), (w, 2 * w, True), (2 * w, 4 * w, True), (4 * w, 8 * w, True), (8 * w, 16 * w, True)]
    else:
        raise GanbenchError(f"architecture 'resnet' cannot serve data shape {tuple(data_shape)}; "
                            f"it supports {SUPPORTED}")

    def make_g(z_in: int, g_norm: str, cbn: Optional[int]) -> nn.Module:
        return ResNetGeneratorBody(z_in, c, g_channels, g_norm, cbn)

    def make_d(c_in: int) -> tuple[nn.Module, int]:
        blocks = [DownBlock(c_in if i == 0 else a, b, down, opts, first=(i == 0))
                  for i, (a, b, down) in enumerate(d_plan)]
        return ResNetDiscriminatorBody(blocks, opts.activation), d_plan[-1][1]

    return assemble(tuple(data_shape), opts, num_classes, z_dim, make_g, make_d, init=init_resnet_, cbn=True)
