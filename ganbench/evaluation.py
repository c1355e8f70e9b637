"""Metric plug-ins and the evaluator a trial calls at its evaluation points.

A metric turns generated samples (and, for images, extractor features of real and generated images) into named
values. Every value is stored with its provenance: metric, extractor and weights hash, input resolution/resize,
n_real, n_fake, split and library versions. ``OUTPUT_DIRECTIONS`` says which way is better for each value.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ganbench.datasets import DatasetInfo, load_split
from ganbench.extractors import EXTRACTORS, Extractor, cache_dir  # noqa: F401  (re-export)
from ganbench.results import atomic_write_bytes
from ganbench.metrics import functional as mf
from ganbench.registry import GanbenchError, Registry

# value name -> "max" (higher is better), "min" (lower is better) or None (a spread, not a score)
OUTPUT_DIRECTIONS = {
    "modes": "max", "hq": "max", "reverse_kl": "min",
    "fid": "min", "kid": "min", "kid_std": None, "precision": "max", "recall": "max",
    "density": "max", "coverage": "max", "is": "max", "is_std": None, "diversity": None,
}


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "toy" or "image"
    outputs: tuple[str, ...]
    fn: Callable[..., dict]


METRICS: Registry[Metric] = Registry("metric")


def _metric(name: str, kind: str, outputs: tuple[str, ...], help: str):
    def deco(fn):
        METRICS.add(name, Metric(name, kind, outputs, fn), help=help)
        return fn

    return deco


@_metric("modes", "toy", ("modes", "hq", "reverse_kl"),
         "2D mixtures: modes captured, high-quality fraction, reverse KL over modes (PacGAN definitions)")
def _modes(fake: np.ndarray, info: DatasetInfo, **_) -> dict:
    return mf.mode_metrics(fake, info.centers, info.std, threshold=3.0)


@_metric("fid", "image", ("fid",), "Frechet distance between extractor features of real and generated images")
def _fid(real_features, fake_features, **_) -> dict:
    return {"fid": mf.fid_from_features(real_features, fake_features)}


@_metric("kid", "image", ("kid", "kid_std"), "kernel inception distance: cubic polynomial kernel, unbiased MMD^2, "
                                              "100 subsets of at most 1000")
def _kid(real_features, fake_features, **_) -> dict:
    size = min(1000, len(real_features), len(fake_features))
    mean, std = mf.kid_from_features(real_features, fake_features, subsets=100, subset_size=size)
    return {"kid": mean, "kid_std": std}


@_metric("pr", "image", ("precision", "recall"), "improved precision and recall, k = 3 (Kynkaanniemi et al. 2019)")
def _pr(real_features, fake_features, **_) -> dict:
    p, r = mf.precision_recall(real_features, fake_features, k=3)
    return {"precision": p, "recall": r}


@_metric("dc", "image", ("density", "coverage"), "density and coverage, k = 5 (Naeem et al. 2020)")
def _dc(real_features, fake_features, **_) -> dict:
    d, c = mf.density_coverage(real_features, fake_features, k=5)
    return {"density": d, "coverage": c}


@_metric("is", "image", ("is", "is_std"), "inception score from the extractor's logits, 10 splits")
def _is(fake_logits, **_) -> dict:
    mean, std = mf.inception_score_from_logits(fake_logits, splits=10)
    return {"is": mean, "is_std": std}


# --- reference statistics -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceKey:
    dataset: str
    options: tuple  # sorted (key, value) pairs of dataset options
    split: str
    extractor: str
    weights_sha: str
    n_real: int

    def path(self) -> Path:
        h = hashlib.sha256(repr(self).encode()).hexdigest()[:12]
        return cache_dir() / "stats" / (f"{self.dataset}-{self.split}-{self.extractor}-{self.weights_sha[:8]}-"
                                          f"n{self.n_real}-{h}.npz")


def reference_n_real(n_real: Optional[int], n_samples: int, split_size: int) -> int:
    return min(n_real or n_samples, split_size)


def real_subset(x: torch.Tensor, n: int) -> torch.Tensor:
    """The first n images of a fixed permutation of a split (the same for every trial and machine)."""
    perm = np.random.default_rng(12345).permutation(len(x))[:n]
    return x[torch.from_numpy(np.sort(perm))]


def compute_reference(key: ReferenceKey, extractor: Extractor, data_dir=None) -> Path:
    """Features of n_real real images, saved in pytorch-fid's .npz format (mu, sigma) plus the features themselves
    (for KID and precision/recall). Written atomically; computed once per key."""
    path = key.path()
    if path.is_file():
        return path
    split = load_split(key.dataset, key.split, data_dir, dict(key.options))
    feats, _ = extractor.features_and_logits(real_subset(split.x, key.n_real))
    mu, sigma = mf.features_to_stats(feats)
    import io

    buf = io.BytesIO()
    np.savez(buf, mu=mu, sigma=sigma, features=feats.astype(np.float32))
    atomic_write_bytes(path, buf.getvalue())
    return path


@lru_cache(maxsize=16)
def _load_reference(path: Path) -> np.ndarray:
    with np.load(path) as f:
        return f["features"].astype(np.float64)


# --- the evaluator ------------------------------------------------------------------------------------------------
class Evaluator:
    """Scores generated samples for one trial: ``evaluate(fake, split) -> (values, provenance)``."""

    def __init__(self, dataset: str, options: dict, info: DatasetInfo, metrics: list[str], extractor: Optional[str],
                 n_samples: int, n_real: Optional[int], data_dir=None, device: str = "cpu"):
        self.info, self.metrics, self.n_samples = info, [METRICS.get(m) for m in metrics], n_samples
        for m in self.metrics:
            if m.kind != info.kind:
                raise GanbenchError(f"metric {m.name!r} is for {m.kind} datasets; {info.name!r} is a {info.kind} "
                                    f"dataset (its metrics: {', '.join(info.default_metrics)})")
        self.extractor = None
        self.references: dict[str, ReferenceKey] = {}
        if info.kind == "image":
            self.extractor = EXTRACTORS.get(extractor)(dataset=dataset, options=options, data_dir=data_dir,
                                                       device=device)
            for split in ("val", "test"):
                size = len(load_split(dataset, split, data_dir, options))
                key = ReferenceKey(dataset, tuple(sorted(options.items())), split, self.extractor.name,
                                   self.extractor.weights_sha, reference_n_real(n_real, n_samples, size))
                compute_reference(key, self.extractor, data_dir)
                self.references[split] = key

    def evaluate(self, fake: torch.Tensor, split: str) -> tuple[dict, dict]:
        from ganbench.provenance import library_versions

        inputs: dict = {"info": self.info}
        base = {"split": split, "n_fake": len(fake), **library_versions()}
        if self.info.kind == "toy":
            inputs["fake"] = fake.detach().cpu().double().numpy()
            base.update({"extractor": "none", "n_real": 0, "split": "analytic modes"})
        else:
            key = self.references[split]
            inputs["fake_features"], inputs["fake_logits"] = self.extractor.features_and_logits(fake)
            inputs["real_features"] = _load_reference(key.path())
            base.update({**self.extractor.provenance(), "n_real": key.n_real, **self.extractor.extra})
        values, provenance = {}, {}
        for metric in self.metrics:
            out = metric.fn(**inputs)
            for name, value in out.items():
                values[name] = float(value)
                provenance[name] = {"metric": metric.name, "direction": OUTPUT_DIRECTIONS.get(name), **base}
        return values, provenance
