"""Datasets: every one is loaded as in-memory tensors, images scaled to [-1, 1], with explicit splits.

``train`` trains, ``val`` picks a trial's best checkpoint, ``test`` gives the reported score. The plug-in interface
is in ``base``; importing this package registers the built-in datasets (digits, polygons, toy, vision).
"""
from ganbench.datasets import digits, polygons, toy, vision  # noqa: F401  (registers the built-in datasets)
from ganbench.datasets.base import DATASETS, SPLITS, Dataset, DatasetInfo, DataSplit, dataset_info, load_split, \
    split_indices

__all__ = ["DATASETS", "SPLITS", "Dataset", "DatasetInfo", "DataSplit", "dataset_info", "load_split",
           "split_indices"]
