"""The results directory: ``trials/<id>/`` per trial (config.json, metrics.jsonl, summary.json, checkpoint.pt,
samples.png) and ``trials.csv``, one row per trial, rebuilt from every trial directory (rows are never lost)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

TERMINAL = ("completed", "diverged")  # a trial in one of these states is not run again


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def trial_dir(results: Path, trial_id: str) -> Path:
    return Path(results) / "trials" / trial_id


def read_summary(results: Path, trial_id: str) -> dict | None:
    path = trial_dir(results, trial_id) / "summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def finished_ids(results: Path) -> set[str]:
    root = Path(results) / "trials"
    if not root.is_dir():
        return set()
    done = set()
    for d in root.iterdir():
        s = read_summary(results, d.name)
        if s and s.get("status") in TERMINAL:
            done.add(d.name)
    return done


def write_trial_config(results: Path, trial) -> None:
    atomic_write_json(trial_dir(results, trial.id) / "config.json", trial.to_dict())


def record_failure(results: Path, trial_id: str, error: str) -> None:
    """A trial that raised: its summary says so (its earlier files stay), and the next run tries it again."""
    atomic_write_json(trial_dir(results, trial_id) / "summary.json",
                      {"trial_id": trial_id, "status": "failed", "error": error[-2000:]})


def _flatten_row(config: dict, summary: dict) -> dict:
    row = {"trial_id": config.get("trial_id") or summary.get("trial_id"), "status": summary.get("status", "pending"),
           "suite": config["suite"], "gan": config["gan"], "variant": config["variant"], "loss": config["loss"],
           "penalty": config["penalty"], "dataset": config["dataset"], "architecture": config["architecture"],
           "seed": config["seed"], "sample": config["sample"], "node_id": summary.get("node_id", ""),
           "budget_unit": config["budget_unit"], "budget_steps": config["budget_steps"]}
    row.update({f"hp_{k}": v for k, v in sorted(config["hparams"].items())})
    for key in ("d_steps", "g_steps", "images_seen", "wall_seconds", "train_seconds", "device", "primary",
                "best_d_steps", "error"):
        if key in summary:
            row[key] = summary[key]
    for key, value in sorted(summary.items()):
        if key.startswith(("final_", "best_")) and key != "best_d_steps":
            row[key] = value
    prov = summary.get("provenance") or {}
    for metric, p in sorted(prov.items()):  # provenance columns: numbers of different protocol never share a column
        row[f"{metric}_extractor"] = p.get("extractor")
        row[f"{metric}_n_real"] = p.get("n_real")
        row[f"{metric}_n_fake"] = p.get("n_fake")
        row[f"{metric}_split"] = p.get("split")
    return row


def collect_rows(results: Path) -> list[dict]:
    rows = []
    root = Path(results) / "trials"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        cfg_path = d / "config.json"
        if not cfg_path.is_file():
            continue
        config = json.loads(cfg_path.read_text())
        config["trial_id"] = d.name
        rows.append(_flatten_row(config, read_summary(results, d.name) or {}))
    return rows


def write_trials_csv(results: Path) -> Path:
    import pandas as pd

    rows = collect_rows(results)
    path = Path(results) / "trials.csv"
    frame = pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def read_history(results: Path, trial_ids: Iterable[str]):
    import pandas as pd

    frames = []
    for tid in trial_ids:
        path = trial_dir(results, tid) / "metrics.jsonl"
        if path.is_file() and path.stat().st_size:
            f = pd.read_json(path, lines=True)
            f["trial_id"] = tid
            frames.append(f.drop(columns=["provenance"], errors="ignore"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
