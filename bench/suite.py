"""A suite of many small trials through `ganbench run` (Ray Tune, all cores), with and without packs, against the
same trials one after another in one process (`ganbench trial --all`, no Ray, one thread as each Ray trial has):
wall times, the speed-up, and where Ray's time went (ganbench.execution.timeline's breakdown of each run).

    python bench/suite.py        # about 10 minutes on 2 CPU cores; needs a quiet machine (wall times)

BENCH_TRIALS (32) trials of BENCH_STEPS (2,000) D steps of NS on grid25, evaluated twice (``pack: auto`` on a CPU
makes two packs of 16, ``pack: 8`` four packs of 8). Packs end to end: member-steps per CPU second of the trainers
(each pack's D steps times its members over its training CPU seconds, from summary.json) against the run with a
trial per Ray trial. Two overheads per trial are written: ``per_trial`` is what grows with the number of trials (a
reused worker's turnaround between packs, restoring a pack, its reports to Tune; the driver's gathering runs beside
training and is shown apart), from the timeline; ``all_in_per_trial`` also spreads the run's fixed costs (Ray's
start and shutdown, the workers' start and imports) over this benchmark's trials: (cores x wall - the trials' own
trainer seconds) / trials.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

from ganbench.execution.timeline import ENV, breakdown, read
from ganbench.results import read_summary

SUITE = """name: bench-suite
datasets: [grid25]
gans: [ns]
architectures: [mlp]
seeds: {seeds}
hparams: {{lr: 1.0e-3}}
budget: {{d_steps: {steps}}}
eval: {{every_d_steps: {every}, n_samples: 2500}}
resources: {{cpu: 1, pack: {pack}}}
"""
CORES = 2


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return time.perf_counter() - t0


def one_row(root: Path, how: str, pack, n: int, steps: int, env: dict) -> dict:
    """One way of running the suite: its wall time, trials, and for Ray runs the timeline's breakdown."""
    suite = root / f"s-{how}-{pack}.yaml"
    suite.write_text(SUITE.format(seeds=list(range(n)), steps=steps, every=steps // 2, pack=pack))
    res, line = root / f"r-{how}-{pack}", root / f"timeline-{how}-{pack}.jsonl"
    cli = [sys.executable, "-m", "ganbench.cli"]
    cmd = cli + (["trial", str(suite), "--all"] if how == "trial" else ["run", str(suite), "--num-cpus", str(CORES)])
    wall = timed(cmd + ["--results", str(res)], {**env, ENV: str(line)} if how == "run" else env)
    summaries = [read_summary(res, p.parent.name).to_dict() for p in sorted(res.glob("trials/*/summary.json"))]
    packs = {tuple(s.get("pack") or [s["trial_id"]]): s for s in summaries}  # a pack's members share its seconds
    row = {"wall_seconds": wall, "trials": len(summaries), "pack": pack,
           "member_steps_per_cpu_second": sum(s["d_steps"] * len(k) for k, s in packs.items())
           / sum(s["train_cpu_seconds"] for s in packs.values())}
    if how == "run":
        b = breakdown(read(line))
        row["breakdown"] = b
        row["packs"] = b["packs"]["packs"]
        row["all_in_per_trial"] = (CORES * wall - b["packs"]["trainer"]) / n
    return row


def main() -> None:
    n, steps = int(os.environ.get("BENCH_TRIALS", 32)), int(os.environ.get("BENCH_STEPS", 2000))
    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="ganbench-suite-"))
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["GANBENCH_CACHE"] = str(root / "cache")
    rows = {}
    for label, how, pack in (("one after another, one process (ganbench trial --all)", "trial", 1),
                             ("ganbench run, a trial per Ray trial", "run", 1),
                             ("ganbench run, pack: auto", "run", "auto"),
                             ("ganbench run, pack: 8", "run", 8)):
        rows[label] = one_row(root, how, pack, n, steps, env)
        r = rows[label]
        print(f"{label:55s} {r['wall_seconds']:7.1f} s for {r['trials']} trials"
              + (f" in {r['packs']} packs; per trial {r['breakdown']['per_trial']:.3f} s, fixed "
                 f"{r['breakdown']['fixed']:.1f} s" if "breakdown" in r else ""), flush=True)
    seq = rows["one after another, one process (ganbench trial --all)"]["wall_seconds"]
    single = rows["ganbench run, a trial per Ray trial"]["member_steps_per_cpu_second"]
    for r in rows.values():
        r["speedup_vs_sequential"] = seq / r["wall_seconds"]
        r["member_steps_vs_one_trial_per_ray_trial"] = r["member_steps_per_cpu_second"] / single
    out = {"date": time.strftime("%Y-%m-%d"), **machine.describe(), "trials": n, "d_steps": steps,
           "dataset": "grid25",
           "load_before": load, "rows": rows}
    print(json.dumps({label: {k: v for k, v in r.items() if k != "breakdown"} for label, r in rows.items()},
                     indent=1))
    (Path(__file__).parent / "results-suite.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
