"""bench/gpu.py: its correctness part at tiny sizes on the CPU (the dry run), its timing path at tiny sizes, the GPU
section bench/write_doc.py writes from its JSON, and the one device rule: CUDA asked for where there is none is one
clear error, in the script, in `ganbench trial` and in the trainer, never a quiet run on the CPU."""
import json

import pytest
from conftest import load_bench
import torch

from ganbench.cli import main as ganbench_main
from ganbench.registry import GanbenchError

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")


@pytest.fixture(scope="module")
def gpu_bench():
    return load_bench("gpu")


def test_dry_run_checks_packs_against_trials_alone_and_bf16_for_every_variant(tmp_path, gpu_bench, capsys):
    """The dry run (CPU, tiny): a pack of 2 seeds through `ganbench trial --id --id` matches each trial alone on
    every test score and every evaluation point's losses and scores; bf16 autocast stays finite for every registered
    GAN variant (none skipped). A pack that gave member 1 member 0's weights and streams fails it."""
    from ganbench.zoo.variants import VARIANTS

    out = tmp_path / "dry.json"
    assert gpu_bench.main(["--dry-run", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["device"] == "cpu" and report["tiny"]
    (packs,) = report["packs"].values()
    assert packs["k"] == 2 and [m["pack_size"] for m in packs["members"]] == [2, 2]
    assert all(m["misses"] == [] for m in packs["members"])
    assert sorted(report["bf16"]) == VARIANTS.names()
    assert all(r["ok"] is True for r in report["bf16"].values())
    assert "all checks passed" in capsys.readouterr().out


def test_a_pack_mixup_makes_the_dry_run_fail(tmp_path, gpu_bench, monkeypatch):
    """Every member of a pack given member 0's seed (so its weights and streams): the comparison flags member 1."""
    import dataclasses

    import ganbench.training.loop as loop

    real = loop.build_pack
    monkeypatch.setattr(loop, "build_pack", lambda trials, *a, **kw: real(
        [dataclasses.replace(t, seed=trials[0].seed) for t in trials], *a, **kw))
    report = gpu_bench.run(gpu_bench.argparse.Namespace(device="cpu", tiny=True, timing=False, threads=1,
                                                       max_seconds=60), log=lambda line: None)
    (packs,) = report["packs"].values()
    assert not report["ok"] and not packs["ok"]
    assert packs["members"][0]["misses"] == [] and packs["members"][1]["misses"]


@pytest.mark.slow
def test_timing_path_runs_at_tiny_sizes_on_the_cpu(tmp_path, gpu_bench):
    """The timing part (matmul rate, each case at K = 1 and 2, pack: auto) runs end to end on the CPU; nothing
    here is timed, only the record's shape is checked."""
    out = tmp_path / "tiny.json"
    assert gpu_bench.main(["--device", "cpu", "--tiny", "--threads", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["timing"]) == set(gpu_bench.CASES)
    for case, ks in report["timing"].items():
        assert set(ks) == {"1", "2"}
        assert all(r["member_steps_per_s"] > 0 and r["flops_per_member_step"] > 0 for r in ks.values()), case
    assert report["matmul"]["float32_gflops"] > 0
    assert {r["pack"] for r in report["auto_pack"].values()} == {16, 1}  # MLP 16, convolutional 1 on the CPU


@NO_CUDA
def test_asking_for_cuda_without_it_is_one_clear_error(tmp_path, gpu_bench, capsys):
    assert gpu_bench.main(["--device", "cuda", "--tiny"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device: cuda was asked for, but CUDA is not available" in err[0]
    suite = tmp_path / "g.yaml"
    suite.write_text("name: g\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0]\n"
                     "budget: {d_steps: 5}\nresources: {gpu: 1}\n")
    for extra, field in (([], "resources.gpu: 1"), (["--device", "cuda:0"], "--device")):
        assert ganbench_main(["trial", str(suite), "--all", "--results", str(tmp_path / "r"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].count(field) == 1 and "CUDA is not available" in err[0], err
    assert not (tmp_path / "r").exists()  # refused before any work
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite
    from ganbench.training import run_trial

    with pytest.raises(GanbenchError, match="CUDA is not available"):  # the trainer too: no fall back to the CPU
        run_trial(expand(load_suite(suite))[0], tmp_path / "t", device="cuda")


def test_resolve_device_names_what_it_allows():
    from ganbench.training.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for bad, message in (("gpu", "is not a device; allowed: cpu, cuda, cuda:N"),
                         ("meta", "ganbench trains on cpu, cuda, cuda:N only")):
        with pytest.raises(GanbenchError, match=message):
            resolve_device(bad, "--device")


def test_write_doc_gpu_section(tmp_path, monkeypatch):
    """The GPU section comes from bench/results-gpu.json; without a CUDA run it says that nothing is measured."""
    write_doc = load_bench("write_doc")
    assert "Not measured yet" in "\n".join(write_doc.gpu_section(None))
    assert "Not measured yet" in "\n".join(write_doc.gpu_section({"device": "cpu"}))
    step = {"member_steps_per_s": 2000.0, "speedup": 1.0, "peak_memory_mib": 300.0, "achieved_gflops": 5000.0}
    g = {"command": "python bench/gpu.py", "device": "cuda:0", "device_name": "NVIDIA H100", "device_memory_gib": 79.6,
         "torch": "2.5", "cuda_build": "12.4", "date": "2026-12-05", "seconds": 300.0, "tolerance": "|a - b| <= x",
         "matmul": {"n": 8192, "float32_gflops": 50000.0, "bfloat16_gflops": 700000.0, "fp32_tf32_allowed": False},
         "packs": {"mlp-grid25": {"ok": True, "k": 4, "d_steps": 300, "primary": "hq", "worst_pack_vs_alone": 0.0,
                                  "seed_spread": 0.1}},
         "bf16": {"ns": {"ok": True}, "wgan": {"ok": False}},
         "timing": {"mlp-grid25": {"1": step, "256": {"error": "out of memory"}}},
         "auto_pack": {"mlp-grid25": {"how": "pack: auto on cuda:0: ... packs of 1024"}}}
    text = "\n".join(write_doc.gpu_section(g))
    assert "| mlp-grid25 | 1 | 2000 | 1.00 | 300 | 5.00 | 10.0% |" in text
    assert "| mlp-grid25 | 256 | out of memory |" in text
    assert "1 of 2 GAN variants finite; not finite: wgan" in text and "fp32 50.0 TFLOP/s (TF32 off)" in text
    assert "every member matches its trial alone" in text and "packs of 1024" in text
