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
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ganbench.datasets import DatasetInfo, load_split
from ganbench.environment import library_versions
from ganbench.evaluation.backbones import check_feature_space
from ganbench.evaluation.extractors import EXTRACTORS, Extractor
from ganbench.evaluation.metric import METRICS, TRAIN_SUBSET
from ganbench.evaluation.metrics import functional as mf
from ganbench.paths import atomic_write_bytes, cache_dir
from ganbench.registry import GanbenchError


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
    from ganbench.evaluation.metrics.memorisation import nearest_distances

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
        check_feature_space(self.metrics, extractor if info.kind == "image" else None)
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
            from ganbench.evaluation.metrics.support import CALIBRATION_IMAGES, PAIR_FRACTION, calibrate_threshold

            value = calibrate_threshold(self.fixed_input("train", split)[:CALIBRATION_IMAGES], PAIR_FRACTION)
        else:
            raise KeyError(name)
        self._fixed[name, split] = value
        return value

    def evaluate(self, fake: torch.Tensor, split: str) -> tuple[dict, dict]:
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
                provenance[name] = {"metric": metric.name, "direction": metric.directions[name], **base, **extra}
        return values, provenance
