"""Standard image datasets through torchvision (``mnist``, ``fashion-mnist``, ``cifar10``, ``celeba``) and a user's
own images (``imagefolder``). Images are float32 in [-1, 1] (uint8 u -> u / 127.5 - 1), [N, C, H, W].

Data directory: the ``data_dir`` argument (a suite's ``data_dir``), else ``$GANBENCH_DATA``, else
``~/.cache/ganbench/data``; torchvision's own layout below it (``MNIST/raw``, ``FashionMNIST/raw``,
``cifar-10-batches-py``, ``celeba``). Missing files are downloaded with torchvision's code unless the option
``download: false``; an offline machine gets one line naming the directory and the files expected there.

Splits (the study of Lucic et al. 2018 trains on 50k MNIST/Fashion-MNIST images and scores against the test set):
- mnist, fashion-mnist: val = one sixth (10k) of the official 60k train split, the last part of a permutation
  seeded 0; train = the other 50k; test = the official 10k test split. 1x28x28, 10 classes.
- cifar10: the same with one tenth held out (45k train, 5k val, 10k test). 3x32x32, 10 classes.
- celeba: the official partitions (list_eval_partition.txt): train 162,770, val = "valid" 19,867, test 19,962
  aligned faces, centre crop 160x160 then bilinear resize to 64x64 as in Lucic et al. (PIL's antialiased bilinear;
  TF 1.x's resize did not antialias, so pixels differ slightly). No class labels. Memory: 48 KiB per image as
  float32, 8.0 GB for the train split (2 GB more while converting); the option ``max_images`` keeps the first n.
  Decoded uint8 images are cached atomically in ``<cache_dir>/data/`` (2 GB for train), keyed by directory and n.
``max_images`` (every torchvision dataset): keep the first n images of the fixed split (for quick runs).
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ganbench.datasets.base import DATASETS, Dataset, DatasetInfo, DataSplit
from ganbench.paths import atomic_open, cache_dir, data_root
from ganbench.registry import GanbenchError

DOWNLOAD_TIMEOUT_S = 10.0  # socket timeout while downloading: a stalled connection fails instead of hanging
RESOLVE_TIMEOUT_S = 3.0  # a host name that does not resolve within this is taken as "no network"
SPLIT_SEED = 0


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 160 else text[:157] + "..."


def _any_host_resolves(urls: list[str], seconds: float) -> bool:
    """Look the URLs' hosts up in a daemon thread, so a resolver that hangs costs ``seconds``, not minutes.

    Behind an HTTP(S) proxy local name lookups say nothing, so then this answers True and only the timeout holds.
    """
    if urllib.request.getproxies():
        return True
    hosts = sorted({urllib.parse.urlsplit(u).hostname or "" for u in urls} - {""})
    found: list[str] = []

    def lookup():
        for host in hosts:
            try:
                socket.getaddrinfo(host, 443)
                found.append(host)
                return
            except OSError:
                pass

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(found)


def fetch(name: str, open_fn, urls: list[str], folder: Path, files: list[str], download: bool):
    """``open_fn(download: bool)`` builds the torchvision dataset; missing files -> download -> one-line error."""
    try:
        return open_fn(False)
    except (RuntimeError, OSError):
        pass
    where = f"{name}: data files missing or corrupt in {folder} ({', '.join(files)})"
    hint = "download them there or set data_dir (or $GANBENCH_DATA)"
    if not download:
        raise GanbenchError(f"{where} and the option download is false; {hint}") from None
    if not _any_host_resolves(urls, RESOLVE_TIMEOUT_S):
        raise GanbenchError(f"{where} and the download failed (cannot resolve "
                            f"{urllib.parse.urlsplit(urls[0]).hostname}: no network?); {hint}") from None
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return open_fn(True)
    except Exception as err:  # torchvision raises RuntimeError, URLError, socket.timeout, zipfile errors...
        raise GanbenchError(f"{where} and the download failed ({_one_line(err)}); {hint}") from None
    finally:
        socket.setdefaulttimeout(old)


def to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] or [N, H, W] -> float32 [N, C, H, W] in [-1, 1], converted in chunks (low peak memory)."""
    if images.ndim == 3:
        images = images[..., None]
    out = torch.empty((len(images), images.shape[3], images.shape[1], images.shape[2]), dtype=torch.float32)
    for start in range(0, len(images), 4096):
        chunk = torch.from_numpy(np.array(images[start:start + 4096], dtype=np.uint8))  # copy: may be a memmap
        out[start:start + 4096] = chunk.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return out


def download_options(options: dict, name: str) -> tuple[bool, Optional[int]]:
    """(download, max_images), checked: download true/false, max_images a positive integer or null."""
    download, n = options["download"], options["max_images"]
    if not isinstance(download, bool):
        raise GanbenchError(f"{name}: option download must be true or false, got {download!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise GanbenchError(f"{name}: option max_images must be a positive integer or null, got {n!r}")
    return download, n


@dataclass(frozen=True)
class _Spec:
    name: str
    tv_class: str  # the class in torchvision.datasets
    shape: tuple[int, int, int]
    val_fraction: float  # held out of the official train split
    help: str


class TorchvisionClassDataset(Dataset):
    """MNIST, Fashion-MNIST, CIFAR-10: official train split -> fixed train/val parts, official test split -> test."""

    option_defaults = {"download": True, "max_images": None}

    def __init__(self, spec: _Spec):
        self.spec = spec

    def info(self, options: dict) -> DatasetInfo:
        download_options(options, self.spec.name)
        return DatasetInfo(self.spec.name, "image", self.spec.shape, num_classes=10, default_metrics=("fid",),
                           default_extractor="inception", primary="fid")

    def _expected(self, root: Path, cls) -> tuple[Path, list[str], list[str]]:
        if hasattr(cls, "mirrors"):  # MNIST family: idx files, gunzipped, in <root>/<Class>/raw
            files = [os.path.splitext(f)[0] for f, _ in cls.resources]
            return Path(root, cls.__name__, "raw"), files, [m + cls.resources[0][0] for m in cls.mirrors]
        files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return Path(root, cls.base_folder), files, [cls.url]

    def load(self, split, data_dir, options) -> DataSplit:
        import torchvision.datasets as tvd

        download, n = download_options(options, self.spec.name)
        cls = getattr(tvd, self.spec.tv_class)
        root = data_root(data_dir)
        folder, files, urls = self._expected(root, cls)
        train = split != "test"
        ds = fetch(self.spec.name, lambda dl: cls(str(root), train=train, download=dl), urls, folder, files, download)
        data = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
        labels = np.asarray(ds.targets, dtype=np.int64)
        if train:
            perm = np.random.default_rng(SPLIT_SEED).permutation(len(data))
            n_train = len(data) - int(round(self.spec.val_fraction * len(data)))
            idx = np.sort(perm[:n_train] if split == "train" else perm[n_train:])
            data, labels = data[idx], labels[idx]
        return DataSplit(to_float(data[:n]), torch.from_numpy(labels[:n]))


class CelebA(Dataset):
    """CelebA aligned faces, official partitions, centre crop 160 -> 64x64 (Lucic et al. 2018), no labels."""

    option_defaults = {"download": True, "max_images": None}
    PARTITION = {"train": "train", "val": "valid", "test": "test"}

    def info(self, options: dict) -> DatasetInfo:
        download_options(options, "celeba")
        return DatasetInfo("celeba", "image", (3, 64, 64), num_classes=None, default_metrics=("fid",),
                           default_extractor="inception", primary="fid")

    def load(self, split, data_dir, options) -> DataSplit:
        import torchvision.datasets as tvd

        download, n = download_options(options, "celeba")
        root = data_root(data_dir)
        folder = Path(root, tvd.CelebA.base_folder)
        files = ["img_align_celeba/"] + [f for _, _, f in tvd.CelebA.file_list if not f.endswith(".zip")]
        ds = fetch("celeba", lambda dl: tvd.CelebA(str(root), split=self.PARTITION[split], target_type=[],
                                                    download=dl),
                   ["https://drive.google.com/"], folder, files, download)
        names = list(ds.filename)[:n]
        key = hashlib.sha256(f"{folder.resolve()}|{split}|{len(names)}".encode()).hexdigest()[:16]
        cached = cache_dir() / "data" / f"celeba64-{split}-{len(names)}-{key}.npy"
        if not cached.exists():
            _save_atomic(cached, decode_images([folder / "img_align_celeba" / f for f in names], 64, 3, crop=160))
        return DataSplit(to_float(np.load(cached, mmap_mode="r")))


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_open(path) as f:
        np.save(f, array)


def decode_images(paths: list[Path], size: int, channels: int, crop: Optional[int] = None) -> np.ndarray:
    """PIL decode -> [centre crop ``crop``] -> resize shorter side to ``size`` (bilinear) -> centre crop ``size``.

    Returns uint8 [N, size, size, channels].
    """
    import torchvision.transforms.functional as TF
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img = img.convert("L" if channels == 1 else "RGB")
        except (OSError, UnidentifiedImageError) as err:
            raise GanbenchError(f"cannot read image {path}: {_one_line(err)}") from None
        if crop is not None:
            img = TF.center_crop(img, [crop, crop])
        img = TF.center_crop(TF.resize(img, size, interpolation=TF.InterpolationMode.BILINEAR), [size, size])
        out[i] = np.asarray(img, dtype=np.uint8).reshape(size, size, channels)
    return out


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageFolder(Dataset):
    """A folder of the user's images; sub-folders become classes when there are two or more of them.

    Options: ``path`` (required; relative paths are taken under the data directory, see ``data_root``; ``info``
    has no data_dir argument and so looks under ``$GANBENCH_DATA`` or the default: give an absolute path when a suite
    sets data_dir), ``size`` (64: shorter side resized to it, then centre crop), ``channels`` (3 RGB or 1 gray).
    Labelled when the folder holds only sub-folders of images, two or more (labels = sorted sub-folder names);
    else every image below it, unlabelled. Fixed split 80/10/10 (train/val/test; val and test at least one image
    each) by a seeded permutation of the sorted file list.
    """

    option_defaults = {"path": None, "size": 64, "channels": 3}

    def _check(self, options: dict) -> tuple[int, int]:
        size, channels = options["size"], options["channels"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 4:
            raise GanbenchError(f"imagefolder: option size must be an integer >= 4, got {size!r}")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise GanbenchError(f"imagefolder: option channels must be 1 or 3, got {channels!r}")
        return size, channels

    def scan(self, options: dict, data_dir=None) -> tuple[list[Path], Optional[np.ndarray], list[str]]:
        """(sorted image files, int64 labels or None, class names)."""
        if not options.get("path"):
            raise GanbenchError("imagefolder: option path is required (a folder of images, e.g. path: ~/faces)")
        root = Path(options["path"]).expanduser()
        root = root if root.is_absolute() else data_root(data_dir) / root
        if not root.is_dir():
            raise GanbenchError(f"imagefolder: {root} is not a folder")

        def images_under(d: Path) -> list[Path]:
            return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())

        loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        groups = {d.name: images_under(d) for d in sorted(root.iterdir()) if d.is_dir()}
        groups = {k: v for k, v in groups.items() if v}
        if not loose and len(groups) >= 2:
            classes = sorted(groups)
            files = [p for c in classes for p in groups[c]]
            labels = np.concatenate([np.full(len(groups[c]), i, dtype=np.int64) for i, c in enumerate(classes)])
            return files, labels, classes
        files = images_under(root)
        if not files:
            raise GanbenchError(f"imagefolder: no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
        return files, None, []

    def info(self, options: dict) -> DatasetInfo:
        size, channels = self._check(options)
        _, _, classes = self.scan(options)
        return DatasetInfo("imagefolder", "image", (channels, size, size), num_classes=len(classes) or None,
                           default_metrics=("fid",), default_extractor="inception", primary="fid")

    def load(self, split, data_dir, options) -> DataSplit:
        size, channels = self._check(options)
        files, labels, _ = self.scan(options, data_dir)
        if len(files) < 3:
            raise GanbenchError(f"imagefolder: {len(files)} image(s) under {options['path']}; need at least 3 "
                                "(one each for train, val and test)")
        n_hold = max(1, int(round(0.1 * len(files))))  # val and test: 10% each, at least one image
        perm = np.random.default_rng(SPLIT_SEED).permutation(len(files))
        parts = {"test": perm[:n_hold], "val": perm[n_hold:2 * n_hold], "train": perm[2 * n_hold:]}
        idx = np.sort(parts[split])
        x = to_float(decode_images([files[i] for i in idx], size, channels))
        return DataSplit(x, None if labels is None else torch.from_numpy(labels[idx]))


_SPECS = [
    _Spec("mnist", "MNIST", (1, 28, 28), 1 / 6, "MNIST digits 1x28x28, 50k/10k/10k train/val/test (torchvision)"),
    _Spec("fashion-mnist", "FashionMNIST", (1, 28, 28), 1 / 6,
          "Fashion-MNIST 1x28x28, 50k/10k/10k train/val/test (torchvision)"),
    _Spec("cifar10", "CIFAR10", (3, 32, 32), 1 / 10, "CIFAR-10 3x32x32, 45k/5k/10k train/val/test (torchvision)"),
]
for _spec in _SPECS:
    DATASETS.add(_spec.name, TorchvisionClassDataset(_spec), help=_spec.help)
DATASETS.add("celeba", CelebA(), help="CelebA aligned faces, crop 160 -> 3x64x64, official partitions, no labels")
DATASETS.add("imagefolder", ImageFolder(), help="your own images (option path), 80/10/10 split, size 64")
