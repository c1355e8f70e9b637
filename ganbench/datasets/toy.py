"""2D Gaussian mixtures of the mode-collapse literature (PacGAN, VEEGAN): ``ring8`` and ``grid25``, in (-1, 1).

Generators end in tanh, so the mixtures live in (-1, 1), and every number a user sees (listing, figures, docs) is in
these units:
- ring8: 8 modes evenly on the circle of radius 0.5 (centres 0.5 (cos 2 pi k/8, sin 2 pi k/8)), std 0.005; a sample
  is high quality within 3 std = 0.015 of a centre.
- grid25: 25 modes at {-0.6, -0.3, 0, 0.3, 0.6}^2, std 0.0075; high quality within 3 std = 0.0225 of a centre.
They are the papers' mixtures (ring8: unit circle, std 0.01; grid25: {-4, -2, 0, 2, 4}^2, std 0.05) scaled by 0.5
and 0.15. The mode metrics (distance under 3 std, histogram over modes) do not change under scaling, so their values
are the papers' numbers. 100k training points (a fixed draw); val and test are further fixed draws of 10k.
"""
from __future__ import annotations

import numpy as np
import torch

from ganbench.datasets.base import DATASETS, Dataset, DatasetInfo, DataSplit

_SPLIT_SIZE = {"train": 100_000, "val": 10_000, "test": 10_000}
_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}


class GaussianMixture(Dataset):
    option_defaults = {"n_train": 100_000}

    def __init__(self, name: str, centers: np.ndarray, std: float, scale: float):
        self.name, self.centers, self.std = name, centers * scale, std * scale

    def info(self, options: dict) -> DatasetInfo:
        return DatasetInfo(self.name, "toy", (2,), default_metrics=("modes",), primary="mode_tv",
                           centers=self.centers, std=self.std)

    def load(self, split, data_dir, options) -> DataSplit:
        n = int(options["n_train"]) if split == "train" else _SPLIT_SIZE[split]
        rng = np.random.default_rng(1000 + _SPLIT_SEED[split])
        which = rng.integers(len(self.centers), size=n)
        points = self.centers[which] + self.std * rng.standard_normal((n, 2))
        return DataSplit(torch.from_numpy(points.astype(np.float32)), torch.from_numpy(which.astype(np.int64)))


def ring8_centers() -> np.ndarray:
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_centers() -> np.ndarray:
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(x, y) for x in axis for y in axis])


_RING8 = GaussianMixture("ring8", ring8_centers(), 0.01, scale=0.5)
_GRID25 = GaussianMixture("grid25", grid25_centers(), 0.05, scale=0.15)
DATASETS.add("ring8", _RING8, help=f"8 Gaussians on a circle of radius 0.5, std {_RING8.std:g}, high quality within "
                                   f"3 std = {3 * _RING8.std:g} of a centre; in (-1, 1) (2D, mode metrics)")
DATASETS.add("grid25", _GRID25, help=f"25 Gaussians at {{-0.6,-0.3,0,0.3,0.6}}^2, std {_GRID25.std:g}, high quality "
                                     f"within 3 std = {3 * _GRID25.std:g} of a centre; in (-1, 1) (2D, mode metrics)")
