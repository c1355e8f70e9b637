"""Before a run writes anything: the results directory (or a report's) must be writable, and a run's must hold
no other suite's trials and nothing ganbench did not write there (``--force`` to add a suite beside another)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from ganbench.registry import GanbenchError
from ganbench.results import OWN_ENTRIES, read_json_object


def check_writable(path: Path, label: str) -> None:
    """GanbenchError unless ``path`` is a directory, or can be made one, that this process can write. Probes with a
    temporary directory removed at once (as root, permission bits do not tell; a read-only mount or /proc does)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GanbenchError(f"{label}: is a file, not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise GanbenchError(f"{label}: {existing} is a file, so no directory can be made below it")
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".ganbench-probe-"))
    except OSError as err:
        raise GanbenchError(f"{label}: cannot write in {existing} ({err.strerror})") from None


def suites_in(results: Path) -> dict[str, int]:
    """Suite name -> number of trial directories of that suite in a results directory."""
    counts: dict[str, int] = {}
    for cfg in sorted((Path(results) / "trials").glob("*/config.json")):
        name = (read_json_object(cfg)[0] or {}).get("suite")
        if isinstance(name, str):
            counts[name] = counts.get(name, 0) + 1
    return counts


def check_results_dir(results: Path, suite_name: str, force: bool = False, label: Optional[str] = None) -> None:
    """Before a run writes anything: the directory must be writable, and (unless ``force``) hold no other suite's
    trials and nothing that ganbench did not write there."""
    results = Path(results)
    label = label or str(results)
    check_writable(results, label)
    if not results.is_dir():
        return
    for name, want_dir in (("trials", True), ("trials.csv", False), ("report", True)):
        if (results / name).exists() and (results / name).is_dir() != want_dir:
            raise GanbenchError(f"{label}: {name} is a {'file' if want_dir else 'directory'}; ganbench writes a "
                                f"{'directory' if want_dir else 'file'} there (move it away)")
    trials = results / "trials"
    for p in sorted(trials.iterdir()) if trials.is_dir() else []:
        if not p.is_dir() and not p.name.startswith("."):
            raise GanbenchError(f"{label}: trials/{p.name} is a file; trials/ holds one directory per trial (move "
                                f"it away)")
    if force:
        return
    others = {s: n for s, n in suites_in(results).items() if s != suite_name}
    if others:
        listing = ", ".join(f"{s!r} ({n} trial{'s' if n != 1 else ''})" for s, n in sorted(others.items()))
        raise GanbenchError(f"{label}: holds trials of another suite, {listing}; one results directory per suite: "
                            f"choose another --results, or pass --force to add {suite_name!r} beside them")
    stray = sorted(p.name for p in results.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith("."))
    if stray and not (results / "trials").is_dir():
        shown = ", ".join(stray[:3]) + (", ..." if len(stray) > 3 else "")
        raise GanbenchError(f"{label}: not a ganbench results directory (it holds {shown}); choose a new or empty "
                            f"directory, or pass --force to write there anyway")
