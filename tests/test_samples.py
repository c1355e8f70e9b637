"""Sample figures: the high-quality rule of the figure is the metric's, the toy frame is fixed by the data, the title
carries the scores, PNGs are written; the toys are described in the units the figures show."""
import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ganbench.datasets import DATASETS, dataset_info, load_split  # noqa: E402
from ganbench.evaluation.metrics.functional import mode_metrics  # noqa: E402
from ganbench.evaluation.pictures import high_quality, save_samples, toy_figure, toy_limits, toy_title  # noqa: E402


def test_high_quality_is_strictly_within_three_std():
    centers, std = np.array([[0.0, 0.0], [1.0, 0.0]]), 0.125  # 3 std = 0.375 exactly
    pts = np.array([[0.374, 0.0], [0.376, 0.0], [1.0, 0.3749], [0.5, 0.5], [0.0, -0.375]])
    assert high_quality(pts, centers, std).tolist() == [True, False, True, False, False]


@pytest.mark.parametrize("ds", ["grid25", "ring8"])
def test_high_quality_agrees_with_the_mode_metric(ds):
    info = dataset_info(ds)
    rng = np.random.default_rng(3)
    pts = info.centers[rng.integers(len(info.centers), size=2000)] + 3 * info.std * rng.standard_normal((2000, 2))
    assert high_quality(pts, info.centers, info.std).mean() == mode_metrics(pts, info.centers, info.std)["hq"]


def test_frame_is_fixed_by_the_data_not_by_the_samples():
    info = dataset_info("grid25")
    extent = 1.2 + 2 * 0.0225  # centres at +-0.6, plus the 3-std radius on each side
    edge = 0.6 + 0.0225 + 0.25 * extent
    assert toy_limits(info) == pytest.approx((-edge, edge, -edge, edge))
    far = torch.tensor([[0.0, 0.0], [0.95, -0.99], [5.0, 5.0]])
    fig = toy_figure(far, info)
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((-edge, edge)) and ax.get_ylim() == pytest.approx((-edge, edge))
    assert ax.get_aspect() == 1.0
    labels = ax.get_legend_handles_labels()[1]
    assert "generated, outside the frame (2; at its edge)" in labels and "generated, high quality (1)" in labels
    plt.close(fig)


def test_title_carries_the_scores():
    info = dataset_info("grid25")
    assert toy_title(info, None, None) == "grid25"
    assert toy_title(info, {"modes": 21, "hq": 0.0191, "reverse_kl": 0.28}, "ns seed 0") == \
        "ns seed 0\n21/25 modes, high quality 0.019, reverse KL 0.280"


@pytest.mark.parametrize("collapsed", [False, True])
def test_toy_png_for_good_and_collapsed_samples(tmp_path, collapsed):
    info = dataset_info("ring8")
    rng = np.random.default_rng(0)
    modes = rng.integers(1 if collapsed else 8, size=256)
    fake = torch.from_numpy(info.centers[modes] + info.std * rng.standard_normal((256, 2))).float()
    scores = mode_metrics(fake.double().numpy(), info.centers, info.std)
    assert scores["modes"] == (1 if collapsed else 8)
    path = tmp_path / "samples.png"
    save_samples(fake, info, path, real=load_split("ring8", "train").x[:2000], scores=scores)
    img = plt.imread(path)
    assert img.shape == (696, 624, 4)  # 5.2 x 5.8 inches at 120 dpi
    fig = toy_figure(fake, info, scores=scores)
    n_good = int(high_quality(fake.double().numpy(), info.centers, info.std).sum())
    assert f"generated, high quality ({n_good})" in fig.axes[0].get_legend_handles_labels()[1]
    assert fig.axes[0].get_title().endswith(f"{scores['modes']}/8 modes, high quality {scores['hq']:.3f}, "
                                            f"reverse KL {scores['reverse_kl']:.3f}")
    plt.close(fig)


def test_image_grid_is_unchanged(tmp_path):
    x = load_split("digits", "test").x[:64]
    save_samples(x, dataset_info("digits"), tmp_path / "g.png", scores={"fid": 3.0})
    img = plt.imread(tmp_path / "g.png")
    assert img.shape[:2] == (8 * 34 + 2, 8 * 34 + 2)  # 8x8 images enlarged to 32 px, padding 2


def test_toys_are_described_in_the_units_of_the_data():
    grid, ring = dataset_info("grid25"), dataset_info("ring8")
    coords = ",".join(f"{v:g}" for v in sorted(set(np.round(grid.centers[:, 0], 9))))
    assert coords == "-0.6,-0.3,0,0.3,0.6" and f"{{{coords}}}^2" in DATASETS.help("grid25")
    assert np.allclose(np.linalg.norm(ring.centers, axis=1), 0.5) and "radius 0.5" in DATASETS.help("ring8")
    for name, info in (("grid25", grid), ("ring8", ring)):
        text = DATASETS.help(name)
        assert f"std {info.std:g}" in text and f"3 std = {3 * info.std:g}" in text and "(-1, 1)" in text
        assert math.isclose(3 * info.std, float(text.split("3 std = ")[1].split()[0]))
