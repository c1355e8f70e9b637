"""The figures users compare: (a) the committed CPU-scale study (results/cpu-study) from its own records; (b) on
paper, the GPU-hours of the Lucic et al. 2018 study (suites/lucic2018, 4,200 trials) with packs against without,
from FLOPs counted on the suites' own networks. Nothing here ran on a GPU.
    python bench/paper.py      # bench/results-paper.json (about a minute of one CPU thread)
"""
from __future__ import annotations

import contextlib
import csv
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganbench.datasets import DataSplit, dataset_info
from ganbench.evaluation.extractors import InceptionPool3
from ganbench.execution.phases import cell_of
from ganbench.results import read_summary
from ganbench.execution.sizing import StepCost, d_steps_for, evaluations, g_steps_after
from ganbench.suite.expand import confirm_trials, expand
from ganbench.suite.schema import load_suite
from ganbench.training import parts
from ganbench.training.scoring import generate
from ganbench.training.steps import step_flops

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("mnist", "fashion-mnist", "cifar10", "celeba")
H100_FP32_TFLOPS = 67.0  # H100 SXM datasheet: dense fp32 on CUDA cores (no tensor cores)
SUSTAINED = 0.40  # the share of that rate a pack is assumed to sustain
SENSITIVITY_TF32_TFLOPS = 494.7  # H100 SXM datasheet: dense TF32 on tensor cores, for the sensitivity figure


def _packs(study: Path) -> list[dict]:
    """One record per pack (its members share one run): phase, size, start, wall, train and train CPU seconds."""
    phase = {r["trial_id"]: r["phase"] for r in csv.DictReader((study / "trials.csv").open())}
    packs = defaultdict(list)
    for p in sorted(study.glob("trials/*/summary.json")):
        s = read_summary(study, p.parent.name).to_dict()  # the project's reader: older field names read as today's
        packs[tuple(sorted(s["pack"])) or (s["trial_id"],)].append(s)
    # a member's wall_seconds is read when its summary is written: the last member's is the pack's
    return [{"k": len(ms), "phase": phase[ms[0]["trial_id"]], "start": ms[0]["started_at"], "train_cpu":
             ms[0]["train_cpu_seconds"], "train": ms[0]["train_seconds"], "wall": max(m["wall_seconds"] for m in ms),
             "summed": sum(m["wall_seconds"] for m in ms)} for ms in packs.values()]


def cpu_study(study: Path) -> dict:
    """Trials, CPU seconds, the study's wall time and the same packs one after another, from the study's records."""
    packs = _packs(study)
    seq, train, cpu, summed = (sum(p[k] for p in packs) for k in ("wall", "train", "train_cpu", "summed"))
    per_size = sum(p["summed"] / p["k"] for p in packs)  # bench/suite.py's formula: wall_seconds / pack size
    return {
        "directory": str(study.relative_to(ROOT)), "trials": sum(p["k"] for p in packs),
        "trials_by_phase": {ph: sum(p["k"] for p in packs if p["phase"] == ph) for ph in ("search", "confirm")},
        "packs": len(packs), "pack_sizes": sorted({p["k"] for p in packs}), "sequential_seconds": seq,
        "runs": [json.loads(line)["recorded_at"] for line in (study / "environments.jsonl").open()],
        "study_wall_seconds": max(p["start"] + p["wall"] for p in packs) - min(p["start"] for p in packs),
        "study_wall_from": "the first pack's started_at to the last pack's end (Ray start-up and reports between the "
                           "runs not included; results/README.md gives 1 h 51 min for the commands)",
        "summed_trial_wall_seconds_as_recorded": summed, "train_cpu_seconds": cpu, "train_seconds": train,
        "train_cpu_seconds_are": "each pack's process CPU time while training (one torch thread), evaluation and "
                                 "set-up excluded, summed over packs; summed wall counts a pack once per member",
        "sequential_formula": "sum over packs of the pack's wall_seconds (its last member's; each member records "
                              "the whole pack's); bench/suite.py's sum over trials of wall_seconds / pack size "
                              f"gives {per_size:,.0f} s",
        "sequential_covers": "building each pack, training, every evaluation and the test scoring at the recorded "
                             f"speed (a shared machine: training got {cpu / train:.0%} of a core), trials in their "
                             "packs; not Ray or process start-up, nor the report",
        "sequential_quiet_seconds": cpu + seq - train,
        "sequential_quiet_formula": "sum over packs of train_cpu_seconds + wall_seconds - train_seconds (training at "
                                    "one full core, evaluation and set-up as recorded)",
    }


def header_minutes(path: Path) -> tuple[float, float]:
    """The GPU-minutes per trial a Lucic suite's header states ('about 2-3 GPU-minutes per trial')."""
    m = re.search(r"about (\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))? GPU-minutes per trial", path.read_text())
    assert m, f"{path}: no 'about N GPU-minutes per trial' in its header"
    return float(m.group(1)), float(m.group(2) or m.group(1))


def count_flops(fn) -> float:
    """FLOPs of one call of ``fn`` as torch.utils.flop_counter counts them (matmuls and convolutions)."""
    with (counter := FlopCounterMode(display=False)):
        fn()
    return float(counter.get_total_flops())


def trial_train_flops(trial, flops_d: float, flops_g: float) -> float:
    """One trial's training FLOPs: D steps x FLOPs per D step + G steps x FLOPs per G step (ganbench's counts)."""
    d = d_steps_for(trial, StepCost(flops_d, flops_g))
    return d * flops_d + g_steps_after(trial, d) * flops_g


def gpu_hours(flops: float, tflops: float) -> float:
    return flops / (tflops * 1e12) / 3600  # FLOPs at a sustained rate in TFLOP/s, in hours


@contextlib.contextmanager
def shapes_only():
    """Build packs without the dataset files: random images of the dataset's shape (FLOPs depend on shapes only)."""
    with mock.patch.object(parts, "load_split", lambda name, split, data_dir=None, options=None: DataSplit(
            torch.rand(256, *dataset_info(name, options).shape) * 2 - 1)):
        yield


def _cost_key(t) -> tuple:
    hp = t.hp  # what a step's FLOPs depend on; not lr, betas, clip, penalty weight, BEGAN's k or gamma, n_disc
    return t.dataset, t.architecture, t.loss, t.penalty, hp.d_norm, hp.g_norm, hp.batch_size, hp.width, hp.z_dim


def step_costs(trials) -> dict:
    """FLOPs per D step, per G step (ganbench.training.steps.step_flops) and per generated image, per cost key."""
    out = {}
    with shapes_only():
        for t in trials:
            if _cost_key(t) not in out:
                pack = parts.build_pack([t], torch.device("cpu"), scored=False)
                gen = count_flops(lambda: generate(pack.G, pack.hp, None, 64, "test", torch.device("cpu"))) / 64
                out[_cost_key(t)] = (*step_flops(pack), gen)
    return out


def inception_flops_per_image() -> float:
    """pytorch-fid's InceptionV3 as ganbench runs it (random weights: the count depends on shapes only)."""
    net = InceptionPool3().eval()  # forward FLOPs are the same with or without autograd recording
    return count_flops(lambda: net(torch.zeros(1, 3, 32, 32)))


def lucic_dataset(name: str, per_image: float) -> dict:
    """Trials of both phases (as `ganbench validate` plans them), their training and scoring FLOPs and GPU-hours."""
    suite = load_suite(path := ROOT / "suites" / "lucic2018" / f"{name}.yaml")
    search = expand(suite)
    first = {cell_of(t): t for t in reversed(search)}  # phase 2 retrains each GAN's sample 0 on fresh seeds
    trials = search + [c for t in first.values() for c in confirm_trials(t, suite.confirm.seed_list())]
    costs = step_costs(trials)
    train = sum(trial_train_flops(t, *costs[_cost_key(t)][:2]) for t in trials)
    scored = [(t, (evaluations(t, d_steps_for(t, None)) + 2) * t.eval.n_samples) for t in trials]
    images = sum(n for _, n in scored) + 2 * suite.eval.n_real  # + val and test statistics, once (then cached)
    scoring = images * per_image + sum(n * costs[_cost_key(t)][2] for t, n in scored)  # Inception + generating
    lo, hi, rate = *header_minutes(path), SUSTAINED * H100_FP32_TFLOPS
    return {"suite": str(path.relative_to(ROOT)), "trials": len(trials), "search_trials": len(search),
            "confirm_trials": len(trials) - len(search), "d_steps_per_trial": suite.budget.steps,
            "batch_size": search[0].hp.batch_size, "header_gpu_minutes_per_trial": [lo, hi],
            "step_flops_d_g": {" ".join(map(str, k[2:5])): v[:2] for k, v in costs.items()},
            "train_tflop": train / 1e12, "images_scored": images, "scoring_tflop": scoring / 1e12,
            "gpu_hours_without_packs": len(trials) * (lo + hi) / 2 / 60,
            "gpu_hours_without_packs_range": [len(trials) * lo / 60, len(trials) * hi / 60],
            "header_implied_tflops": (train + scoring) / (len(trials) * (lo + hi) / 2 * 60) / 1e12,
            "train_gpu_hours_with_packs": gpu_hours(train, rate), "scoring_gpu_hours": gpu_hours(scoring, rate),
            "gpu_hours_with_packs": gpu_hours(train + scoring, rate),
            "gpu_hours_with_packs_tf32_sensitivity": gpu_hours(train + scoring, SUSTAINED * SENSITIVITY_TF32_TFLOPS)}


ASSUMPTIONS = [
    "Nothing in the Lucic figures was measured on a GPU: FLOPs are counted on the CPU, hours follow from a rate.",
    "The study: the wide suites suites/lucic2018/{mnist,fashion-mnist,cifar10,celeba}.yaml, each 700 search + 350 "
    "confirmation trials (7 GANs x 50 seeds), 4,200 in all; the narrow suites are left out. Confirmation retrains "
    "each GAN's sample 0 (its defaults), as `ganbench validate` plans it; a chosen n_disc may differ.",
    "FLOPs per D and G step: ganbench.training.steps.step_flops (torch.utils.flop_counter: matmuls and convolutions, "
    "forward, backward and a penalty's double backward) on each suite's networks at its batch size, built on random "
    "images of the dataset's shape. Element-wise work (activations, batch norm, Adam) is not counted.",
    "Scoring: (evaluation points + 2 final test scorings, as ganbench's sizing counts them) x 10,000 images per "
    "trial, generated by the trial's G and passed through pytorch-fid's InceptionV3 (counted on ganbench's "
    "InceptionPool3), plus 2 x 10,000 real images per dataset (cached). Packs leave scoring as it is.",
    "Without packs: the suites' headers' GPU-minutes per trial (estimates, not measured; a range's middle) x trials.",
    f"With packs: (training + scoring FLOPs) / {SUSTAINED:.0%} of an H100 SXM's dense fp32 rate ({H100_FP32_TFLOPS:g} "
    f"TFLOP/s, so {SUSTAINED * H100_FP32_TFLOPS:.1f} TFLOP/s). fp32: ganbench trains in fp32 unless resources.amp "
    "asks for bf16, and PyTorch leaves TF32 matmuls off. 40%: a pack turns a small trial's kernels into large "
    "batched ones, but these small networks and element-wise work keep it well below the peak.",
    f"Sensitivity (cuDNN convolutions may use TF32): the same FLOPs at {SUSTAINED:.0%} of the dense TF32 tensor-core "
    f"rate ({SENSITIVITY_TF32_TFLOPS:g} TFLOP/s) give gpu_hours_with_packs_tf32_sensitivity.",
]


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    per_image = inception_flops_per_image()
    lucic = {name: lucic_dataset(name, per_image) for name in DATASETS}
    total = {k: sum(d[k] for d in lucic.values()) for k in ("trials", "train_tflop", "scoring_tflop",
             "gpu_hours_without_packs", "gpu_hours_with_packs", "gpu_hours_with_packs_tf32_sensitivity")}
    out = {"date": time.strftime("%Y-%m-%d"), "command": "python bench/paper.py", "measured_on_gpu": False,
           "cpu_study": cpu_study(ROOT / "results" / "cpu-study"),
           "lucic2018": {"inception_gflop_per_image": per_image / 1e9,
                         "inception_source": "torch.utils.flop_counter on ganbench's InceptionPool3 (pytorch-fid's "
                                             "InceptionV3, 299x299 input, random weights)",
                         "sustained_tflops": SUSTAINED * H100_FP32_TFLOPS, "datasets": lucic, "total": total},
           "assumptions": ASSUMPTIONS, "seconds": time.perf_counter() - t0}
    (ROOT / "bench" / "results-paper.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({"cpu_study": {k: v for k, v in out["cpu_study"].items() if not isinstance(v, str)},
                      "lucic2018_total": total}, indent=1))


if __name__ == "__main__":
    main()
