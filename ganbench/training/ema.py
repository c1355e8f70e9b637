"""The generator EMA: an exponential moving average of G's weights, for every member of a pack.

As StyleGAN2-ADA and R3GAN state it, the average has a half-life in images: after each G step on ``images_per_step``
images, ema <- beta * ema + (1 - beta) * G with beta = 0.5 ** (images_per_step / half_life_images), so a weight's
contribution halves every ``half_life_images`` images G trains on. With ``rampup`` r (StyleGAN2-ADA's ema_rampup, e.g.
0.05), the half-life is min(half_life_images, r * images_done) (images G trained on before this step): the average
starts as a copy of G and lengthens as training goes on. Buffers (batch norm's running statistics) are copied, not
averaged, as StyleGAN does. The images of a G step are ``batch_size * pac`` (what G generates for one update).

The average lives in its own ``Members`` (the members' stacked parameters for K > 1), updated in place without
gradients; ``state_dict``/``load_state_dict`` give it as tensors with a leading member axis (K = 1 included), keyed
``ema.<name>``, so that the pack's checkpoint carries it and a resumed run goes on bitwise.

Which generator is scored (``ema_eval``): ``instead`` scores the EMA generator everywhere the raw G was scored
(evaluation points, the best checkpoint, final and best test scores); ``beside`` scores the raw G as before and the
EMA beside it, as ``ema_<value>`` in the history and ``ema_final_<value>`` in the summary. Either way the provenance
says which generator a number comes from (``scored_provenance``).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import Tensor

from ganbench.training.members import Members

EMA_PREFIX = "ema."


def ema_beta(images_per_step: int, half_life_images: float, rampup: Optional[float] = None,
             images_done: float = 0.0) -> float:
    """beta = 0.5 ** (images_per_step / half_life), half_life = min(half_life_images, rampup * images_done)."""
    half_life = half_life_images if rampup is None else min(half_life_images, rampup * images_done)
    return 0.5 ** (images_per_step / max(half_life, 1e-8))


class GeneratorEMA:
    def __init__(self, G: Members, modules: list[torch.nn.Module], half_life_images: float,
                 rampup: Optional[float], images_per_step: int):
        """``modules``: the members' generators as built (copied here: the average starts as G)."""
        self.G = Members([copy.deepcopy(m) for m in modules], getattr(G, "mode", None))
        self.half_life_images, self.rampup, self.images_per_step = half_life_images, rampup, images_per_step
        self.updates = 0  # G steps averaged so far (shared by the members of a pack)
        self._param_names = self._params(self.G)
        for t in self.G._tensors().values():
            t.requires_grad_(False)
        self.G.eval()  # never trained: a forward pass leaves its batch-norm statistics (copied from G) alone

    @staticmethod
    def _params(members: Members) -> set[str]:
        if members.module is not None:
            return {n for n, _ in members.module.named_parameters()}
        return set(members.params)

    def beta(self) -> float:
        return ema_beta(self.images_per_step, self.half_life_images, self.rampup,
                        self.updates * self.images_per_step)

    @torch.no_grad()
    def update(self, G: Members) -> None:
        """After a G step: parameters averaged, buffers copied."""
        beta = self.beta()
        src, dst = G._tensors(), self.G._tensors()
        for n in self.G.keys:
            if n in self._param_names and dst[n].is_floating_point():
                dst[n].lerp_(src[n].detach(), 1.0 - beta)
            else:
                dst[n].copy_(src[n])
        self.updates += 1

    def describe(self) -> dict:
        """The provenance of the EMA generator's numbers."""
        return {"weights": "ema", "half_life_images": self.half_life_images, "rampup": self.rampup,
                "images_per_g_step": self.images_per_step}

    # ---- state with a leading member axis, as the pack's other training state
    def state_dict(self) -> dict[str, Tensor]:
        tensors, k = self.G._tensors(), self.G.k
        state = {EMA_PREFIX + n: (tensors[n].detach().unsqueeze(0) if k == 1 else tensors[n].detach())
                 for n in self.G.keys}
        state[EMA_PREFIX + "updates"] = torch.full((k,), self.updates, dtype=torch.long)
        return state

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        tensors = self.G._tensors()
        for n in self.G.keys:
            v = state[EMA_PREFIX + n]
            tensors[n].copy_((v[0] if self.G.k == 1 else v).to(tensors[n].device, tensors[n].dtype))
        updates = {int(u) for u in state[EMA_PREFIX + "updates"].tolist()}
        self.updates = max(updates)  # a frozen member's zeroed count does not hold the others back


def build_ema(hp, G: Members, modules: list[torch.nn.Module]) -> Optional[GeneratorEMA]:
    if hp.ema_half_life_images is None:
        return None
    return GeneratorEMA(G, modules, hp.ema_half_life_images, hp.ema_rampup, hp.batch_size * hp.pac)


def scored_generator(pack) -> Members:
    """The generator a pack's numbers come from: the EMA's with ``ema_eval: instead``, else G."""
    ema = getattr(pack, "ema", None)
    return ema.G if ema is not None and pack.hp.ema_eval == "instead" else pack.G


def scored_provenance(pack, provenance: dict) -> dict:
    """The evaluator's provenance with the scored generator named (only where an EMA is kept)."""
    ema = getattr(pack, "ema", None)
    if ema is None:
        return provenance
    if pack.hp.ema_eval == "instead":
        return {**provenance, "generator": ema.describe()}
    return {**provenance, "generator": {"weights": "raw"}, "ema_values": {"prefix": "ema_", **ema.describe()}}


def beside_values(pack, split: str, n_samples: int, device, members: list[int]) -> dict[int, dict]:
    """With ``ema_eval: beside``: the EMA generator's values on ``split`` for the given members, named
    ``ema_<value>``; {} otherwise (no EMA, or the EMA scored instead of G)."""
    from ganbench.training.scoring import generate

    ema = getattr(pack, "ema", None)
    if ema is None or pack.hp.ema_eval != "beside" or not members:
        return {}
    fakes, _ = generate(ema.G, pack.hp, pack.info.num_classes if pack.conditional else None, n_samples, split,
                        device)
    return {k: {f"ema_{n}": v for n, v in pack.evaluator.evaluate(fakes[k], split)[0].items()} for k in members}
