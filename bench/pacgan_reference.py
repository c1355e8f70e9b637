"""A hand-written NS-GAN at PacGAN's 2D setting, with no ganbench imports: the oracle for suites/pacgan2d-toys.yaml.

PacGAN (Lin et al. 2018), after the authors' code (synthetic_data_experiments/2DGrid_GAN&PacGAN):
- G: z ~ N(0, I_2) -> 4 x (linear 400, no bias -> batch norm -> ReLU) -> linear 2 -> tanh (tanh: the data are
  scaled into (-1, 1), as ganbench's toys are; the authors end with a plain linear on unscaled data).
- D: 3 x maxout (linear to 200 units x 5 pieces, max over each unit's pieces) -> linear 1 (a logit); no batch norm.
- Init: weights N(0, 0.02), biases 0, batch-norm scale 1 and offset 0. Batch norm is PyTorch's (momentum 0.1).
- Loss: NS-GAN (D: BCE with logits, real -> 1, fake -> 0, the sum of the two means; G: -log D(G(z))). One G step
  per D step, each with fresh z. Adam lr 1e-4, betas (0.8, 0.999), batch 100; real batches drawn with replacement
  from 100k training points.
- Data: grid25 (centres {-4, -2, 0, 2, 4}^2, std 0.05) or ring8 (unit circle, std 0.01), scaled by 0.15 and 0.5 as
  ganbench scales them (``--scale`` to change it; the mode metrics do not change under scaling).
- Scores (PacGAN's definitions) on 2,500 samples from a fixed z, G in eval mode: modes (centres with at least one
  high-quality sample), hq (fraction of samples within 3 std of a centre), reverse KL of the hq samples' histogram
  over modes against uniform, and mode_tv (total variation between the samples' distribution over {modes,
  off-mode} and the ideal one).

    taskset -c 1 python3 bench/pacgan_reference.py --dataset grid25 --steps 10000 --seeds 0 1 2 --out ref.json
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TOYS = {  # name: (centres in the papers' units, std, ganbench's scale)
    "grid25": ([(x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)], 0.05, 0.15),
    "ring8": ([(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)], 0.01, 0.5),
}


class Maxout(nn.Module):
    def __init__(self, n_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(n_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).max(dim=2).values


def generator(z_dim: int = 2, hidden: int = 400, layers: int = 4) -> nn.Module:
    mods: list[nn.Module] = []
    n = z_dim
    for _ in range(layers):
        mods += [nn.Linear(n, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        n = hidden
    return nn.Sequential(*mods, nn.Linear(n, 2), nn.Tanh())


def discriminator(hidden: int = 200, pieces: int = 5, layers: int = 3) -> nn.Module:
    mods: list[nn.Module] = [Maxout(2, hidden, pieces)]
    mods += [Maxout(hidden, hidden, pieces) for _ in range(layers - 1)]
    return nn.Sequential(*mods, nn.Linear(hidden, 1))


def init_(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def mixture(name: str, scale: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    centres, std, _ = TOYS[name]
    centres = np.asarray(centres) * scale
    rng = np.random.default_rng(seed)
    which = rng.integers(len(centres), size=n)
    return centres[which] + std * scale * rng.standard_normal((n, 2)), centres, std * scale


def mode_scores(x: np.ndarray, centres: np.ndarray, std: float) -> dict:
    d = np.sqrt(((x[:, None, :] - centres[None]) ** 2).sum(-1))
    nearest, dist = d.argmin(1), d.min(1)
    good = dist < 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    n_modes = len(centres)
    if counts.sum():
        q = counts[counts > 0] / counts.sum()
        rkl = max(float(np.sum(q * np.log(q * n_modes))), 0.0)
    else:
        rkl = math.log(n_modes)
    tv = 0.5 * (np.abs(counts / len(x) - 1 / n_modes).sum() + (1 - good.mean()))
    return {"modes": int((counts > 0).sum()), "hq": float(good.mean()), "reverse_kl": rkl, "mode_tv": float(tv)}


def train(dataset: str, seed: int, steps: int, batch: int, lr: float, beta1: float, beta2: float,
          eval_every: int, n_samples: int, scale: float) -> dict:
    torch.manual_seed(seed)
    train_x, centres, std = mixture(dataset, scale, 100_000, seed=1000)
    data = torch.from_numpy(train_x.astype(np.float32))
    G, D = generator(), discriminator()
    init_(G)
    init_(D)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(beta1, beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(beta1, beta2))
    z_eval = torch.randn(n_samples, 2, generator=torch.Generator().manual_seed(10_002))
    history = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        real = data[torch.randint(len(data), (batch,))]
        with torch.no_grad():
            fake = G(torch.randn(batch, 2))
        out_r, out_f = D(real).squeeze(1), D(fake).squeeze(1)
        d_loss = (F.binary_cross_entropy_with_logits(out_r, torch.ones_like(out_r))
                  + F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(batch, 2))).squeeze(1)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % eval_every == 0 or step == steps:
            G.eval()
            with torch.no_grad():
                x = G(z_eval).numpy().astype(np.float64)
            G.train()
            history.append({"d_steps": step, "seconds": round(time.perf_counter() - t0, 1), **mode_scores(x, centres, std)})
    return {"dataset": dataset, "seed": seed, "final": history[-1], "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(TOYS), default="grid25")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta1", type=float, default=0.8)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eval-every", type=int, default=2000)
    ap.add_argument("--n-samples", type=int, default=2500)
    ap.add_argument("--scale", type=float, default=None, help="default: ganbench's (grid25 0.15, ring8 0.5)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write every run's history as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scale = args.scale if args.scale is not None else TOYS[args.dataset][2]
    runs = []
    for seed in args.seeds:
        r = train(args.dataset, seed, args.steps, args.batch, args.lr, args.beta1, args.beta2, args.eval_every,
                  args.n_samples, scale)
        runs.append(r)
        print(json.dumps({"seed": seed, **r["final"]}), flush=True)
    for key in ("mode_tv", "hq", "modes", "reverse_kl"):
        v = np.array([r["final"][key] for r in runs], dtype=float)
        print(f"{args.dataset} {key}: {v.mean():.4g} +- {v.std(ddof=1) if len(v) > 1 else 0:.2g} (n={len(v)})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "scale": scale, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
