"""Baselines beside every score: what noise scores and what real data scores, on the same protocol.

``<results>/baselines.json`` (written by ganbench when a suite runs) holds, per dataset x protocol (dataset options,
split, extractor, n_real, n_fake), each metric's scores for noise draws (uniform noise images, or points uniform over
a toy's bounding box) and for real data (train split scored against test: the floor of that feature space, and its
resampling spread).

A trial is **learned** only when a collapse fails the rule (``learned_threshold`` per metric):

- FID and KID (scores that span decades between real data and noise): at least ``LOG_SHARE`` of the way from the
  noise mean to the real-data mean **on a log scale** (for 0.5: at most the geometric mean of the two). DRAGAN with
  batch norm at FID 253 to 377 (noise 454, real 2.6; threshold 34) is not learned; digits at 8.3 is.
- Toy mode coverage: ``modes`` at least ``MODE_SHARE`` of the modes real data covers, and ``mode_tv`` at least
  ``MODE_TV_SHARE`` of the way from noise to real data. A one-mode collapse of ring8 (1 of 8 modes, mode_tv 0.875)
  and a 4-of-25 collapse of grid25 (mode_tv 0.84) fail both.
- Any other metric: better than the best noise draw by ``NOT_LEARNED_FRACTION`` of the distance between the noise
  and real-data means.

Toy metrics that uniform noise beats trained GANs on (``NOT_EVIDENCE``: reverse KL over high-quality samples only,
sliced Wasserstein distance) never decide whether a trial learned, and the report says so beside them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ganbench.protocol import BASELINE_MATCH
from ganbench.results import BASELINES_FILE, read_baselines_file

NOT_LEARNED_FRACTION = 0.1
LOG_SHARE = 0.5  # FID/KID: half way from noise to real data on a log scale
MODE_SHARE = 0.5  # toys: at least half the modes that real data covers
MODE_TV_SHARE = 0.25  # toys: mode_tv at least a quarter of the way from noise to real data
LOG_SCALED = ("fid", "kid")  # metric name prefixes: FID, KID and their variants (fid10k...)
NOT_EVIDENCE = {"reverse_kl": "reverse KL is computed over high-quality samples only, so uniform noise's few "
                              "high-quality points score better than most GANs",
                "swd": "uniform noise over the bounding box scores a sliced Wasserstein distance close to (and often "
                       "better than) trained GANs'"}
MATCH_FIELDS = BASELINE_MATCH  # dataset, options and provenance: ganbench.protocol


def read_baselines(results: Path) -> list[dict]:
    """The records of ``baselines.json`` (an empty list when the file is absent; ganbench.results reads it)."""
    return read_baselines_file(Path(results) / BASELINES_FILE)


def _norm(value):
    """Comparable form of a provenance value (CSV round trips turn 359 into 359.0 and dicts into JSON text)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                return json.dumps(json.loads(text), sort_keys=True)
            except json.JSONDecodeError:
                return text
        return text
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            return None
        return int(value) if float(value).is_integer() else float(value)
    return value


def match_baseline(records: list[dict], protocol: dict) -> dict | None:
    """The record with the same dataset, dataset options, split, extractor, n_real and n_fake, or None."""
    want = {f: _norm(protocol.get(f, {} if f == "dataset_options" else None)) for f in MATCH_FIELDS}
    for rec in records:
        have = {f: _norm(rec.get(f, {} if f == "dataset_options" else None)) for f in MATCH_FIELDS}
        if have == want:
            return rec
    return None


def noise_best(entry: dict, direction: str) -> float:
    noise = entry["noise"]
    if noise.get("best") is not None:
        return float(noise["best"])
    values = np.asarray(noise["values"], dtype=float)
    return float(values.max() if direction == "max" else values.min())


def log_scaled(metric: str | None, entry: dict) -> bool:
    """FID-like: judged on a log scale (the name says so and both baselines are positive)."""
    noise, real = float(entry["noise"]["mean"]), float(entry["real"]["mean"])
    return bool(metric) and str(metric).startswith(LOG_SCALED) and noise > 0 and real > 0


def learned_threshold(entry: dict, direction: str, metric: str | None = None) -> float:
    """The score a trial must reach (at least, for "max"; at most, for "min") to count as learned on ``metric``
    (module docstring; without a metric name, the generic rule)."""
    noise, real = float(entry["noise"]["mean"]), float(entry["real"]["mean"])
    if metric is not None and log_scaled(metric, entry):
        return float(math.exp(math.log(noise) + LOG_SHARE * (math.log(real) - math.log(noise))))
    if metric == "modes":
        return MODE_SHARE * real
    if metric == "mode_tv":
        return noise + MODE_TV_SHARE * (real - noise)
    margin = NOT_LEARNED_FRACTION * abs(float(entry["real"]["mean"]) - float(entry["noise"]["mean"]))
    best = noise_best(entry, direction)
    return best + margin if direction == "max" else best - margin


def not_learned(score: float, entry: dict, direction: str, metric: str | None = None) -> bool:
    """True when ``score`` does not reach ``learned_threshold`` (for ``metric``). A missing score (nan) is not judged
    here: it is a failed or diverged trial, counted as such."""
    if score is None or not math.isfinite(float(score)):
        return False
    threshold = learned_threshold(entry, direction, metric)
    return not (score >= threshold if direction == "max" else score <= threshold)


def normalise(scores, entry: dict, metric: str | None = None) -> np.ndarray:
    """0 at the noise mean, 1 at the real-data mean (higher is better whatever the metric's direction); on a log
    scale for FID-like metrics (``log_scaled``), so that digits' FIDs of 4.9 and 8.3 against noise at 455 and real
    data at 2.6 read 0.88 and 0.78, not 0.995 and 0.987."""
    noise, real = float(entry["noise"]["mean"]), float(entry["real"]["mean"])
    x = np.asarray(scores, dtype=float)
    if metric is not None and log_scaled(metric, entry):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(x) - np.log(noise)) / (np.log(real) - np.log(noise))
    return (x - noise) / (real - noise)


def baseline_rows(record: dict, metrics: list[str]) -> list[dict]:
    """Noise and real-data rows for a score table: mean, std and the range of the draws, per metric."""
    rows = []
    for kind, label in (("noise", record.get("noise_kind", "noise")), ("real", record.get("real_kind", "real data"))):
        row = {"baseline": kind, "what": label}
        for m in metrics:
            entry = (record.get("metrics") or {}).get(m, {}).get(kind)
            if entry:
                row[f"{m} mean"] = entry.get("mean")
                row[f"{m} std"] = entry.get("std")
                vals = np.asarray(entry.get("values") or [], dtype=float)
                row[f"{m} draws"] = len(vals)
        rows.append(row)
    return rows
