"""Augmentation of D's input and consistency regularisation, for images [K, B, C, H, W] (K trials of a pack).

Every transform is a pure, differentiable function of the images and of uniform draws in [0, 1) (``u``, one row
per image), so a test can hand it the draws, and the trainer takes them from each trial's ``aux`` stream (a trial
draws the same numbers alone or in a pack and resumes bitwise). Images are in [-1, 1], as ganbench's datasets.

- DiffAugment (Zhao et al. 2020, the official ``DiffAugment_pytorch.py``): ``color`` (brightness + U(-0.5, 0.5);
  saturation x (2u); contrast x (u + 0.5)), ``translation`` (an integer shift of up to 1/8 of the side in each
  direction, zeros padded in), ``cutout`` (a square of half the side set to zero). Applied to every image D sees,
  real and generated alike, in the D step and in the G step (so G's gradient flows through it).
- ADA (Karras et al. 2020): each primitive transform is applied to each image with probability p, and p is adapted
  so that r_t = E sign(D(x_r)) (D's outputs on augmented reals, averaged over ``interval`` D steps) tracks a target
  (0.6): p <- clip(p + sign(r_t - target) * images_in_interval / (kimg * 1000), 0, 1), so that p can go from 0 to 1
  in ``kimg`` thousand real images, as stylegan2-ada-pytorch does (which clamps at 0 only). The pipeline is not
  all of ADA's 18 transforms: its primitives are x-flip, 90-degree rotations, integer translation (blit), ADA's
  geometric transforms (``geom``: isotropic scaling, rotation, anisotropic scaling, fractional translation, each a
  bilinear resampling with reflected borders where ADA composes them into one), DiffAugment's colour transforms
  above, and ADA's own (``adacolor``: brightness, contrast, luma flip, hue rotation and saturation at ADA's
  magnitudes); default ``flip,rot90,translation,color``. ``flip,rot90,translation,geom,adacolor`` has the transforms
  and magnitudes of ADA's 'bgc', each geometric transform its own resampling and one rotation where ADA has two;
  ADA's filters, noise and cutout are not here.
- Consistency regularisation (Zhang et al. 2020, CR; Zhao et al. 2021, bCR): lambda_r E (D(x_r) - D(T(x_r)))^2
  on real images and lambda_f E (D(x_f) - D(T(x_f)))^2 on generated ones (detached from G), T a random horizontal
  flip and a translation of up to 1/8 (zero padding), both outputs with gradients to D, in the D step only.

With augmentation, D's penalties see the augmented images D judged (the gradient is taken at D's input).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from ganbench.registry import GanbenchError, unknown_name

Draw = Callable[[tuple], Tensor]  # shape (B, m) -> uniform draws [K, B, m] from each trial's aux stream
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


# ---------------------------------------------------------------------------------------------- primitives
# each: (x [N, C, H, W], u [N, m]) -> [N, C, H, W]
def brightness(x: Tensor, u: Tensor) -> Tensor:
    return x + (u[:, :1, None, None] - 0.5)


def saturation(x: Tensor, u: Tensor) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (2 * u[:, :1, None, None]) + mean


def contrast(x: Tensor, u: Tensor) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (u[:, :1, None, None] + 0.5) + mean


def _integer(u: Tensor, n: int) -> Tensor:
    """floor(u * n) as an integer in [0, n) (u < 1; the clamp guards float rounding)."""
    return (u * n).floor().long().clamp_(0, n - 1)


def _shift(x: Tensor, t: Tensor, dim: int) -> Tensor:
    """out[..., i, ...] = x[..., i + t, ...] along ``dim`` (2 or 3) per image, zero where i + t is outside."""
    size = x.shape[dim]
    idx = torch.arange(size, device=x.device).unsqueeze(0) + t.unsqueeze(1)  # [N, size]
    inside = (idx >= 0) & (idx < size)
    idx = idx.clamp(0, size - 1)
    view = [x.shape[0], 1, 1, 1]
    view[dim] = size
    gathered = x.gather(dim, idx.view(view).expand_as(x))
    return gathered * inside.view(view).to(x.dtype)


def translation(x: Tensor, u: Tensor, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift by (tx, ty), each uniform over the integers in [-s, s], s = int(side * ratio + 0.5); zeros padded in."""
    sx, sy = int(x.shape[2] * ratio + 0.5), int(x.shape[3] * ratio + 0.5)
    tx, ty = _integer(u[:, 0], 2 * sx + 1) - sx, _integer(u[:, 1], 2 * sy + 1) - sy
    return _shift(_shift(x, tx, 2), ty, 3)


def cutout(x: Tensor, u: Tensor, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Zero a square of int(side * ratio + 0.5) pixels centred at a uniform offset (the official code's)."""
    h, w = x.shape[2], x.shape[3]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    lo_x = _integer(u[:, 0], h + (1 - sh % 2)) - sh // 2
    lo_y = _integer(u[:, 1], w + (1 - sw % 2)) - sw // 2
    rows = torch.arange(h, device=x.device).unsqueeze(0)
    cols = torch.arange(w, device=x.device).unsqueeze(0)
    in_x = (rows >= lo_x[:, None]) & (rows < lo_x[:, None] + sh)  # [N, H]
    in_y = (cols >= lo_y[:, None]) & (cols < lo_y[:, None] + sw)  # [N, W]
    keep = ~(in_x[:, :, None] & in_y[:, None, :])
    return x * keep[:, None].to(x.dtype)


def flip(x: Tensor, u: Tensor) -> Tensor:
    """Horizontal flip where u < 1/2."""
    return torch.where((u[:, 0] < 0.5)[:, None, None, None], x.flip(3), x)


def rot90(x: Tensor, u: Tensor) -> Tensor:
    """Rotation by k * 90 degrees, k = floor(4u) (square images)."""
    k = _integer(u[:, 0], 4)[:, None, None, None]
    out = x
    for turns in (1, 2, 3):
        out = torch.where(k == turns, torch.rot90(x, turns, dims=(2, 3)), out)
    return out


# ADA's geometric transforms (stylegan2-ada-pytorch's 'geom' magnitudes: scale std 0.2 in log2, translation std
# 0.125 of the side, rotation uniform over the circle), each one resampling: an affine map of the sampling grid,
# bilinear, reflection at the borders (ADA composes them into one resampling with a wavelet filter: not here)
SCALE_STD, TRANSLATE_STD = 0.2, 0.125


def _normal(u: Tensor) -> Tensor:
    """Standard normal quantiles of uniform draws (u clamped away from 0 and 1)."""
    return torch.special.ndtri(u.clamp(1e-6, 1 - 1e-6))


def _resample(x: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor, tx=None, ty=None) -> Tensor:
    """out(p) = x(M p + t) in normalised coordinates ([-1, 1] across the image), M = [[a, b], [c, d]] per image;
    bilinear, reflected at the borders, differentiable in x."""
    import torch.nn.functional as F

    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([a, b, zero if tx is None else tx], 1),
                         torch.stack([c, d, zero if ty is None else ty], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def scale(x: Tensor, u: Tensor) -> Tensor:
    """Isotropic scaling by s = 2^(0.2 z), z standard normal (ADA: scale)."""
    inv = torch.exp2(-SCALE_STD * _normal(u[:, 0]))
    return _resample(x, inv, torch.zeros_like(inv), torch.zeros_like(inv), inv)


def rotate(x: Tensor, u: Tensor) -> Tensor:
    """Rotation by an angle uniform over [-pi, pi) (ADA: rotate)."""
    angle = (2 * u[:, 0] - 1) * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    return _resample(x, cos, -sin, sin, cos)


def aniso(x: Tensor, u: Tensor) -> Tensor:
    """Anisotropic scaling: width by s and height by 1/s, s = 2^(0.2 z) (ADA: aniso)."""
    s = torch.exp2(SCALE_STD * _normal(u[:, 0]))
    return _resample(x, 1 / s, torch.zeros_like(s), torch.zeros_like(s), s)


def xfrac(x: Tensor, u: Tensor) -> Tensor:
    """Fractional translation by (tx, ty), each 0.125 z of the side, z standard normal (ADA: xfrac)."""
    t = TRANSLATE_STD * _normal(u[:, :2])
    one, zero = torch.ones_like(t[:, 0]), torch.zeros_like(t[:, 0])
    return _resample(x, one, zero, zero, one, -2 * t[:, 0], -2 * t[:, 1])


# ADA's colour transforms (stylegan2-ada-pytorch's 'color' magnitudes), on images in [-1, 1] about mid-grey 0: each a
# linear map of the channels; v is the luma axis (1, ..., 1) / sqrt(C)
BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD = 0.2, 0.5, 1.0


def _luma(x: Tensor) -> Tensor:
    """The projection of each pixel on the luma axis, v v^T x: the channels' mean in every channel."""
    return x.mean(dim=1, keepdim=True).expand_as(x)


def ada_brightness(x: Tensor, u: Tensor) -> Tensor:
    """x + b, b ~ N(0, 0.2^2) (ADA: brightness)."""
    return x + BRIGHTNESS_STD * _normal(u[:, :1])[:, :, None, None]


def ada_contrast(x: Tensor, u: Tensor) -> Tensor:
    """x * 2^(0.5 z) about mid-grey (ADA: contrast)."""
    return x * torch.exp2(CONTRAST_STD * _normal(u[:, :1]))[:, :, None, None]


def lumaflip(x: Tensor, u: Tensor) -> Tensor:
    """x - 2 v v^T x where u < 1/2: the luma inverted, the chroma kept (ADA: lumaflip)."""
    return torch.where((u[:, 0] < 0.5)[:, None, None, None], x - 2 * _luma(x), x)


def hue(x: Tensor, u: Tensor) -> Tensor:
    """A rotation of RGB about the luma axis by an angle uniform over [-pi, pi) (ADA: hue); images of other channel
    counts are left as they are (a rotation about the only axis of one channel is the identity)."""
    if x.shape[1] != 3:
        return x
    angle = (2 * u[:, 0] - 1) * math.pi
    cos, sin = torch.cos(angle)[:, None, None, None], torch.sin(angle)[:, None, None, None]
    luma = _luma(x)
    cross = torch.stack([x[:, 2] - x[:, 1], x[:, 0] - x[:, 2], x[:, 1] - x[:, 0]], 1) / math.sqrt(3)  # v x x
    return luma + (x - luma) * cos + cross * sin  # Rodrigues: v v^T x + cos (x - v v^T x) + sin (v x x)


def ada_saturation(x: Tensor, u: Tensor) -> Tensor:
    """v v^T x + 2^(z) (x - v v^T x): the chroma scaled about the luma axis (ADA: saturation)."""
    luma = _luma(x)
    return luma + (x - luma) * torch.exp2(SATURATION_STD * _normal(u[:, :1]))[:, :, None, None]


PRIMITIVES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], int]] = {  # name -> (transform, draws per image)
    "brightness": (brightness, 1), "saturation": (saturation, 1), "contrast": (contrast, 1),
    "translation": (translation, 2), "cutout": (cutout, 2), "flip": (flip, 1), "rot90": (rot90, 1),
    "scale": (scale, 1), "rotate": (rotate, 1), "aniso": (aniso, 1), "xfrac": (xfrac, 2),
    "ada_brightness": (ada_brightness, 1), "ada_contrast": (ada_contrast, 1), "lumaflip": (lumaflip, 1),
    "hue": (hue, 1), "ada_saturation": (ada_saturation, 1),
}
GROUPS = {"color": ("brightness", "saturation", "contrast"), "geom": ("scale", "rotate", "aniso", "xfrac"),
          "adacolor": ("ada_brightness", "ada_contrast", "lumaflip", "hue", "ada_saturation")}
POLICY_NAMES = (*GROUPS, *PRIMITIVES)
DEFAULT_POLICY = {"diffaugment": "color,translation,cutout", "ada": "flip,rot90,translation,color"}
CR_POLICY = ("flip", "translation")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> the primitives in order; an unknown name is a GanbenchError naming the allowed."""
    names = [p.strip() for p in str(policy).split(",") if p.strip()]
    if not names:
        raise GanbenchError(f"an empty augmentation policy; allowed: a comma-separated list of "
                            f"{', '.join(POLICY_NAMES)}")
    out = []
    for n in names:
        if n not in POLICY_NAMES:
            raise GanbenchError(unknown_name("augmentation transform", n, POLICY_NAMES))
        out.extend(GROUPS.get(n, (n,)))
    return tuple(out)


def draws_per_image(primitives: tuple[str, ...], gated: bool) -> int:
    return sum(PRIMITIVES[p][1] + (1 if gated else 0) for p in primitives)


def apply_policy(x: Tensor, primitives: tuple[str, ...], u: Tensor, p: Optional[Tensor] = None) -> Tensor:
    """x [N, C, H, W], u [N, draws_per_image(primitives, p is not None)]: each primitive in turn, on every image
    (p None) or on the images whose gate draw is below their p [N] (ADA)."""
    col = 0
    for name in primitives:
        fn, m = PRIMITIVES[name]
        out = fn(x, u[:, col:col + m])
        col += m
        if p is not None:
            out = torch.where((u[:, col] < p)[:, None, None, None], out, x)
            col += 1
        x = out
    return x


def augment_images(x: Tensor, primitives: tuple[str, ...], draw: Draw, p: Optional[Tensor] = None) -> Tensor:
    """Images [K, B, C, H, W] of K trials, with each trial's draws; ``p`` [K] gates each primitive (ADA)."""
    k, b = x.shape[:2]
    u = draw((b, draws_per_image(primitives, p is not None)))  # [K, B, m]
    flat = x.reshape(k * b, *x.shape[2:])
    pk = None if p is None else p[:, None].expand(k, b).reshape(-1)
    return apply_policy(flat, primitives, u.reshape(k * b, -1), pk).reshape(x.shape)


# ---------------------------------------------------------------------------------------------- ADA's controller
class AdaController:
    """ADA's probability p [K] and its running sign statistic; updated every ``interval`` D steps (no host sync)."""

    def __init__(self, k: int, device, target: float, kimg: float, interval: int, images_per_step: int):
        self.target, self.interval = target, interval
        self.step_size = images_per_step * interval / (kimg * 1000)
        self.p = torch.zeros(k, device=device)
        self.sign_sum = torch.zeros(k, device=device)
        self.rt = torch.zeros(k, device=device)  # r_t of the last update
        self.seen = 0  # D steps observed since the last update

    @torch.no_grad()
    def observe(self, real_out: Tensor) -> None:
        """D's outputs on augmented reals [K, B] of one D step."""
        self.sign_sum += real_out.detach().float().sign().mean(-1)
        self.seen += 1
        if self.seen == self.interval:
            self.rt = self.sign_sum / self.seen
            self.p = (self.p + torch.sign(self.rt - self.target) * self.step_size).clamp_(0, 1)
            self.sign_sum.zero_()
            self.seen = 0

    def state_dict(self) -> dict[str, Tensor]:
        """[K] tensors (the pack's training state, in its checkpoint)."""
        return {"ada.p": self.p, "ada.sign_sum": self.sign_sum, "ada.rt": self.rt,
                "ada.seen": torch.full_like(self.p, self.seen, dtype=torch.long)}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in ("p", "sign_sum", "rt"):
            getattr(self, name).copy_(state[f"ada.{name}"])
        self.seen = int(state["ada.seen"].max())  # shared by the members (a frozen member's is zeroed)


@dataclass
class Augment:
    """What D's input goes through in a pack: DiffAugment (``ada`` None) or ADA (p from ``ada``)."""

    method: str  # "diffaugment" | "ada"
    primitives: tuple[str, ...]
    ada: Optional[AdaController] = None

    def __call__(self, x: Tensor, draw: Draw) -> Tensor:
        return augment_images(x, self.primitives, draw, None if self.ada is None else self.ada.p)

    def observe(self, real_out: Tensor) -> None:
        if self.ada is not None:
            self.ada.observe(real_out)

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self.ada is None else self.ada.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if self.ada is not None:
            self.ada.load_state_dict(state)

    def record(self, k: int) -> dict[str, float]:
        """Values logged at each evaluation point: ADA's p and its last r_t."""
        if self.ada is None:
            return {}
        return {"ada_p": float(self.ada.p[k]), "ada_rt": float(self.ada.rt[k])}


def build_augment(hp, k: int, device) -> Optional[Augment]:
    """The pack's augmentation from its hyperparameters (``augment``, ``augment_policy``, ``ada_*``), or None."""
    if hp.augment == "none":
        return None
    primitives = parse_policy(hp.augment_policy or DEFAULT_POLICY[hp.augment])
    ada = None
    if hp.augment == "ada":
        ada = AdaController(k, device, hp.ada_target, hp.ada_kimg, hp.ada_interval, hp.batch_size * hp.pac)
    return Augment(hp.augment, primitives, ada)


# ---------------------------------------------------------------------------------------------- CR and bCR
def consistency_term(D: Callable[[Tensor], Tensor], x: Tensor, out: Tensor, draw: Draw) -> Tensor:
    """E_b (D(x) - D(T(x)))^2 per trial [K]: ``out`` = D(x) [K, B] (with its graph), T = flip + translation 1/8."""
    return (out - D(augment_images(x, CR_POLICY, draw))).pow(2).flatten(1).mean(1)


def check_augment_options(hp, info, d_output: str, where: str) -> None:
    """Cross-field checks of the augmentation, CR and EMA hyperparameters (one GanbenchError line each)."""
    uses_images = hp.augment != "none" or hp.cr_weight > 0 or hp.bcr_weight > 0
    if uses_images and info.kind != "image":
        raise GanbenchError(f"{where}: augment, cr_weight and bcr_weight transform images; {info.name!r} is a "
                            f"{info.kind} dataset (allowed there: augment: none, cr_weight: 0, bcr_weight: 0)")
    if (hp.augment == "ada" or hp.cr_weight > 0 or hp.bcr_weight > 0) and d_output != "logit":
        raise GanbenchError(f"{where}: ADA and CR read D's output as a logit; this loss's D outputs "
                            f"{d_output!r} (allowed: augment none or diffaugment, cr_weight 0, bcr_weight 0)")
    if uses_images and "rot90" in parse_policy(hp.augment_policy or DEFAULT_POLICY.get(hp.augment, "flip")) \
            and info.shape[-1] != info.shape[-2]:
        raise GanbenchError(f"{where}: augment_policy: rot90 needs square images, {info.name!r} is {info.shape}")
    defaults = {"ada_target": 0.6, "ada_kimg": 500.0, "ada_interval": 4}
    if hp.augment != "ada":
        changed = [n for n, v in defaults.items() if not math.isclose(getattr(hp, n), v)]
        if changed:
            verb = "applies" if len(changed) == 1 else "apply"
            raise GanbenchError(f"{where}: {', '.join(changed)} {verb} with augment: ada (augment is {hp.augment!r})")
    if hp.augment == "none" and hp.augment_policy is not None:
        raise GanbenchError(f"{where}: augment_policy applies with augment: diffaugment or ada (augment is 'none')")
    if hp.ema_half_life_images is None and (hp.ema_rampup is not None or hp.ema_eval != "instead"):
        raise GanbenchError(f"{where}: ema_rampup and ema_eval apply with ema_half_life_images (the generator "
                            f"EMA is off)")
