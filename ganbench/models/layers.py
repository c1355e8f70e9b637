"""Shared building blocks of the architecture family: options, normalisation helpers, init, G/D wrappers.

Conventions every architecture follows (each module documents its deviations):
- G(z, y=None) -> x of shape [B, *data_shape], tanh output in [-1, 1].
- D(x, y=None) -> raw logits [B]; with ``d_output='autoencoder'`` a reconstruction of x (BEGAN, Berthelot et al. 2017).
- The first layer of D is never normalised (Radford et al. 2016); ``d_norm`` acts on the later hidden layers:
  ``batch`` = BatchNorm, ``layer`` = GroupNorm(1, C) on feature maps (LayerNorm over C, H, W with a per-channel
  affine) and LayerNorm on flat features, ``spectral`` = spectral normalisation (Miyato et al. 2018) of every
  conv / linear / embedding weight of D, applied after initialisation.
- Conditioning (Mirza & Osindero 2014; Miyato & Koyama 2018): ``concat`` concatenates one-hot labels to z in G and
  to D's input (as constant image channels, or to the flattened input of an MLP). ``projection`` adds
  <embed(y), phi(x)> to the logit, phi(x) being D's last features; G then concatenates one-hot labels to z,
  except architectures that declare conditional batch norm (resnet with g_norm='batch').
- Labels are ignored when conditioning is 'none'.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.models.spectral import apply_spectral_norm_  # noqa: F401  (re-export)
from ganbench.registry import GanbenchError, unknown_name

CHOICES = {
    "d_norm": ("none", "batch", "layer", "spectral"),
    "g_norm": ("none", "batch"),
    "activation": ("lrelu", "relu"),
    "downsample": ("stride", "avgpool"),
    "conditioning": ("none", "concat", "projection"),
    "d_output": ("logit", "autoencoder"),
}
AE_CODE_DIM = 64  # bottleneck of the autoencoder D (BEGAN's embedding size h = 64)


@dataclass(frozen=True)
class ArchOptions:
    """Architecture knobs shared by every registered architecture; validated on construction."""

    d_norm: str = "none"
    g_norm: str = "batch"
    activation: str = "lrelu"
    downsample: str = "stride"
    width: int = 64
    conditioning: str = "none"
    d_output: str = "logit"

    def __post_init__(self) -> None:
        for field, allowed in CHOICES.items():
            value = getattr(self, field)
            if value not in allowed:
                raise GanbenchError(f"architecture option {field}={value!r} is invalid; allowed: {', '.join(allowed)}")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise GanbenchError(f"architecture option width={self.width!r} is invalid; allowed: a positive integer")
        if self.conditioning == "projection" and self.d_output == "autoencoder":
            raise GanbenchError("architecture options conditioning='projection' and d_output='autoencoder' conflict: "
                                "projection adds to a logit, which an autoencoder D does not have")

    @classmethod
    def from_dict(cls, d: dict) -> "ArchOptions":
        if not isinstance(d, dict):
            raise GanbenchError(f"architecture options must be a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                raise GanbenchError(unknown_name("architecture option", key, known))
        return cls(**d)


# ----------------------------------------------------------------------------------------------- shape checks
def image_shape(arch: str, data_shape: tuple[int, ...], supported: str) -> tuple[int, int]:
    """(C, H) of a square image shape, or GanbenchError naming what ``arch`` supports."""
    shape = tuple(data_shape)
    if len(shape) != 3 or shape[1] != shape[2] or min(shape) < 1:
        raise GanbenchError(f"architecture {arch!r} cannot serve data shape {shape}; it supports {supported}")
    return shape[0], shape[1]


# ------------------------------------------------------------------------------------------ layer factories
def act(kind: str, slope: float = 0.2) -> nn.Module:
    return nn.LeakyReLU(slope) if kind == "lrelu" else nn.ReLU()


def d_norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()  # none, spectral (applied to weights afterwards)


def d_norm1d(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


def g_norm2d(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


def g_norm1d(kind: str, features: int) -> nn.Module:
    return nn.BatchNorm1d(features) if kind == "batch" else nn.Identity()


def down_conv(cin: int, cout: int, downsample: str) -> nn.Module:
    """Halve the resolution: conv 4x4 stride 2 pad 1, or conv 3x3 stride 1 + 2x2 average pooling.

    Both map a side s to floor(s / 2).
    """
    if downsample == "avgpool":
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.AvgPool2d(2))
    return nn.Conv2d(cin, cout, 4, 2, 1)


def halvings(side: int, n: int) -> int:
    for _ in range(n):
        side //= 2
    return side


# ------------------------------------------------------------------------------------------------- init
def init_normal_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN init (Radford et al. 2016, compare_gan): conv/linear/embedding weights N(0, std), biases 0,
    batch-norm weights N(1, std). LayerNorm/GroupNorm keep (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------------ labels
def labels(y: Optional[torch.Tensor], batch: int, who: str) -> torch.Tensor:
    """Validated int64 labels [B] (range errors are left to torch, to avoid a device sync)."""
    if y is None:
        raise GanbenchError(f"{who} is class-conditional: pass labels y (int64 tensor of shape [B])")
    if y.dim() != 1 or y.shape[0] != batch:
        raise GanbenchError(f"{who}: labels must have shape [{batch}], got {list(y.shape)}")
    return y.long()


def one_hot(y: Optional[torch.Tensor], num_classes: int, batch: int, who: str) -> torch.Tensor:
    return F.one_hot(labels(y, batch, who), num_classes).float()


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without affine, then per-class gain and bias from embeddings (de Vries et al. 2017;
    used by Miyato & Koyama 2018's generator). Gains start at 1, biases at 0."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


# ------------------------------------------------------------------------------------------ G/D wrappers
class Generator(nn.Module):
    """z (+ labels) -> body -> [B, *data_shape]. label_mode: none | concat (one-hot to z) | cbn (body gets y)."""

    def __init__(self, body: nn.Module, data_shape: tuple[int, ...], label_mode: str, num_classes: Optional[int]):
        super().__init__()
        self.body, self.data_shape = body, tuple(data_shape)
        self.label_mode, self.num_classes = label_mode, num_classes

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.label_mode == "concat":
            z = torch.cat([z, one_hot(y, self.num_classes, z.shape[0], "G")], 1)
        if self.label_mode == "cbn":
            x = self.body(z, labels(y, z.shape[0], "G"))
        else:
            x = self.body(z)
        return x.reshape(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    """x (+ labels) -> body -> features [B, F] -> logit [B] (linear head, optional projection term),
    or, for d_output='autoencoder', features -> linear code (AE_CODE_DIM) -> decoder -> reconstruction of x."""

    def __init__(self, body: nn.Module, feat_dim: int, data_shape: tuple[int, ...], opts: ArchOptions,
                 num_classes: Optional[int], flat_input: bool, decoder: Optional[nn.Module] = None):
        super().__init__()
        self.body, self.data_shape, self.flat_input = body, tuple(data_shape), flat_input
        self.conditioning, self.num_classes = opts.conditioning, num_classes
        self.autoencoder = opts.d_output == "autoencoder"
        if self.autoencoder:
            self.encode = nn.Linear(feat_dim, AE_CODE_DIM)
            self.decoder = decoder
        else:
            self.head = nn.Linear(feat_dim, 1)
            if opts.conditioning == "projection":
                self.embed = nn.Embedding(num_classes, feat_dim)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        b = x.shape[0]
        h = x.reshape(b, -1) if self.flat_input else x
        if self.conditioning == "concat":
            onehot = one_hot(y, self.num_classes, b, "D")
            if self.flat_input:
                h = torch.cat([h, onehot], 1)
            else:
                h = torch.cat([h, onehot[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)
        feats = self.body(h)
        if self.autoencoder:
            return self.decoder(self.encode(feats)).reshape(x.shape)
        out = self.head(feats).squeeze(1)
        if self.conditioning == "projection":
            out = out + (self.embed(labels(y, b, "D")) * feats).sum(1)
        return out


GBodyFn = Callable[[int, str, Optional[int]], nn.Module]  # (input dim, g_norm, cbn classes or None) -> body
DBodyFn = Callable[[int], tuple[nn.Module, int]]  # (extra input channels/features) -> (body, feature dim)


def assemble(data_shape: tuple[int, ...], opts: ArchOptions, num_classes: Optional[int], z_dim: int,
             make_g: GBodyFn, make_d: DBodyFn, init: Callable[[nn.Module], None], flat_input: bool = False,
             cbn: bool = False) -> tuple[Generator, Discriminator]:
    """Wire conditioning, the autoencoder head, init and spectral norm around an architecture's G and D bodies."""
    if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
        raise GanbenchError(f"z_dim must be a positive integer, got {z_dim!r}")
    k = 0
    if opts.conditioning != "none":
        if num_classes is None or isinstance(num_classes, bool) or not isinstance(num_classes, int) \
                or num_classes < 2:
            raise GanbenchError(f"conditioning={opts.conditioning!r} needs num_classes >= 2, got {num_classes!r}")
        k = num_classes
    label_mode = "none" if k == 0 else "concat"
    if opts.conditioning == "projection" and cbn and opts.g_norm == "batch":
        label_mode = "cbn"
    g_in = z_dim + (k if label_mode == "concat" else 0)
    gen = Generator(make_g(g_in, opts.g_norm, k if label_mode == "cbn" else None), data_shape, label_mode, k or None)
    body, feat = make_d(k if opts.conditioning == "concat" else 0)
    decoder = make_g(AE_CODE_DIM, "none", None) if opts.d_output == "autoencoder" else None
    disc = Discriminator(body, feat, data_shape, opts, k or None, flat_input, decoder)
    init(gen)
    init(disc)
    for m in gen.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            m.reset_parameters()  # class gains start at 1 whatever the architecture's init
    if opts.d_norm == "spectral":
        apply_spectral_norm_(disc)
    return gen, disc
