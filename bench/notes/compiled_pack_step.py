"""Would torch.compile lift packs on a CPU? A stand-alone pack step of the toys' MLP (K members as torch.baddbmm,
per-member batch norm in G, NS loss, fused Adam; not ganbench's trainer) run eagerly or with its two losses compiled by
inductor (forward and backward, elementwise operations fused), in member-steps per CPU second of one thread, best and
median of 5 repeats after a warm-up (the compile's seconds are printed as the warm-up).

    python bench/notes/compiled_pack_step.py 16 eager
    python bench/notes/compiled_pack_step.py 16 compile
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

B, Z, W = 64, 64, 64


def linear(k: int, n_in: int, n_out: int) -> list[torch.Tensor]:
    return [(torch.randn(k, n_in, n_out) * n_in ** -0.5).requires_grad_(), torch.zeros(k, 1, n_out).requires_grad_()]


def norm(k: int, n: int) -> list[torch.Tensor]:
    return [torch.ones(k, 1, n).requires_grad_(), torch.zeros(k, 1, n).requires_grad_()]


def batch_norm(h, scale, shift):
    mean, var = h.mean(1, keepdim=True), h.var(1, unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + 1e-5) * scale + shift


def generator(z, p):
    h = F.relu(batch_norm(torch.baddbmm(p[1], z, p[0]), p[2], p[3]))
    h = F.relu(batch_norm(torch.baddbmm(p[5], h, p[4]), p[6], p[7]))
    return torch.tanh(torch.baddbmm(p[9], h, p[8]))


def discriminator(x, p):
    h = F.leaky_relu(torch.baddbmm(p[1], x, p[0]), 0.2)
    h = F.leaky_relu(torch.baddbmm(p[3], h, p[2]), 0.2)
    return torch.baddbmm(p[5], h, p[4]).squeeze(-1)


def d_loss(real, z, d_params, g_params):
    with torch.no_grad():
        fake = generator(z, g_params)
    out = discriminator(torch.cat([real, fake], 1), d_params)
    return (F.softplus(-out[:, :B]).mean(1) + F.softplus(out[:, B:]).mean(1)).sum()


def g_loss(z, d_params, g_params):
    return F.softplus(-discriminator(generator(z, g_params), d_params)).mean(1).sum()


def main() -> None:
    torch.set_num_threads(1)
    k, mode = int(sys.argv[1]), sys.argv[2]
    g_params = linear(k, Z, 2 * W) + norm(k, 2 * W) + linear(k, 2 * W, 4 * W) + norm(k, 4 * W) + linear(k, 4 * W, 2)
    d_params = linear(k, 2, 4 * W) + linear(k, 4 * W, 2 * W) + linear(k, 2 * W, 1)
    dl, gl = (torch.compile(d_loss), torch.compile(g_loss)) if mode == "compile" else (d_loss, g_loss)
    opt_d = torch.optim.Adam(d_params, lr=1e-3, fused=True)
    opt_g = torch.optim.Adam(g_params, lr=1e-3, fused=True)
    data = torch.randn(2000, 2)

    def step():
        real, z = data[torch.randint(2000, (k, B))], torch.randn(k, B, Z)
        opt_d.zero_grad()
        dl(real, z, d_params, g_params).backward()
        opt_d.step()
        opt_g.zero_grad()
        grads = torch.autograd.grad(gl(torch.randn(k, B, Z), d_params, g_params), g_params)
        for p, g in zip(g_params, grads):
            p.grad = g.contiguous()
        opt_g.step()

    t0 = time.time()
    for _ in range(5):
        step()
    print(f"warm-up {time.time() - t0:.1f} s")
    rates = []
    for _ in range(5):
        n = max(20, 600 // k)
        t = time.process_time()
        for _ in range(n):
            step()
        rates.append(k * n / (time.process_time() - t))
    print(f"{mode} K = {k}: member-steps per CPU second best {max(rates):.0f}, median {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
