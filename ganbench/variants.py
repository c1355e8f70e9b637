"""GAN variants: named presets of loss + penalty + default hyperparameters. A suite's ``gans`` entries name them.

Defaults follow each variant's paper (and are overridden by the suite); every preset is registered in ``VARIANTS``.
Weight clipping is driven by the ``clip`` hyperparameter (the ``wgan`` preset sets 0.01), so any variant can use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ganbench.losses import LOSSES
from ganbench.registry import Registry


@dataclass(frozen=True)
class Variant:
    name: str
    loss: str
    penalty: str = "none"
    loss_options: dict = field(default_factory=dict)
    penalty_options: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)  # hyperparameter defaults of the paper
    reference: str = ""


VARIANTS: Registry[Variant] = Registry("GAN variant")


def _add(v: Variant, help: str) -> None:
    VARIANTS.add(v.name, v, help=help)


_add(Variant("ns", "ns", reference="Goodfellow et al. 2014"),
     "non-saturating GAN: BCE for D, G maximises log D(G(z))")
_add(Variant("mm", "mm", reference="Goodfellow et al. 2014"),
     "minimax GAN: G minimises log(1 - D(G(z))) (saturates when D wins)")
_add(Variant("ls", "ls", reference="Mao et al. 2017"),
     "least squares GAN on raw outputs (loss_options form: compare_gan for the Lucic et al. form)")
_add(Variant("wgan", "wgan", defaults={"optimizer": "rmsprop", "lr": 5e-5, "n_disc": 5, "clip": 0.01},
             reference="Arjovsky et al. 2017"),
     "Wasserstein GAN with weight clipping 0.01, RMSprop lr 5e-5, 5 critic steps")
_add(Variant("wgan-gp", "wgan", "gp",
             defaults={"lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "n_disc": 5, "penalty_weight": 10.0},
             reference="Gulrajani et al. 2017"),
     "WGAN with gradient penalty (lambda 10), Adam 1e-4 (0.5, 0.9), 5 critic steps")
_add(Variant("dragan", "ns", "dragan", defaults={"lr": 1e-4, "beta1": 0.5, "penalty_weight": 10.0},
             reference="Kodali et al. 2017"),
     "NS loss + DRAGAN penalty (lambda 10) around perturbed data (penalty_options form: compare_gan|standard)")
_add(Variant("hinge", "hinge", defaults={"lr": 2e-4, "beta1": 0.0, "beta2": 0.9}, reference="Miyato et al. 2018"),
     "hinge loss (SNGAN), Adam 2e-4 (0, 0.9)")
_add(Variant("r1", "ns", "r1", defaults={"penalty_weight": 5.0}, reference="Mescheder et al. 2018"),
     "NS loss + R1 penalty on real data, gamma 10 (weight gamma/2 = 5)")
_add(Variant("began", "began", defaults={"lr": 1e-4, "beta1": 0.5, "n_disc": 1},
             reference="Berthelot et al. 2017"),
     "BEGAN: autoencoder D, L(x) = mean|AE(x) - x|, L_D = L(x) - k L(G(z)), k += lambda_k (gamma L(x) - L(G(z)))")
for _name in LOSSES.names():
    if _name.startswith("fgan-"):
        _add(Variant(_name, _name, reference="Nowozin et al. 2016"),
             LOSSES.help(_name).replace("f-GAN", "f-GAN variant"))
