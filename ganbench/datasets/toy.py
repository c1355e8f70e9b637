"""2D Gaussian mixtures of the mode-collapse literature (PacGAN, VEEGAN): ``ring8`` and ``grid25``.

ring8: 8 modes evenly on the unit circle, std 0.01. grid25: 25 modes at {-4,-2,0,2,4}^2, std 0.05.
100k training points (a fixed draw); val and test are further fixed draws of 10k. Generators end in tanh, so the
mixtures are scaled into (-1, 1): ring8 by 0.5 (radius 0.5), grid25 by 0.15 (modes at up to +-0.6). Centres and std
scale with the points, and the mode metrics (distance under 3 std, histogram over modes) do not change under scaling,
so they are the papers' numbers.
"""
from __future__ import annotations

import numpy as np
import torch

from ganbench.datasets import DATASETS, Dataset, DatasetInfo, DataSplit

_SPLIT_SIZE = {"train": 100_000, "val": 10_000, "test": 10_000}
_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}


class GaussianMixture(Dataset):
    option_defaults = {"n_train": 100_000}

    def __init__(self, name: str, centers: np.ndarray, std: float, scale: float):
        self.name, self.centers, self.std = name, centers * scale, std * scale

    def info(self, options: dict) -> DatasetInfo:
        return DatasetInfo(self.name, "toy", (2,), default_metrics=("modes",), primary="modes",
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


DATASETS.add("ring8", GaussianMixture("ring8", ring8_centers(), 0.01, scale=0.5),
             help="8 Gaussians on the unit circle, std 0.01 (2D, mode metrics)")
DATASETS.add("grid25", GaussianMixture("grid25", grid25_centers(), 0.05, scale=0.15),
             help="25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (2D, mode metrics)")
