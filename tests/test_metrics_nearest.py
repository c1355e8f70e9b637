"""The nearest-neighbour figure: a valid PNG of the expected size whose cells are the right training images."""
import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.datasets import dataset_info
from ganbench.evaluation.pictures import nearest_rows, save_nearest_neighbours
from ganbench.registry import GanbenchError


def _constant_images(levels, size=4):
    return torch.tensor(levels, dtype=torch.float32)[:, None, None, None].expand(-1, 1, size, size).clone()


def test_rows_hold_the_sample_then_its_nearest_training_images():
    train = _constant_images([-1.0, -0.5, 0.0, 0.5, 1.0])
    fake = _constant_images([0.45, -0.9])
    cells = nearest_rows(fake, train, n_rows=8, k=3)  # only 2 samples: 2 rows
    levels = cells[:, 0, 0, 0].tolist()
    assert levels == pytest.approx([0.45, 0.5, 0.0, 1.0, -0.9, -1.0, -0.5, 0.0])


def test_png_has_the_expected_size_and_pixels(tmp_path):
    info = dataset_info("digits")
    train = _constant_images([-1.0, -0.5, 0.0, 0.5, 1.0])
    fake = _constant_images([0.45, -0.9, 0.1])
    path = save_nearest_neighbours(fake, train, info, tmp_path / "sub" / "nearest.png", n_rows=3, k=2)
    with Image.open(path) as img:
        assert img.format == "PNG"
        pixels = np.asarray(img.convert("RGB"))
    cell = 32 + 2  # 4x4 images enlarged 8x (to 32), 2 pixels of padding
    assert pixels.shape == (3 * cell + 2, 3 * cell + 2, 3)
    expected = [[0.45, 0.5, 0.0], [-0.9, -1.0, -0.5], [0.1, 0.0, 0.5]]
    for r, row in enumerate(expected):
        for c, level in enumerate(row):
            block = pixels[2 + r * cell: 2 + r * cell + 32, 2 + c * cell: 2 + c * cell + 32]
            value = int(np.clip((level + 1) / 2 * 255 + 0.5, 0, 255))  # torchvision's save_image rounding
            assert (block == value).all(), (r, c)


def test_on_real_digits_and_wrong_inputs(tmp_path):
    from ganbench.datasets import load_split

    train = load_split("digits", "train").x
    fake = train[[5, 17]] + 0.01  # near copies: their nearest training images are themselves
    cells = nearest_rows(fake, train, n_rows=2, k=3)
    torch.testing.assert_close(cells[1], train[5])
    torch.testing.assert_close(cells[5], train[17])
    path = save_nearest_neighbours(fake, train, dataset_info("digits"), tmp_path / "nearest.png")
    with Image.open(path) as img:
        assert img.size == (4 * 34 + 2, 2 * 34 + 2)
    with pytest.raises(GanbenchError, match="'ring8' is a toy dataset"):
        save_nearest_neighbours(torch.zeros(4, 2), torch.zeros(4, 2), dataset_info("ring8"), tmp_path / "x.png")
    with pytest.raises(GanbenchError, match="k in \\[1, 1258\\]"):
        nearest_rows(fake, train, k=0)
    with pytest.raises(GanbenchError, match="one shape"):
        nearest_rows(fake, torch.zeros(3, 1, 4, 4))
