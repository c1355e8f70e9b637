"""``resources: {pack: auto}``: how many trials one pack holds, so that a GPU is filled rather than guessed.

On a GPU, for each group of trials that can share a pack (same ``Trial.pack_key()``), the driver measures what one
more member costs on the device: it builds the group's first trial as packs of 2 and of 4 members and runs a few D
and G steps and one scoring chunk (``CHUNK`` samples) in each, under the suite's ``amp``. The peak device memory
(``torch.cuda.max_memory_allocated``) gives

    per_member = (peak(4) - peak(2)) / 2        fixed = peak(2) - 2 * per_member

(the training data on the device, the shared scoring shell). With the device's free memory measured just then
(``torch.cuda.mem_get_info``, other processes' use already taken off) and the suite's GPU share (``gpu: 0.25`` means
a quarter of the device),

    pack = floor((free * share * (1 - margin) - fixed) / per_member),   between 1 and MAX_PACK (1024).

The margin (``MARGIN``, 20%) covers what the probe does not run: the feature extractor used at evaluation points,
the allocator's fragmentation, and batch norm's or a penalty's larger steps late in training.

On a CPU, memory is not what limits a pack: ``auto`` means 16 members for networks without convolutions and 1 for
convolutional ones (no gain at any K). On grid25, `python bench/trainer.py` and a run of every K at 2,000 D steps put
K = 8 and K = 16 within the machines' run-to-run spread of each other (1.4x to 1.7x the member-steps per CPU second
of K = 1, on both CPUs in docs/performance.md), so the size stays the one with fewer packs to start. A fixed size
rather than one measured at run time, because a pack sums in another order than its trials alone: the same suite must
make the same packs, and so the same numbers, on every run.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from ganbench.suite.plan import Trial
from ganbench.suite.schema import MAX_PACK

MARGIN = 0.2
CPU_MLP_PACK = 16
PROBE_STEPS = 3


def pack_size_for_memory(member_bytes: float, free_bytes: float, margin: float = MARGIN, fixed_bytes: float = 0.0,
                         share: float = 1.0, cap: int = MAX_PACK) -> int:
    """The most members whose ``member_bytes`` each, plus ``fixed_bytes`` once, fit in ``share`` of ``free_bytes``
    less a ``margin`` (a fraction); at least 1 (one trial runs even where it may not fit), at most ``cap``."""
    if member_bytes <= 0 or free_bytes < 0 or not 0 <= margin < 1 or not 0 < share <= 1:
        raise ValueError(f"pack_size_for_memory: member_bytes {member_bytes} > 0, free_bytes {free_bytes} >= 0, "
                         f"0 <= margin {margin} < 1 and 0 < share {share} <= 1 expected")
    room = free_bytes * share * (1.0 - margin) - fixed_bytes
    return int(min(cap, max(1, math.floor(room / member_bytes))))


def _probe_peak(trial: Trial, k: int, device, data_dir, amp: Optional[str]) -> int:
    """Peak device bytes above what was allocated before, for a pack of k copies of ``trial``: a few D and G steps
    and one scoring chunk."""
    import contextlib

    import torch

    from ganbench.training.parts import build_pack
    from ganbench.training.scoring import CHUNK, generate
    from ganbench.training.steps import Diagnostics, d_step, g_step

    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    pack = build_pack([trial] * k, device, data_dir)
    cast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    diag = Diagnostics()
    for _ in range(PROBE_STEPS):
        with cast():
            d_step(pack, diag)
            g_step(pack, diag)
    ncls = pack.info.num_classes if pack.conditional else None
    generate(pack.G, pack.hp, ncls, CHUNK, "val", device)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del pack, diag
    torch.cuda.empty_cache()
    return int(peak)


def measure_member_bytes(trial: Trial, device, data_dir=None, amp: Optional[str] = None) -> tuple[int, int]:
    """(bytes per member, fixed bytes) of ``trial``'s configuration on a CUDA ``device``, from packs of 2 and 4."""
    two, four = (_probe_peak(trial, k, device, data_dir, amp) for k in (2, 4))
    per_member = max(1, (four - two) // 2)
    return per_member, max(0, two - 2 * per_member)


def cpu_pack_size(trial: Trial, data_dir=None) -> int:
    """``auto`` on a CPU: CPU_MLP_PACK for networks without convolutions, 1 for convolutional ones."""
    from torch import nn

    from ganbench.datasets import dataset_info
    from ganbench.suite.plan import arch_options
    from ganbench.zoo.models import build_models

    info = dataset_info(trial.dataset, trial.dataset_options)
    G, D = build_models(trial.architecture, info.shape, trial.hp.z_dim, arch_options(trial),
                        num_classes=info.num_classes if trial.hp.conditioning != "none" else None)
    conv = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)
    return 1 if any(isinstance(m, conv) for net in (G, D) for m in net.modules()) else CPU_MLP_PACK


def pack_sizer(pack, device, gpu_share: float = 1.0, data_dir=None, amp: Optional[str] = None,
               log: Callable[[str], None] = print, margin: float = MARGIN):
    """What ``make_packs`` takes for ``resources.pack``: the number itself, or for ``auto`` a function of a group's
    first trial (measured once per group on ``device``, a torch.device)."""
    if pack != "auto":
        return pack
    cache: dict[tuple, int] = {}

    def size(trial: Trial) -> int:
        key = trial.pack_key()
        if key not in cache:
            cache[key] = _auto_size(trial, device, gpu_share, data_dir, amp, log, margin)
        return cache[key]

    return size


def _auto_size(trial: Trial, device, gpu_share, data_dir, amp, log, margin) -> int:
    if device.type != "cuda":
        n = cpu_pack_size(trial, data_dir)
        log(f"pack: auto on the CPU: {trial.architecture} on {trial.dataset}: packs of {n}")
        return n
    import torch

    per_member, fixed = measure_member_bytes(trial, device, data_dir, amp)
    free, total = torch.cuda.mem_get_info(device)
    share = min(1.0, gpu_share or 1.0)
    n = pack_size_for_memory(per_member, free, margin, fixed, share)
    mib = 2 ** 20
    log(f"pack: auto on {device}: {trial.gan} {trial.architecture} on {trial.dataset}: {per_member / mib:.1f} MiB a "
        f"member, {fixed / mib:.0f} MiB fixed; {free / mib:.0f} of {total / mib:.0f} MiB free, share {share:g}, "
        f"margin {margin:.0%}: packs of {n}")
    return n


def driver_pack_sizer(suite, data_dir=None, log: Callable[[str], None] = print):
    """``pack_sizer`` for the Ray driver (ganbench.execution.tune): ``auto`` with ``resources.gpu`` > 0 measures on
    the driver's own GPU (the first CUDA device), the same kind as its workers'; a driver without CUDA is an error."""
    res = suite.resources
    if res.pack != "auto":
        return res.pack
    from ganbench.training.device import resolve_device

    where = "resources.pack: auto with resources.gpu > 0 measures one member on the driver's GPU; give pack: K"
    device = resolve_device("cuda" if res.gpu > 0 else "cpu", where)
    return pack_sizer("auto", device, res.gpu, data_dir, res.amp, log)
