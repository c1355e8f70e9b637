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


def machine(r: dict) -> str:
    cores = f", {r['cores']} cores" if r.get("cores") and "cores" not in r["cpu"] else ""
    return f"{r['cpu']}{cores}"


def code(r: dict) -> str:
    if r.get("commit"):
        return f"code of commit {r['commit']}{' with local changes' if r.get('dirty') else ''}"
    return r.get("archived", "code not recorded")


def machines_section(t: dict, s) -> list[str]:
    """Section 2b: the same benchmarks on every machine measured (this run's and bench/machines/*/)."""
    runs = [(t, s)]
    for folder in sorted(Path("bench/machines").glob("*/")):
        tr, su = (folder / "results-trainer.json", folder / "results-suite.json")
        if tr.is_file():
            runs.append((json.loads(tr.read_text()), json.loads(su.read_text()) if su.is_file() else None))
    md = ["", "## 2b. The same benchmarks on every machine measured", "",
          "What packs and Ray gain depends on the CPU. As far as the profiles in the notes below show, a pack "
          "gains where one small trial's step is dominated by what its members share (Python, dispatch, the "
          "optimiser's and the diagnostics' small kernels), and little where the matmuls that each member needs "
          "anyway dominate it. Rows: `python bench/trainer.py` and `python "
          "bench/suite.py` on each machine (earlier machines' JSON kept in bench/machines/).", "",
          "| machine | date | code | grid25, one trial: steps/s (section 1) | grid25 K = 16, x K = 1 (best; medians) | "
          "grid25 best K | digits K = 16, x K = 1 | trainer / hand loop, grid25 | suite: Ray, x one after another "
          "| suite: Ray with packs | suite: overhead per trial (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for tr, su in runs:
        grid, digits = tr["packs"].get("mlp-grid25", {}), tr["packs"].get("mlp-digits", {})
        k16 = grid.get("16") or grid.get(16) or {}
        med = f"; {k16['speedup_median']:.2f}" if "speedup_median" in k16 else ""
        best_k, best = max(grid.items(), key=lambda kv: kv[1]["speedup"]) if grid else ("", {"speedup": 0})
        d16 = digits.get("16") or digits.get(16) or {}
        row = [machine(tr), tr["date"], tr.get("commit") or tr.get("code_label", "not recorded"),
               f"{tr['trainer']['mlp-grid25']['ganbench']['member_steps_per_s']:.0f}",
               f"{k16.get('speedup', 0):.2f}{med}", f"{best_k} (x{best['speedup']:.2f})",
               f"{d16.get('speedup', 0):.2f}", f"{tr['trainer']['mlp-grid25']['ratio']:.2f}"]
        if su:
            rows = su["rows"]
            plain = rows["ganbench run, a trial per Ray trial"]
            packed = rows["ganbench run, pack: auto"]
            row += [f"{plain['speedup_vs_sequential']:.2f}", f"{packed['speedup_vs_sequential']:.2f}",
                    f"{plain['breakdown']['per_trial']:.3f}"]
        else:
            row += ["not run", "", ""]
        md.append("| " + " | ".join(row) + " |")
    return md


def suite_section(s) -> list[str]:
    """Section 3 from bench/results-suite.json (``python bench/suite.py``)."""
    md = ["", "## 3. A suite through Ray against the same trials one after another", "",
          f"`python bench/suite.py`: {s['trials']} trials of NS on {s.get('dataset', 'ring8')}, {s['d_steps']} D steps "
          f"each ({s['cpu']}, {s['cores']} cores, load {s['load_before']:.1f} before the run; {s['date']}; {code(s)}). "
          "Wall seconds of the whole command; the sequential row is one process, one thread, one trial after another.", "",
          "| how | wall seconds | x sequential | packs | overhead per trial (s) | fixed overhead per run (s) | all-in "
          "overhead per trial (s) |", "|---|---|---|---|---|---|---|"]
    for label, r in s["rows"].items():
        b = r.get("breakdown")
        md.append(f"| {label} | {r['wall_seconds']:.1f} | {r['speedup_vs_sequential']:.2f} | {r.get('packs', '')} | "
                  + (f"{b['per_trial']:.3f} | {b['fixed']:.1f} | {r['all_in_per_trial']:.2f} |" if b else "| | |"))
    md += ["", "Overhead per trial: what grows with the trials (a reused worker's turnaround between packs, restoring "
           "a pack, its reports to Tune), from the run's timeline (`GANBENCH_TIMELINE`, ganbench.execution.timeline). "
           "Fixed: what a run or a round pays once. All-in: (cores x wall - the trainers' seconds) / trials, the "
           "fixed costs spread over this benchmark's trials.", ""]
    for label, r in s["rows"].items():
        if "breakdown" in r:
            md += timeline_table(label, r["breakdown"])
    return md


def timeline_table(label: str, b: dict) -> list[str]:
    """Where one Ray run's seconds went."""
    run, p = b["run"], b["packs"]
    rows = [("before Ray (suite, checks, storage)", run["before_ray"], "run"), ("ray.init", run["ray_init"], "run"),
            ("reference statistics, baselines (prepare)", run["prepare"], "round")]
    for r in b["rounds"]:
        rows += [(f"round '{r['round']}': start to the first pack (Tune's set-up, worker processes, imports)",
                  r["to_first_pack"], "round"),
                 (f"round '{r['round']}': last pack's end to the round's end", r["after_last_pack"], "round")]
    rows += [(f"workers' start to their first pack ({p['workers']} workers, summed)", p["worker_start"], "worker"),
             ("importing the trainer in a worker's first pack (torch is loaded before a pack starts: its import falls "
              "in the workers' start), summed", p["import_training"], "worker"),
             (f"turnaround between packs on a reused worker ({p['packs']} packs), summed", p["turnaround"], "pack"),
             ("restoring packs (cache files, checkpoints), summed", p["restore"], "pack"),
             (f"reports to Tune with a checkpoint, summed ({p['reports']} reports in all)", p["report_checkpoint"],
              "pack"),
             ("reports to Tune without a checkpoint, summed", p["report_plain"], "pack"),
             ("the driver gathering checkpoints (beside training), summed", p["gather"], "pack"),
             ("trainers (training, evaluation, scoring, reports), summed", p["trainer"], "pack"),
             ("ray.shutdown", run["ray_shutdown"], "run"), ("after Ray (trials.csv)", run["after_last_round"], "run")]
    return ([f"Where the time went, {label} ({p['trials']} trials, {b['run_seconds']:.1f} s of wall time):", "",
             "| part | seconds | paid per |", "|---|---|---|"]
            + [f"| {name} | {sec:.2f} | {per} |" for name, sec, per in rows] + [""])


def paper_section(p) -> list[str]:
    """Section 6 from bench/results-paper.json (``python bench/paper.py``): the CPU study's own records, and the
    Lucic et al. 2018 study's GPU-hours on paper, with packs against without."""
    md = ["", "## 6. The figures users compare", ""]
    if not p:
        return md + ["Not computed yet: `python bench/paper.py` writes bench/results-paper.json, from which this "
                     "section is written."]
    c, lucic = p["cpu_study"], p["lucic2018"]
    by, imp = c["trials_by_phase"], [d["header_implied_tflops"] for d in lucic["datasets"].values()]
    md += [f"`{p['command']}` ({p['date']}). The committed CPU-scale study, `{c['directory']}`, from its own records "
           "(2 CPU cores shared with other work, no GPU):", "", "| | |", "|---|---|",
           f"| trials | {c['trials']} ({by['search']} search, {by['confirm']} confirmation), in {c['packs']} packs of "
           f"{min(c['pack_sizes'])} to {max(c['pack_sizes'])} |",
           f"| the study's wall time | {c['study_wall_seconds'] / 3600:.2f} h ({c['study_wall_seconds']:,.0f} s) |",
           f"| CPU time of training | {c['train_cpu_seconds'] / 3600:.2f} h ({c['train_cpu_seconds']:,.0f} s) |",
           f"| one trial after another, at the recorded speed | {c['sequential_seconds'] / 3600:.2f} h "
           f"({c['sequential_seconds']:,.0f} s) |",
           f"| one trial after another, training at a full core | {c['sequential_quiet_seconds'] / 3600:.2f} h "
           f"({c['sequential_quiet_seconds']:,.0f} s) |", "",
           f"Wall time: {c['study_wall_from']}. CPU time: {c['train_cpu_seconds_are']}. One trial after another: "
           f"{c['sequential_formula']}; it covers {c['sequential_covers']}. At a full core: "
           f"{c['sequential_quiet_formula']}.", "",
           "The Lucic et al. 2018 study on paper (not measured on a GPU): training and scoring FLOPs counted on the "
           f"suites' own networks; Inception {lucic['inception_gflop_per_image']:.2f} GFLOP per image. Without packs: "
           "the suites' headers' estimates (which imply a trial alone sustains "
           f"{min(imp):.1f} to {max(imp):.1f} TFLOP/s); with packs: the FLOPs at an assumed "
           f"{lucic['sustained_tflops']:.1f} TFLOP/s ({lucic['total']['gpu_hours_with_packs_tf32_sensitivity']:,.0f} "
           "GPU-hours in all at the TF32 rate of the last assumption). The gap between the two columns is the gap "
           "between those rates, an assumption, not a measurement: `python bench/gpu.py` on a GPU measures a trial "
           "alone and packs of 4 to 256 (section 5).", "",
           "| dataset | trials | train TFLOP | scoring TFLOP | GPU-hours without packs | GPU-hours with packs |",
           "|---|---|---|---|---|---|"]
    rows = list(lucic["datasets"].items()) + [("all", lucic["total"])]
    for name, d in rows:
        md.append(f"| {name} | {d['trials']:,} | {d['train_tflop']:,.0f} | {d['scoring_tflop']:,.0f} | "
                  f"{d['gpu_hours_without_packs']:,.0f} | {d['gpu_hours_with_packs']:,.0f} |")
    return md + ["", "Assumptions:", ""] + [f"- {a}" for a in p["assumptions"]]


def main() -> None:
    t, s, f = load("trainer"), load("suite"), load("scoring")
    md = ["# Performance", "",
          "Every figure here comes from the scripts in `bench/`, run with the command given, on the machine given; "
          "`python bench/write_doc.py` writes this file from their JSON results. Speeds of training are steps per "
          "CPU second of one torch thread (set-up and scoring excluded, every diagnostic on), each the best of a few "
          "round-robin runs, so that other work on a shared machine moves them as little as possible.", ""]
    if t:
        md += [f"Machine: {machine(t)}; Python {t['python']}; {t['date']}; {code(t)}. One core's fp32 matmul peak "
               f"(2048^3): {t['matmul_peak_gflops']:.1f} GFLOP/s. No GPU was available to this benchmark. Section 2b "
               "sets these figures beside those of the other machines measured.", "",
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
               "`python bench/trainer.py` (second table). Member-steps per CPU second against K (one thread): the "
               "best of the round-robin's runs and the speed-up of the best over K = 1's best; the ratio of the "
               "medians beside it, and every run, show how much the machine moved the figures.", "",
               "| case | K | member-steps/s (best) | x K = 1 | x K = 1 (medians) | runs | peak RSS (MB) |",
               "|---|---|---|---|---|---|---|"]
        for case, ks in t["packs"].items():
            for k, r in ks.items():
                med = f"{r['speedup_median']:.2f}" if "speedup_median" in r else ""
                md.append(f"| {case} | {k} | {r['member_steps_per_s']:.1f} | {r['speedup']:.2f} | {med} | "
                          f"{', '.join(f'{v:.3g}' for v in r.get('runs', []))} | {r['max_rss_mb']:.0f} |")
        md += machines_section(t, s)
    if s:
        md += suite_section(s)
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
    md += paper_section(load("paper"))
    notes = Path("bench/notes/performance-notes.md")
    if notes.is_file():
        md += ["", notes.read_text().strip()]
    Path("docs").mkdir(exist_ok=True)
    Path("docs/performance.md").write_text("\n".join(md) + "\n")
    print("wrote docs/performance.md")


if __name__ == "__main__":
    main()
