"""Metric plug-ins and the evaluator a trial calls at its evaluation points.

A metric turns generated samples (and, for images, extractor features of real and generated images) into named
values. Every value is stored with its provenance: metric, extractor and weights hash, input resolution/resize,
n_real, n_fake, split and library versions, plus what the metric itself records (space, scale, projections...).
``OUTPUT_DIRECTIONS`` says which way is better for each value.

A metric function names the inputs it takes as its parameters (see ``INPUTS``); the evaluator computes only the
inputs some selected metric asks for, those that do not depend on the samples once per split, and caches the
expensive ones on disk as reference statistics (train-set features, held-out nearest-neighbour distances).
A function returns a dict of values, or (values, provenance) to add its own fields to each value's record.
"""
from __future__ import annotations

import hashlib
import inspect
import io
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
from ganbench.metrics.memorisation import REPORTED_QUANTILES, quantile_label
from ganbench.registry import GanbenchError, Registry

TRAIN_SUBSET = 10_000  # training rows used by train-set metrics (memorisation, duplicate calibration)

# value name -> "max" (higher is better), "min" (lower is better) or None (a spread, not a score)
OUTPUT_DIRECTIONS = {
    "modes": "max", "hq": "max", "reverse_kl": "min", "mode_tv": "min",
    "fid": "min", "kid": "min", "kid_std": None, "precision": "max", "recall": "max",
    "density": "max", "coverage": "max", "is": "max", "is_std": None, "diversity": None,
    "swd": "min", "swd_features": "min",
    "copies_pixels": "min", "copies_features": "min",
    **{f"nn_{space}_{who}_{quantile_label(q)}": None for space in ("pixels", "features") for who in ("fake", "real")
       for q in REPORTED_QUANTILES},
    "support": "max", **{f"support{x}": None for x in ("_lo", "_hi", "_dup_pairs", "_real", "_real_lo", "_real_hi",
                                                        "_real_dup_pairs")},
}

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
    outputs: tuple[str, ...]
    fn: Callable[..., dict]
    inputs: tuple[str, ...] = ()  # the fn's parameters: names from INPUTS

    def fits(self, kind: str) -> bool:
        """Whether this metric scores datasets of this kind ("toy" or "image")."""
        return self.kind in (kind, "any")


METRICS: Registry[Metric] = Registry("metric")


def _metric(name: str, kind: str, outputs: tuple[str, ...], help: str):
    def deco(fn):
        params = [p.name for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD]
        unknown = [p for p in params if p not in INPUTS]
        if unknown or kind not in ("toy", "image", "any") or (kind != "image" and IMAGE_ONLY & set(params)):
            raise ValueError(f"metric {name!r}: inputs {params} (kind {kind!r}) are not all available; "
                             f"inputs: {', '.join(INPUTS)}")
        METRICS.add(name, Metric(name, kind, outputs, fn, tuple(params)), help=help)
        return fn

    return deco


@_metric("modes", "toy", ("modes", "hq", "reverse_kl", "mode_tv"),
         "2D mixtures: modes captured, high-quality fraction, reverse KL over modes (PacGAN definitions), and "
         "mode_tv, the total variation to the ideal distribution over modes + off-mode (the toys' primary)")
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
    n_real: int  # images of the split used (for split "train": the training subset, at most TRAIN_SUBSET)

    def path(self) -> Path:
        h = hashlib.sha256(repr(self).encode()).hexdigest()[:12]
        return cache_dir() / "stats" / (f"{self.dataset}-{self.split}-{self.extractor}-{self.weights_sha[:8]}-"
                                          f"n{self.n_real}-{h}.npz")

    def nn_path(self, train: "ReferenceKey") -> Path:
        """Where the nearest-training-neighbour distances of this key's images (to ``train``'s) are cached."""
        h = hashlib.sha256(repr((self, train)).encode()).hexdigest()[:12]
        return self.path().with_name(f"nn-{self.dataset}-{self.split}-n{self.n_real}-train{train.n_real}-{h}.npz")


def reference_n_real(n_real: Optional[int], n_samples: int, split_size: int) -> int:
    return min(n_real or n_samples, split_size)


def real_subset(x: torch.Tensor, n: int) -> torch.Tensor:
    """The first n images of a fixed permutation of a split (the same for every trial and machine)."""
    perm = np.random.default_rng(12345).permutation(len(x))[:n]
    return x[torch.from_numpy(np.sort(perm))]


def _save_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def compute_reference(key: ReferenceKey, extractor: Extractor, data_dir=None) -> Path:
    """Features of n_real real images, saved in pytorch-fid's .npz format (mu, sigma) plus the features themselves
    (for KID and precision/recall). Written atomically; computed once per key."""
    path = key.path()
    if path.is_file():
        return path
    split = load_split(key.dataset, key.split, data_dir, dict(key.options))
    feats, _ = extractor.features_and_logits(real_subset(split.x, key.n_real))
    mu, sigma = mf.features_to_stats(feats)
    _save_npz(path, mu=mu, sigma=sigma, features=feats.astype(np.float32))
    return path


def compute_nn_reference(key: ReferenceKey, train: ReferenceKey, data_dir=None) -> Path:
    """Distances from the n_real reference images of ``key`` to their nearest image of the training subset ``train``,
    in pixels and in features (both references must exist): the held-out side of memorisation. Atomic, cached."""
    from ganbench.metrics.memorisation import nearest_distances

    path = key.nn_path(train)
    if path.is_file():
        return path
    pixels = [_flat(real_subset(load_split(k.dataset, k.split, data_dir, dict(k.options)).x, k.n_real))
              for k in (key, train)]
    _save_npz(path, pixels=nearest_distances(*pixels),
              features=nearest_distances(_load_reference(key.path()), _load_reference(train.path())))
    return path


@lru_cache(maxsize=16)
def _load_reference(path: Path, field: str = "features") -> np.ndarray:
    with np.load(path) as f:
        return f[field].astype(np.float64)


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().double().reshape(len(x), -1).numpy()


# --- the evaluator ------------------------------------------------------------------------------------------------
class Evaluator:
    """Scores generated samples for one trial: ``evaluate(fake, split) -> (values, provenance)``."""

    def __init__(self, dataset: str, options: dict, info: DatasetInfo, metrics: list[str], extractor: Optional[str],
                 n_samples: int, n_real: Optional[int], data_dir=None, device: str = "cpu"):
        self.info, self.metrics, self.n_samples = info, [METRICS.get(m) for m in metrics], n_samples
        self.dataset, self.options, self.data_dir, self.n_real = dataset, options, data_dir, n_real
        for m in self.metrics:
            if not m.fits(info.kind):
                raise GanbenchError(f"metric {m.name!r} is for {m.kind} datasets; {info.name!r} is a {info.kind} "
                                    f"dataset (its metrics: {', '.join(info.default_metrics)})")
        self.needs = {p for m in self.metrics for p in m.inputs}
        self._fixed: dict = {}  # inputs that do not depend on the samples, per split
        self.extractor = None
        self.references: dict[str, ReferenceKey] = {}
        if info.kind == "image":
            self.extractor = EXTRACTORS.get(extractor)(dataset=dataset, options=options, data_dir=data_dir,
                                                       device=device)
            for split in ("val", "test"):
                self.references[split] = self._key(split, reference_n_real(n_real, n_samples, self._size(split)))
                compute_reference(self.references[split], self.extractor, data_dir)
            if self.needs & {"train_features", "real_nn_pixels", "real_nn_features"}:
                self.references["train"] = self._key("train", min(TRAIN_SUBSET, self._size("train")))
                compute_reference(self.references["train"], self.extractor, data_dir)
            if self.needs & {"real_nn_pixels", "real_nn_features"}:
                for split in ("val", "test"):
                    compute_nn_reference(self.references[split], self.references["train"], data_dir)

    def _key(self, split: str, n: int) -> ReferenceKey:
        return ReferenceKey(self.dataset, tuple(sorted(self.options.items())), split, self.extractor.name,
                            self.extractor.weights_sha, n)

    def _split(self, split: str):
        return load_split(self.dataset, split, self.data_dir, self.options)

    def _size(self, split: str) -> int:
        if ("size", split) not in self._fixed:
            self._fixed["size", split] = len(self._split(split))
        return self._fixed["size", split]

    def _n(self, split: str) -> int:
        if split in self.references:
            return self.references[split].n_real
        if split == "train":
            return min(TRAIN_SUBSET, self._size(split))
        return reference_n_real(self.n_real, self.n_samples, self._size(split))

    def fixed_input(self, name: str, split: str):
        """An input that does not depend on the samples (real rows, training subset, cached distances)."""
        split = None if name in ("train", "train_features", "dup_threshold") else split  # one per trial
        if (name, split) in self._fixed:
            return self._fixed[name, split]
        if name in ("real", "train"):
            which = split if name == "real" else "train"
            value = _flat(real_subset(self._split(which).x, self._n(which)))
        elif name == "real_features":
            value = _load_reference(self.references[split].path())
        elif name == "train_features":
            value = _load_reference(self.references["train"].path())
        elif name in ("real_nn_pixels", "real_nn_features"):
            path = self.references[split].nn_path(self.references["train"])
            value = _load_reference(path, name.removeprefix("real_nn_"))
        elif name == "dup_threshold":
            from ganbench.metrics.support import CALIBRATION_IMAGES, PAIR_FRACTION, calibrate_threshold

            value = calibrate_threshold(self.fixed_input("train", split)[:CALIBRATION_IMAGES], PAIR_FRACTION)
        else:
            raise KeyError(name)
        self._fixed[name, split] = value
        return value

    def evaluate(self, fake: torch.Tensor, split: str) -> tuple[dict, dict]:
        from ganbench.provenance import library_versions

        computed: dict = {"info": self.info, "split": split}

        def get(name: str):
            if name not in computed:
                if name == "fake":
                    computed[name] = _flat(fake)
                elif name in ("fake_features", "fake_logits"):
                    computed["fake_features"], computed["fake_logits"] = self.extractor.features_and_logits(fake)
                else:
                    computed[name] = self.fixed_input(name, split)
            return computed[name]

        base = {"split": split, "n_fake": len(fake), **library_versions()}
        if self.info.kind == "toy":
            base.update({"extractor": "none", "n_real": 0, "split": "analytic modes"})
        else:
            base.update({**self.extractor.provenance(), "n_real": self.references[split].n_real,
                         **self.extractor.extra})
        values, provenance = {}, {}
        for metric in self.metrics:
            out = metric.fn(**{name: get(name) for name in metric.inputs})
            out, extra = out if isinstance(out, tuple) else (out, {})
            for name, value in out.items():
                values[name] = float(value)
                provenance[name] = {"metric": metric.name, "direction": OUTPUT_DIRECTIONS.get(name), **base, **extra}
        return values, provenance


from ganbench.metrics import plugins  # noqa: E402,F401  (registers swd, swd_features, memorisation, birthday)
