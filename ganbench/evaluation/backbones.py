"""The feature spaces that replaced Inception: DINOv2 ViT-L/14 (FD-DINOv2, Stein et al. 2023), DINOv2 ViT-B/14
(cheap tracking) and CLIP ViT-L/14 @ 336 (CMMD, Jayasumana et al. 2024), as extractors ``dinov2_vitl14``,
``dinov2_vitb14`` and ``clip_vitl14_336``.

The networks are timm's architecture code (``pip install ganbench[backbones]``); the weights come from a file the
user puts in place (no package ships them and ganbench downloads nothing): ``$GANBENCH_<NAME>_WEIGHTS``, else torch
hub's checkpoint folder (where pytorch-fid's Inception file lives). A file is checked against its pinned SHA-256
(``BackboneSpec.sha256``, or ``$GANBENCH_<NAME>_SHA256``), loaded with ``torch.load(weights_only=True)`` (or
safetensors) and its full SHA-256 goes into every number's provenance with the backbone and the preprocessing.

Preprocessing, as the reference code does it on 8-bit image files:
- images in [-1, 1] become 8-bit RGB (as a saved PNG; grey images repeat their channel), then Pillow's bicubic
  resize (antialiased, a = -0.5, horizontal pass then vertical, 8-bit between and after: reproduced with torch's
  antialiased bicubic, rounding after each pass), then [0, 1] and the mean/std normalisation;
- DINOv2 (dgm-eval's DINOv2Encoder): 224 x 224, ImageNet mean/std, the CLS token after the final LayerNorm; the
  position embeddings (37 x 37 for 518 px) are resampled to 16 x 16 once at load exactly as DINOv2's
  ``interpolate_pos_encoding`` does at every forward (bicubic, scale (16 + 0.1) / 37, no antialias);
- CLIP (google-research/cmmd): 336 x 336, CLIP's mean/std, the projected image embedding (768-d), L2-normalised.

These extractors serve only the metrics that name them (``fd_dinov2``, ``fd_dinov2_vitb14``, ``cmmd``), and those
metrics only them: an FD in DINOv2 features never carries the name ``fid`` (``check_feature_space``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganbench.evaluation.extractors import EXTRACTORS, Extractor
from ganbench.paths import file_sha256
from ganbench.registry import GanbenchError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
FEATURE_INPUTS = {"fake_features", "fake_logits", "real_features", "train_features", "real_nn_features"}


@dataclass(frozen=True)
class BackboneSpec:
    name: str  # the extractor's name
    title: str
    timm_arch: str  # timm's architecture (random init; the weights come from the file)
    arch: dict  # keyword arguments for timm.create_model
    dim: int
    size: int  # input resolution (square)
    mean: tuple
    std: tuple
    file: str  # default file name
    source: str  # where the file comes from
    output: str
    l2_normalise: bool = False
    sha256: Optional[str] = None  # pinned SHA-256 of the file; None: not pinned in ganbench (see the module doc)
    extra: dict = field(default_factory=dict)

    @property
    def env(self) -> str:
        return f"GANBENCH_{self.name.upper()}_WEIGHTS"

    @property
    def preprocessing(self) -> str:
        mean = "ImageNet" if self.mean == IMAGENET_MEAN else "CLIP"
        return (f"8-bit RGB, Pillow-style bicubic resize to {self.size}x{self.size} (antialiased, 8-bit after each "
                f"pass), [0, 1], {mean} mean/std")


_DINOV2_SOURCE = ("https://dl.fbaipublicfiles.com/dinov2/dinov2_{a}/dinov2_{a}_pretrain.pth (DINOv2's torch.hub "
                  "checkpoint; timm's vit_{t}_patch14_dinov2.lvd142m file also loads)")
BACKBONES = {
    "dinov2_vitl14": BackboneSpec(
        "dinov2_vitl14", "DINOv2 ViT-L/14", "vit_large_patch14_dinov2", {"img_size": 224, "num_classes": 0}, 1024,
        224, IMAGENET_MEAN, IMAGENET_STD, "dinov2_vitl14_pretrain.pth",
        _DINOV2_SOURCE.format(a="vitl14", t="large"), "CLS token after the final LayerNorm (1024-d)"),
    "dinov2_vitb14": BackboneSpec(
        "dinov2_vitb14", "DINOv2 ViT-B/14", "vit_base_patch14_dinov2", {"img_size": 224, "num_classes": 0}, 768,
        224, IMAGENET_MEAN, IMAGENET_STD, "dinov2_vitb14_pretrain.pth",
        _DINOV2_SOURCE.format(a="vitb14", t="base"), "CLS token after the final LayerNorm (768-d)"),
    "clip_vitl14_336": BackboneSpec(
        "clip_vitl14_336", "CLIP ViT-L/14 @ 336 (OpenAI) image tower", "vit_large_patch14_clip_quickgelu_336",
        {"img_size": 336, "num_classes": 768}, 768, 336, CLIP_MEAN, CLIP_STD,
        "vit_large_patch14_clip_336.openai.safetensors",
        "model.safetensors of huggingface.co/timm/vit_large_patch14_clip_336.openai, or an OpenAI-format state dict "
        "(keys visual.*, e.g. open_clip_pytorch_model.bin of that repository)",
        "projected image embedding (768-d), L2-normalised", l2_normalise=True),
}


# --- preprocessing ------------------------------------------------------------------------------------------------
def images_to_input(x: torch.Tensor, size: int, mean, std) -> torch.Tensor:
    """[-1, 1] images (N, 1 or 3, H, W) -> the backbone's normalised (N, 3, size, size) input, as the reference
    code gets it from 8-bit files resized by Pillow (see the module doc)."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = torch.round((x.double().clamp(-1, 1) + 1) * 127.5)  # 0..255, as a saved PNG (float64: exact passes)
    for shape in ((x.shape[2], size), (size, size)):  # Pillow: horizontal pass, then vertical, 8-bit between
        if tuple(x.shape[2:]) != shape:
            x = F.interpolate(x, size=shape, mode="bicubic", antialias=True, align_corners=False)
            x = x.clamp(0, 255).round()
    mean = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x / 255 - mean) / std).float()


# --- weights ------------------------------------------------------------------------------------------------------
def weights_path(spec: BackboneSpec) -> Path:
    """The weights file: ``$GANBENCH_<NAME>_WEIGHTS``, else torch hub's checkpoint folder."""
    env = os.environ.get(spec.env)
    return Path(env).expanduser() if env else Path(torch.hub.get_dir()) / "checkpoints" / spec.file


def expected_sha256(spec: BackboneSpec) -> Optional[str]:
    pin = os.environ.get(f"GANBENCH_{spec.name.upper()}_SHA256") or spec.sha256
    return pin.strip().lower() if pin else None


def missing_weights(spec: BackboneSpec) -> Optional[str]:
    """The one-line message for a weights file (or timm) that is not in place; None when both are."""
    path = weights_path(spec)
    if not path.is_file():
        return (f"extractor {spec.name!r}: {spec.title} weights are missing: put {spec.file} (from {spec.source}) "
                f"at {path}, or set {spec.env}=/path/to/the/file")
    try:
        import timm  # noqa: F401
    except ImportError:
        return f"extractor {spec.name!r} builds {spec.title} with timm: pip install 'ganbench[backbones]'"
    return None


def load_weights(spec: BackboneSpec) -> tuple[dict, str, Path]:
    """(state dict, the file's SHA-256, path): checked against the pin, loaded without unpickling code."""
    message = missing_weights(spec)
    if message:
        raise GanbenchError(message)
    path = weights_path(spec)
    sha, pin = file_sha256(path), expected_sha256(spec)
    if pin is not None and sha != pin:
        raise GanbenchError(f"{path}: SHA-256 {sha[:16]}... is not the pinned {pin[:16]}... of {spec.title}'s "
                            f"{spec.file}; put that file (from {spec.source}) there, or set {spec.env}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict"):
            state = state.get(key, state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise TypeError("not a state dict")
    except Exception as err:  # a truncated download, a TorchScript archive, another kind of file
        raise GanbenchError(f"{path}: not a {spec.title} state dict ({type(err).__name__}); expected {spec.file} "
                            f"from {spec.source}") from None
    return state, sha, path


# --- networks -----------------------------------------------------------------------------------------------------
def dinov2_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """DINOv2's interpolate_pos_encoding for a grid x grid input: [1, 1 + M*M, D] -> [1, 1 + grid*grid, D]."""
    m = int(round((pos_embed.shape[1] - 1) ** 0.5))
    if m == grid:
        return pos_embed
    cls, patch = pos_embed[:, :1].float(), pos_embed[:, 1:].float()
    scale = (grid + 0.1) / m  # DINOv2's offset 0.1 "to avoid floating point error in the interpolation"
    patch = F.interpolate(patch.reshape(1, m, m, -1).permute(0, 3, 1, 2), scale_factor=(scale, scale),
                          mode="bicubic")
    if patch.shape[-2:] != (grid, grid):
        raise ValueError(f"position embeddings resampled to {tuple(patch.shape[-2:])}, not {grid}x{grid}")
    return torch.cat([cls, patch.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], dim=1).to(pos_embed.dtype)


def dinov2_to_timm(state: dict, model: nn.Module) -> dict:
    """DINOv2's (or timm's 518 px) keys -> this 224 px timm model: drop mask_token, resample pos_embed."""
    if "register_tokens" in state:
        raise ValueError("a DINOv2 checkpoint with registers; ganbench's FD-DINOv2 uses the model without them")
    out = {k: v for k, v in state.items() if k != "mask_token"}
    out["pos_embed"] = dinov2_pos_embed(state["pos_embed"], model.patch_embed.grid_size[0])
    return out


def clip_to_timm(state: dict, model: nn.Module) -> dict:
    """OpenAI/open_clip keys (visual.*) or timm's own -> timm, by timm's converter."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    return checkpoint_filter_fn(dict(state), model)


class Backbone(nn.Module):
    """images in [-1, 1] -> (features, no logits): the spec's preprocessing, then the network."""

    def __init__(self, spec: BackboneSpec, net: nn.Module):
        super().__init__()
        self.spec, self.net = spec, net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.spec
        f = self.net(images_to_input(x, s.size, s.mean, s.std))
        if s.l2_normalise:
            f = F.normalize(f, dim=1)
        return f, f.new_zeros(len(f), 0)


def build_network(spec: BackboneSpec, state: Optional[dict] = None, **arch) -> Backbone:
    """timm's architecture with the spec's settings (``arch`` overrides them: tests build tiny ViTs the same way);
    ``state`` in the file's format is converted and loaded strictly."""
    import timm

    net = timm.create_model(spec.timm_arch, pretrained=False, **{**spec.arch, **arch})
    if state is not None:
        convert = clip_to_timm if spec.l2_normalise else dinov2_to_timm
        net.load_state_dict(convert(state, net), strict=True)
    return Backbone(spec, net.eval())


def build_backbone(name: str, device: str = "cpu", **_) -> Extractor:
    spec = BACKBONES[name]
    state, sha, path = load_weights(spec)
    try:
        model = build_network(spec, state)
    except (KeyError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise GanbenchError(f"{path}: not {spec.title} weights ({first}); expected {spec.file} from "
                            f"{spec.source}") from None
    pinned = expected_sha256(spec) is not None
    extra = {"backbone": f"{spec.title} (timm {spec.timm_arch})", "weights_file": path.name,
             "weights_sha256": sha, "weights_pinned": pinned, "features": spec.output,
             "preprocessing": spec.preprocessing}
    return Extractor(name, model.to(device).eval(), spec.dim, sha, f"{spec.size}x{spec.size}, {spec.preprocessing}",
                     extra)


def _register(name: str) -> None:
    spec = BACKBONES[name]
    EXTRACTORS.register(name, help=f"{spec.title} from timm, weights from {spec.file} (${spec.env}): "
                                   f"{spec.output}")(lambda device="cpu", **kw: build_backbone(name, device))


for _name in BACKBONES:
    _register(_name)


# --- which metrics a feature space serves -------------------------------------------------------------------------
def check_feature_space(metrics, extractor: Optional[str]) -> None:
    """A metric that names its extractors runs under those only; a backbone extractor serves only metrics that name
    it, so that an FD in DINOv2 or CLIP features is never stored under Inception's names (fid, kid, ...)."""
    if extractor is None:
        return
    for m in metrics:
        allowed = getattr(m, "extractors", ())
        if allowed and extractor not in allowed:
            raise GanbenchError(f"metric {m.name!r} is computed in the features of {', '.join(allowed)}; this "
                                f"evaluation uses extractor {extractor!r} (set eval.extractor: {allowed[0]})")
        if extractor in BACKBONES and not allowed and FEATURE_INPUTS & set(m.inputs):
            serves = [n for n in _metric_names() if extractor in getattr(_metric(n), "extractors", ())]
            raise GanbenchError(f"metric {m.name!r} would store a number computed in {BACKBONES[extractor].title} "
                                f"features under its Inception-era name; extractor {extractor!r} serves "
                                f"{', '.join(serves)}")


def _metric_names():
    from ganbench.evaluation.metric import METRICS

    return list(METRICS)


def _metric(name: str):
    from ganbench.evaluation.metric import METRICS

    return METRICS.get(name)


def check_evaluation(metric_names, extractor: Optional[str]) -> None:
    """Before any trial: the metrics fit the extractor, and a backbone's weights file and timm are in place."""
    check_feature_space([_metric(n) for n in metric_names], extractor)
    if extractor in BACKBONES:
        message = missing_weights(BACKBONES[extractor])
        if message:
            raise GanbenchError(message)
