"""A suite through `ganbench run` (Ray Tune, all cores) against the same trials one after another in one process
(`ganbench trial --all`, no Ray), and with packs: the wall time, and Ray's overhead per trial.

    python bench/suite.py        # about 5 minutes on 2 CPU cores; needs a quiet machine (wall times)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """name: bench-suite
datasets: [ring8]
gans: [ns]
architectures: [mlp]
seeds: {seeds}
hparams: {{lr: 1.0e-3}}
budget: {{d_steps: {steps}}}
eval: {{every_d_steps: {every}, n_samples: 2500}}
resources: {{cpu: 1, pack: {pack}}}
"""


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return time.perf_counter() - t0


def summaries(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("trials/*/summary.json"))]


def main() -> None:
    n, steps = int(os.environ.get("BENCH_TRIALS", 8)), int(os.environ.get("BENCH_STEPS", 3000))
    root = Path(tempfile.mkdtemp(prefix="ganbench-suite-"))
    env = {**os.environ, "GANBENCH_CACHE": str(root / "cache")}
    cli = [sys.executable, "-m", "ganbench.cli"]
    rows = {}
    for label, pack, how in (("sequential, one process (ganbench trial --all)", 1, "trial"),
                             ("ganbench run (Ray Tune, 2 trials at a time)", 1, "run"),
                             (f"ganbench run, packs of {n // 2}", n // 2, "run")):
        suite = root / f"s-{how}-{pack}.yaml"
        suite.write_text(SUITE.format(seeds=list(range(n)), steps=steps, every=steps // 3, pack=pack))
        res = root / f"r-{how}-{pack}"
        cmd = cli + (["trial", str(suite), "--all"] if how == "trial" else ["run", str(suite)]) + ["--results", str(res)]
        wall = timed(cmd, env)
        s = summaries(res)
        rows[label] = {"wall_seconds": wall, "trials": len(s),
                       "sum_trial_wall_seconds": sum(x["wall_seconds"] for x in s) / (pack if pack > 1 else 1)}
        print(f"{label:50s} {wall:7.1f} s for {len(s)} trials", flush=True)
    seq = rows["sequential, one process (ganbench trial --all)"]["wall_seconds"]
    ray = rows["ganbench run (Ray Tune, 2 trials at a time)"]
    pack = rows[f"ganbench run, packs of {n // 2}"]
    out = {"date": time.strftime("%Y-%m-%d"), "trials": n, "d_steps": steps, "rows": rows,
           "speedup_ray_vs_sequential": seq / ray["wall_seconds"],
           "speedup_packs_vs_sequential": seq / pack["wall_seconds"],
           # each of the 2 cores runs n/2 trials: what is left after the trials' own time is Ray's, per trial
           "ray_overhead_per_trial_seconds": (2 * ray["wall_seconds"] - ray["sum_trial_wall_seconds"]) / n}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    Path("bench/results-suite.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
