"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): offline, always available.

Pixels 0..16 are scaled to [-1, 1]. Fixed splits: 70% train, 10% val, 20% test (seeded permutation).
"""
from __future__ import annotations

import numpy as np
import torch

from ganbench.datasets.base import DATASETS, Dataset, DatasetInfo, DataSplit, split_indices


class Digits(Dataset):
    def info(self, options: dict) -> DatasetInfo:
        return DatasetInfo("digits", "image", (1, 8, 8), num_classes=10, default_metrics=("fid",),
                           default_extractor="classifier", primary="fid")

    def load(self, split, data_dir, options) -> DataSplit:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = bunch.images.astype(np.float32) / 8.0 - 1.0  # 0..16 -> [-1, 1]
        idx = split_indices(len(images), (0.7, 0.1, 0.2))[split]
        x = torch.from_numpy(images[idx]).unsqueeze(1)
        y = torch.from_numpy(bunch.target[idx].astype(np.int64))
        return DataSplit(x, y)


DATASETS.add("digits", Digits(), help="scikit-learn's 8x8 digits, 1x8x8 in [-1, 1], 10 classes (offline)")
