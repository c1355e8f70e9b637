"""Trainer speed: ganbench's trainer against a hand-written PyTorch loop on the same networks, and packs of K trials.

Each measurement runs in its own process (one torch thread, pinned to one core where ``taskset`` exists), repeats a
few times and keeps the fastest. Speeds are steps per CPU second of training (the process's CPU time, set-up and
scoring excluded; the trainer records it as ``train_cpu_seconds``), so that other work on a shared machine does not
move them; on a quiet machine wall and CPU seconds agree. Every diagnostic of the trainer is on.

    python bench/trainer.py            # the tables of docs/performance.md (about 10 minutes on 2 cores)
    python bench/trainer.py --quick    # fewer steps and K values
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

CASES = {  # name: (dataset yaml, architecture, batch)
    "mlp-grid25": ("grid25", "mlp", 64),
    "mlp-digits": ("digits", "mlp", 64),
    "mlp-28x28": ("{name: polygons, options: {n_train: 10000}, extractor: random}", "mlp", 64),
    "dcgan-32x32": ("{name: imagefolder, options: {path: %(folder)s, size: 32}, extractor: random}", "dcgan", 64),
}


def _suite(case: str, steps: int, seeds: int, folder: str) -> str:
    ds, arch, batch = CASES[case]
    ds = ds % {"folder": folder}
    return (f"name: bench\ndatasets: [{ds}]\ngans: [ns]\narchitectures: [{arch}]\nseeds: {list(range(seeds))}\n"
            f"hparams: {{batch_size: {batch}}}\nbudget: {{d_steps: {steps}}}\n"
            f"eval: {{every_d_steps: {10 * steps}, n_samples: 100, n_real: 100}}\n")


def _folder(root: Path) -> str:
    """64 random 32x32 RGB images: enough for timing (what the images show does not change the cost)."""
    import numpy as np
    from PIL import Image

    d = root / "rgb32"
    if not d.is_dir():
        d.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(64):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    return str(d)


# ------------------------------------------------------------------------------------------- in the child process
def _trials(case, steps, k, root):
    from ganbench.suite.schema import load_suite
    from ganbench.suite.expand import expand

    p = Path(root) / f"{case}-{k}.yaml"
    p.write_text(_suite(case, steps, k, _folder(Path(root))))
    return expand(load_suite(p))


def child_ganbench(case, steps, k, root) -> dict:
    import resource

    from ganbench.training import RunOptions, run_pack

    trials = _trials(case, steps, k, root)
    out = [Path(root) / f"out-{case}-{k}-{i}" for i in range(k)]
    for d in out:
        shutil.rmtree(d, ignore_errors=True)
    s = run_pack(trials, out, options=RunOptions(checkpoint_every_d_steps=10 * steps))[0]
    return {"member_steps_per_s": k * s["d_steps"] / s["train_cpu_seconds"], "wall_steps_per_s": k * s["d_steps"] /
            s["train_seconds"], "flops_per_d": s["flops_per_d_step"],
            "flops_per_g": s["flops_per_g_step"], "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_hand(case, steps, k, root) -> dict:
    """What a user writes by hand: the same networks, data as one tensor, BCE-with-logits, Adam, a D step and a G
    step per iteration, no logging."""
    import torch
    import torch.nn.functional as F

    from ganbench.datasets import dataset_info, load_split
    from ganbench.training.parts import build_networks

    (trial,) = _trials(case, steps, 1, root)
    hp = trial.hp
    info = dataset_info(trial.dataset, trial.dataset_options)
    x = load_split(trial.dataset, "train", None, trial.dataset_options).x
    G, D = build_networks(trial, info)
    opt_g = torch.optim.Adam(G.parameters(), lr=hp.lr, betas=(hp.beta1, hp.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=hp.lr, betas=(hp.beta1, hp.beta2))
    b = hp.batch_size
    ones, zeros = torch.ones(b), torch.zeros(b)
    for warm in (True, False):
        t0 = time.process_time()
        for _ in range(20 if warm else steps):
            real = x[torch.randint(len(x), (b,))]
            fake = G(torch.randn(b, hp.z_dim)).detach()
            loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + \
                F.binary_cross_entropy_with_logits(D(fake), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(D(G(torch.randn(b, hp.z_dim))), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        dt = time.process_time() - t0
    return {"member_steps_per_s": steps / dt}


def child_peak() -> dict:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        a @ b
        best = min(best, time.process_time() - t0)
    return {"gflops": 2 * 2048 ** 3 / best / 1e9}


# ------------------------------------------------------------------------------------------------ the driver
def _run(kind: str, case: str = "", steps: int = 0, k: int = 1, root: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", kind, case, str(steps), str(k), root]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", os.environ.get("BENCH_CORE", "0"), *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_round_robin(jobs: dict, repeats: int = 3) -> dict:
    """Run every job once per round, ``repeats`` rounds (so that whatever else the machine does falls on all of them
    alike), and keep each job's fastest run."""
    runs = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, args in jobs.items():
            runs[name].append(_run(*args))
    out = {}
    for name, rs in runs.items():
        key = "gflops" if "gflops" in rs[0] else "member_steps_per_s"
        best = max(rs, key=lambda r: r[key])
        out[name] = {**best, "runs": [round(r[key], 1) for r in rs], "median": statistics.median(r[key] for r in rs)}
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        import torch

        torch.set_num_threads(1)
        kind, case, steps, k, root = sys.argv[2:7]
        fn = {"ganbench": child_ganbench, "hand": child_hand}.get(kind)
        res = child_peak() if kind == "peak" else fn(case, int(steps), int(k), root)
        print(json.dumps(res))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="bench/results-trainer.json")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="ganbench-bench-")
    os.environ.setdefault("GANBENCH_CACHE", str(Path(root) / "cache"))
    steps = {"mlp-grid25": 1500, "mlp-digits": 1500, "mlp-28x28": 800, "dcgan-32x32": 60}
    if args.quick:
        steps = {k: max(30, v // 5) for k, v in steps.items()}
    report = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0], **machine.describe(),
              "trainer": {}, "packs": {}}
    report["matmul_peak_gflops"] = measure_round_robin({"peak": ("peak",)})["peak"]["gflops"]
    print(f"one core's fp32 matmul peak (2048^3): {report['matmul_peak_gflops']:.1f} GFLOP/s", flush=True)
    print("\n1. trainer against a hand-written loop (steps/s, one thread; best of 3)")
    for case in CASES:
        both = measure_round_robin({"ganbench": ("ganbench", case, steps[case], 1, root),
                                    "hand": ("hand", case, steps[case], 1, root)})
        g, h = both["ganbench"], both["hand"]
        flops = g["flops_per_d"] + g["flops_per_g"]
        report["trainer"][case] = {"ganbench": g, "hand": h, "ratio": g["member_steps_per_s"] / h["member_steps_per_s"],
                                   "achieved_gflops": flops * g["member_steps_per_s"] / 1e9}
        print(f"  {case:12s} ganbench {g['member_steps_per_s']:8.1f}  hand {h['member_steps_per_s']:8.1f}  ratio "
              f"{report['trainer'][case]['ratio']:.2f}  {report['trainer'][case]['achieved_gflops']:.1f} GFLOP/s  "
              f"peak RSS {g['max_rss_mb']:.0f} MB", flush=True)
    print("\n2. packs: member-steps/s against K (one thread; best of 4, and the ratio of the medians)")
    ks = {"mlp-grid25": [1, 2, 4, 8, 16, 32, 64], "mlp-digits": [1, 4, 16, 64], "dcgan-32x32": [1, 4, 16]}
    if args.quick:
        ks = {"mlp-grid25": [1, 4, 16], "mlp-digits": [1, 16], "dcgan-32x32": [1, 4]}
    for case, kk in ks.items():
        jobs = {k: ("ganbench", case, max(steps[case] // max(1, k // 4), 40 if case != "dcgan-32x32" else 20), k, root)
                for k in kk}
        got = measure_round_robin(jobs, repeats=2 if args.quick else 4)
        base, base_median = got[kk[0]]["member_steps_per_s"], got[kk[0]]["median"]
        for k in kk:
            r = got[k]
            report["packs"].setdefault(case, {})[k] = {**r, "speedup": r["member_steps_per_s"] / base,
                                                       "speedup_median": r["median"] / base_median}
            print(f"  {case:12s} K={k:3d}  {r['member_steps_per_s']:8.1f} member-steps/s  "
                  f"x{r['member_steps_per_s'] / base:.2f}  (medians x{r['median'] / base_median:.2f}; runs {r['runs']})  peak RSS {r['max_rss_mb']:.0f} MB",
                  flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {args.out}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
