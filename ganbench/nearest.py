"""Nearest-neighbour figure in the style of the GAN papers' memorisation checks: each row is a generated sample
followed by its k nearest training images in pixel space (Euclidean, images flattened, pixels in [-1, 1])."""
from __future__ import annotations

from pathlib import Path

import torch

from ganbench.metrics.memorisation import nearest_neighbours
from ganbench.registry import GanbenchError

PADDING = 2  # pixels between cells, as samples.py


def nearest_rows(fake: torch.Tensor, train_x: torch.Tensor, n_rows: int = 8, k: int = 3) -> torch.Tensor:
    """The figure's cells in row order, [n_rows * (k + 1), C, H, W]: fake[i], then its k nearest of train_x.

    Uses the first ``n_rows`` samples (fewer when fewer are given); neighbours nearest first.
    """
    if fake.ndim != 4 or train_x.ndim != 4 or fake.shape[1:] != train_x.shape[1:]:
        raise GanbenchError(f"nearest neighbours need images [N, C, H, W] of one shape, got {tuple(fake.shape)} and "
                            f"{tuple(train_x.shape)}")
    if n_rows < 1 or not 1 <= k <= len(train_x):
        raise GanbenchError(f"nearest neighbours: n_rows must be >= 1 and k in [1, {len(train_x)}] (training images), "
                            f"got n_rows={n_rows}, k={k}")
    rows = fake[:n_rows].detach().cpu().float()
    flat = rows.double().reshape(len(rows), -1).numpy()
    _, idx = nearest_neighbours(flat, train_x.detach().cpu().double().reshape(len(train_x), -1).numpy(), k)
    neighbours = train_x.detach().cpu().float()[torch.from_numpy(idx.reshape(-1))].reshape(len(rows), k,
                                                                                          *rows.shape[1:])
    return torch.cat([rows[:, None], neighbours], dim=1).reshape(-1, *rows.shape[1:])


def save_nearest_neighbours(fake: torch.Tensor, train_x: torch.Tensor, info, path, n_rows: int = 8,
                            k: int = 3) -> Path:
    """Write the PNG at ``path``: ``n_rows`` rows of k + 1 cells (sample, then its k nearest training images).

    Images smaller than 32 pixels are enlarged with nearest neighbours by 32 // width, as samples.py does; cells
    are separated by 2 pixels. Returns the path. For image datasets only.
    """
    if info.kind != "image":
        raise GanbenchError(f"nearest-neighbour figure: {info.name!r} is a {info.kind} dataset; it needs images")
    from torchvision.utils import save_image

    cells = (nearest_rows(fake, train_x, n_rows, k).clamp(-1, 1) + 1) / 2
    if cells.shape[-1] < 32:
        cells = torch.nn.functional.interpolate(cells, scale_factor=32 // cells.shape[-1], mode="nearest")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(cells, path, nrow=k + 1, padding=PADDING)
    return path
