"""Scoring a pack's generators: fixed-noise samples per split, evaluation-point values (metrics, diversity, the
critic's Wasserstein estimate), best-generator selection on the validation split, and a trial's files."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from ganbench.evaluation.metric import output_direction
from ganbench.paths import atomic_torch_save
from ganbench.training.members import Members

CHUNK = 500  # samples generated per forward at scoring time
SPLIT_NOISE_SEED = {"val": 10_001, "test": 10_002}


def generate(G: Members, hp, num_classes: Optional[int], n: int, split: str, device) -> tuple[Tensor, Optional[Tensor]]:
    """Every member's samples [K, n, ...] (float32, on the CPU) from the split's fixed noise (the same noise for
    every member and trial, independent of training randomness), with G in eval mode; and the labels [n] used."""
    gen = torch.Generator().manual_seed(SPLIT_NOISE_SEED[split])
    was_training = G.training
    G.eval()
    xs, ys = [], []
    with torch.no_grad():
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            if hp.z_dist == "uniform":
                z = torch.rand(m, hp.z_dim, generator=gen).mul_(2).sub_(1)
            else:
                z = torch.randn(m, hp.z_dim, generator=gen)
            y = torch.randint(num_classes, (m,), generator=gen) if num_classes else None
            zk = z.to(device).unsqueeze(0).expand(G.k, -1, -1)
            yk = None if y is None else y.to(device).unsqueeze(0).expand(G.k, -1)
            xs.append(G(zk, yk).float().cpu())
            ys.append(y)
    G.train(was_training)
    return torch.cat(xs, 1), (torch.cat(ys) if num_classes else None)


def mean_pairwise_distance(x: Tensor) -> float:
    flat = x.flatten(1).double()
    return float(torch.cdist(flat, flat).sum() / max(1, len(flat) * (len(flat) - 1)))


@torch.no_grad()
def critic_estimate(D: Members, real: Tensor, real_y: Optional[Tensor], fake: Tensor, fake_y: Optional[Tensor],
                    device) -> list[float]:
    """E[D(real)] - E[D(fake)] per member, on held-out real data [n, ...] and the members' scored samples
    [K, n, ...] (D in eval mode): a WGAN critic's estimate of the Wasserstein distance (Arjovsky et al. 2017)."""
    was_training = D.training
    D.eval()
    k = D.k

    def labels(y: Optional[Tensor], s: slice) -> Optional[Tensor]:
        return None if y is None else y[s].to(device).unsqueeze(0).expand(k, -1)

    real_sum = torch.zeros(k, dtype=torch.float64)
    fake_sum = torch.zeros(k, dtype=torch.float64)
    for start in range(0, len(real), CHUNK):
        s = slice(start, start + CHUNK)
        part = real[s].to(device)
        real_sum += D(part.unsqueeze(0).expand(k, *part.shape), labels(real_y, s)).double().sum(1).cpu()
    for start in range(0, fake.shape[1], CHUNK):
        s = slice(start, start + CHUNK)
        fake_sum += D(fake[:, s].to(device), labels(fake_y, s)).double().sum(1).cpu()
    D.train(was_training)
    return (real_sum / len(real) - fake_sum / fake.shape[1]).tolist()


class BestTracker:
    """The best generator of one trial by the validation value of its primary metric."""

    def __init__(self, primary: str):
        self.primary = primary
        self.better_max = output_direction(primary) == "max"
        self.value: Optional[float] = None
        self.state: Optional[dict] = None
        self.d_steps: Optional[int] = None

    def offer(self, value: Optional[float], state_fn, d_steps: int) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.value is not None and not (value > self.value if self.better_max else value < self.value):
            return False
        self.value, self.state, self.d_steps = value, state_fn(), d_steps
        return True

    def to_dict(self) -> dict:
        return {"value": self.value, "state": self.state, "d_steps": self.d_steps}

    def load(self, d: dict) -> None:
        self.value, self.state, self.d_steps = d.get("value"), d.get("state"), d.get("d_steps")


def save_torch(obj, path) -> None:
    """torch.save through an atomic write: readers never see half a file."""
    atomic_torch_save(obj, path)
