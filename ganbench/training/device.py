"""The one place a device name becomes a torch device. Asking for CUDA where torch sees none is an error, never a
quiet fall back to the CPU: a GPU study that ran on a CPU would take hours longer and record the wrong device.
Used by the trainer (``run_pack``), ``ganbench trial`` (ganbench.execution.local) and ``bench/gpu.py``."""
from __future__ import annotations

import torch

from ganbench.registry import GanbenchError

ALLOWED = "cpu, cuda, cuda:N"


def resolve_device(requested, asked_by: str = "device") -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` (a string or a torch.device) as a torch.device; a GanbenchError naming
    ``asked_by`` (the option or field that asked) when it is not one of those or CUDA cannot give it."""
    name = str(requested)
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GanbenchError(f"{asked_by}: {name!r} is not a device; allowed: {ALLOWED}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise GanbenchError(f"{asked_by}: {name!r}: ganbench trains on {ALLOWED} only")
    if not torch.cuda.is_available():
        raise GanbenchError(f"{asked_by}: {name} was asked for, but CUDA is not available on this machine (torch "
                            f"{torch.__version__}, CUDA build {torch.version.cuda}); allowed here: cpu")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise GanbenchError(f"{asked_by}: {name}: this machine has {count} CUDA device(s); allowed: cuda:0 to "
                            f"cuda:{count - 1}")
    return dev
