"""Feature extractors for image metrics: ``inception`` (pytorch-fid's network) and ``classifier`` (trained on the
dataset's own labels, for offline scoring and small images).

An extractor maps images in [-1, 1] ([N, C, H, W]) to features (FID, KID, precision/recall) and logits (IS).
Its ``weights_sha`` (hash of the weights) goes into every metric's provenance record.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganbench.registry import GanbenchError, Registry
from ganbench.paths import atomic_write_bytes, cache_dir

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "GANBENCH_INCEPTION_WEIGHTS"


def state_dict_sha(state: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Extractor:
    name: str
    model: nn.Module  # returns (features, logits)
    dim: int
    weights_sha: str
    input_note: str  # input resolution and resize, for the provenance record
    extra: dict  # e.g. the classifier's held-out accuracy

    @torch.no_grad()
    def features_and_logits(self, x: torch.Tensor, batch_size: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """Batched; the result does not depend on batch_size (eval mode, no batch statistics)."""
        self.model.eval()
        device = next(self.model.parameters()).device
        feats, logits = [], []
        for start in range(0, len(x), batch_size):
            f, lg = self.model(x[start:start + batch_size].to(device, torch.float32))
            feats.append(f.double().cpu().numpy())
            logits.append(lg.double().cpu().numpy())
        return np.concatenate(feats), np.concatenate(logits)

    def provenance(self) -> dict:
        return {"extractor": self.name, "weights_sha": self.weights_sha[:16], "input": self.input_note}


EXTRACTORS: Registry[Callable[..., Extractor]] = Registry("extractor")


# --- pytorch-fid's InceptionV3 -----------------------------------------------------------------------------------
class InceptionPool3(nn.Module):
    """pytorch-fid's FID Inception (TF weights 2015-12-05): [0,1]-scaled input, bilinear resize to 299, pool3 (2048-d);
    logits = pool3 @ fc.weight.T (1008 classes, no bias) as in the original Inception Score code."""

    def __init__(self, state_dict: Optional[dict] = None):
        super().__init__()
        from pytorch_fid.inception import (FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2,
                                           _inception_v3)

        net = _inception_v3(num_classes=1008, aux_logits=False, weights=None)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE_1(1280)
        net.Mixed_7c = FIDInceptionE_2(2048)
        if state_dict is not None:
            net.load_state_dict(state_dict)
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.net
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = (x.clamp(-1, 1) + 1) / 2  # ganbench images are in [-1, 1]; pytorch-fid takes [0, 1]
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
            x = getattr(n, name)(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        pool3 = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return pool3, pool3 @ n.fc.weight.T


def inception_weights_path() -> Path:
    """The weights file: $GANBENCH_INCEPTION_WEIGHTS, else torch hub's checkpoint cache (where pytorch-fid puts it)."""
    env = os.environ.get(INCEPTION_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise GanbenchError(f"{INCEPTION_ENV}={env}: no such file (expected {INCEPTION_FILE})")
        return path
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def ensure_inception_weights(download: bool = True) -> Path:
    """Return the weights path, downloading with pytorch-fid's URL where a network allows; else one clear error."""
    path = inception_weights_path()
    if path.is_file():
        return path
    if download:
        from pytorch_fid.inception import FID_WEIGHTS_URL

        try:
            torch.hub.download_url_to_file(FID_WEIGHTS_URL, str(path), progress=False)
            return path
        except Exception:  # no network: fall through to the instructions
            path.unlink(missing_ok=True)
    from pytorch_fid.inception import FID_WEIGHTS_URL

    raise GanbenchError(
        f"pytorch-fid's Inception weights are missing: put {INCEPTION_FILE} (from {FID_WEIGHTS_URL}) at {path}, "
        f"or set {INCEPTION_ENV}=/path/to/{INCEPTION_FILE}")


@EXTRACTORS.register("inception", help="pytorch-fid's InceptionV3 (pool3 2048-d features, 1008 logits for IS)")
def build_inception(device: str = "cpu", **_) -> Extractor:
    path = ensure_inception_weights()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = InceptionPool3(state)
    except Exception as err:  # a truncated download, or another file under that name
        raise GanbenchError(f"{path}: not pytorch-fid's Inception weights ({type(err).__name__}); replace it with "
                            f"{INCEPTION_FILE}") from None
    model = model.to(device).eval()
    return Extractor("inception", model, 2048, state_dict_sha(state), "bilinear resize to 299x299", {})


# --- classifier trained on the dataset's labels -------------------------------------------------------------------
class SmallClassifier(nn.Module):
    """Conv net for small labelled images; features = the 64-d global-average-pooled last conv layer."""

    def __init__(self, channels: int, num_classes: int, dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, dim, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        f = F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)
        return f, self.head(f)


CLASSIFIER_RECIPE = {"version": 1, "epochs": 30, "batch_size": 64, "lr": 1e-3, "seed": 0, "dim": 64}


def _train_classifier(dataset: str, options: dict, data_dir) -> tuple[dict, float]:
    from ganbench.datasets import dataset_info, load_split

    info = dataset_info(dataset, options)
    if info.kind != "image" or not info.num_classes:
        raise GanbenchError(f"extractor 'classifier' needs a labelled image dataset; {dataset!r} has no labels")
    train, test = load_split(dataset, "train", data_dir, options), load_split(dataset, "test", data_dir, options)
    r = CLASSIFIER_RECIPE
    g = torch.Generator().manual_seed(r["seed"])
    with _fixed_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(r["seed"])
        model = SmallClassifier(info.shape[0], info.num_classes, r["dim"])
        opt = torch.optim.Adam(model.parameters(), lr=r["lr"])
        for _ in range(r["epochs"]):
            perm = torch.randperm(len(train), generator=g)
            for start in range(0, len(train), r["batch_size"]):
                idx = perm[start:start + r["batch_size"]]
                loss = F.cross_entropy(model(train.x[idx])[1], train.y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(test.x)[1].argmax(1) == test.y).float().mean().item()
    return model.state_dict(), accuracy


class _fixed_threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def classifier_path(dataset: str, options: dict) -> Path:
    key = hashlib.sha256(repr((dataset, sorted(options.items()), sorted(CLASSIFIER_RECIPE.items()))).encode())
    return cache_dir() / "extractors" / f"classifier-{dataset}-{key.hexdigest()[:12]}.pt"


@EXTRACTORS.register("classifier", help="small CNN trained on the dataset's own labels (offline; not comparable "
                                        "with Inception FID)")
def build_classifier(dataset: str, options: dict | None = None, data_dir=None, device: str = "cpu",
                     **_) -> Extractor:
    from ganbench.datasets import dataset_info

    options = options or {}
    info = dataset_info(dataset, options)
    path = classifier_path(dataset, options)
    if not path.is_file():  # trained once and cached (written atomically)
        state, accuracy = _train_classifier(dataset, options, data_dir)
        buf = io.BytesIO()
        torch.save({"state_dict": state, "test_accuracy": accuracy, "recipe": CLASSIFIER_RECIPE}, buf)
        atomic_write_bytes(path, buf.getvalue())
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = SmallClassifier(info.shape[0], info.num_classes, CLASSIFIER_RECIPE["dim"])
    model.load_state_dict(saved["state_dict"])
    model = model.to(device).eval()
    return Extractor("classifier", model, CLASSIFIER_RECIPE["dim"], state_dict_sha(saved["state_dict"]),
                     f"native {info.shape[1]}x{info.shape[2]}, no resize",
                     {"classifier_test_accuracy": round(saved["test_accuracy"], 4)})


@EXTRACTORS.register("random", help="fixed randomly initialised CNN (seed 0): offline features for unlabelled "
                                    "images; only comparable with itself")
def build_random(dataset: str, options: dict | None = None, device: str = "cpu", **_) -> Extractor:
    """Random-network embedding (cf. Naeem et al. 2020): the classifier's conv body, untrained, seed 0. It needs no
    labels and no download, so unlabelled datasets (polygons, imagefolder) can be scored offline."""
    from ganbench.datasets import dataset_info

    info = dataset_info(dataset, options or {})
    if info.kind != "image":
        raise GanbenchError(f"extractor 'random' needs an image dataset; {dataset!r} is not one")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = SmallClassifier(info.shape[0], 10, CLASSIFIER_RECIPE["dim"])
        for m in model.body:  # He init keeps activations O(1) through the ReLUs, so distances are readable
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    model = model.to(device).eval()
    return Extractor("random", model, CLASSIFIER_RECIPE["dim"], state_dict_sha(model.state_dict()),
                     f"native {info.shape[1]}x{info.shape[2]}, no resize", {})


def get_extractor(name: str, dataset: str, options: dict | None = None, data_dir=None,
                  device: str = "cpu") -> Extractor:
    return EXTRACTORS.get(name)(dataset=dataset, options=options or {}, data_dir=data_dir, device=device)
