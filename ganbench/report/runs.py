"""Which suite files and runs filled a results directory: one record per ``ganbench run`` (``environments.jsonl``,
appended before each run's trials train; older directories have only ``environment.json``, the latest run's), and
the trials each suite holds. Reads files only."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def read_runs(results: Path) -> tuple[list[dict], str]:
    """(the runs' environment records, oldest first; where they came from). A line that cannot be read is skipped."""
    results = Path(results)
    path = results / "environments.jsonl"
    if path.is_file():
        records = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
        return records, "environments.jsonl"
    single = results / "environment.json"
    if single.is_file():
        try:
            data = json.loads(single.read_text())
        except json.JSONDecodeError:
            return [], "environment.json (unreadable)"
        return ([d for d in data if isinstance(d, dict)] if isinstance(data, list) else [data]), "environment.json"
    return [], ""


def _short(value, n: int = 12) -> str:
    return "" if value is None else str(value)[:n]


def runs_table(records: list[dict]) -> pd.DataFrame:
    """One row per run: when, which suite file (name and hash), how many trials it set out to train, which ganbench
    commit, on what processor and accelerator."""
    rows = []
    for rec in records:
        suite = rec.get("suite") or {}
        hw, acc = rec.get("hardware") or {}, rec.get("accelerators") or {}
        rows.append({"recorded at": rec.get("recorded_at", ""), "suite": rec.get("suite_name", ""),
                     "suite file": suite.get("file", ""), "file sha256": _short(suite.get("sha256")),
                     "trials to run": rec.get("trials_to_run", ""),
                     "ganbench commit": _short((rec.get("ganbench") or {}).get("git_commit"), 18),
                     "cpu": hw.get("cpu_model", ""), "accelerator": ", ".join(acc.get("gpus") or []) or "none"})
    return pd.DataFrame(rows)


def suites_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per suite named in the trials' configs: its trials and their statuses."""
    if "suite" not in trials:
        return pd.DataFrame()
    counts = trials.groupby(trials["suite"].astype(str))["status"].value_counts().unstack(fill_value=0)
    counts.insert(0, "trials", counts.sum(axis=1))
    return counts.rename_axis("suite").reset_index().rename_axis(None, axis=1)


def section(doc, results: Path, trials: pd.DataFrame) -> None:
    doc.heading("Which suite files and runs filled this directory")
    suites = suites_table(trials)
    if not suites.empty:
        doc.table(suites, "suites", "Trials per suite (from each trial's config.json)")
    records, source = read_runs(results)
    if not records:
        doc.para("No record of the runs (`environments.jsonl` or `environment.json`).")
        return
    doc.table(runs_table(records), "runs", f"One row per run (from `{source}`)")
    if source.startswith("environment.json"):
        doc.para("Only the latest run is recorded here (`environment.json` is rewritten by each run; directories "
                 "written since keep one record per run in `environments.jsonl`): earlier runs into this directory, "
                 "if any, are not listed.")
    distinct = {(r.get("hardware") or {}).get("cpu_model") for r in records}
    if len(distinct) > 1:
        doc.para("**The runs used different processors**: per-seed numbers differ across processors as much as "
                 "across seeds (floating-point order); what must agree across machines is the verdicts, not the "
                 "per-seed scores.")
