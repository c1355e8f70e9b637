"""The record of where a suite ran: ganbench version and git commit, the suite file's hash, library versions,
Python, CUDA and the hardware (no host name). ``ganbench run`` writes it to ``results/<suite>/environment.json``;
the report shows it, reading the JSON only."""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ganbench.paths import file_sha256

DISTRIBUTIONS = ("torch", "torchvision", "ray", "pytorch-fid", "numpy", "scipy", "pandas")


def git_commit(start: Path) -> str | None:
    """The commit of the checkout holding ``start`` (with "-dirty" when it has uncommitted changes), or None."""
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(start), *args], capture_output=True, text=True, timeout=10)

        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform's processor string)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict:
    out = {}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _accelerators() -> dict:
    """CUDA as torch sees it: the CUDA its build targets, whether a device is usable, the devices' names and
    memory (none on a CPU machine)."""
    try:
        import torch
    except ImportError:
        return {"torch_cuda_build": None, "cuda_available": False, "gpus": []}
    available = torch.cuda.is_available()
    info = {"torch_cuda_build": torch.version.cuda, "cuda_available": available,
            "cudnn": torch.backends.cudnn.version() if available else None, "gpus": []}
    if available:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append(f"{p.name}, {p.total_memory / 2**30:.1f} GiB")
    return info


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def collect_environment(suite_path: Path | None = None) -> dict:
    """Everything needed to say where and with what a suite's numbers were made (JSON-serialisable)."""
    import ganbench

    package_dir = Path(ganbench.__file__).resolve().parent
    env = {
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ganbench": {"version": ganbench.__version__, "git_commit": git_commit(package_dir)},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "packages": _versions(),
        "accelerators": _accelerators(),
        "hardware": {"platform": platform.platform(), "machine": platform.machine(), "cpu_model": cpu_model(),
                     "cpu_count": os.cpu_count(), "memory_gib": _memory_gib()},
    }
    if suite_path is not None:
        suite_path = Path(suite_path)
        env["suite"] = {"file": suite_path.name, "sha256": file_sha256(suite_path)}
    return env


@lru_cache(maxsize=1)
def library_versions() -> dict:
    out = {}
    for dist in ("torch", "torchvision", "pytorch-fid", "ganbench"):
        try:
            out[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.replace("-", "_")] = "unknown"
    return out
