"""Relativistic GAN losses (Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from
standard GAN"; RpGAN as R3GAN trains it, Huang et al. 2024, "The GAN is dead; long live the GAN!").

C(x) is D's raw output, f = softplus, means over the batch (per trial: outputs are [K, B] or [B]).
- ``rpgan`` (RSGAN of the 2018 paper, RpGAN of R3GAN), real and fake paired by index:
      L_D = E f(-(C(x_r) - C(x_f))),                         L_G = E f(-(C(x_f) - C(x_r))).
- ``rasgan`` (relativistic average), each term against the *other* batch's mean output:
      L_D = E_r f(-(C(x_r) - E C(x_f))) + E_f f(C(x_f) - E C(x_r)).
- ``ralsgan``: L_D = E_r (C(x_r) - E C(x_f) - 1)^2 + E_f (C(x_f) - E C(x_r) + 1)^2 (no factor 1/2, as the paper).
- ``rahinge``: L_D = E_r relu(1 - (C(x_r) - E C(x_f))) + E_f relu(1 + (C(x_f) - E C(x_r))).
Every L_G is its L_D with real and fake exchanged: ``g_loss(fake_out, real_out) = d_loss(fake_out, real_out)``.
The second terms are ``C(x_f) - mean C(x_r)`` as the paper writes them; the author's original code had
``mean(fake) - real`` there, a sign error its repository documents.

These losses need D's output on a real batch in the G step (``needs_real_in_g_step``): the trainer draws a fresh real
batch from the trial's data stream for each G step (R3GAN reuses the D step's real batch; the expectation is the
same). D's absolute output has no meaning here, so the logged accuracies are relative: ``d_acc_real`` the fraction of
real samples D scores above the fake batch's mean, ``d_acc_fake`` the fraction of fakes below the real batch's mean.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganbench.zoo.losses import LOSSES, Loss


def _mean(out: Tensor) -> Tensor:
    return out.mean(-1, keepdim=True)


class RelativisticLoss(Loss):
    """Base of the relativistic family: subclasses give ``d_loss``; ``g_loss`` is it with real and fake exchanged."""

    needs_real_in_g_step = True

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        if real_out is None:
            raise TypeError(f"{self.name}'s G loss needs D's output on a real batch: g_loss(fake_out, real_out)")
        return self.d_loss(fake_out, real_out)

    def g_objective(self, fake_out, fake, real_out=None):
        return self.g_loss(fake_out, real_out)

    def diagnostics(self, real_out, fake_out, real, fake):
        return {"d_acc_real": (real_out > _mean(fake_out)).float().mean(-1),
                "d_acc_fake": (fake_out < _mean(real_out)).float().mean(-1)}


@LOSSES.register("rpgan", help="relativistic pairing GAN, RSGAN (Jolicoeur-Martineau 2018; R3GAN, Huang 2024): "
                             "D E softplus(-(D(x_r) - D(x_f))), G the same with real and fake exchanged")
class RelativisticPairedLoss(RelativisticLoss):
    """RpGAN / RSGAN: L_D = E f(-(C(x_r) - C(x_f))), samples paired by index (the batches have the same size)."""

    def d_loss(self, real_out, fake_out):
        return F.softplus(-(real_out - fake_out)).mean(-1)


@LOSSES.register("rasgan", help="relativistic average standard GAN (Jolicoeur-Martineau 2018): each output against "
                              "the other batch's mean")
class RelativisticAverageLoss(RelativisticLoss):
    """RaSGAN: L_D = E_r f(-(C(x_r) - E C(x_f))) + E_f f(C(x_f) - E C(x_r))."""

    def d_loss(self, real_out, fake_out):
        return (F.softplus(-(real_out - _mean(fake_out))).mean(-1)
                + F.softplus(fake_out - _mean(real_out)).mean(-1))


@LOSSES.register("ralsgan", help="relativistic average least squares GAN (Jolicoeur-Martineau 2018)")
class RelativisticAverageLeastSquaresLoss(RelativisticLoss):
    """RaLSGAN: L_D = E_r (C(x_r) - E C(x_f) - 1)^2 + E_f (C(x_f) - E C(x_r) + 1)^2."""

    def d_loss(self, real_out, fake_out):
        return ((real_out - _mean(fake_out) - 1.0).pow(2).mean(-1)
                + (fake_out - _mean(real_out) + 1.0).pow(2).mean(-1))


@LOSSES.register("rahinge", help="relativistic average hinge GAN (Jolicoeur-Martineau 2018)")
class RelativisticAverageHingeLoss(RelativisticLoss):
    """RaHingeGAN: L_D = E_r relu(1 - (C(x_r) - E C(x_f))) + E_f relu(1 + (C(x_f) - E C(x_r)))."""

    def d_loss(self, real_out, fake_out):
        return (F.relu(1.0 - (real_out - _mean(fake_out))).mean(-1)
                + F.relu(1.0 + (fake_out - _mean(real_out))).mean(-1))
