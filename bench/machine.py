"""What a benchmark's JSON says of where it ran: the CPU's model name, the cores, and the commit of the code measured
(with ``dirty`` when the working tree had changes), so that figures from several machines and versions can sit side
by side in docs/performance.md without being mistaken for one another."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def commit() -> dict:
    """{"commit": short hash or None, "dirty": whether tracked files differed from it}."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        return {"commit": head.stdout.strip(), "dirty": bool(git("status", "--porcelain", "-uno").stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def describe() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), **commit()}
