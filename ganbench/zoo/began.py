"""BEGAN (Berthelot et al. 2017) as a loss with state: an autoencoder D and the balance term k, one per trial.

D is an autoencoder; L(x) = mean |AE(x) - x| over pixels, then over the batch (per trial).
    L_D = L(x) - k L(G(z)),     L_G = L(G(z)),
    k <- k + lambda_k (gamma L(x) - L(G(z)))   after every D step, with the L values of that step,
    M = L(x) + |gamma L(x) - L(G(z))|            (BEGAN's convergence measure, logged as ``began_m``).
k starts at 0 and is not clipped, as in google/compare_gan; ``k_clip=True`` clips it to [0, 1] as in the paper.
compare_gan recomputes L on a fresh forward pass of the same batch after the step for its k update; ganbench uses
the values of the step itself, as the paper's update rule is written (Berthelot et al. 2017, eq. for k_{t+1}).
Inputs are [K, B, ...] (K trials trained as one pack; K = 1 for a single trial); k is a [K] tensor.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ganbench.zoo.losses import LOSSES, Interval, Loss


def recon_error(recon: Tensor, x: Tensor) -> Tensor:
    """BEGAN's L: mean |recon - x| over each sample's entries, then over the batch: [K, B, ...] -> [K]."""
    return (recon - x).abs().flatten(2).mean(-1).mean(-1)


@LOSSES.register("began", help="BEGAN (Berthelot 2017): autoencoder D, L_D = L(x) - k L(G(z)), k balance term; "
                               "hyperparameters began_gamma, began_lambda_k, began_k_clip")
class BeganLoss(Loss):
    OPTIONS = {"gamma": Interval(1e-12, 1.0 + 1e-12, 0.75), "lambda_k": Interval(0.0, float("inf"), 1e-3),
               "k_clip": (False, True)}
    HPARAM_OPTIONS = {"gamma": "began_gamma", "lambda_k": "began_lambda_k", "k_clip": "began_k_clip"}
    d_output = "autoencoder"
    stateful = True

    def __init__(self, name: str, **options):
        super().__init__(name, **options)
        self.k = torch.zeros(1)

    def init_state(self, k: int, device) -> None:
        self.k = torch.zeros(k, device=device)

    def d_objective(self, real_out, fake_out, real, fake, rng=None):
        return recon_error(real_out, real) - self.k * recon_error(fake_out, fake)

    def g_objective(self, fake_out, fake, real_out=None):
        return recon_error(fake_out, fake)

    def after_d_step(self, real_out, fake_out, real, fake) -> None:
        l_real, l_fake = recon_error(real_out, real), recon_error(fake_out, fake)
        gamma = self.options["gamma"]
        self.k = self.k + self.options["lambda_k"] * (gamma * l_real - l_fake)
        if self.options["k_clip"]:
            self.k = self.k.clamp(0.0, 1.0)

    def diagnostics(self, real_out, fake_out, real, fake):
        l_real, l_fake = recon_error(real_out, real), recon_error(fake_out, fake)
        return {"began_k": self.k.clone(), "began_m": l_real + (self.options["gamma"] * l_real - l_fake).abs()}

    def state_dict(self) -> dict:
        return {"k": self.k.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.k = state["k"].to(self.k.device, self.k.dtype)

    def d_loss(self, real_out, fake_out):
        raise TypeError("BEGAN's D loss needs D's inputs: call d_objective(real_out, fake_out, real, fake)")

    def g_loss(self, fake_out):
        raise TypeError("BEGAN's G loss needs G's samples: call g_objective(fake_out, fake)")
