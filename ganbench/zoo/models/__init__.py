"""The GAN zoo: generator/discriminator pairs registered by name.

    G, D = build_models("dcgan", (1, 28, 28), z_dim=64, options=ArchOptions(d_norm="spectral"))
    x = G(z)          # [B, 1, 28, 28], tanh output in [-1, 1]
    logits = D(x)     # [B] raw logits (a reconstruction of x when options.d_output == "autoencoder")
    # with options.pac = m, D takes B*m samples and returns [B] logits (PacGAN packing)

Every registered builder has the signature ``build(data_shape, z_dim, options, num_classes) -> (G, D)`` and raises
GanbenchError at build time for a data shape it cannot serve. Shared conventions (normalisation, conditioning,
autoencoder D) are documented in ``ganbench.zoo.models.layers``; per-architecture layers and init in each module.
``paper_options(name)`` gives the options under which an architecture is its paper's network.
"""
from __future__ import annotations

import operator
from typing import Callable, Optional

from torch import nn

from ganbench.zoo.models.dcgan import build_dcgan
from ganbench.zoo.models.infogan import build_infogan
from ganbench.zoo.models.layers import ARCH_HPARAMS, ArchOptions
from ganbench.zoo.models.mlp import build_mlp
from ganbench.zoo.models.pacgan2d import build_pacgan2d
from ganbench.zoo.models.resnet import build_resnet
from ganbench.zoo.models.sndcgan import build_sndcgan
from ganbench.registry import GanbenchError, Registry

Builder = Callable[[tuple, int, ArchOptions, Optional[int]], tuple[nn.Module, nn.Module]]
ARCHITECTURES: Registry[Builder] = Registry("architecture")

ARCHITECTURES.add("mlp", build_mlp, help="seed-text MLPs: D in-4w-2w-1, G z-2w-4w-out (w=64: 256/128); any shape")
ARCHITECTURES.add("dcgan", build_dcgan, help="Radford et al. 2016 DCGAN, stages from the image side (8, 28, 32, 64)")
ARCHITECTURES.add("infogan", build_infogan,
                  help="Lucic et al. 2018 / compare_gan InfoGAN-style net (FC1024, 4x4 s2 convs); side % 4 == 0")
ARCHITECTURES.add("sndcgan", build_sndcgan,
                  help="Miyato et al. 2018 SNDCGAN (paper net with d_norm=spectral); side % 4 == 0")
ARCHITECTURES.add("pacgan2d", build_pacgan2d,
                  help="Lin et al. 2018 PacGAN 2D nets: G 4x400 (BN, ReLU), D 3 maxout 200x5; flat data (n,)")
ARCHITECTURES.add("resnet", build_resnet,
                  help="Miyato et al. 2018 SNGAN ResNet for 32x32 and 64x64 (paper: spectral, relu, avgpool)")

PAPER_OPTIONS: dict[str, dict] = {
    "mlp": {"g_norm": "none", "activation": "relu"},
    "dcgan": {"d_norm": "batch", "g_norm": "batch", "activation": "lrelu", "downsample": "stride"},
    "infogan": {"d_norm": "batch", "g_norm": "batch", "activation": "lrelu", "downsample": "stride"},
    "sndcgan": {"d_norm": "spectral", "g_norm": "batch", "activation": "lrelu", "downsample": "stride"},
    "resnet": {"d_norm": "spectral", "g_norm": "batch", "activation": "relu", "downsample": "avgpool"},
    "pacgan2d": {"d_norm": "none", "g_norm": "batch"},
}


def paper_options(name: str, **overrides) -> ArchOptions:
    """ArchOptions that make ``name`` its paper's network (seed texts for mlp), with optional overrides."""
    ARCHITECTURES.get(name)  # unknown name -> did-you-mean error
    return ArchOptions.from_dict({**PAPER_OPTIONS[name], **overrides})


def build_models(name: str, data_shape: tuple[int, ...], z_dim: int, options: ArchOptions = ArchOptions(),
                 num_classes: Optional[int] = None) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) of architecture ``name`` for data of shape ``data_shape`` (no batch dimension).

    G(z, y=None) -> x [B, *data_shape] in [-1, 1]; D(x, y=None) -> logits [B], or x's reconstruction with
    d_output='autoencoder'. y (int64 labels [B]) is required when options.conditioning != 'none', and then
    num_classes is required at build time.
    """
    builder = ARCHITECTURES.get(name)
    if not isinstance(options, ArchOptions):
        raise GanbenchError(f"options must be an ArchOptions, got {type(options).__name__}")
    try:
        shape = tuple(operator.index(s) for s in data_shape)
    except (TypeError, ValueError):
        raise GanbenchError(f"data_shape must be a tuple of ints, got {data_shape!r}") from None
    return builder(shape, z_dim, options, num_classes)


__all__ = ["ARCHITECTURES", "ARCH_HPARAMS", "ArchOptions", "PAPER_OPTIONS", "build_models", "paper_options"]
