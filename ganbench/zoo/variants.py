"""GAN variants: named presets of loss + penalty + default hyperparameters. A suite's ``gans`` entries name them.

Three families, every preset registered in ``VARIANTS`` (a suite overrides any default):
- the papers' presets (``ns``, ``wgan``, ``wgan-gp``, ...): each variant's paper's defaults;
- the study's presets (``ns-lucic``, ..., ``began-lucic``): Lucic et al. 2018's own defaults, read from the code the
  study ran (google/compare_gan, tag v1.0), each value cited to its source line below. They are sample 0 of the
  study's searches (``search: {first: defaults}``) and ask for the study's details: z ~ U(-1, 1)^64, batch 64,
  Adam everywhere (WGAN too), compare_gan's batch norm (``bn_style``), the D step's z reused by the G step;
- loss x penalty combinations without a paper of their own (``ns-gp``, ``ls-gp``, ``ls-dragan``, ``wgan-dragan``),
  for grids such as Kurach et al. 2019's; their weight defaults to the penalty's paper's lambda.
Weight clipping is driven by the ``clip`` hyperparameter (the ``wgan`` preset sets 0.01), so any variant can use it.

A variant trains D with one ``penalty`` (weight: the ``penalty_weight`` hyperparameter) or with several,
``penalties``: penalty name -> its weight, a number or the name of the hyperparameter that holds it
(``penalty_weight``, so that one searched gamma can weight R1 and R2 alike), or {weight: ..., option: value}.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ganbench.zoo.losses import LOSSES
from ganbench.registry import Registry


@dataclass(frozen=True)
class Variant:
    name: str
    loss: str
    penalty: str = "none"
    loss_options: dict = field(default_factory=dict)
    penalty_options: dict = field(default_factory=dict)
    penalties: dict = field(default_factory=dict)  # several penalties, each with its weight (instead of ``penalty``)
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


# ---- the relativistic family at its paper's setup (Jolicoeur-Martineau 2018, its main CIFAR-10 setup: Adam lr 2e-4,
# betas (0.5, 0.999), one D step per G step), and R3GAN's objective (Huang et al. 2024).
RELATIVISTIC_DEFAULTS = {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_disc": 1}
for _name, _what in (("rpgan", "RpGAN / RSGAN, paired: softplus(-(D(x_r) - D(x_f)))"),
                     ("rasgan", "RaSGAN, relativistic average standard GAN"),
                     ("ralsgan", "RaLSGAN, relativistic average least squares"),
                     ("rahinge", "RaHingeGAN, relativistic average hinge")):
    _add(Variant(_name, _name, defaults=dict(RELATIVISTIC_DEFAULTS), reference="Jolicoeur-Martineau 2018"),
         f"{_what} (Jolicoeur-Martineau 2018); Adam 2e-4 (0.5, 0.999), 1 D step")
# R3GAN's train.py, CIFAR10 preset (read from a public fork of its code, Lemutisme/R3GAN train.py): Adam betas
# (0, beta2), lr 2e-4 -> 5e-5, gamma 0.05 -> 0.005, beta2 0.9 -> 0.99, each scheduled over 20M images; its loss adds
# gamma/2 (R1 + R2). Here: the starting values, constant (no schedule), weight gamma/2 = 0.025.
_add(Variant("r3gan", "rpgan", penalties={"r1": "penalty_weight", "r2": "penalty_weight"},
             defaults={"lr": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_disc": 1, "penalty_weight": 0.025},
             reference="Huang et al. 2024 (R3GAN), its CIFAR-10 preset's starting values"),
     "R3GAN's objective (Huang et al. 2024): RpGAN + gamma/2 (R1 + R2) with one gamma (0.05, CIFAR-10's starting "
     "value: weight penalty_weight 0.025, not annealed here), Adam 2e-4 (0, 0.9); no G EMA, no architecture of its own")
_add(Variant("hinge-lecam", "hinge", penalties={"lecam": {"weight": 0.3, "start": 1000}},
             defaults={"lr": 2e-4, "beta1": 0.0, "beta2": 0.9}, reference="Tseng et al. 2021; StudioGAN BigGAN-LeCam"),
     "hinge loss + LeCam (Tseng et al. 2021; lambda 0.3, anchors' EMA decay 0.99 from D step 1000, as StudioGAN), "
     "Adam 2e-4 (0, 0.9)")


# ---- Lucic et al. 2018's defaults. "CG" = google/compare_gan at tag v1.0, compare_gan/src/; "P" = CG params.py,
# whose UpdateDefaults values are each variant's author defaults (sample 0 of every search:
# generate_tasks_lib.py:121-122). discriminator_batchnorm is ganbench's d_norm: batch (True) or none (False).
LUCIC_COMMON = {
    "z_dist": "uniform",  # z ~ U(-1, 1): CG gans/abstract_gan.py:195-196 (z_generator)
    "z_dim": 64,  # CG gan_lib.py:164-168 ("same batch size and latent space dimension for all GANs")
    "batch_size": 64,  # CG gan_lib.py:164-168; generate_tasks_lib.py:38
    "optimizer": "adam",  # every CG gans/*.py builds tf.train.AdamOptimizer (WGAN too: WGAN.py:41-48)
    "beta2": 0.999,  # TF's AdamOptimizer default: CG passes only beta1 (e.g. GAN.py:90-95); one lr for G and D
    "g_norm": "batch",  # batch norm after every hidden layer of G: abstract_gan.py:102-112
    "activation": "lrelu",  # lrelu(0.2) in D: ops.py:38-39, abstract_gan.py:82-92
    "bn_style": "compare_gan",  # decay 0.999, eps 1e-3, scale initialised to 1: ops.py:59-68
    "reuse_z": True,  # the G step is fed the D step's batch_z: abstract_gan.py:207-215 (WGAN-GP resamples)
}
LUCIC_REFERENCE = "Lucic et al. 2018, google/compare_gan v1.0 src/params.py"

_add(Variant("ns-lucic", "ns", reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 5e-5, "beta1": 0.0, "n_disc": 1, "d_norm": "batch",  # P:111-113 (GANHyperParams)
}), "NS-GAN at Lucic et al.'s defaults: Adam 5e-5, beta1 0, BN in D, z ~ U(-1,1)^64 (compare_gan v1)")
_add(Variant("mm-lucic", "mm", reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 5e-5, "beta1": 0.0, "n_disc": 1, "d_norm": "batch",  # P:111-113 (GANHyperParams serves GAN_MINMAX, P:243)
}), "MM-GAN at Lucic et al.'s defaults: Adam 5e-5, beta1 0, BN in D (compare_gan v1)")
_add(Variant("ls-lucic", "ls", loss_options={"form": "compare_gan"},  # LS on sigmoid(D): LSGAN.py:61-71
             reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 2e-4, "beta1": 0.5, "n_disc": 1, "d_norm": "batch",  # P:127-129 (LSGANHyperParams)
}), "LSGAN on sigmoid outputs at Lucic et al.'s defaults: Adam 2e-4, beta1 0.5, BN in D (compare_gan v1)")
_add(Variant("wgan-lucic", "wgan", reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 5e-5, "beta1": 0.5, "n_disc": 5, "d_norm": "batch",  # P:146-148 (WGANHyperParams)
    "clip": 0.01,  # P:149-150; every D variable clipped after each D step: WGAN.py:93-97
}), "WGAN at Lucic et al.'s defaults: Adam (not RMSprop) 5e-5, beta1 0.5, 5 critic steps, clip 0.01, BN in D")
_add(Variant("wgan-gp-lucic", "wgan", "gp", reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 1e-4, "beta1": 0.5, "n_disc": 5, "d_norm": "none",  # P:168-170 (WGANGPHyperParams)
    "penalty_weight": 10.0,  # P:171-172
    "reuse_z": False,  # resample_before_generator() is True: WGAN_GP.py:111-112
}), "WGAN-GP at Lucic et al.'s defaults: Adam 1e-4 (0.5, 0.999), 5 critic steps, lambda 10, no BN in D")
_add(Variant("dragan-lucic", "ns", "dragan", penalty_options={"form": "compare_gan"},  # DRAGAN.py:45-46, :86-96
             reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 1e-4, "beta1": 0.5, "n_disc": 1, "d_norm": "batch",  # P:190-192 (DRAGANHyperParams)
    "penalty_weight": 10.0,  # P:193-194
}), "DRAGAN (compare_gan v1 form) at Lucic et al.'s defaults: Adam 1e-4, beta1 0.5, lambda 10, BN in D")
_add(Variant("began-lucic", "began", reference=LUCIC_REFERENCE, defaults={
    **LUCIC_COMMON,
    "lr": 1e-4, "beta1": 0.5, "n_disc": 5, "d_norm": "none",  # P:231-233 (BEGANHyperParams)
    "began_lambda_k": 1e-3,  # P:234-235 ("lambda", the k learning rate)
    "began_gamma": 0.75,  # P:236-237
    "began_k_clip": False,  # k += lambda (gamma L(x) - L(G(z))), never clipped: BEGAN.py:130-131
}), "BEGAN at Lucic et al.'s defaults: Adam 1e-4, beta1 0.5, 5 D steps per G step, lambda_k 1e-3, gamma 0.75")

# ---- loss x penalty combinations (no paper of their own; lambda defaults to the penalty's paper's) ----
_add(Variant("ns-gp", "ns", "gp", defaults={"penalty_weight": 10.0}, reference="Kurach et al. 2019 grid"),
     "NS loss + WGAN-GP penalty (lambda 10)")
_add(Variant("ls-gp", "ls", "gp", defaults={"penalty_weight": 10.0}, reference="Kurach et al. 2019 grid"),
     "least squares loss + WGAN-GP penalty (lambda 10)")
_add(Variant("ls-dragan", "ls", "dragan", penalty_options={"form": "standard"}, defaults={"penalty_weight": 10.0},
             reference="Kurach et al. 2019 grid"),
     "least squares loss + DRAGAN penalty on logits (standard form, lambda 10)")
_add(Variant("wgan-dragan", "wgan", "dragan", penalty_options={"form": "standard"},
             defaults={"penalty_weight": 10.0}, reference="Kurach et al. 2019 grid"),
     "Wasserstein loss (no clipping) + DRAGAN penalty on logits (standard form, lambda 10)")
