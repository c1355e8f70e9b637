"""Sample pictures: an image grid for image datasets, a scatter plot over the real data for 2D mixtures."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch


def save_samples(fake: torch.Tensor, info, path: Path, real: Optional[torch.Tensor] = None) -> None:
    path = Path(path)
    if info.kind == "image":
        from torchvision.utils import save_image

        grid = (fake[:64].clamp(-1, 1) + 1) / 2
        if grid.shape[-1] < 32:  # small images (8x8 digits): enlarge with nearest neighbours so they can be seen
            factor = 32 // grid.shape[-1]
            grid = torch.nn.functional.interpolate(grid, scale_factor=factor, mode="nearest")
        save_image(grid, path, nrow=8, padding=2)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:red", label="generated")
    if info.centers is not None:
        ax.scatter(info.centers[:, 0], info.centers[:, 1], marker="+", c="k", s=30, label="modes")
        lim = abs(info.centers).max() * 1.6
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
