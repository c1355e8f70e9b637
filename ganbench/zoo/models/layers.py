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
- Packing (PacGAN, Lin et al. 2018): with ``pac = m`` D judges m samples at once. D(x) takes N = B*m samples and
  returns [B] outputs; samples i*m .. i*m + m - 1 form pack i, concatenated along the features of a flat D (m*n
  inputs) or the channels of an image D (m*C channels, per-sample label channels included). The caller feeds m times
  as many samples; pac = 1 is the plain D.
- Batch norm (``bn_style``): ``torch`` keeps PyTorch's momentum 0.1 and eps 1e-5 and each architecture's init;
  ``compare_gan`` uses compare_gan's settings: decay 0.999 (PyTorch momentum 0.001), eps 1e-3, scale 1, offset 0
  (google/compare_gan v1.0 src/gans/ops.py:59-68 calls tf.contrib.layers.batch_norm(decay=0.999, epsilon=0.001,
  scale=True), whose scale initialiser is ones; v2.0 architectures/arch_ops.py:196-199 and :354-365 likewise).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.zoo.models.spectral import apply_spectral_norm_
from ganbench.registry import GanbenchError, unknown_name

CHOICES = {
    "d_norm": ("none", "batch", "layer", "spectral"),
    "g_norm": ("none", "batch"),
    "activation": ("lrelu", "relu"),
    "downsample": ("stride", "avgpool"),
    "conditioning": ("none", "concat", "projection"),
    "d_output": ("logit", "autoencoder"),
    "bn_style": ("torch", "compare_gan"),
}
BN_SETTINGS = {"torch": (0.1, 1e-5), "compare_gan": (0.001, 1e-3)}  # (PyTorch momentum = 1 - TF decay, eps)
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
    bn_style: str = "torch"
    pac: int = 1  # PacGAN packing: D judges this many samples at once

    def __post_init__(self) -> None:
        for field, allowed in CHOICES.items():
            value = getattr(self, field)
            if value not in allowed:
                raise GanbenchError(f"architecture option {field}={value!r} is invalid; allowed: {', '.join(allowed)}")
        for field in ("width", "pac"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GanbenchError(f"architecture option {field}={value!r} is invalid; allowed: a positive integer")
        if self.conditioning == "projection" and self.d_output == "autoencoder":
            raise GanbenchError("architecture options conditioning='projection' and d_output='autoencoder' conflict: "
                                "projection adds to a logit, which an autoencoder D does not have")
        if self.pac > 1 and self.d_output == "autoencoder":
            raise GanbenchError(f"architecture options pac={self.pac} and d_output='autoencoder' conflict: packing "
                                "feeds m samples to a D with one output per pack; an autoencoder D (BEGAN) "
                                "reconstructs each sample; use pac: 1")
        if self.pac > 1 and self.conditioning == "projection":
            raise GanbenchError(f"architecture options pac={self.pac} and conditioning='projection' conflict: a pack "
                                "holds several labels and the projection term takes one; use conditioning: concat")

    @classmethod
    def from_dict(cls, d: dict) -> "ArchOptions":
        if not isinstance(d, dict):
            raise GanbenchError(f"architecture options must be a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                raise GanbenchError(unknown_name("architecture option", key, known))
        return cls(**d)

    @classmethod
    def from_hparams(cls, hparams, d_output: str = "logit") -> "ArchOptions":
        """The options of a trial: every field of ``ARCH_HPARAMS`` read from its hyperparameters (a dict or an
        ``HParams``), plus ``d_output`` ('autoencoder' for BEGAN)."""
        hp = hparams if isinstance(hparams, dict) else hparams.model_dump()
        return cls.from_dict({**{k: hp[k] for k in ARCH_HPARAMS if k in hp}, "d_output": d_output})


ARCH_HPARAMS = tuple(f.name for f in dataclasses.fields(ArchOptions) if f.name != "d_output")  # also HParams fields


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
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def init_normal_(module: nn.Module, std: float = 0.02, bn_std: float | None = None) -> None:
    """DCGAN init (Radford et al. 2016's code, as in PyTorch's DCGAN example): conv/linear/embedding weights
    N(0, std), biases 0, batch-norm weights N(1, bn_std) (bn_std defaults to std; 0 gives ones) and biases 0.
    LayerNorm/GroupNorm keep (1, 0). The N(1, std) batch-norm scale is DCGAN's, not compare_gan's: compare_gan
    initialises batch-norm scales to 1 (see ``init_compare_gan_`` and ``bn_style='compare_gan'``)."""
    bn_std = std if bn_std is None else bn_std
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, BATCH_NORMS) and m.affine:
            nn.init.normal_(m.weight, 1.0, bn_std) if bn_std > 0 else nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_compare_gan_(module: nn.Module, std: float = 0.02) -> None:
    """google/compare_gan v1.0's initialisers (src/gans/ops.py), the Lucic et al. 2018 study's:
    conv weights truncated normal, std, re-drawn beyond 2 std and not rescaled (ops.py:73-75,
    tf.truncated_normal_initializer); linear and transposed-conv weights N(0, std) (ops.py:50-53, :85-87);
    biases 0 (ops.py:54-55, :77-78, :90-91); batch-norm scale 1 and offset 0 (ops.py:59-68, the defaults of
    tf.contrib.layers.batch_norm). Embeddings (ganbench's projection conditioning) N(0, std)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
        elif isinstance(m, (nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, BATCH_NORMS) and m.affine:
            nn.init.ones_(m.weight)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, *BATCH_NORMS)) and m.bias is not None:
            nn.init.zeros_(m.bias)


def apply_bn_style_(module: nn.Module, style: str) -> None:
    """Set every batch norm's momentum and eps to ``style``'s (BN_SETTINGS); ``compare_gan`` also resets affine
    batch norms to scale 1, offset 0 (compare_gan's initialisers), whatever the architecture's init drew."""
    momentum, eps = BN_SETTINGS[style]
    for m in module.modules():
        if isinstance(m, BATCH_NORMS):
            m.momentum, m.eps = momentum, eps
            if style == "compare_gan" and m.affine:
                nn.init.ones_(m.weight)
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
    """x (+ labels) -> [pack] -> body -> features [B, F] -> logit [B] (linear head, optional projection term),
    or, for d_output='autoencoder', features -> linear code (AE_CODE_DIM) -> decoder -> reconstruction of x
    (an architecture may supply its own encoder ending in the code: ``body_gives_code``).

    With ``opts.pac = m`` the input holds N = B*m samples; samples i*m .. i*m + m - 1 become pack i (their flat
    features, or their channels, concatenated in that order) and the output has B entries."""

    def __init__(self, body: nn.Module, feat_dim: int, data_shape: tuple[int, ...], opts: ArchOptions,
                 num_classes: Optional[int], flat_input: bool, decoder: Optional[nn.Module] = None,
                 body_gives_code: bool = False):
        super().__init__()
        self.body, self.data_shape, self.flat_input = body, tuple(data_shape), flat_input
        self.conditioning, self.num_classes, self.pac = opts.conditioning, num_classes, opts.pac
        self.autoencoder = opts.d_output == "autoencoder"
        if self.autoencoder:
            self.encode = nn.Identity() if body_gives_code else nn.Linear(feat_dim, AE_CODE_DIM)
            self.decoder = decoder
        else:
            self.head = nn.Linear(feat_dim, 1)
            if opts.conditioning == "projection":
                self.embed = nn.Embedding(num_classes, feat_dim)

    def pack(self, h: torch.Tensor) -> torch.Tensor:
        """[B*m, F] -> [B, m*F] or [B*m, C, H, W] -> [B, m*C, H, W], consecutive samples per pack."""
        n = h.shape[0]
        if n % self.pac:
            raise GanbenchError(f"D packs pac={self.pac} samples per output: feed a multiple of {self.pac} "
                                f"samples, got {n}")
        return h.reshape(n // self.pac, self.pac * h.shape[1], *h.shape[2:])

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        n = x.shape[0]
        h = x.reshape(n, -1) if self.flat_input else x
        if self.conditioning == "concat":
            onehot = one_hot(y, self.num_classes, n, "D")
            if self.flat_input:
                h = torch.cat([h, onehot], 1)
            else:
                h = torch.cat([h, onehot[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)
        if self.pac > 1:
            h = self.pack(h)
        feats = self.body(h)
        if self.autoencoder:
            return self.decoder(self.encode(feats)).reshape(x.shape)
        out = self.head(feats).squeeze(1)
        if self.conditioning == "projection":
            out = out + (self.embed(labels(y, n, "D")) * feats).sum(1)
        return out


GBodyFn = Callable[[int, str, Optional[int]], nn.Module]  # (input dim, g_norm, cbn classes or None) -> body
DBodyFn = Callable[[int], tuple[nn.Module, int]]  # (input channels, or input features when flat) -> (body, feat dim)
AEFn = Callable[[int], tuple[nn.Module, nn.Module]]  # (input channels) -> (encoder x -> code, decoder code -> x)


def assemble(data_shape: tuple[int, ...], opts: ArchOptions, num_classes: Optional[int], z_dim: int,
             make_g: GBodyFn, make_d: DBodyFn, init: Callable[[nn.Module], None], flat_input: bool = False,
             cbn: bool = False, make_ae: Optional[AEFn] = None) -> tuple[Generator, Discriminator]:
    """Wire conditioning, packing, the autoencoder head, init, batch-norm style and spectral norm around an
    architecture's G and D bodies. ``make_d`` gets D's input channels (features for a flat D): the data's, plus
    one-hot label channels with concat conditioning, times ``opts.pac``. ``make_ae``, when given, builds the
    autoencoder D of d_output='autoencoder' (default: ``make_d``'s body, a linear code and a G-shaped decoder)."""
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
    c_in = (math.prod(data_shape) if flat_input else data_shape[0]) + (k if opts.conditioning == "concat" else 0)
    if opts.d_output == "autoencoder" and make_ae is not None:
        encoder, decoder = make_ae(c_in)
        disc = Discriminator(encoder, AE_CODE_DIM, data_shape, opts, k or None, flat_input, decoder,
                             body_gives_code=True)
    else:
        body, feat = make_d(c_in * opts.pac)
        decoder = make_g(AE_CODE_DIM, "none", None) if opts.d_output == "autoencoder" else None
        disc = Discriminator(body, feat, data_shape, opts, k or None, flat_input, decoder)
    init(gen)
    init(disc)
    for m in gen.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            m.reset_parameters()  # class gains start at 1 whatever the architecture's init
    apply_bn_style_(gen, opts.bn_style)
    apply_bn_style_(disc, opts.bn_style)
    if opts.d_norm == "spectral":
        apply_spectral_norm_(disc)
    return gen, disc
