"""Is a batched linear layer cheaper than K single ones on one CPU thread? For each layer of the toys' MLP (batch 64,
K = 16): forward + backward as torch.func.vmap of F.linear (what a pack runs), as one torch.baddbmm, and as 16
single F.linear calls; microseconds of CPU per call, after a warm-up.

    python bench/notes/batched_linear.py
"""
import time

import torch
from torch.func import vmap

K, B = 16, 64


def cpu_us(fn, n=300) -> float:
    for _ in range(20):
        fn()
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e6


def main() -> None:
    torch.set_num_threads(1)
    print(f"K = {K}, batch {B}, one thread: forward + backward, us of CPU per call")
    for n_in, n_out in ((2, 256), (256, 128), (128, 1), (64, 128), (128, 256), (256, 2)):
        x = torch.randn(K, B, n_in, requires_grad=True)
        w = torch.randn(K, n_out, n_in, requires_grad=True)
        b = torch.randn(K, n_out, requires_grad=True)
        g = torch.randn(K, B, n_out)
        x1, w1, b1, g1 = (t[0].detach().requires_grad_(t.requires_grad) for t in (x, w, b, g))
        times = {
            "vmap(linear)": cpu_us(lambda: vmap(torch.nn.functional.linear)(x, w, b).backward(g)),
            "baddbmm": cpu_us(lambda: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)).backward(g)),
            "16 x linear": K * cpu_us(lambda: torch.nn.functional.linear(x1, w1, b1).backward(g1)),
        }
        print(f"{n_in:4d} -> {n_out:4d}  " + "  ".join(f"{k} {v:6.0f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
