"""What both drivers do before a trial trains (``ganbench run`` through Ray Tune, ``ganbench trial`` in this
process), so that both leave the same files: one evaluator per evaluation protocol (``ganbench.protocol.Evaluation``)
trains or loads the feature extractor and computes the reference statistics (cache files, with their SHA-256 for the
nodes that lack them) and scores the baselines of the results directory's ``baselines.json``; then
``environment.json`` and each trial's ``config.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ganbench.paths import atomic_write_json, cache_dir, file_sha256
from ganbench.protocol import Evaluation
from ganbench.results import write_trial_config
from ganbench.suite.plan import Trial


def build_evaluators(trials: list[Trial], data_dir=None) -> dict:
    """One evaluator per protocol among ``trials`` (``Evaluation`` -> ``Evaluator``, with the union of the metrics its
    trials are scored by), built in the driver before trials start: it trains or loads the extractor and computes the
    reference statistics, and the baselines score through it."""
    from ganbench.datasets import dataset_info
    from ganbench.evaluation.baselines import trial_protocols
    from ganbench.evaluation.evaluator import Evaluator

    out = {}
    for p, metrics in trial_protocols(trials).items():
        options = dict(p.options)
        out[p] = Evaluator(p.dataset, options, dataset_info(p.dataset, options), list(metrics), p.extractor,
                           p.n_samples, p.n_real, data_dir=data_dir)
    return out


def reference_files(evaluator) -> list[dict]:
    """The files an evaluator reads from the cache (reference statistics, nearest-neighbour distances, extractor
    weights), with their SHA-256: what a node must hold before a trial scores there (ganbench.execution.trainable)."""
    from ganbench.evaluation.backbones import BACKBONES, weights_path
    from ganbench.evaluation.extractors import classifier_path, inception_weights_path

    refs = evaluator.references
    found = [("cache", key.path()) for key in refs.values()]
    if "train" in refs:
        found += [("cache", refs[s].nn_path(refs["train"])) for s in ("val", "test")]
    name = evaluator.extractor.name if evaluator.extractor is not None else None
    if name == "classifier":
        found.append(("cache", classifier_path(evaluator.dataset, evaluator.options)))
    elif name == "inception":
        found.append(("inception", inception_weights_path()))
    elif name in BACKBONES:  # DINOv2 / CLIP weights: a node keeps them where its own settings say
        found.append((f"weights:{name}", weights_path(BACKBONES[name])))
    out = []
    for kind, path in found:
        if Path(path).is_file():
            rel = Path(path).relative_to(cache_dir()).as_posix() if kind == "cache" else Path(path).name
            out.append({"kind": kind, "rel": rel, "source": str(Path(path).resolve()),
                        "sha256": file_sha256(Path(path))})
    return out


def prepare(results: Path, todo: list[Trial], data_dir=None, suite_path: Optional[Path] = None) \
        -> dict[Evaluation, list[dict]]:
    """Everything before ``todo`` trains in ``results``: reference statistics (returns their cache files per
    protocol, ``Evaluation.of(trial)``), baselines.json (merged with the records already there), environment.json
    and each trial's config.json. Nothing is written when ``todo`` is empty."""
    from ganbench.environment import collect_environment
    from ganbench.evaluation.baselines import write_baselines

    if not todo:
        return {}
    results = Path(results)
    evaluators = build_evaluators(todo, data_dir)
    files = {p: reference_files(ev) for p, ev in evaluators.items()}
    write_baselines(results, todo, data_dir=data_dir, evaluators=evaluators)
    env = collect_environment(suite_path)
    atomic_write_json(results / "environment.json", env)  # the latest run's
    with open(results / "environments.jsonl", "a") as f:  # one record per run: which suite files filled the directory
        f.write(json.dumps({**env, "suite_name": todo[0].suite, "trials_to_run": len(todo)}, sort_keys=True) + "\n")
    for t in todo:
        write_trial_config(results, t)
    return files


def run_options(suite):
    """How a suite's trials run (``resources`` and ``logging``): the trainer's RunOptions."""
    from ganbench.training.loop import RunOptions

    r = suite.resources
    return RunOptions(checkpoint_every_d_steps=r.checkpoint_every_d_steps, amp=r.amp, channels_last=r.channels_last,
                      compile=r.compile, logging=suite.logging.model_dump())
