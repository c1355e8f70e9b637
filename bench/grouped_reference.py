"""A bare grouped training loop with no ganbench imports: K NS-GANs of ganbench's ``mlp`` networks on grid25 trained as
one, the reference that ganbench's packs (ganbench.training.members) are measured against.

The networks are ganbench's defaults for ``mlp`` on 2-d data (width 64, z_dim 64, batch 64):
- G: z 64 -> linear 128 -> batch norm -> ReLU -> linear 256 -> batch norm -> ReLU -> linear 2 -> tanh.
- D: 2 -> linear 256 -> LeakyReLU(0.2) -> linear 128 -> LeakyReLU(0.2) -> linear 1.
K members run as batched matmuls (``torch.baddbmm`` over weights [K, in, out]), batch norm per member (statistics over
each member's own batch, running statistics updated as torch's, momentum 0.1), and one foreach Adam (lr 2e-4, betas
(0.5, 0.999)) over the stacked parameters. NS loss; D scores the real and the generated batch in one call; a G step
(fresh z) after every D step. Random draws come from one global generator (no per-member streams), nothing is logged.

    python bench/grouped_reference.py --k 1 16 --steps 300     # member-steps per CPU second of one thread
"""
from __future__ import annotations

import argparse
import math
import time

import torch
from torch.nn import functional as F

Z, W, BATCH, LR, BETAS = 64, 64, 64, 2e-4, (0.5, 0.999)


def grid25(n: int = 100_000, seed: int = 1000) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([(x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)])
    which = torch.randint(25, (n,), generator=g)
    return (centres[which] + 0.05 * torch.randn(n, 2, generator=g)) * 0.15


def linear(k: int, n_in: int, n_out: int) -> list[torch.Tensor]:
    """Weights [K, in, out] and biases [K, 1, out], PyTorch's default init (uniform +-1/sqrt(in)) per member."""
    bound = 1 / math.sqrt(n_in)
    w = torch.empty(k, n_in, n_out).uniform_(-bound, bound).requires_grad_()
    b = torch.empty(k, 1, n_out).uniform_(-bound, bound).requires_grad_()
    return [w, b]


class GroupedGAN:
    def __init__(self, k: int):
        self.k = k
        self.g = [*linear(k, Z, 2 * W), *linear(k, 2 * W, 4 * W), *linear(k, 4 * W, 2)]
        self.bn = [[torch.ones(k, 1, n, requires_grad=True), torch.zeros(k, 1, n, requires_grad=True)]
                   for n in (2 * W, 4 * W)]
        self.running = [[torch.zeros(k, 1, n), torch.ones(k, 1, n)] for n in (2 * W, 4 * W)]
        self.d = [*linear(k, 2, 4 * W), *linear(k, 4 * W, 2 * W), *linear(k, 2 * W, 1)]
        g_params = self.g + [p for pair in self.bn for p in pair]
        self.opt_g = torch.optim.Adam(g_params, lr=LR, betas=BETAS, foreach=True)
        self.opt_d = torch.optim.Adam(self.d, lr=LR, betas=BETAS, foreach=True)

    def batch_norm(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """Per-member batch norm of h [K, B, F] (training mode), running statistics updated."""
        mean = h.mean(1, keepdim=True)
        var = h.var(1, unbiased=False, keepdim=True)
        with torch.no_grad():
            rm, rv = self.running[i]
            rm.lerp_(mean, 0.1)
            rv.lerp_(var * h.shape[1] / (h.shape[1] - 1), 0.1)
        gamma, beta = self.bn[i]
        return (h - mean) * torch.rsqrt(var + 1e-5) * gamma + beta

    def G(self, z: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = self.g
        h = F.relu(self.batch_norm(torch.baddbmm(b1, z, w1), 0))
        h = F.relu(self.batch_norm(torch.baddbmm(b2, h, w2), 1))
        return torch.tanh(torch.baddbmm(b3, h, w3))

    def D(self, x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = self.d
        h = F.leaky_relu(torch.baddbmm(b1, x, w1), 0.2)
        h = F.leaky_relu(torch.baddbmm(b2, h, w2), 0.2)
        return torch.baddbmm(b3, h, w3).squeeze(-1)

    def step(self, data: torch.Tensor) -> None:
        k = self.k
        real = data[torch.randint(len(data), (k, BATCH))]
        with torch.no_grad():
            fake = self.G(torch.randn(k, BATCH, Z))
        out = self.D(torch.cat([real, fake], 1))
        d_loss = F.softplus(-out[:, :BATCH]).mean(1) + F.softplus(out[:, BATCH:]).mean(1)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.sum().backward()
        self.opt_d.step()
        g_loss = F.softplus(-self.D(self.G(torch.randn(k, BATCH, Z)))).mean(1)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        self.opt_g.step()


def member_steps_per_cpu_second(k: int, steps: int, data: torch.Tensor, warmup: int = 20) -> float:
    torch.manual_seed(0)
    gan = GroupedGAN(k)
    for _ in range(warmup):
        gan.step(data)
    t0 = time.process_time()
    for _ in range(steps):
        gan.step(data)
    return k * steps / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 16])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = grid25()
    best = {k: 0.0 for k in args.k}
    for _ in range(args.repeats):  # round-robin: load on the machine falls on every K alike
        for k in args.k:
            best[k] = max(best[k], member_steps_per_cpu_second(k, args.steps, data))
    for k in args.k:
        print(f"K={k:3d}  {best[k]:8.1f} member-steps per CPU second  x{best[k] / best[args.k[0]]:.2f}")


if __name__ == "__main__":
    main()
