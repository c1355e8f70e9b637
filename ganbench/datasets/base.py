"""What a dataset plug-in is (``Dataset``, ``DatasetInfo``, ``DataSplit``), the registry and the loaders; the
package's face (``ganbench.datasets``) registers the built-in datasets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ganbench.registry import GanbenchError, Registry, unknown_name

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataSplit:
    x: torch.Tensor  # float32; images [N, C, H, W] in [-1, 1], 2D points [N, 2]
    y: Optional[torch.Tensor] = None  # int64 class labels, when the dataset has them

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # "toy" (2D points, scored against known modes) or "image"
    shape: tuple[int, ...]
    num_classes: Optional[int] = None
    default_metrics: tuple[str, ...] = ()
    default_extractor: Optional[str] = None
    primary: str = "fid"  # metric that ranks trials by default
    centers: Optional[np.ndarray] = None  # toy: mode centres
    std: Optional[float] = None  # toy: per-mode standard deviation


class Dataset:
    """A dataset plug-in: ``info(options)`` and ``load(split, data_dir, options)``."""

    option_defaults: dict[str, Any] = {}

    def info(self, options: dict) -> DatasetInfo:
        raise NotImplementedError

    def load(self, split: str, data_dir: Optional[Path], options: dict) -> DataSplit:
        raise NotImplementedError

    def check_options(self, options: dict, where: str) -> None:
        """Unknown names, and values of another type than the default's (an integer option takes 1e4, not 'abc' or
        true); each dataset checks its own ranges."""
        for key, value in options.items():
            if key not in self.option_defaults:
                raise GanbenchError(f"{where}: {unknown_name('option', key, sorted(self.option_defaults))}")
            default = self.option_defaults[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = not isinstance(value, bool) and isinstance(value, (int, float)) and \
                    (isinstance(default, float) or float(value).is_integer())
            else:
                ok = default is None or isinstance(value, type(default))
            if not ok:
                raise GanbenchError(f"{where}.{key}: expected {type(default).__name__} like the default "
                                    f"{default!r}, got {value!r}"[:300])

    def resolved_options(self, options: dict) -> dict:
        return {**self.option_defaults, **options}


DATASETS: Registry[Dataset] = Registry("dataset")


def load_split(name: str, split: str, data_dir: Optional[Path] = None, options: dict | None = None) -> DataSplit:
    if split not in SPLITS:
        raise GanbenchError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    ds = DATASETS.get(name)
    return ds.load(split, data_dir, ds.resolved_options(options or {}))


def dataset_info(name: str, options: dict | None = None) -> DatasetInfo:
    ds = DATASETS.get(name)
    return ds.info(ds.resolved_options(options or {}))


def split_indices(n: int, fractions: tuple[float, float, float], seed: int = 0) -> dict[str, np.ndarray]:
    """A fixed random partition of range(n) into train/val/test (the same on every machine)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(fractions[1] * n)), int(round(fractions[2] * n))
    return {"test": perm[:n_test], "val": perm[n_test:n_test + n_val], "train": perm[n_test + n_val:]}

