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
    notes = Path("bench/notes/performance-notes.md")
    if notes.is_file():
        md += ["", notes.read_text().strip()]
    Path("docs").mkdir(exist_ok=True)
    Path("docs/performance.md").write_text("\n".join(md) + "\n")
    print("wrote docs/performance.md")


if __name__ == "__main__":
    main()
