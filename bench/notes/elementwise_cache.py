"""Why packs stop gaining on a CPU past K = 4 to 8 on the toys' MLP: an elementwise operation on a pack's stacked
activations [K, 128, 256] (D's widest layer on a real + fake batch of 64 + 64) costs per element what it costs at K = 1
only while its tensors fit in one core's L2 cache; past that it runs at the speed of the shared cache, several times
slower per element. ``add``/``leaky_relu_backward`` read two tensors and write a third (``add out=`` writes into a
tensor made once, so allocation is not the cause); ``mul_`` reads and writes one in place. Nanoseconds of CPU per
element, one thread, best of 5 repeats.

    python bench/notes/elementwise_cache.py
"""
import time

import torch


def best_ns_per_element(fn, numel: int, k: int) -> float:
    n = max(20, 2000 // k)
    for _ in range(5):
        fn()
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t) / n)
    return best / numel * 1e9


def main() -> None:
    torch.set_num_threads(1)
    print("K, tensor MB, then ns of CPU per element of: add | add out= | leaky_relu_backward | mul_ (in place)")
    for k in (1, 2, 4, 8, 16, 32):
        x, g = torch.randn(k, 128, 256), torch.randn(k, 128, 256)
        out = torch.empty_like(x)
        cases = (lambda: x + g, lambda: torch.add(x, g, out=out),
                 lambda: torch.ops.aten.leaky_relu_backward(g, x, 0.2, False), lambda: x.mul_(1.0))
        ns = [best_ns_per_element(fn, x.numel(), k) for fn in cases]
        print(f"K = {k:3d}  {x.numel() * 4 / 2 ** 20:5.2f} MB  " + "  ".join(f"{v:6.3f}" for v in ns))


if __name__ == "__main__":
    main()
