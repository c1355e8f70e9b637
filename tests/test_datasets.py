"""Datasets: torchvision loaders on small fake files in torchvision's on-disk formats, their offline errors,
imagefolder on generated PNGs, and the procedural polygons (closed-form pixel coverages, angle constraints)."""
import hashlib
import pickle
import socket
import struct
import time

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from PIL import Image

from ganbench.datasets import DATASETS, dataset_info, load_split, vision
from ganbench.datasets.polygons import (polygon_images, polygon_vertices, rasterize_convex,
                                        segment_angles_deg)
from ganbench.registry import GanbenchError

REFUSED = "http://127.0.0.1:9/"  # the discard port: connection refused at once, on any machine


def test_registry_names():
    for name in ("mnist", "fashion-mnist", "cifar10", "celeba", "imagefolder", "polygons"):
        assert name in DATASETS and DATASETS.help(name)
    assert dataset_info("mnist").shape == (1, 28, 28) and dataset_info("cifar10").num_classes == 10
    celeba = dataset_info("celeba")
    assert celeba.shape == (3, 64, 64) and celeba.num_classes is None
    for name in ("mnist", "fashion-mnist", "cifar10", "celeba", "polygons"):
        info = dataset_info(name)
        assert (info.default_metrics, info.default_extractor, info.primary) == (("fid",), "inception", "fid")


# ---------------------------------------------------------------- offline errors
def _refuse_downloads(monkeypatch):
    monkeypatch.setattr(tvd.MNIST, "mirrors", [REFUSED])
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", [REFUSED])
    monkeypatch.setattr(tvd.CIFAR10, "url", REFUSED + "cifar-10-python.tar.gz")

    def no_drive(*args, **kwargs):
        raise ConnectionRefusedError("simulated: no network")

    monkeypatch.setattr(tvd.celeba, "download_file_from_google_drive", no_drive)


@pytest.mark.parametrize("name,folder,first_file", [
    ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
    ("fashion-mnist", "FashionMNIST/raw", "train-images-idx3-ubyte"),
    ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ("celeba", "celeba", "list_eval_partition.txt"),
])
def test_offline_download_fails_fast_with_one_line(tmp_path, monkeypatch, name, folder, first_file):
    _refuse_downloads(monkeypatch)
    start = time.monotonic()
    with pytest.raises(GanbenchError) as err:
        load_split(name, "train", tmp_path)
    assert time.monotonic() - start < 10
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{name}: ")
    assert str(tmp_path / folder) in msg and first_file in msg and "download failed" in msg
    with pytest.raises(GanbenchError, match="download is false"):
        load_split(name, "test", tmp_path, {"download": False})


def test_stalled_server_hits_the_socket_timeout_which_is_restored(tmp_path, monkeypatch):
    server = socket.socket()  # accepts connections (backlog) but never answers
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.setattr(vision, "DOWNLOAD_TIMEOUT_S", 0.5)
    monkeypatch.setattr(tvd.CIFAR10, "url", f"http://127.0.0.1:{server.getsockname()[1]}/cifar-10-python.tar.gz")
    before = socket.getdefaulttimeout()
    start = time.monotonic()
    try:
        with pytest.raises(GanbenchError, match="cifar10: .*download failed .*timed out"):
            load_split("cifar10", "train", tmp_path)
    finally:
        server.close()
    assert time.monotonic() - start < 5 and socket.getdefaulttimeout() == before


def test_data_dir_falls_back_to_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "env"))
    with pytest.raises(GanbenchError, match=str(tmp_path / "env" / "MNIST" / "raw")):
        load_split("mnist", "test", None, {"download": False})


# ---------------------------------------------------------------- fake files in torchvision's formats
def _write_idx(path, array):
    """IDX ("Pascal Vincent") file: magic 0x08 (ubyte) then ndim, big-endian dims, raw bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _fake_mnist(root, n_train=60, n_test=12):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        # image i is constant i (train) or 200 + i (test), so indices can be read back from pixel values
        values = np.arange(n) + (0 if prefix == "train" else 200)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", np.repeat(values, 28 * 28).reshape(n, 28, 28))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", values % 10)


def test_mnist_fake_files_splits_and_scaling(tmp_path):
    _fake_mnist(tmp_path)
    splits = {s: load_split("mnist", s, tmp_path, {"download": False}) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [50, 10, 12]  # 1/6 of train held out
    for s in splits.values():
        assert s.x.shape[1:] == (1, 28, 28) and s.x.dtype == torch.float32 and s.y.dtype == torch.int64
        assert s.x.min() >= -1 and s.x.max() <= 1
    ids = {s: torch.round((v.x[:, 0, 0, 0] + 1) * 127.5).long() for s, v in splits.items()}
    assert set(ids["train"].tolist()).isdisjoint(ids["val"].tolist())
    assert sorted(ids["train"].tolist() + ids["val"].tolist()) == list(range(60))
    assert ids["test"].tolist() == list(range(200, 212))
    assert torch.equal(splits["train"].y, ids["train"] % 10)  # labels stay with their images
    assert splits["test"].x[0].eq(200 / 127.5 - 1).all()  # u -> u / 127.5 - 1
    again = load_split("mnist", "val", tmp_path, {"download": False})
    assert torch.equal(again.x, splits["val"].x)
    assert len(load_split("mnist", "train", tmp_path, {"download": False, "max_images": 7})) == 7
    with pytest.raises(GanbenchError, match="max_images must be a positive integer or null"):
        load_split("mnist", "train", tmp_path, {"download": False, "max_images": 0})
    with pytest.raises(GanbenchError, match="download must be true or false"):
        dataset_info("mnist", {"download": "no"})


def _fake_cifar(root, monkeypatch, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[:, 0] = 255 if name == "test_batch" else 0  # red channel, pixel (0, 0): tells test from train
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": list(rng.integers(0, 10, n))}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))

    def md5(name):
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[n, md5(n)] for n in names[:5]])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5("test_batch")]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": md5("batches.meta")})
    return folder


def test_cifar10_fake_files_layout_and_splits(tmp_path, monkeypatch):
    folder = _fake_cifar(tmp_path, monkeypatch)
    train, val, test = (load_split("cifar10", s, tmp_path, {"download": False}) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (18, 2, 6)  # 20 official train images, 1/10 held out
    assert train.x.shape[1:] == (3, 32, 32) and train.x.min() >= -1 and train.x.max() <= 1
    assert (test.x[:, 0, 0, 0] == 1).all() and (train.x[:, 0, 0, 0] == -1).all()
    first = pickle.loads((folder / "test_batch").read_bytes())
    # row-major 3072 bytes = 1024 red, 1024 green, 1024 blue values of a 32x32 image
    expected = torch.from_numpy(first["data"][0].reshape(3, 32, 32).astype(np.float32) / 127.5 - 1)
    assert torch.equal(test.x[0], expected) and test.y[0] == first["labels"][0]
    rows = {tuple(r) for r in train.x.flatten(1).tolist()}
    assert rows.isdisjoint(tuple(r) for r in val.x.flatten(1).tolist())


def test_celeba_fake_files_crop_and_partitions(tmp_path, monkeypatch):
    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 8)]
    image = np.zeros((218, 178, 3), dtype=np.uint8)
    image[29:189, 9:169] = 255  # exactly the centre 160x160 crop (rows 29.., cols 9..)
    for name in names:
        Image.fromarray(image).save(folder / "img_align_celeba" / name, format="PNG")  # lossless, any suffix
    partition = [0, 0, 0, 1, 1, 2, 2]  # torchvision fails on a 1-image split
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partition)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} 1\n" for n in names))
    (folder / "list_attr_celeba.txt").write_text("7\nSmiling\n" + "".join(f"{n} 1\n" for n in names))
    (folder / "list_bbox_celeba.txt").write_text(
        "7\nimage_id x_1 y_1 width height\n" + "".join(f"{n} 0 0 1 1\n" for n in names))
    (folder / "list_landmarks_align_celeba.txt").write_text("7\nlefteye_x\n" + "".join(f"{n} 1\n" for n in names))
    monkeypatch.setattr(tvd.CelebA, "file_list", [
        (fid, hashlib.md5((folder / f).read_bytes()).hexdigest() if (folder / f).exists() else md5, f)
        for fid, md5, f in tvd.CelebA.file_list])
    train, val, test = (load_split("celeba", s, tmp_path, {"download": False}) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (3, 2, 2) and train.y is None
    assert train.x.shape == (3, 3, 64, 64) and train.x.dtype == torch.float32
    assert (train.x == 1).all()  # an off-by-one crop would bring black pixels in
    assert len(load_split("celeba", "train", tmp_path, {"download": False, "max_images": 2})) == 2


# ---------------------------------------------------------------- imagefolder
def test_imagefolder_classes_split_and_resize(tmp_path):
    for c, cls in enumerate(("cats", "dogs")):
        (tmp_path / cls).mkdir()
        for i in range(10):
            img = np.zeros((20, 40, 3), dtype=np.uint8)  # wide: shorter side 20 -> 16, then centre crop 16
            img[:, 10:30] = 255 if c else 128
            Image.fromarray(img).save(tmp_path / cls / f"{i}.png")
    options = {"path": str(tmp_path), "size": 16}
    assert dataset_info("imagefolder", options).num_classes == 2
    splits = {s: load_split("imagefolder", s, None, options) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    x, y = splits["train"].x, splits["train"].y
    assert x.shape == (16, 3, 16, 16) and y.dtype == torch.int64 and set(y.tolist()) == {0, 1}
    centre = x[:, :, :, 4:12]  # original columns 15..24 of the white or gray band
    assert torch.equal(centre[y == 1], torch.ones_like(centre[y == 1]))
    assert torch.allclose(centre[y == 0], torch.tensor(128 / 127.5 - 1), atol=1e-6)
    gray = load_split("imagefolder", "test", None, {**options, "channels": 1})
    assert gray.x.shape == (2, 1, 16, 16) and torch.equal(gray.y, splits["test"].y)


def test_imagefolder_unlabelled_and_errors(tmp_path, monkeypatch):
    for i in range(5):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    assert dataset_info("imagefolder", {"path": str(tmp_path), "size": 8}).num_classes is None
    train = load_split("imagefolder", "train", None, {"path": str(tmp_path), "size": 8})
    assert train.y is None and train.x.shape == (3, 3, 8, 8)  # 5 images: val and test get one each
    relative = load_split("imagefolder", "train", tmp_path.parent, {"path": tmp_path.name, "size": 8})
    assert torch.equal(relative.x, train.x)  # a relative path lies under the data directory
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path.parent))
    assert dataset_info("imagefolder", {"path": tmp_path.name}).num_classes is None
    with pytest.raises(GanbenchError, match="option path is required"):
        load_split("imagefolder", "train", None, {})
    with pytest.raises(GanbenchError, match="is not a folder"):
        load_split("imagefolder", "train", None, {"path": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanbenchError, match="no image files"):
        load_split("imagefolder", "train", None, {"path": str(tmp_path / "empty")})
    (tmp_path / "two").mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "two" / f"{i}.png")
    with pytest.raises(GanbenchError, match="need at least 3"):
        load_split("imagefolder", "val", None, {"path": str(tmp_path / "two")})
    with pytest.raises(GanbenchError, match="channels must be 1 or 3"):
        dataset_info("imagefolder", {"path": str(tmp_path), "channels": 2})


# ---------------------------------------------------------------- polygons
def test_rasterize_hand_computed_coverages():
    square = np.array([[[2.0, 3.0], [5.0, 3.0], [5.0, 7.0], [2.0, 7.0]]])  # pixels rows 3..6, cols 2..4
    expected = np.zeros((10, 10), dtype=np.float32)
    expected[3:7, 2:5] = 1
    np.testing.assert_allclose(rasterize_convex(square, size=10)[0], expected, atol=1e-6)
    small = np.array([[[2.5, 3.25], [4.5, 3.25], [4.5, 3.75], [2.5, 3.75]]])[:, ::-1]  # other orientation
    expected = np.zeros((10, 10), dtype=np.float32)
    expected[3, 2:5] = [0.25, 0.5, 0.25]
    np.testing.assert_allclose(rasterize_convex(small, size=10)[0], expected, atol=1e-6)
    triangle = np.array([[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]])  # x + y <= 4: diagonal pixels half covered
    i, j = np.indices((6, 6))
    expected = np.where(i + j < 3, 1.0, np.where(i + j == 3, 0.5, 0.0))
    np.testing.assert_allclose(rasterize_convex(triangle, size=6)[0], expected, atol=1e-6)


def test_rasterize_matches_fine_point_sampling_and_area():
    verts = polygon_vertices(20, 3, np.random.default_rng(5))  # no. 4 has a near-horizontal edge
    cover = rasterize_convex(verts)
    a, b = verts, np.roll(verts, -1, axis=1)
    area = 0.5 * np.abs(np.sum(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], axis=1))  # shoelace
    np.testing.assert_allclose(cover.sum(axis=(1, 2)), area, rtol=2e-3)
    s = 32  # independent oracle: 32x32 points per pixel, inside all three edge half-planes
    c = (np.arange(28 * s) + 0.5) / s
    px, py = np.meshgrid(c, c)
    for v in verts[:5]:
        side = [(q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0]) for p, q in zip(v, np.roll(v, -1, 0))]
        inside = np.all(np.array(side) >= 0, axis=0) | np.all(np.array(side) <= 0, axis=0)
        oracle = inside.reshape(28, s, 28, s).mean(axis=(1, 3))
        error = np.abs(rasterize_convex(v[None])[0] - oracle)
        # 8 sub-rows: at most half a sub-row (1/16) off at near-horizontal edges; the oracle itself 1/32 off at most
        assert error.max() <= 1 / 16 + 1 / 32 and error.mean() < 2e-3


def test_polygons_angles_shape_range_and_determinism():
    verts = polygon_vertices(5000, 3, np.random.default_rng(0))
    seg = segment_angles_deg(verts)
    assert seg.min() >= 20 - 1e-9 and np.allclose(seg.sum(axis=1), 360)
    edges = np.roll(verts, -1, axis=1) - verts
    cos = -np.sum(edges * np.roll(edges, 1, axis=1), axis=-1) / (
        np.linalg.norm(edges, axis=-1) * np.linalg.norm(np.roll(edges, 1, axis=1), axis=-1))
    interior = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert np.allclose(interior.sum(axis=1), 180) and interior.min() >= 10 - 1e-9  # half the segment angles
    radius = np.linalg.norm(verts - 14, axis=-1)
    assert np.allclose(radius, 0.75 * 28 / 2)

    train = load_split("polygons", "train", None, {"n_train": 3000})
    assert train.x.shape == (3000, 1, 28, 28) and train.x.dtype == torch.float32 and train.y is None
    assert train.x.min() >= -1 and train.x.max() <= 1 and (train.x.amin(dim=(1, 2, 3)) < -0.99).all()
    assert ((1 - train.x) / 2).sum(dim=(1, 2, 3)).min() > 20  # every image covers > 20 pixels of dark polygon
    assert torch.equal(train.x[:, :, 0], torch.ones_like(train.x[:, :, 0]))  # white border (radius 10.5)
    assert torch.equal(load_split("polygons", "train", None, {"n_train": 3000}).x, train.x)
    assert torch.equal(load_split("polygons", "train", None, {"n_train": 500}).x, train.x[:500])  # prefix
    val = load_split("polygons", "val", None, {})
    assert len(val) == 10_000 and not torch.equal(val.x[:500], train.x[:500])
    other = load_split("polygons", "train", None, {"n_train": 500, "seed": 1})
    assert not torch.equal(other.x, train.x[:500])
    squares, _ = polygon_images(50, 4, 0)
    assert squares.shape == (50, 1, 28, 28)
    with pytest.raises(GanbenchError, match="vertices must be an integer 3..18"):
        load_split("polygons", "train", None, {"vertices": 19})


def test_polygons_full_size_is_fast():
    start = time.perf_counter()
    images, _ = polygon_images(80_000, 3, 0)
    assert images.shape == (80_000, 1, 28, 28)
    assert time.perf_counter() - start < 15  # about 2.5 s on one core; generous for loaded CI machines
