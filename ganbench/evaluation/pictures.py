"""Sample pictures: an image grid for image datasets; for 2D mixtures, a scatter of the generated points over the
real ones, at a fixed scale where collapse and spread are seen at a glance.

The toy figure draws each mode's high-quality circle (radius 3 std, the threshold of the ``modes`` metric), colours
the generated points inside a circle apart from the others, fixes the axes to the data's extent (the same frame for
every trial of a dataset, equal aspect), counts the points outside that frame, and puts the scores in the title.

The nearest-neighbour figure, in the style of the GAN papers' memorisation checks: each row is a generated sample
followed by its k nearest training images in pixel space (Euclidean, images flattened, pixels in [-1, 1]).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ganbench.evaluation.metrics.memorisation import nearest_neighbours
from ganbench.registry import GanbenchError

HQ_THRESHOLD_STD = 3.0  # as the "modes" metric (ganbench.evaluation.evaluator): high quality = within 3 std of a centre
_MARGIN = 0.25  # the frame extends the modes' extent by this fraction of it on each side


def save_samples(fake: torch.Tensor, info, path: Path, real: Optional[torch.Tensor] = None, *,
                 scores: Optional[dict] = None, title: Optional[str] = None) -> None:
    """Write ``path`` (PNG). ``scores`` (toys: the ``modes`` metric's values, e.g. {"modes": 21, "hq": 0.019,
    "reverse_kl": 0.28}) and ``title`` annotate a toy figure; image grids ignore them."""
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

    fig = toy_figure(fake, info, real, scores=scores, title=title)
    fig.savefig(path)
    plt.close(fig)


def high_quality(points: np.ndarray, centers: np.ndarray, std: float) -> np.ndarray:
    """Boolean mask: the point is closer than HQ_THRESHOLD_STD * std to its nearest centre (the metric's rule)."""
    d2 = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return np.sqrt(d2.min(axis=1)) < HQ_THRESHOLD_STD * std


def toy_limits(info) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the modes' extent (centres +- 3 std), widened by _MARGIN of its size on each side."""
    c, r = np.asarray(info.centers, dtype=np.float64), HQ_THRESHOLD_STD * info.std
    lo, hi = c.min(axis=0) - r, c.max(axis=0) + r
    pad = _MARGIN * (hi - lo).max()
    return float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad)


def toy_title(info, scores: Optional[dict], title: Optional[str]) -> str:
    head = title or info.name
    if not scores:
        return head
    parts = []
    if "modes" in scores:
        parts.append(f"{int(scores['modes'])}/{len(info.centers)} modes")
    if "hq" in scores:
        parts.append(f"high quality {scores['hq']:.3f}")
    if "reverse_kl" in scores:
        parts.append(f"reverse KL {scores['reverse_kl']:.3f}")
    return head + ("\n" + ", ".join(parts) if parts else "")


def toy_figure(fake, info, real=None, *, scores: Optional[dict] = None, title: Optional[str] = None):
    """The matplotlib figure of ``save_samples`` for a 2D mixture (the caller closes it)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle

    fake = _numpy(fake)
    centers, radius = np.asarray(info.centers, dtype=np.float64), HQ_THRESHOLD_STD * info.std
    x0, x1, y0, y1 = toy_limits(info)
    fig, ax = plt.subplots(figsize=(5.2, 5.8), dpi=120)
    if real is not None:
        real = _numpy(real)
        ax.scatter(real[:, 0], real[:, 1], s=1.5, c="0.7", alpha=0.5, linewidths=0, label="real (train)", zorder=1)
    ax.add_collection(PatchCollection([Circle(tuple(c), radius) for c in centers], facecolor="none",
                                      edgecolor="0.25", linewidth=0.8, zorder=2))
    ax.scatter(centers[:, 0], centers[:, 1], marker="+", c="k", s=25, linewidths=0.8, zorder=3,
               label=f"mode centres (circles: 3 std = {radius:g})")
    good = high_quality(fake, centers, info.std)
    outside = (fake[:, 0] < x0) | (fake[:, 0] > x1) | (fake[:, 1] < y0) | (fake[:, 1] > y1)
    inside_bad = ~good & ~outside
    ax.scatter(fake[inside_bad, 0], fake[inside_bad, 1], s=7, c="tab:red", alpha=0.7, linewidths=0, zorder=4,
               label=f"generated, off-mode ({int((~good).sum())})")
    ax.scatter(fake[good, 0], fake[good, 1], s=7, c="tab:blue", linewidths=0, zorder=5,
               label=f"generated, high quality ({int(good.sum())})")
    if outside.any():  # drawn on the frame's edge, so spread beyond the data is seen rather than cut off
        edge = np.column_stack([fake[outside, 0].clip(x0, x1), fake[outside, 1].clip(y0, y1)])
        ax.scatter(edge[:, 0], edge[:, 1], s=14, marker="x", c="tab:red", linewidths=0.7, zorder=4,
                   clip_on=False, label=f"generated, outside the frame ({int(outside.sum())}; at its edge)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_title(toy_title(info, scores, title), fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=6.5, frameon=False,
              markerscale=2, title=f"{len(fake)} generated points; mode std {info.std:g}", title_fontsize=6.5)
    fig.tight_layout()
    return fig


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


# --- nearest training neighbours ---------------------------------------------------------------------------------
PADDING = 2  # pixels between cells, as the sample grid


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
