"""``polygons``: the convex polygons of Lucic et al. 2018 (precision/recall experiment), generated procedurally.

Lucic et al.: 28x28 gray triangles, 60k/10k/10k train/val/test, minimum segment angle 20 degrees, scale 0.75
(compare_gan v1 reads them from an 80k-image ``convex`` file: train the first 60k, test [-20k:-10k], val the last
10k). Generated here, written from the study's description:
- the circle is cut into ``vertices`` equal sectors of 360/k degrees; vertex i sits at angle
  phi_i = rot + i * 360/k + min/2 + u_i * (360/k - min), u_i ~ U[0, 1), rot ~ U[0, 360), so every *segment angle*
  (vertex A, centre, vertex B of consecutive vertices) is at least min = 20 degrees. By the inscribed-angle theorem a
  triangle's interior angles are half the opposite segment angles, so each is at least 10 degrees. (Public
  re-implementations of the study's generator draw vertex i in [i * 360/k + min/2, (i+1) * 360/k], which lets two
  consecutive vertices come min/2 apart; here every segment angle respects min);
- the vertices lie on a circle of diameter scale * 28 = 21 pixels centred in the image;
- a pixel's value is the fraction of it the polygon covers: exact along x (the covered length of each sub-row in
  each pixel), midpoint rule over 8 sub-rows along y (exact where the covered length is linear within a sub-row,
  at most 1/16 off where a near-horizontal edge crosses a sub-row);
- colours follow the study's raster, a dark polygon on a white background: coverage c -> 1 - 2c in [-1, 1]
  (background +1, fully covered pixels -1).
Splits are independent seeded draws (train: ``n_train`` images, default 60k, and a smaller ``n_train`` gives a prefix
of the larger set; val and test: 10k each). Labels: none (num_classes None; the study's file labels every image with
its vertex count, a constant). All 80k images take about 2.5 s on one core, so nothing is cached.
Default extractor: ``inception`` as in the study (it needs pytorch-fid's weights); offline runs must name another
feature space, and the ``classifier`` extractor cannot train here because there are no class labels.
"""
from __future__ import annotations

import numpy as np
import torch

from ganbench.datasets.base import DATASETS, Dataset, DatasetInfo, DataSplit
from ganbench.registry import GanbenchError

SIZE = 28
SCALE = 0.75
MIN_SEGMENT_ANGLE_DEG = 20.0
SUBROWS = 8
_SPLIT_SIZE = {"val": 10_000, "test": 10_000}
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}


def polygon_vertices(n: int, vertices: int, rng: np.random.Generator,
                     min_segment_angle_deg: float = MIN_SEGMENT_ANGLE_DEG, scale: float = SCALE,
                     size: int = SIZE) -> np.ndarray:
    """[n, vertices, 2] pixel coordinates (x right, y down, pixel (i, j) spans [j, j+1] x [i, i+1]), in angle order.

    The draw is one ``rng.random((n, vertices + 1))`` call, so the first m of n polygons equal a draw of m.
    """
    k = vertices
    sector, min_angle = 2 * np.pi / k, np.radians(min_segment_angle_deg)
    u = rng.random((n, k + 1))
    phi = 2 * np.pi * u[:, k:] + np.arange(k) * sector + min_angle / 2 + u[:, :k] * (sector - min_angle)
    radius, centre = scale * size / 2, size / 2
    return np.stack([centre + radius * np.cos(phi), centre + radius * np.sin(phi)], axis=-1)


def segment_angles_deg(verts: np.ndarray, size: int = SIZE) -> np.ndarray:
    """[n, k] angles (vertex i, centre, vertex i+1), in degrees; they sum to 360 for a polygon around the centre."""
    rel = verts - size / 2
    phi = np.arctan2(rel[..., 1], rel[..., 0])
    return np.degrees(np.mod(np.roll(phi, -1, axis=-1) - phi, 2 * np.pi))


def rasterize_convex(verts: np.ndarray, size: int = SIZE, subrows: int = SUBROWS) -> np.ndarray:
    """Covered fraction of every pixel, [n, size, size] float32, for convex polygons [n, k, 2] (either orientation).

    A convex polygon is the intersection of its edges' half-planes, so a sub-row y (``subrows`` per pixel, at
    sub-row centres) meets it in [x_lo, x_hi]: x_hi the least of the edge lines x_e(y) that bound it on the right,
    x_lo the greatest of those on the left (empty outside the vertices' y-range or when x_lo > x_hi). The length of
    that interval inside pixel column [j, j+1] is F(x_hi)_j - F(x_lo)_j, F(t)_j = clip(t - j, 0, 1) (1 left of
    column floor t, frac t in it, 0 right of it). F(x_hi) - F(x_lo) is the running sum over j of four steps:
    -(1 - frac x_hi) at floor x_hi, -frac x_hi at floor x_hi + 1, +(1 - frac x_lo) at floor x_lo, +frac x_lo at
    floor x_lo + 1. So each sub-row adds four weights to its pixel row (one ``bincount``), a cumulative sum along x
    gives the covered lengths, and dividing by ``subrows`` the covered fraction (midpoint rule along y).
    """
    verts = np.asarray(verts, dtype=np.float64)
    n, k = verts.shape[:2]
    a, b = verts, np.roll(verts, -1, axis=1)
    dx, dy = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    orient = np.sign(np.sum(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], axis=1, keepdims=True))
    slope = dx / np.where(dy == 0, 1.0, dy)
    offset = a[..., 0] - a[..., 1] * slope  # edge line: x_e(y) = offset + y * slope
    right, left = orient * dy > 0, orient * dy < 0  # inside: x <= x_e(y) (right edges), x >= x_e(y) (left edges)

    ys = verts[..., 1]
    top, bottom = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), size)  # pixel rows reached
    out = np.zeros((n, size, size), dtype=np.float32)
    if bottom <= top:
        return out
    y = ((np.arange(top * subrows, bottom * subrows) + 0.5) / subrows).astype(np.float32)[None, :]  # [1, R]
    hi, lo = np.full((n, y.shape[1]), np.inf, np.float32), np.full((n, y.shape[1]), -np.inf, np.float32)
    for e in range(k):  # edges that do not bound on a side get offset +-inf, slope 0 there
        np.minimum(hi, np.where(right[:, e], offset[:, e], np.inf).astype(np.float32)[:, None]
                   + y * np.where(right[:, e], slope[:, e], 0).astype(np.float32)[:, None], out=hi)
        np.maximum(lo, np.where(left[:, e], offset[:, e], -np.inf).astype(np.float32)[:, None]
                   + y * np.where(left[:, e], slope[:, e], 0).astype(np.float32)[:, None], out=lo)
    keep = (lo < hi) & (y >= ys.min(axis=1, keepdims=True)) & (y <= ys.max(axis=1, keepdims=True))
    hi = np.clip(np.where(keep, hi, 0), 0, size, dtype=np.float32)
    lo = np.clip(np.where(keep, lo, 0), 0, size, dtype=np.float32)

    width, rows = size + 2, bottom - top  # columns floor(t) + 1 <= size + 1
    row_base = (np.arange(n)[:, None] * rows + np.arange(y.shape[1])[None, :] // subrows) * width
    ih, il = hi.astype(np.int64), lo.astype(np.int64)  # floor, as both are >= 0
    fh, fl = hi - ih, lo - il
    index = np.concatenate([row_base + ih, row_base + ih + 1, row_base + il, row_base + il + 1])
    weight = np.concatenate([fh - 1, -fh, 1 - fl, fl])  # -(1 - frac hi), -frac hi, +(1 - frac lo), +frac lo
    steps = np.bincount(index.ravel(), weights=weight.ravel(), minlength=n * rows * width)
    cover = np.cumsum(steps.reshape(n, rows, width)[:, :, :size], axis=2) / subrows
    out[:, top:bottom] = np.clip(cover, 0.0, 1.0)  # the clip only removes rounding of the running sum
    return out


def polygon_images(n: int, vertices: int, seed, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(images [n, 1, 28, 28] float32 in [-1, 1], vertices [n, k, 2]); ``seed``: anything ``default_rng`` takes."""
    verts = polygon_vertices(n, vertices, np.random.default_rng(seed))
    images = np.empty((n, 1, SIZE, SIZE), dtype=np.float32)
    for start in range(0, n, chunk):
        images[start:start + chunk, 0] = 1.0 - 2.0 * rasterize_convex(verts[start:start + chunk])
    return images, verts


def _int_option(options: dict, key: str, low: int, high: int | None = None) -> int:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise GanbenchError(f"polygons: option {key} must be an integer {bound}, got {value!r}")
    return value


class Polygons(Dataset):
    """Lucic et al.'s convex polygons (triangles by default), 1x28x28, dark on white, no labels."""

    option_defaults = {"n_train": 60_000, "vertices": 3, "seed": 0}

    def info(self, options: dict) -> DatasetInfo:
        self.check_values(options)
        return DatasetInfo("polygons", "image", (1, SIZE, SIZE), num_classes=None, default_metrics=("fid",),
                           default_extractor="inception", primary="fid")

    def check_values(self, options: dict) -> tuple[int, int, int]:
        max_vertices = int(360 // MIN_SEGMENT_ANGLE_DEG)  # k segment angles >= 20 degrees must fit in 360
        return (_int_option(options, "n_train", 1), _int_option(options, "vertices", 3, max_vertices),
                _int_option(options, "seed", 0))

    def load(self, split, data_dir, options) -> DataSplit:
        n_train, vertices, seed = self.check_values(options)
        n = n_train if split == "train" else _SPLIT_SIZE[split]
        images, _ = polygon_images(n, vertices, [seed, vertices, _SPLIT_ID[split]])  # one stream per split
        return DataSplit(torch.from_numpy(images))


DATASETS.add("polygons", Polygons(),
             help="Lucic et al.'s convex polygons: 1x28x28 triangles, 60k/10k/10k, min segment angle 20, no labels")
