"""Write docs/performance.md from the benchmarks' JSON results (bench/results-*.json), so that every figure in it
comes from one run of the scripts, with its machine, date and command.

    python bench/trainer.py && python bench/suite.py && python bench/scoring.py && python bench/write_doc.py
"""
from __future__ import annotations

import json
from pathlib import Path


def load(name: str):
    p = Path("bench") / f"results-{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def gpu_section(g) -> list[str]:
    """Section 5 from bench/results-gpu.json (``python bench/gpu.py`` on a CUDA machine)."""
    md = ["", "## 5. GPU", ""]
    if not g or not str(g.get("device", "")).startswith("cuda"):
        return md + ["Not measured yet: no GPU has been available to these benchmarks. `python bench/gpu.py` on a "
                     "CUDA machine (no Ray; sized to finish within 8 minutes on one H100, not yet timed) checks that packs on CUDA give each member "
                     "the numbers of its trial alone and that bf16 autocast stays finite for every GAN variant, then "
                     "times packs of 1 to 256 members on three networks; it writes bench/results-gpu.json, from "
                     "which this section is written. `python bench/gpu.py --dry-run` runs the checks at tiny sizes "
                     "on the CPU (tests/test_gpu_bench.py)."]
    mm = g["matmul"]
    md += [f"`{g['command']}` on {g['device_name']} ({g['device_memory_gib']:.0f} GiB; torch {g['torch']}, CUDA "
           f"{g['cuda_build']}; {g['date']}; {g['seconds']:.0f} s in all). Measured matmul rate ({mm['n']}^3): "
           f"fp32 {mm['float32_gflops'] / 1e3:.1f} TFLOP/s (TF32 {'on' if mm['fp32_tf32_allowed'] else 'off'}), "
           f"bf16 {mm['bfloat16_gflops'] / 1e3:.1f} TFLOP/s.", "",
           f"Correctness (tolerance {g['tolerance']}, on every test score and on the losses and validation scores "
           "at every evaluation point):", ""]
    for name, r in g["packs"].items():
        md.append(f"- packs of {r['k']} seeds, {name}, {r['d_steps']} D steps: "
                  f"{'every member matches its trial alone' if r['ok'] else 'MISMATCH'}; best {r['primary']}: "
                  f"largest pack-vs-alone difference {r['worst_pack_vs_alone']:.3g}, spread between the seeds "
                  f"{r['seed_spread']:.3g}.")
    bad = [n for n, r in g["bf16"].items() if r["ok"] is False]
    md += [f"- bf16 autocast: {sum(r['ok'] is True for r in g['bf16'].values())} of {len(g['bf16'])} GAN variants "
           f"finite{'; not finite: ' + ', '.join(bad) if bad else ''}.", "",
           "Member-steps per second (a D step and its G step, summed over the members; CUDA synchronised, set-up "
           "excluded), the speed-up over K = 1, peak device memory, and the achieved FLOP/s as a share of the "
           "fp32 matmul rate above.", "", "| case | K | member-steps/s | x K = 1 | peak memory (MiB) | achieved "
           "TFLOP/s | share of fp32 matmul |", "|---|---|---|---|---|---|---|"]
    for case, ks in g["timing"].items():
        for k, r in ks.items():
            if "member_steps_per_s" not in r:
                md.append(f"| {case} | {k} | {r.get('error') or r.get('skipped')} | | | | |")
                continue
            md.append(f"| {case} | {k} | {r['member_steps_per_s']:.0f} | {r['speedup']:.2f} | "
                      f"{r['peak_memory_mib']:.0f} | {r['achieved_gflops'] / 1e3:.2f} | "
                      f"{100 * r['achieved_gflops'] / mm['float32_gflops']:.1f}% |")
    md += ["", "`pack: auto` on this device (ganbench.execution.packsize):", ""]
    md += [f"- {r['how']}" for r in g.get("auto_pack", {}).values()]
    return md


def main() -> None:
    t, s, f = load("trainer"), load("suite"), load("scoring")
    md = ["# Performance", "",
          "Every figure here comes from the scripts in `bench/`, run with the command given, on the machine given; "
          "`python bench/write_doc.py` writes this file from their JSON results. Speeds of training are steps per "
          "CPU second of one torch thread (set-up and scoring excluded, every diagnostic on), each the best of a few "
          "round-robin runs, so that other work on a shared machine moves them as little as possible.", ""]
    if t:
        md += [f"Machine: {t['cpu']}; Python {t['python']}; {t['date']}. One core's fp32 matmul peak (2048^3): "
               f"{t['matmul_peak_gflops']:.1f} GFLOP/s. No GPU was available to this benchmark.", "",
               "## 1. The trainer against a hand-written loop", "",
               "`python bench/trainer.py`. The hand-written loop is what a user writes for the same networks: data "
               "as one tensor, BCE with logits, torch's default Adam, a D step and a G step per iteration, no "
               "logging. ganbench's trainer runs the same networks with every diagnostic on (losses, D accuracies, "
               "G's gradient norm, accumulated on the device).", "",
               "| case | ganbench steps/s | hand-written steps/s | ratio | achieved GFLOP/s | share of matmul peak "
               "| peak RSS (MB) |", "|---|---|---|---|---|---|---|"]
        for case, r in t["trainer"].items():
            g, h = r["ganbench"], r["hand"]
            md.append(f"| {case} | {g['member_steps_per_s']:.1f} | {h['member_steps_per_s']:.1f} | {r['ratio']:.2f} | "
                      f"{r['achieved_gflops']:.1f} | {100 * r['achieved_gflops'] / t['matmul_peak_gflops']:.0f}% | "
                      f"{g['max_rss_mb']:.0f} |")
        md += ["", "## 2. Packs: K trials trained as one network", "",
               "`python bench/trainer.py` (second table). Member-steps per CPU second against K (one thread), and "
               "the speed-up over K = 1.", "", "| case | K | member-steps/s | x K = 1 | peak RSS (MB) |",
               "|---|---|---|---|---|"]
        for case, ks in t["packs"].items():
            for k, r in ks.items():
                md.append(f"| {case} | {k} | {r['member_steps_per_s']:.1f} | {r['speedup']:.2f} | "
                          f"{r['max_rss_mb']:.0f} |")
    if s:
        md += ["", "## 3. A suite through Ray against the same trials one after another", "",
               f"`python bench/suite.py` ({s['trials']} trials of {s['d_steps']} D steps on ring8; {s['date']}; wall "
               "seconds, 2 cores).", "", "| how | wall seconds |", "|---|---|"]
        for label, r in s["rows"].items():
            md.append(f"| {label} | {r['wall_seconds']:.1f} |")
        md += ["", f"Ray against sequential: x{s['speedup_ray_vs_sequential']:.2f}; packs through Ray against "
               f"sequential: x{s['speedup_packs_vs_sequential']:.2f}; Ray's overhead per trial: "
               f"{s['ray_overhead_per_trial_seconds']:.1f} s."]
    if f:
        md += ["", "## 4. Scoring", "",
               f"`python bench/scoring.py --n {f['n']}` ({f['threads']} threads; {f['date']}; "
               f"{'real' if f['real_weights'] else 'randomly initialised (weights file absent)'} Inception weights, the "
               "same on both sides).", "", "| | seconds | FID |", "|---|---|---|",
               f"| ganbench: {f['n']} generated images, reference statistics cached | {f['ganbench_fid_seconds']:.1f} | "
               f"{f['ganbench_fid']:.4g} |",
               f"| pytorch-fid (`calculate_fid_given_paths`), both PNG folders | "
               f"{f['pytorch_fid_seconds_both_folders']:.1f} | {f['pytorch_fid_fid']:.4g} |",
               f"| ganbench: reference statistics, first time | {f['ganbench_reference_seconds']:.1f} | |",
               f"| ganbench: the same reference statistics again (cache) | {f['ganbench_reference_again_seconds']:.2f} | |"]
    md += gpu_section(load("gpu"))
    notes = Path("bench/notes/performance-notes.md")
    if notes.is_file():
        md += ["", notes.read_text().strip()]
    Path("docs").mkdir(exist_ok=True)
    Path("docs/performance.md").write_text("\n".join(md) + "\n")
    print("wrote docs/performance.md")


if __name__ == "__main__":
    main()
