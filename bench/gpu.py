"""GPU readiness in one script, without Ray (the no-Ray path of ``ganbench trial``): correctness, then speed.

    python bench/gpu.py                  # on a CUDA machine: bench/results-gpu.json (sized for < 8 min on
                                         # one H100; timings past --max-seconds 420 are skipped)
    python bench/write_doc.py            # docs/performance.md, with its GPU section from that JSON
    python bench/gpu.py --dry-run        # the correctness part at tiny sizes on the CPU (tests/test_gpu_bench.py)

(a) Correctness. ``packs``: K trials of different seeds trained as one pack through ``ganbench trial --id ... --id``
give each member the numbers of the same trial trained alone: every best_/final_ test score and the losses and
scores at every evaluation point agree within ``REL`` * |alone| + ``ABS`` (TOLERANCE below). The spread between
different seeds' scores is recorded beside it, so the tolerance can be read against what a mix-up would show.
``bf16``: every GAN variant (each loss with its penalties), as a pack of 2 under bf16 autocast (``resources.amp``),
trains STEPS D and G steps with finite losses, gradient norms and samples.
(b) Speed. Member-steps per second (D steps with their G step, summed over the members, CUDA synchronised; set-up
and the first steps excluded) and peak device memory for K in {1, 4, 16, 64, 256} on the toy MLP (grid25), the
study's InfoGAN-style network at 28x28 (polygons) and DCGAN at 32x32 (random images: what they show does not change
the cost), with the achieved FLOP/s (one member's FLOPs per step from torch.utils.flop_counter) as a fraction of the
device's fp32 matmul rate measured here; and the pack size ``pack: auto`` picks on this device for each case.
A K that does not fit is recorded as out of memory and the larger ones are skipped.

CUDA asked for and absent is one error line and exit status 2: the script never falls back to the CPU. A
correctness check that fails makes the exit status 1.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REL, ABS = 0.02, 0.002  # |pack - alone| <= REL * |alone| + ABS, every compared value
TOLERANCE = f"|pack - alone| <= {REL} * |alone| + {ABS}"
KS = (1, 4, 16, 64, 256)
CASES = {  # name: (dataset entry, architecture, batch size)
    "mlp-grid25": ("grid25", "mlp", 64),
    "infogan-28x28": ("{name: polygons, options: {n_train: 10000}, extractor: random}", "infogan", 64),
    "dcgan-32x32": ("{name: imagefolder, options: {path: %(folder)s, size: 32}, extractor: random}", "dcgan", 64),
}
HISTORY_KEYS = ("d_loss", "g_loss")


def sizes(tiny: bool) -> dict:
    if tiny:
        return {"pack_k": 2, "pack_cases": {"mlp-ring8": ("ring8", "mlp", 16)}, "pack_steps": 20, "eval_every": 10,
                "n_samples": 100, "bf16_case": ("ring8", "mlp", 16), "bf16_steps": 2, "ks": (1, 2),
                "time_seconds": 0.2, "matmul_n": 256}
    polygons = CASES["infogan-28x28"][0]
    return {"pack_k": 4, "pack_cases": {"mlp-grid25": CASES["mlp-grid25"], "dcgan-28x28": (polygons, "dcgan", 64)},
            "pack_steps": 300, "eval_every": 100, "n_samples": 1000, "bf16_case": CASES["infogan-28x28"],
            "bf16_steps": 20, "ks": KS, "time_seconds": 2.0, "matmul_n": 8192}


def suite_file(root: Path, name: str, dataset: str, arch: str, batch: int, gans: str, seeds: int, steps: int,
               eval_every: int, n_samples: int) -> Path:
    dataset = dataset % {"folder": random_images(root)}
    p = root / f"{name}.yaml"
    p.write_text(f"name: {name}\ndatasets: [{dataset}]\ngans: [{gans}]\narchitectures: [{arch}]\n"
                 f"seeds: {list(range(seeds))}\nhparams: {{batch_size: {batch}}}\nbudget: {{d_steps: {steps}}}\n"
                 f"eval: {{every_d_steps: {eval_every}, n_samples: {n_samples}, n_real: {n_samples}}}\n")
    return p


def random_images(root: Path) -> str:
    """64 random 32x32 RGB images (for DCGAN's cost; what they show does not matter)."""
    from PIL import Image

    d = root / "rgb32"
    if not d.is_dir():
        d.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(64):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    return str(d)


def trials_of(path: Path):
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    return expand(load_suite(path))


# ---------------------------------------------------------------------------------------- (a) correctness
def _close(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) <= REL * abs(b) + ABS


def _compare(packed: dict, alone: dict, hist_p: list, hist_a: list, metrics: list[str]) -> list[str]:
    """The values of one member that miss the tolerance (empty: it matches its trial alone): its test scores, and
    its losses and validation scores at every evaluation point."""
    bad = [k for k, v in alone.items() if k.startswith(("best_", "final_")) and isinstance(v, float)
           and math.isfinite(v) and not _close(packed.get(k), v)]
    if len(hist_p) != len(hist_a):
        return bad + [f"history length {len(hist_p)} != {len(hist_a)}"]
    for rp, ra in zip(hist_p, hist_a):
        keys = HISTORY_KEYS + tuple(metrics)
        bad += [f"{k}@{ra['d_steps']}" for k in keys if k in ra and not _close(rp.get(k), ra[k])]
    return bad


def _history(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]


def check_pack_case(root: Path, name: str, case: tuple, device: str, s: dict) -> dict:
    """K seeds as one pack through `ganbench trial --id ...`, then each alone; every member against its trial."""
    from ganbench.execution.local import run_local

    path = suite_file(root, name, *case, "ns", s["pack_k"], s["pack_steps"], s["eval_every"], s["n_samples"])
    ids = [t.id for t in trials_of(path)]
    quiet = lambda line: None  # noqa: E731
    t0 = time.perf_counter()
    packed = run_local([str(path)], ids, False, str(root / f"{name}-pack"), device, None, [], quiet)
    alone = [run_local([str(path)], [i], False, str(root / f"{name}-{i}"), device, None, [], quiet)[0] for i in ids]
    members = []
    for tid, p, a in zip(ids, packed, alone):
        metrics = [k[len("best_"):] for k in a if k.startswith("best_") and isinstance(a[k], float)]
        bad = _compare(p, a, _history(root / f"{name}-pack" / "trials" / tid),
                       _history(root / f"{name}-{tid}" / "trials" / tid), metrics)
        members.append({"trial": tid, "pack_size": p["pack_size"], "misses": bad,
                        "scores": {k: (p[k], a[k]) for k in a if k.startswith("best_") and isinstance(a[k], float)}})
    primary = alone[0]["primary"]
    seed_spread = float(np.ptp([a[f"best_{primary}"] for a in alone]))
    worst = max((abs(p[f"best_{primary}"] - a[f"best_{primary}"]) for p, a in zip(packed, alone)), default=0.0)
    ok = all(not m["misses"] and m["pack_size"] == len(ids) for m in members)
    return {"ok": ok, "k": len(ids), "d_steps": s["pack_steps"], "primary": primary, "seed_spread": seed_spread,
            "worst_pack_vs_alone": worst, "members": members, "seconds": round(time.perf_counter() - t0, 1)}


def check_bf16(root: Path, device, s: dict) -> dict:
    """Every GAN variant, as a pack of 2 under bf16 autocast: finite losses, gradient norms and samples."""
    import torch

    from ganbench.registry import GanbenchError
    from ganbench.training.parts import build_pack
    from ganbench.training.scoring import generate
    from ganbench.training.steps import Diagnostics, d_step, g_step
    from ganbench.zoo.variants import VARIANTS

    out = {}
    for name in VARIANTS.names():
        try:
            trials = trials_of(suite_file(root, f"bf16-{name}", *s["bf16_case"], name, 2, s["bf16_steps"],
                                          s["bf16_steps"], 100))
        except GanbenchError as err:
            out[name] = {"ok": None, "skipped": str(err)}
            continue
        pack = build_pack(trials, device)
        diag, finite = Diagnostics(), True
        for _ in range(s["bf16_steps"]):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                d_step(pack, diag)
                g_step(pack, diag)
            f = diag.finite()
            finite = finite and bool(f.all())
        means = diag.pop()
        ncls = pack.info.num_classes if pack.conditional else None
        samples, _ = generate(pack.G, pack.hp, ncls, 64, "val", device)
        ok = finite and bool(torch.isfinite(samples).all())
        out[name] = {"ok": ok, "loss": trials[0].loss, "penalty": trials[0].penalty,
                     "d_loss": [m["d_loss"] for m in means], "g_loss": [m["g_loss"] for m in means]}
    return out


# ---------------------------------------------------------------------------------------------- (b) speed
def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device, n: int) -> dict:
    """GFLOP/s of an n x n x n matmul on the device, fp32 (as training runs) and bf16; best of 10."""
    import torch

    out = {"n": n, "fp32_tf32_allowed": bool(torch.backends.cuda.matmul.allow_tf32)}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        a @ b
        best = float("inf")
        for _ in range(10):
            sync(device)
            t0 = time.perf_counter()
            a @ b
            sync(device)
            best = min(best, time.perf_counter() - t0)
        out[f"{str(dtype).split('.')[-1]}_gflops"] = 2 * n ** 3 / best / 1e9
        del a, b
    return out


def time_case(root: Path, case: str, k: int, device, seconds: float) -> dict:
    """Member-steps per second of a pack of k (D step + G step, timed for at least ``seconds`` after 3 warm-up
    steps), peak device memory, and one member's FLOPs per step."""
    import torch

    from ganbench.training.parts import build_pack
    from ganbench.training.steps import Diagnostics, d_step, g_step, step_flops

    trials = trials_of(suite_file(root, f"time-{case}-{k}", *CASES[case], "ns", k, 10, 10, 100))
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    pack = build_pack(trials, device)
    flops = sum(step_flops(pack))
    diag = Diagnostics()
    for _ in range(3):
        d_step(pack, diag), g_step(pack, diag)
    sync(device)
    steps, t0 = 0, time.perf_counter()
    while steps < 5 or time.perf_counter() - t0 < seconds:
        d_step(pack, diag)
        g_step(pack, diag)
        steps += 1
        if steps % 5 == 0:
            sync(device)
    sync(device)
    dt = time.perf_counter() - t0
    assert bool(diag.finite().all()), f"{case} K={k}: non-finite losses while timing"
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del pack, diag
    rate = k * steps / dt
    return {"member_steps_per_s": rate, "steps": steps, "seconds": dt, "flops_per_member_step": flops,
            "achieved_gflops": rate * flops / 1e9, "peak_memory_mib": None if peak is None else peak / 2 ** 20}


def timings(root: Path, device, s: dict, deadline: float, log) -> dict:
    import torch

    out = {}
    for case in CASES:
        out[case] = {}
        for k in s["ks"]:
            if time.perf_counter() > deadline:
                out[case][k] = {"skipped": "time limit of the run"}
                continue
            try:
                r = time_case(root, case, k, device, s["time_seconds"])
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                out[case][k] = {"error": "out of memory"}
                log(f"  {case:14s} K={k:4d}  out of memory: larger K skipped")
                break
            base = out[case].get(s["ks"][0], {}).get("member_steps_per_s", r["member_steps_per_s"])
            r["speedup"] = r["member_steps_per_s"] / base
            out[case][k] = r
            mem = "" if r["peak_memory_mib"] is None else f"  peak {r['peak_memory_mib']:.0f} MiB"
            log(f"  {case:14s} K={k:4d}  {r['member_steps_per_s']:10.1f} member-steps/s  x{r['speedup']:.2f}"
                f"  {r['achieved_gflops']:9.1f} GFLOP/s{mem}")
    return out


def auto_sizes(root: Path, device, log) -> dict:
    """What ``pack: auto`` picks on this device for each case (ganbench.execution.packsize)."""
    from ganbench.execution.packsize import MARGIN, pack_sizer

    out = {}
    for case in CASES:
        (trial,) = trials_of(suite_file(root, f"auto-{case}", *CASES[case], "ns", 1, 10, 10, 100))
        lines = []
        out[case] = {"pack": pack_sizer("auto", device, 1.0, None, None, lines.append)(trial), "margin": MARGIN,
                     "how": lines[-1] if lines else ""}
        log(f"  {lines[-1] if lines else case}")
    return out


# ------------------------------------------------------------------------------------------------ the run
def environment(device) -> dict:
    import torch

    env = {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(), "torch": torch.__version__,
           "cuda_build": torch.version.cuda, "device": str(device), "device_name": platform.processor() or "cpu"}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(device_name=p.name, device_memory_gib=p.total_memory / 2 ** 30,
                   cudnn=torch.backends.cudnn.version())
    return env


def run(args, log=print) -> dict:
    import torch

    from ganbench.training.device import resolve_device

    device = resolve_device(args.device, "--device")  # CUDA asked for and absent: the error, no CPU fall back
    torch.set_num_threads(args.threads)
    s = sizes(args.tiny)
    t_start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="ganbench-gpu-"))
    report = {"command": " ".join(["python", "bench/gpu.py", *sys.argv[1:]]), "tiny": args.tiny,
              **environment(device), "tolerance": TOLERANCE}
    with _cache(root):
        log(f"(a) correctness on {device}: packs of {s['pack_k']} against each trial alone ({TOLERANCE})")
        report["packs"] = {n: check_pack_case(root, n, c, str(device), s) for n, c in s["pack_cases"].items()}
        for n, r in report["packs"].items():
            log(f"  {n}: {'ok' if r['ok'] else 'MISMATCH'}; best {r['primary']}: worst pack-vs-alone "
                f"{r['worst_pack_vs_alone']:.3g}, spread between seeds {r['seed_spread']:.3g} ({r['seconds']} s)")
        report["bf16"] = check_bf16(root, device, s)
        bad = [n for n, r in report["bf16"].items() if r["ok"] is False]
        log(f"  bf16 autocast: {sum(r['ok'] is True for r in report['bf16'].values())} variants finite"
            + (f"; NOT finite: {', '.join(bad)}" if bad else ""))
        if args.timing:
            log(f"(b) speed on {device}")
            report["matmul"] = matmul_rate(device, s["matmul_n"])
            log(f"  matmul {s['matmul_n']}^3: fp32 {report['matmul']['float32_gflops']:.0f} GFLOP/s, bf16 "
                f"{report['matmul']['bfloat16_gflops']:.0f} GFLOP/s")
            report["timing"] = timings(root, device, s, t_start + args.max_seconds, log)
            report["auto_pack"] = auto_sizes(root, device, log)
    report["ok"] = all(r["ok"] for r in report["packs"].values()) and not bad
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


@contextlib.contextmanager
def _cache(root: Path):
    """A fresh cache root (extractors, reference statistics) for the run, so nothing of an earlier run is read."""
    from ganbench.paths import using_cache

    with using_cache(root / "cache"):
        yield


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (seconds on a CPU)")
    ap.add_argument("--dry-run", action="store_true", help="= --device cpu --tiny, correctness only")
    ap.add_argument("--no-timing", dest="timing", action="store_false", help="the correctness part only")
    ap.add_argument("--threads", type=int, default=4, help="torch CPU threads (default 4)")
    ap.add_argument("--max-seconds", type=float, default=420.0, help="timings past this are skipped (default 420)")
    ap.add_argument("--out", help="JSON file (default: bench/results-gpu.json on CUDA; none in a dry run)")
    args = ap.parse_args(argv)
    if args.dry_run:
        args.device, args.tiny, args.timing = "cpu", True, False
    from ganbench.registry import GanbenchError

    try:
        report = run(args)
    except GanbenchError as err:
        print(f"bench/gpu.py: {err}", file=sys.stderr)
        return 2
    out = args.out or (None if args.dry_run or not report["device"].startswith("cuda") else "bench/results-gpu.json")
    if out:
        Path(out).write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"wrote {out} ({report['seconds']} s)")
    print("all checks passed" if report["ok"] else "CHECKS FAILED: see the lines above")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
