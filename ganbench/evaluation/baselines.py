"""Baselines under a trial's own protocol: what noise scores and what real data scores, metric by metric.

A score means something only beside two numbers measured the same way: what samples that learned nothing score,
and what real data scores. For every distinct protocol among a suite's trials (dataset, dataset options, split,
extractor, n_real, n_fake) ganbench scores three kinds of samples with the trials' own ``Evaluator``, so every
number has exactly the provenance of a trial's score:

- noise: toys, points uniform over the bounding box of the train split; images, uniform noise images in [-1, 1];
- gaussian: toys, an isotropic Gaussian fitted to the train split (its mean, one std); images, a per-pixel Gaussian
  fitted to the train split (independent pixels, clipped to [-1, 1]: the mean image plus pixel noise);
- real: n_fake train-split points or images (without replacement; with replacement where the split is smaller),
  scored against the same reference as a generator's samples. For images that is train against val/test: the
  floor of the feature space; the spread of the real draws is the resampling spread of the score.

Each kind is drawn ``DRAWS`` times with fixed seeds (the same draws for every split). A record keeps every value and
its mean, std (ddof 1), best and worst. A score is *learned* when it beats the best noise draw by at least
``LEARNED_FRACTION`` of |real mean - noise mean| (``is_learned``). Records are cached by content under
``$GANBENCH_CACHE/baselines`` and merged into ``results/<suite>/baselines.json`` (both written atomically).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from ganbench.datasets import dataset_info, load_split
from ganbench.evaluation.evaluator import Evaluator
from ganbench.evaluation.metric import output_direction
from ganbench.paths import atomic_write_json, cache_dir
from ganbench.protocol import BASELINE_MATCH, Evaluation
from ganbench.registry import GanbenchError
from ganbench.results import BASELINES_FILE, read_baselines_file, write_baselines_file

RECIPE = {"version": 1, "seed": 8_2024}  # changing how baselines are drawn changes this, and so every cache key
DRAWS = 5
LEARNED_FRACTION = 0.1
KINDS = ("noise", "gaussian", "real")


def trial_protocols(trials: Iterable) -> dict[Evaluation, tuple[str, ...]]:
    """The distinct protocols (``ganbench.protocol.Evaluation``) among trials (``ganbench.suite.plan.Trial``), each
    with the union of their metrics."""
    out: dict[Evaluation, tuple[str, ...]] = {}
    for t in trials:
        p = Evaluation.of(t)
        out[p] = tuple(sorted(set(out.get(p, ())) | set(t.eval.metrics)))
    return out


# --- what is drawn ------------------------------------------------------------------------------------------------
def _rng(kind: str, draw: int) -> np.random.Generator:
    return np.random.default_rng([RECIPE["seed"], KINDS.index(kind), draw])


def _samplers(info, train: np.ndarray, n: int) -> dict[str, tuple[str, Callable[[np.random.Generator], np.ndarray]]]:
    """kind -> (description, rng -> n samples as float32 array shaped like the data)."""
    replace = n > len(train)
    how = f" drawn with replacement (the split has {len(train)})" if replace else ""

    def real(rng):
        return train[rng.choice(len(train), n, replace=replace)]

    if info.kind == "toy":
        lo, hi = train.min(axis=0), train.max(axis=0)
        mean, std = train.mean(axis=0), float(np.sqrt(train.var(axis=0).mean()))
        box = " x ".join(f"[{a:.3f}, {b:.3f}]" for a, b in zip(lo, hi))
        return {
            "noise": (f"points uniform over the train split's bounding box {box}",
                      lambda rng: rng.uniform(lo, hi, size=(n, train.shape[1]))),
            "gaussian": (f"isotropic Gaussian fitted to the train split (mean ({mean[0]:.3f}, {mean[1]:.3f}), std "
                         f"{std:.3f})", lambda rng: mean + std * rng.standard_normal((n, train.shape[1]))),
            "real": (f"train-split points{how} scored against the analytic modes", real),
        }
    pix_mean, pix_std = train.mean(axis=0), train.std(axis=0)
    return {
        "noise": ("uniform noise images in [-1, 1]", lambda rng: rng.uniform(-1, 1, size=(n, *train.shape[1:]))),
        "gaussian": ("per-pixel Gaussian fitted to the train split (independent pixels, clipped to [-1, 1])",
                     lambda rng: np.clip(pix_mean + pix_std * rng.standard_normal((n, *train.shape[1:])), -1, 1)),
        "real": (f"train-split images{how} scored against {{split}}", real),
    }


def _summary(values: list[float], direction: Optional[str], extremes: bool) -> dict:
    v = np.asarray(values, dtype=np.float64)
    out = {"values": [float(x) for x in v], "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1
           else 0.0}
    if extremes:
        best, worst = (v.min(), v.max()) if direction == "min" else (v.max(), v.min())
        out.update(best=float(best), worst=float(worst))
    return out


def _score_draws(ev: Evaluator, split: str, samplers: dict, draws: int) -> tuple[dict, dict]:
    """kind -> value name -> list of values over draws, and the provenance of each value name."""
    scores: dict = {kind: {} for kind in samplers}
    provenance: dict = {}
    for kind, (_, sample) in samplers.items():
        for d in range(draws):
            x = torch.from_numpy(np.ascontiguousarray(sample(_rng(kind, d)), dtype=np.float32))
            values, provenance = ev.evaluate(x, split)
            for name, value in values.items():
                scores[kind].setdefault(name, []).append(value)
    return scores, provenance


def _record(ev: Evaluator, protocol: Evaluation, split: str, samplers: dict, draws: int) -> dict:
    scores, provenance = _score_draws(ev, split, samplers, draws)
    first = next(iter(provenance.values()))
    metrics = {}
    for name, prov in provenance.items():
        direction = output_direction(name)
        if direction is None:  # a spread (kid_std, is_std), not a score
            continue
        metrics[name] = {"direction": direction, "provenance": prov,
                         "noise": _summary(scores["noise"][name], direction, True),
                         "gaussian": _summary(scores["gaussian"][name], direction, True),
                         "real": _summary(scores["real"][name], direction, False)}
    return {"dataset": protocol.dataset, "dataset_options": dict(protocol.options), "split": first["split"],
            "extractor": first["extractor"], "n_real": first["n_real"], "n_fake": first["n_fake"], "draws": draws,
            "noise_kind": samplers["noise"][0], "gaussian_kind": samplers["gaussian"][0],
            "real_kind": samplers["real"][0].replace("{split}", split), "metrics": metrics}


def _cache_path(ev: Evaluator, protocol: Evaluation, metrics: tuple, split: str, draws: int) -> Path:
    info = ev.info
    ident = {"dataset": protocol.dataset, "options": repr(protocol.options), "split": split,
             "n_fake": protocol.n_samples, "metrics": list(metrics), "draws": draws, "recipe": RECIPE}
    if info.kind == "toy":
        ident["modes"] = hashlib.sha256(np.asarray(info.centers, np.float64).tobytes() +
                                        repr(float(info.std)).encode()).hexdigest()
    else:
        ref = ev.references[split]
        ident.update(extractor=ref.extractor, weights_sha=ref.weights_sha, n_real=ref.n_real)
    h = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir() / "baselines" / f"{protocol.dataset}-{split}-{h}.json"


def compute_baselines(protocol: Evaluation, metrics: Iterable[str], data_dir=None, draws: int = DRAWS,
                      device: str = "cpu", evaluator: Optional[Evaluator] = None) -> list[dict]:
    """The baseline records of one protocol: one for the analytic modes (toys), or one per split val and test
    (images). Each is computed once and then read from the cache. ``evaluator``: the protocol's, built with these
    metrics (the driver's, ganbench.execution.prepare); by default one is built here."""
    if draws < 2:
        raise GanbenchError(f"baselines: draws must be at least 2 (a spread needs two), got {draws}")
    if protocol.n_samples < 2:
        raise GanbenchError(f"baselines: n_samples must be at least 2, got {protocol.n_samples}")
    metrics = tuple(sorted(set(metrics)))
    options = dict(protocol.options)
    info = dataset_info(protocol.dataset, options)
    ev = evaluator or Evaluator(protocol.dataset, options, info, list(metrics), protocol.extractor,
                                protocol.n_samples, protocol.n_real, data_dir=data_dir, device=device)
    records, samplers = [], None
    for split in (("test",) if info.kind == "toy" else ("val", "test")):
        path = _cache_path(ev, protocol, metrics, split, draws)
        if path.is_file():
            records.append(json.loads(path.read_text()))
            continue
        if samplers is None:
            train = load_split(protocol.dataset, "train", data_dir, options).x.numpy()
            samplers = _samplers(info, train, protocol.n_samples)
        record = _record(ev, protocol, split, samplers, draws)
        atomic_write_json(path, record)
        records.append(record)
    return records


# --- the results file ---------------------------------------------------------------------------------------------
_NORMAL = {"dataset_options": lambda v: json.dumps(v, sort_keys=True, default=str), "n_real": int, "n_fake": int}


def record_key(record: dict) -> tuple:
    """The protocol of a record (``ganbench.protocol.BASELINE_MATCH``), comparable: options as sorted JSON text,
    counts as integers."""
    return tuple(_NORMAL.get(f, lambda v: v)(record[f]) for f in BASELINE_MATCH)


def read_baselines(path: Path) -> list[dict]:
    """The records of a baselines.json (ganbench.results owns the file's format)."""
    return read_baselines_file(path)


def merge_records(old: list[dict], new: list[dict]) -> list[dict]:
    """Records keyed by protocol; a new record replaces an old one of the same key but keeps the old one's metrics
    that it does not have. No record is lost."""
    merged = {record_key(r): r for r in old}
    for r in new:
        k = record_key(r)
        if k in merged:
            r = {**r, "metrics": {**merged[k]["metrics"], **r["metrics"]}}
        merged[k] = r
    return [merged[k] for k in sorted(merged)]


def write_baselines(results_dir, trials, data_dir=None, draws: int = DRAWS, device: str = "cpu",
                    evaluators: Optional[dict] = None) -> Path:
    """Compute (or read from the cache) the baselines of every protocol among ``trials`` and merge them into
    ``results_dir/baselines.json``. Call it in the driver before the trials start; ``evaluators``: the driver's, one
    per protocol (``ganbench.execution.prepare.build_evaluators``)."""
    new = []
    for protocol, metrics in trial_protocols(trials).items():
        new.extend(compute_baselines(protocol, metrics, data_dir=data_dir, draws=draws, device=device,
                                     evaluator=(evaluators or {}).get(protocol)))
    path = Path(results_dir) / BASELINES_FILE
    write_baselines_file(path, merge_records(read_baselines(path), new))
    return path


def find_record(records: list[dict], dataset: str, dataset_options: dict, provenance: dict) -> Optional[dict]:
    """The record a score of this dataset and provenance (a trial's per-metric provenance record) is compared with."""
    key = record_key({**provenance, "dataset": dataset, "dataset_options": dataset_options})
    return next((r for r in records if record_key(r) == key), None)


def is_learned(score: float, metric_record: dict) -> bool:
    """True when ``score`` beats the best noise draw by at least LEARNED_FRACTION of |real mean - noise mean|."""
    noise, real = metric_record["noise"], metric_record["real"]
    if score is None or not np.isfinite(score):
        return False
    gain = noise["best"] - score if metric_record["direction"] == "min" else score - noise["best"]
    return bool(gain > 0 and gain >= LEARNED_FRACTION * abs(real["mean"] - noise["mean"]))


def format_record(record: dict) -> list[str]:
    """Lines for a terminal: per metric, each kind's mean +- std over the draws."""
    head = (f"{record['dataset']} baselines on {record['split']} ({record['extractor']}, n_real={record['n_real']}, "
            f"n_fake={record['n_fake']}, {record['draws']} draws; mean +- std):")
    lines = [head]
    for name, m in record["metrics"].items():
        cells = "   ".join(f"{kind} {m[kind]['mean']:.4g} +- {m[kind]['std']:.2g}" for kind in KINDS)
        lines.append(f"  {name:<10} ({'lower' if m['direction'] == 'min' else 'higher'} is better)  {cells}")
    lines.append(f"  noise: {record['noise_kind']}; gaussian: {record['gaussian_kind']}; real: {record['real_kind']}")
    return lines
