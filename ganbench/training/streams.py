"""Each trial's own random streams, so a trial draws the same numbers alone or in a pack, and resumes exactly.

Three streams per trial, seeded from the trial's seed: ``data`` (indices of the real batches), ``noise`` (the latent
vectors and class labels fed to G) and ``aux`` (penalties' interpolation and perturbation draws, label flips,
instance noise). Draws have the member axis first: ``[K, *shape]``. Nothing in training touches torch's global RNG,
which only initialises the networks (each member from ``torch.manual_seed(seed)``, as a single trial would).
"""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor

STREAMS = ("data", "noise", "aux")


def stream_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"ganbench:{seed}:{name}".encode()).digest()[:8], "little") >> 1


class Streams:
    def __init__(self, seeds: list[int], device: torch.device):
        self.k, self.device = len(seeds), torch.device(device)
        self.gens = {name: [torch.Generator(device=self.device).manual_seed(stream_seed(s, name)) for s in seeds]
                     for name in STREAMS}

    def _stack(self, draws: list[Tensor]) -> Tensor:
        return draws[0].unsqueeze(0) if self.k == 1 else torch.stack(draws)

    def randint(self, name: str, high: int, shape: tuple) -> Tensor:
        return self._stack([torch.randint(high, shape, generator=g, device=self.device) for g in self.gens[name]])

    def randn(self, name: str, shape: tuple) -> Tensor:
        return self._stack([torch.randn(shape, generator=g, device=self.device) for g in self.gens[name]])

    def uniform(self, name: str, shape: tuple) -> Tensor:
        return self._stack([torch.rand(shape, generator=g, device=self.device) for g in self.gens[name]])

    def rand(self, shape) -> Tensor:
        """U[0, 1) of ``shape`` = [K, ...] from each trial's ``aux`` stream (the ``rng`` of losses and penalties)."""
        shape = tuple(shape)
        if shape[0] != self.k:
            raise ValueError(f"draws for {self.k} trials need a leading dimension of {self.k}, got {shape}")
        return self.uniform("aux", shape[1:])

    # ---- one member's state, for checkpoints
    def member_state(self, k: int) -> dict[str, Tensor]:
        return {name: gens[k].get_state() for name, gens in self.gens.items()}

    def load_member_state(self, k: int, state: dict[str, Tensor]) -> None:
        for name, gens in self.gens.items():
            gens[k].set_state(state[name].cpu() if self.device.type == "cpu" else state[name])
