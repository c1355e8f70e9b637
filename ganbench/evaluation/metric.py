"""The metric record and registry: a metric names its inputs, its outputs and, for each output, which way is better.

A metric function names the inputs it takes as its parameters (see ``INPUTS``); the evaluator computes only the
inputs some selected metric asks for. A function returns a dict of values, or (values, provenance) to add its own
fields to each value's record. Each output declares its direction where the metric is declared: "max" (higher is
better), "min" (lower is better) or None (a spread, not a score); ``output_direction`` answers for any output and
refuses a name no metric declares.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional

from ganbench.registry import GanbenchError, Registry

TRAIN_SUBSET = 10_000  # training rows used by train-set metrics (memorisation, duplicate calibration)

# what a metric function may take (its parameter names); rows are samples, images flattened to pixels in [-1, 1]
INPUTS = {
    "info": "the DatasetInfo",
    "split": "the scored split: 'val' or 'test'",
    "fake": "generated samples, float64 (N, d): 2D points, or images flattened",
    "fake_features": "extractor features of the generated images",
    "fake_logits": "extractor logits of the generated images",
    "real": "the split's n_real reference rows (the images behind real_features), float64, flattened",
    "real_features": "extractor features of the split's n_real reference images (cached)",
    "train": f"a fixed subset of at most {TRAIN_SUBSET} training rows, float64, flattened",
    "train_features": "extractor features of that training subset (cached on disk like reference statistics)",
    "real_nn_pixels": "distance of each `real` row to its nearest `train` row (cached on disk)",
    "real_nn_features": "the same in the extractor's feature space (cached on disk)",
    "dup_threshold": "near-duplicate pixel distance calibrated on training pairs (see metrics.support)",
}
IMAGE_ONLY = {"fake_features", "fake_logits", "real_features", "train_features", "real_nn_pixels",
              "real_nn_features", "dup_threshold"}


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "toy", "image" or "any"
    directions: dict  # output name -> "max", "min" or None (a spread, not a score)
    fn: Callable[..., dict]
    inputs: tuple[str, ...] = ()  # the fn's parameters: names from INPUTS
    extractors: tuple[str, ...] = ()  # the only extractors whose features it takes (empty: any but the backbones)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.directions)

    def fits(self, kind: str) -> bool:
        """Whether this metric scores datasets of this kind ("toy" or "image")."""
        return self.kind in (kind, "any")


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, kind: str, outputs: dict, help: str, extractors: tuple[str, ...] = ()):
    """Register ``fn`` as metric ``name``; ``outputs`` maps each value it returns to its direction; ``extractors``
    names the only feature spaces it is defined in (see ``evaluation.backbones.check_feature_space``)."""
    def deco(fn):
        params = [p.name for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD]
        unknown = [p for p in params if p not in INPUTS]
        if unknown or kind not in ("toy", "image", "any") or (kind != "image" and IMAGE_ONLY & set(params)):
            raise ValueError(f"metric {name!r}: inputs {params} (kind {kind!r}) are not all available; "
                             f"inputs: {', '.join(INPUTS)}")
        if not isinstance(outputs, dict) or any(d not in ('max', 'min', None) for d in outputs.values()):
            raise ValueError(f'metric {name!r}: outputs must map each value to "max", "min" or None')
        METRICS.add(name, Metric(name, kind, dict(outputs), fn, tuple(params), tuple(extractors)), help=help)
        return fn

    return deco


def output_direction(output: str) -> Optional[str]:
    """Which way is better for a value some registered metric returns; an unknown name is an error, never a guess."""
    import ganbench.evaluation  # noqa: F401  (the package face registers the built-in metrics)

    for name in METRICS:
        if output in METRICS.get(name).directions:
            return METRICS.get(name).directions[output]
    raise GanbenchError(f"no registered metric returns a value named {output!r}")
