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
           "budget_unit": config["budget_unit"], "budget_steps": config["budget_steps"], **_protocol_columns(config)}
    row.update({f"hp_{k}": v for k, v in sorted(config["hparams"].items())})
    for key in ("d_steps", "g_steps", "images_seen", "wall_seconds", "train_seconds", "flops", "device", "primary",
                "best_d_steps", "error"):
        if key in summary:
            row[key] = summary[key]
    for key, value in sorted(summary.items()):
        if key.startswith(("final_", "best_")) and key != "best_d_steps":
            row[key] = value
    prov = summary.get("provenance") or {}
    for metric, p in sorted(prov.items()):  # provenance columns: numbers of different protocol never share a column
        for field in PROVENANCE_FIELDS:
            row[f"{metric}_{field}"] = p.get(field)
    return row


PROVENANCE_FIELDS = ("extractor", "n_real", "n_fake", "split", "direction")


def _protocol_columns(config: dict) -> dict:
    """The trial's protocol as columns (dataset options, evaluation settings), so trials of different protocol are
    told apart from trials.csv alone."""
    e = config.get("eval") or {}
    return {"dataset_options": json.dumps(config.get("dataset_options") or {}, sort_keys=True),
            "primary": e.get("primary"),  # the summary's, where there is one, replaces it
            **{f"eval_{k}": e.get(k) for k in ("every_d_steps", "every_g_steps", "n_samples", "n_real")}}


def collect_rows(results: Path) -> list[dict]:
    rows = []
    root = Path(results) / "trials"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        cfg_path = d / "config.json"
        if not cfg_path.is_file():
            continue
        config = json.loads(cfg_path.read_text())
        config["trial_id"] = d.name
        summary = read_summary(results, d.name) or {}
        if not summary and (d / "metrics.jsonl").is_file():  # started, no summary yet: running (or interrupted)
            summary = {"status": "running"}
        rows.append(_flatten_row(config, summary))
    return rows


def write_trials_csv(results: Path) -> Path:
    import pandas as pd

    rows = collect_rows(results)
    path = Path(results) / "trials.csv"
    frame = pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def read_history(results: Path, trial_ids: Iterable[str]):
    """Every trial's ``metrics.jsonl`` as one frame, one row per evaluation point, with a ``trial_id`` column.
    A last line still being written by a running trial is skipped."""
    import pandas as pd

    records = []
    for tid in trial_ids:
        path = trial_dir(results, tid) / "metrics.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                record.pop("provenance", None)
                records.append({**record, "trial_id": tid})
    return pd.DataFrame.from_records(records)


def load_results(results: Path):
    """A results directory as ``(trials, history)``: ``trials`` has one row per trial (its status, variant,
    dataset, protocol, ``hp_*`` hyperparameters, ``final_*``/``best_*`` test scores and their provenance columns),
    rebuilt from ``trials/<id>/`` so that a suite still running shows its pending and running trials (read from
    ``trials.csv`` where there are no trial directories); ``history`` is every ``metrics.jsonl`` with a
    ``trial_id`` column. Reads files only (no torch)."""
    import pandas as pd

    from ganbench.registry import GanbenchError

    results = Path(results)
    rows = collect_rows(results)
    if rows:
        trials = pd.DataFrame(rows)
    elif (results / "trials.csv").is_file():
        trials = pd.read_csv(results / "trials.csv")
    else:
        raise GanbenchError(f"{results}: no trials/ and no trials.csv here; run `ganbench run SUITE --results "
                            f"{results}` first")
    if trials.empty:
        raise GanbenchError(f"{results}: no trials recorded yet")
    return trials, read_history(results, trials.trial_id)
