"""What ``ganbench list`` and ``ganbench show`` say about the training options that are hyperparameters rather than
registered plug-ins: augmentation of D's input (DiffAugment, ADA) and its transforms, consistency regularisation
(CR, bCR) and the generator EMA, each with the hyperparameters that switch it on and its paper.

The code is elsewhere (ganbench.zoo.augment, ganbench.training.ema); these registries only describe it, and a test
checks that every transform of ``augment.PRIMITIVES`` and every ``augment`` method of the suite schema is here.
"""
from __future__ import annotations

from ganbench.registry import Registry

OPTIONS: Registry[str] = Registry("training option")
TRANSFORMS: Registry[str] = Registry("augmentation transform")

for _name, _help in (
    ("diffaugment", "DiffAugment (Zhao et al. 2020): the same differentiable transforms on every batch D sees, real "
                    "and generated, in the D and the G step (G's gradient flows through them); augment: diffaugment, "
                    "augment_policy (default color,translation,cutout)"),
    ("ada", "ADA, adaptive discriminator augmentation (Karras et al. 2020): each transform applied with probability "
            "p, p adapted so that E sign(D(augmented real)) tracks ada_target (0.6), ada_kimg (500) thousand images "
            "for p to go 0 to 1, updated every ada_interval (4) D steps; p recorded at every evaluation; augment: "
            "ada, augment_policy (default flip,rot90,translation,color; flip,rot90,translation,geom,adacolor has "
            "the transforms and magnitudes of ADA's bgc)"),
    ("cr", "consistency regularisation, CR (Zhang et al. 2020): cr_weight * E (D(x_r) - D(T(x_r)))^2 on real "
           "images, T a random horizontal flip and a translation of up to 1/8, in the D step"),
    ("bcr", "balanced consistency regularisation, bCR (Zhao et al. 2021): bcr_weight * E (D(x_f) - D(T(x_f)))^2 on "
            "generated images (detached from G), beside CR's term on real ones"),
    ("ema", "generator EMA (Karras et al. 2020, StyleGAN2-ADA's half-life in images; Yazici et al. 2019): an "
            "exponential moving average of G's weights, ema_half_life_images, ema_rampup (half-life min(h, rampup "
            "x images so far)), ema_eval instead|beside; part of the checkpoint, named in the metrics' provenance"),
):
    OPTIONS.add(_name, _help, help=_help)

_DIFFAUGMENT = "DiffAugment (Zhao et al. 2020)"
_ADA = "ADA's pipeline (Karras et al. 2020)"
for _name, _help in (
    ("color", f"brightness, saturation and contrast in turn, as {_DIFFAUGMENT}'s 'color'"),
    ("brightness", f"x + (u - 0.5), one u per image ({_DIFFAUGMENT})"),
    ("saturation", f"(x - channel mean) * 2u + channel mean ({_DIFFAUGMENT})"),
    ("contrast", f"(x - image mean) * (u + 0.5) + image mean ({_DIFFAUGMENT})"),
    ("translation", f"an integer shift of up to 1/8 of the side in each direction, zeros padded in ({_DIFFAUGMENT})"),
    ("cutout", f"a square of half the side set to zero at a random place ({_DIFFAUGMENT})"),
    ("flip", f"a horizontal flip with probability 1/2 ({_ADA}: xflip)"),
    ("rot90", f"a rotation by 0, 90, 180 or 270 degrees ({_ADA}: rotate90)"),
    ("geom", f"scale, rotate, aniso and xfrac in turn, {_ADA}'s geometric transforms (each its own bilinear "
             "resampling with reflected borders; ADA composes them into one)"),
    ("scale", f"isotropic scaling by 2^(0.2 z), z standard normal ({_ADA}: scale)"),
    ("rotate", f"a rotation by an angle uniform over the circle ({_ADA}: rotate)"),
    ("aniso", f"width scaled by 2^(0.2 z) and height by its inverse ({_ADA}: aniso)"),
    ("xfrac", f"a fractional translation by 0.125 z of the side in each direction ({_ADA}: xfrac)"),
    ("adacolor", f"ada_brightness, ada_contrast, lumaflip, hue and ada_saturation in turn, {_ADA}'s colour "
                 "transforms at its magnitudes"),
    ("ada_brightness", f"x + 0.2 z, z standard normal ({_ADA}: brightness)"),
    ("ada_contrast", f"x * 2^(0.5 z) about mid-grey ({_ADA}: contrast)"),
    ("lumaflip", f"the luma (the channels' mean) inverted, the chroma kept, with probability 1/2 ({_ADA}: lumaflip)"),
    ("hue", f"RGB rotated about the luma axis by an angle uniform over the circle ({_ADA}: hue)"),
    ("ada_saturation", f"the chroma scaled about the luma axis by 2^z ({_ADA}: saturation)"),
):
    TRANSFORMS.add(_name, _help, help=_help)
