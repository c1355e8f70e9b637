"""Packs on grid25 with every K at the same number of D steps (bench/trainer.py gives larger packs fewer steps):
each run a fresh process through bench/trainer.py's child (run_pack, one thread, pinned to one core), K values
interleaved in every round; member-steps per CPU second, the best and the median of the rounds, and each against K = 1.

    python bench/notes/packs_fixed_steps.py                   # K = 1, 8, 16; 2,000 D steps; 4 rounds; core 1
    python bench/notes/packs_fixed_steps.py --ks 1,16 --rounds 6 --steps 1000 --core 0
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ks", default="1,8,16")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--core", default="1")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    root = tempfile.mkdtemp(prefix="packs-fixed-")
    env = {**os.environ, "GANBENCH_CACHE": str(Path(root) / "cache"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pin = ["taskset", "-c", args.core] if shutil.which("taskset") else []
    runs = {k: [] for k in ks}
    for r in range(args.rounds):
        for k in ks:
            out = subprocess.run([*pin, sys.executable, str(BENCH / "trainer.py"), "--child", "ganbench", "mlp-grid25",
                                  str(args.steps), str(k), root], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            runs[k].append(json.loads(out.stdout.strip().splitlines()[-1])["member_steps_per_s"])
        print(f"round {r}: " + ", ".join(f"K = {k} {v[-1]:.0f}" for k, v in runs.items()), flush=True)
    best1, median1 = max(runs[ks[0]]), statistics.median(runs[ks[0]])
    for k in ks:
        v = runs[k]
        print(f"K = {k:3d}  best {max(v):6.0f} (x{max(v) / best1:.2f})  median {statistics.median(v):6.0f} "
              f"(x{statistics.median(v) / median1:.2f})  runs {[round(x) for x in v]}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
