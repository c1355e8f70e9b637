"""Run a suite's trials directly through ganbench.training.run_pack (no Ray), sequentially, and print a table.

Exploration only (issue 8): pin it to the second core, e.g.
    taskset -c 1 python3 bench/explore.py suites/quickstart.yaml --out /tmp/qs --pack 2 --set lr=1e-3
Prints one line per trial (final and best test scores, D/G steps, seconds) and the wall time of each pack.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ganbench.config import load_suite
from ganbench.expand import expand
from ganbench.runner import make_packs
from ganbench.training import run_pack

SHOW = ("mode_tv", "hq", "modes", "fid")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pack", type=int, default=None, help="pack size (default: the suite's resources.pack)")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--only", default=None, help="substring a trial's dataset/gan must contain")
    args = ap.parse_args()
    suite = load_suite(args.suite, args.set)
    trials = expand(suite)
    if args.only:
        trials = [t for t in trials if any(args.only in s for s in (t.dataset, t.gan))]
    packs = make_packs(trials, args.pack or suite.resources.pack)
    out = Path(args.out)
    t_all = time.perf_counter()
    for pack in packs:
        t0 = time.perf_counter()
        dirs = [out / t.id for t in pack]
        sums = run_pack(pack, dirs, num_threads=1)
        dt = time.perf_counter() - t0
        for t, s, d in zip(pack, sums, dirs):
            hist = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
            pen = [round(h["penalty"], 4) for h in hist if "penalty" in h]
            cells = " ".join(f"{k}={s.get('final_' + k):.4g}/{s.get('best_' + k):.4g}" for k in SHOW
                             if s.get("final_" + k) is not None)
            print(f"{t.id} {t.dataset:8s} {t.gan:14s} lr={t.hp.lr:g},{t.hp.lr_d},{t.hp.lr_g},b{t.hp.batch_size} s{t.seed} {s['status']:9s} d={s['d_steps']} g={s['g_steps']} "
                  f"{cells} pack{len(pack)} {dt:.0f}s" + (f" penalty={pen}" if pen else ""), flush=True)
    print(f"total {time.perf_counter() - t_all:.0f}s", flush=True)


if __name__ == "__main__":
    main()
