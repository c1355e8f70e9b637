"""Packs against the bare grouped loop (bench/grouped_reference.py) on grid25's MLP: member-steps per CPU second of
one thread for K in {1, 2, 16}, all measured in this one process, round-robin, best of several repeats (so that other
work on a loaded machine falls on every case alike); and a cProfile of ganbench's step at one K.

    python bench/notes/pack_profile.py                     # the table: bare, ganbench steps, ganbench run_pack
    python bench/notes/pack_profile.py --profile 16        # where a K = 16 pack step spends its time
    python bench/notes/pack_profile.py --what bare steps   # some cases only

``steps``: ganbench's d_step + g_step on a pack (build_pack, no scoring), as the trainer's loop calls them.
``loop``: the same with the members run one after another (Members mode ``loop``).
``run``: the whole trainer (``run_pack``, every diagnostic on, its ``train_cpu_seconds``: set-up and scoring excluded).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grouped_reference import GroupedGAN, grid25  # noqa: E402

SUITE = ("name: prof\ndatasets: [grid25]\ngans: [ns]\narchitectures: [mlp]\nseeds: {seeds}\n"
         "hparams: {{batch_size: 64}}\nbudget: {{d_steps: {steps}}}\n"
         "eval: {{every_d_steps: {never}, n_samples: 100, n_real: 100}}\n")


def trials(k: int, steps: int, root: Path):
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    p = root / f"s{k}-{steps}.yaml"
    p.write_text(SUITE.format(seeds=list(range(k)), steps=steps, never=10 * steps))
    return expand(load_suite(p))


def bare(k: int, steps: int, root: Path) -> float:
    data = grid25()
    torch.manual_seed(0)
    gan = GroupedGAN(k)
    for _ in range(20):
        gan.step(data)
    times = []
    for _ in range(steps):
        t0 = time.process_time()
        gan.step(data)
        times.append(time.process_time() - t0)
    return speed(k, times)


def speed(k: int, times: list[float]) -> float:
    """Member-steps per CPU second from per-step CPU times: K over the median step (``--median``, what a loaded
    machine moves least), or K steps over their total."""
    return k / statistics.median(times) if MEDIAN else k * len(times) / sum(times)


def pack_steps(k: int, steps: int, root: Path, profile: bool = False, mode=None) -> float:
    from ganbench.training.parts import build_pack
    from ganbench.training.steps import Diagnostics, d_step, g_step

    pack = build_pack(trials(k, steps, root), torch.device("cpu"), mode=mode, scored=False)
    diag = Diagnostics()
    for _ in range(20):
        g_step(pack, diag, d_step(pack, diag))
    prof = cProfile.Profile(time.process_time) if profile else None
    if prof:
        prof.enable()
    times = []
    for i in range(steps):
        t0 = time.process_time()
        d_step(pack, diag)
        g_step(pack, diag)
        if (i + 1) % 100 == 0:
            diag.finite().tolist()  # the trainer's NaN check every 100 D steps
        times.append(time.process_time() - t0)
    if prof:
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "25")))
        print(s.getvalue())
    return speed(k, times)


def run(k: int, steps: int, root: Path) -> float:
    from ganbench.training import RunOptions, run_pack

    ts = trials(k, steps, root)
    out = [root / f"out-{k}-{i}" for i in range(k)]
    s = run_pack(ts, out, options=RunOptions(checkpoint_every_d_steps=10 * steps))[0]
    return k * s["d_steps"] / s["train_cpu_seconds"]


def loop_steps(k: int, steps: int, root: Path) -> float:
    return pack_steps(k, steps, root, mode="loop")


MEDIAN = False
CASES = {"bare": bare, "steps": pack_steps, "loop": loop_steps, "run": run}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 16])
    ap.add_argument("--what", nargs="+", default=["bare", "steps", "run"], choices=list(CASES))
    ap.add_argument("--steps", type=int, default=300, help="D steps (each with a G step) per measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the best speeds here")
    ap.add_argument("--profile", type=int, default=None, help="cProfile ganbench's steps at this K instead")
    ap.add_argument("--median", action="store_true", help="bare and steps: K over the median step's CPU time")
    args = ap.parse_args()
    global MEDIAN
    MEDIAN = args.median
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="pack-profile-"))
    if args.profile:
        pack_steps(args.profile, args.steps, root, profile=True)
        return
    best = {(w, k): 0.0 for w in args.what for k in args.k}
    for _ in range(args.repeats):
        for w in args.what:
            for k in args.k:
                best[w, k] = max(best[w, k], CASES[w](k, args.steps, root))
    print(f"member-steps per CPU second of one thread (grid25 mlp, batch 64, {args.steps} D+G steps, "
          f"best of {args.repeats}, round-robin)")
    print(f"{'K':>4} " + " ".join(f"{w:>16}" for w in args.what))
    if args.json:
        Path(args.json).write_text(json.dumps({f"{w} {k}": v for (w, k), v in best.items()}))
    for k in args.k:
        print(f"{k:4d} " + " ".join(f"{best[w, k]:8.1f} (x{best[w, k] / best[w, args.k[0]]:.2f})" for w in args.what))


if __name__ == "__main__":
    main()
