"""A hand-written WGAN-GP at the CPU study's toy setting, with no ganbench imports: the oracle for its WGAN-GP cells.

Issue 15 asks whether WGAN-GP's results on the 2D mixtures in `results/cpu-study` are ganbench's or the loss's. This
is the same GAN written from the papers and the study's suite (`suites/cpu/study.yaml`) in plain PyTorch:
- Data: ring8 (unit circle, std 0.01) or grid25 ({-4, -2, 0, 2, 4}^2, std 0.05), scaled by 0.5 and 0.15 into (-1, 1);
  100k training points drawn once (numpy seed 1000), real batches drawn with replacement.
- G: z ~ N(0, I_64) -> linear 128 -> batch norm -> ReLU -> linear 256 -> batch norm -> ReLU -> linear 2 -> tanh.
  D (the critic): 2 -> linear 256 -> LeakyReLU(0.2) -> linear 128 -> LeakyReLU(0.2) -> linear 1. PyTorch's default
  initialisation. (The seed texts' MNIST MLPs at width 64, as the study's `mlp` architecture.)
- WGAN-GP (Gulrajani et al. 2017, Algorithm 1): critic loss E[D(fake)] - E[D(real)] + lambda E[(||grad D(x_hat)|| - 1)^2]
  with x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1] per sample, lambda 10; n_disc critic steps per G step, G loss
  -E[D(G(z))]; Adam for both with the given lr and betas; batch 64.
- Budget and selection as the study's: every `--eval-every` critic steps the generator (eval mode) is scored on 2,000
  samples from a fixed validation z; the best on validation mode_tv is then scored on a fixed test z (the checkpoint is
  chosen on validation, never on test).
- Scores (PacGAN's definitions, the same as bench/pacgan_reference.py): modes (centres with at least one high-quality
  sample), hq (fraction within 3 std of a centre), mode_tv (total variation between the samples' distribution over
  {modes, off-mode} and the ideal one).

    python3 bench/wgangp_reference.py --dataset ring8 --lr 1e-4 --beta1 0.5 --beta2 0.9 --n-disc 5 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time

import numpy as np
import torch
from torch import nn

TOYS = {  # name: (centres in the papers' units, std, the study's scale)
    "grid25": ([(x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)], 0.05, 0.15),
    "ring8": ([(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)], 0.01, 0.5),
}
Z_DIM = 64


def generator() -> nn.Module:
    return nn.Sequential(nn.Linear(Z_DIM, 128), nn.BatchNorm1d(128), nn.ReLU(),
                         nn.Linear(128, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 2), nn.Tanh())


def critic() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 256), nn.LeakyReLU(0.2), nn.Linear(256, 128), nn.LeakyReLU(0.2),
                         nn.Linear(128, 1))


def mixture(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    centres, std, scale = TOYS[name]
    centres = np.asarray(centres) * scale
    rng = np.random.default_rng(seed)
    which = rng.integers(len(centres), size=n)
    return centres[which] + std * scale * rng.standard_normal((n, 2)), centres, std * scale


def mode_scores(x: np.ndarray, centres: np.ndarray, std: float) -> dict:
    d = np.sqrt(((x[:, None, :] - centres[None]) ** 2).sum(-1))
    nearest, good = d.argmin(1), d.min(1) < 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    tv = 0.5 * (np.abs(counts / len(x) - 1 / len(centres)).sum() + (1 - good.mean()))
    return {"modes": int((counts > 0).sum()), "hq": float(good.mean()), "mode_tv": float(tv)}


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand(len(real), 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def score(G: nn.Module, z: torch.Tensor, centres: np.ndarray, std: float) -> dict:
    G.eval()
    with torch.no_grad():
        x = G(z).numpy().astype(np.float64)
    G.train()
    return mode_scores(x, centres, std)


def train(args: argparse.Namespace, seed: int) -> dict:
    torch.manual_seed(seed)
    train_x, centres, std = mixture(args.dataset, 100_000, seed=1000)
    data = torch.from_numpy(train_x.astype(np.float32))
    G, D = generator(), critic()
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    z_val = torch.randn(args.n_samples, Z_DIM, generator=torch.Generator().manual_seed(10_001))
    z_test = torch.randn(args.n_samples, Z_DIM, generator=torch.Generator().manual_seed(10_002))
    history, best, t0 = [], None, time.perf_counter()
    for step in range(1, args.steps + 1):
        real = data[torch.randint(len(data), (args.batch,))]
        with torch.no_grad():
            fake = G(torch.randn(args.batch, Z_DIM))
        d_loss = D(fake).mean() - D(real).mean() + args.gp_weight * gradient_penalty(D, real, fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if step % args.n_disc == 0:
            g_loss = -D(G(torch.randn(args.batch, Z_DIM))).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        if step % args.eval_every == 0 or step == args.steps:
            val = score(G, z_val, centres, std)
            history.append({"d_steps": step, "seconds": round(time.perf_counter() - t0, 1), **val,
                            "critic_estimate": float(-(d_loss.item()))})
            if best is None or val["mode_tv"] < best[1]["mode_tv"]:
                best = (step, val, copy.deepcopy(G.state_dict()))
    G.load_state_dict(best[2])
    return {"dataset": args.dataset, "seed": seed, "best_d_steps": best[0], "best_val": best[1],
            "test": score(G, z_test, centres, std), "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(TOYS), default="ring8")
    ap.add_argument("--steps", type=int, default=6000, help="critic (D) steps, the study's budget unit")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--beta2", type=float, default=0.9)
    ap.add_argument("--n-disc", type=int, default=5)
    ap.add_argument("--gp-weight", type=float, default=10.0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write every run's history as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for seed in args.seeds:
        r = train(args, seed)
        runs.append(r)
        print(json.dumps({"seed": seed, "best_d_steps": r["best_d_steps"], **r["test"]}), flush=True)
    for key in ("mode_tv", "hq", "modes"):
        v = np.array([r["test"][key] for r in runs], dtype=float)
        print(f"{args.dataset} test {key}: {v.mean():.3g} +- {v.std(ddof=1) if len(v) > 1 else 0:.2g} (n={len(v)})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
