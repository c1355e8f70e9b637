"""FD-DINOv2 and CMMD: the backbones on tiny randomly initialised ViTs built by the same code (timm, the same
conversion and preprocessing), the CMMD estimator against hand-computed values, weight files written here."""
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("timm")

from ganbench.datasets import dataset_info  # noqa: E402
from ganbench.evaluation import backbones as bb  # noqa: E402
from ganbench.evaluation.evaluator import Evaluator  # noqa: E402
from ganbench.evaluation.metric import METRICS  # noqa: E402
from ganbench.evaluation.metrics.cmmd import cmmd_from_embeddings, mmd2_rbf_biased  # noqa: E402
from ganbench.registry import GanbenchError  # noqa: E402

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2}


def tiny_spec(name: str) -> bb.BackboneSpec:
    spec = bb.BACKBONES[name]
    return dataclasses.replace(spec, arch={**spec.arch, **TINY}, dim=spec.dim if spec.l2_normalise else 32)


def dinov2_checkpoint(seed: int = 0) -> dict:
    """A state dict in DINOv2's own format (518 px: 37 x 37 position embeddings, a mask token), tiny."""
    torch.manual_seed(seed)
    net = bb.build_network(bb.BACKBONES["dinov2_vitl14"], img_size=518, **TINY).net
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["pos_embed"] = 0.02 * torch.randn_like(state["pos_embed"])  # not smooth: resampling errors show
    for key in state:
        if key.endswith(".gamma"):  # timm's LayerScale starts at 1e-5, which would make the blocks near identities
            state[key] = torch.ones_like(state[key])
    state["mask_token"] = torch.zeros(1, TINY["embed_dim"])
    return state


# --- preprocessing ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,size", [(8, 224), (32, 224), (256, 224), (28, 336)])
def test_resize_is_pillows_bicubic_on_8bit_images(n, size):
    """dgm-eval and CMMD resize 8-bit files with Pillow: our tensor resize gives Pillow's pixels (1 level off on one
    pixel in a thousand, 2 on a few, from Pillow's fixed-point weights, on noise, the worst case); one float resize
    without the 8-bit pass between misses Pillow's pixel on 5 to 20% of pixels, by up to 20 levels."""
    from PIL import Image

    img = np.random.default_rng(n).integers(0, 256, (n, n, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC)).astype(np.float64)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1  # the [-1, 1] image of that file
    ours = bb.images_to_input(x, size, (0, 0, 0), (1, 1, 1))[0].permute(1, 2, 0).double().numpy() * 255
    diff = np.abs(ours - pil)
    assert diff.max() <= 2.0 + 1e-3 and (diff > 0.5).mean() < 1e-3
    one_pass = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].double(), size=(size, size),
                             mode="bicubic", antialias=True).clamp(0, 255).round()[0].permute(1, 2, 0).numpy()
    assert (np.abs(one_pass - pil) > 0.5).mean() > 0.05  # what the 8-bit pass between is for


def test_normalisation_and_grey_images_by_hand():
    """A constant grey image: no resize error, so each channel is (v / 255 - mean) / std exactly as computed here."""
    x = torch.full((2, 1, 8, 8), 0.2)  # [-1, 1] value 0.2 -> 8-bit round(1.2 * 127.5) = 153
    out = bb.images_to_input(x, 224, bb.IMAGENET_MEAN, bb.IMAGENET_STD)
    assert out.shape == (2, 3, 224, 224)
    for c, (m, s) in enumerate(zip(bb.IMAGENET_MEAN, bb.IMAGENET_STD)):
        torch.testing.assert_close(out[:, c], torch.full((2, 224, 224), (153 / 255 - m) / s))
    clip = bb.images_to_input(torch.full((1, 3, 4, 4), -1.0), 336, bb.CLIP_MEAN, bb.CLIP_STD)
    torch.testing.assert_close(clip[0, :, 0, 0], torch.tensor([-m / s for m, s in zip(bb.CLIP_MEAN, bb.CLIP_STD)]))


# --- networks -----------------------------------------------------------------------------------------------------
def _keys_cubic(t: float, a: float = -0.75) -> float:
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0


def _dinov2_resample_by_hand(grid: np.ndarray, out: int, i: int, j: int) -> float:
    """One output of DINOv2's interpolate_pos_encoding: bicubic (Keys, a = -0.75), scale (out + 0.1) / M, source
    coordinate (dst + 0.5) / scale - 0.5, edge indices clamped."""
    m = grid.shape[0]
    inv = m / (out + 0.1)
    value = 0.0
    for (yi, wy) in _taps((i + 0.5) * inv - 0.5, m):
        for (xj, wx) in _taps((j + 0.5) * inv - 0.5, m):
            value += wy * wx * grid[yi, xj]
    return value


def _taps(src: float, m: int):
    base = math.floor(src)
    return [(min(max(base + k, 0), m - 1), _keys_cubic(src - (base + k))) for k in (-1, 0, 1, 2)]


def test_dinov2_position_embeddings_resampled_as_dinov2_does():
    pos = torch.randn(1, 1 + 37 * 37, 3, dtype=torch.float64)
    ours = bb.dinov2_pos_embed(pos.float(), 16)
    assert ours.shape == (1, 1 + 16 * 16, 3)
    torch.testing.assert_close(ours[:, 0], pos[:, 0].float())
    grid = pos[0, 1:, 1].reshape(37, 37).numpy()
    for i, j in ((0, 0), (3, 11), (15, 15), (8, 0)):
        assert ours[0, 1 + i * 16 + j, 1].item() == pytest.approx(_dinov2_resample_by_hand(grid, 16, i, j), abs=1e-5)
    # timm's own resampling (antialiased, exact size 16) would give other embeddings: this test tells them apart
    timm_like = F.interpolate(pos[:, 1:].float().reshape(1, 37, 37, 3).permute(0, 3, 1, 2), size=(16, 16),
                              mode="bicubic", antialias=True)
    assert (timm_like.permute(0, 2, 3, 1).reshape(1, 256, 3) - ours[:, 1:]).abs().max() > 1e-2


def test_tiny_dinov2_from_its_checkpoint_is_the_cls_token_of_dinov2s_forward():
    state = dinov2_checkpoint()
    model = bb.build_network(bb.BACKBONES["dinov2_vitl14"], state, **TINY).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        feats, logits = model(x)
        net, inp = model.net, bb.images_to_input(x, 224, bb.IMAGENET_MEAN, bb.IMAGENET_STD)
        tokens = net.patch_embed.proj(inp).flatten(2).transpose(1, 2)  # DINOv2: conv patches, CLS first, + pos
        tokens = torch.cat([state["cls_token"].expand(3, -1, -1), tokens], 1) + bb.dinov2_pos_embed(
            state["pos_embed"], 16)
        for block in net.blocks:
            tokens = block(tokens)
        expected = net.norm(tokens)[:, 0]  # x_norm_clstoken, what dgm-eval's DINOv2Encoder takes
    assert feats.shape == (3, 32) and logits.shape == (3, 0)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)


def _openai_format(state: dict) -> dict:
    """timm's CLIP image tower written back in OpenAI's key names (what open_clip's files hold)."""
    out = {"token_embedding.weight": torch.zeros(4, 8)}  # a text-tower key, to be ignored
    for k, v in state.items():
        if k == "head.weight":
            out["visual.proj"] = v.T.contiguous()
            continue
        if k == "head.bias":
            continue
        if k == "cls_token":
            k, v = "class_embedding", v[0, 0]
        elif k == "pos_embed":
            k, v = "positional_embedding", v[0]
        for a, b in (("patch_embed.proj", "conv1"), ("norm_pre", "ln_pre"), ("blocks.", "transformer.resblocks."),
                     ("norm1", "ln_1"), ("norm2", "ln_2"), ("attn.qkv.", "attn.in_proj_"),
                     ("attn.proj", "attn.out_proj"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
            k = k.replace(a, b)
        out["visual." + ("ln_post" + k[4:] if k.startswith("norm.") else k)] = v
    return out


def test_tiny_clip_embeddings_from_timm_and_openai_files_agree():
    torch.manual_seed(1)
    spec = bb.BACKBONES["clip_vitl14_336"]
    source = bb.build_network(spec, **TINY).net
    torch.nn.init.zeros_(source.head.bias)  # OpenAI's projection has no bias
    state = {k: v.clone() for k, v in source.state_dict().items()}
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        a, _ = bb.build_network(spec, state, **TINY)(x)
        b, _ = bb.build_network(spec, _openai_format(state), **TINY)(x)
        proj = source(bb.images_to_input(x, 336, bb.CLIP_MEAN, bb.CLIP_STD))
    assert a.shape == (2, 768)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(a, F.normalize(proj, dim=1))
    torch.testing.assert_close(a, b)


# --- CMMD ---------------------------------------------------------------------------------------------------------
def test_cmmd_against_a_hand_computed_value():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])  # |x1 - x2|^2 = 25
    y = np.array([[0.0, 0.0], [6.0, 8.0], [0.0, 10.0]])  # squared distances 100, 100, 40 within y
    k = lambda d2: math.exp(-d2 / 200.0)  # sigma 10
    k_xx = (2 * k(0) + 2 * k(25)) / 4  # biased: the diagonal k(x, x) = 1 counts
    k_yy = (3 * k(0) + 2 * (k(100) + k(100) + k(40))) / 9
    k_xy = (k(0) + k(100) + k(100) + k(25) + k(25) + k(45)) / 6
    expected = 1000 * (k_xx + k_yy - 2 * k_xy)
    assert mmd2_rbf_biased(x, y) == pytest.approx(expected, rel=1e-12)
    assert mmd2_rbf_biased(x, y, block_rows=1) == pytest.approx(expected, rel=1e-12)
    assert mmd2_rbf_biased(x, y, scale=1.0) == pytest.approx(expected / 1000, rel=1e-12)


def test_cmmd_properties():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(50, 16))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert cmmd_from_embeddings(e, e) == 0.0
    other = rng.normal(size=(40, 16)) + 0.5
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    value = cmmd_from_embeddings(e, other)
    assert value > 0 and value == pytest.approx(cmmd_from_embeddings(other, e), rel=1e-12)
    # biased: two independent sets of one point each differ by 2 - 2k; the unbiased estimate would drop k_xx, k_yy
    a, b = e[:1], e[1:2]
    assert cmmd_from_embeddings(a, b) == pytest.approx(1000 * (2 - 2 * math.exp(-np.sum((a - b) ** 2) / 200)))
    with pytest.raises(GanbenchError, match="L2-normalised"):
        cmmd_from_embeddings(e * 2, other)


# --- weights files ------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_dinov2(tmp_path, monkeypatch):
    monkeypatch.setitem(bb.BACKBONES, "dinov2_vitl14", tiny_spec("dinov2_vitl14"))
    path = tmp_path / "dinov2_vitl14_pretrain.pth"
    torch.save(dinov2_checkpoint(), path)
    monkeypatch.setenv("GANBENCH_DINOV2_VITL14_WEIGHTS", str(path))
    return path


def test_pinned_hash_loads_and_goes_into_provenance(tiny_dinov2, monkeypatch):
    sha = bb.file_sha256(tiny_dinov2)
    monkeypatch.setenv("GANBENCH_DINOV2_VITL14_SHA256", sha)
    ext = bb.build_backbone("dinov2_vitl14")
    feats, _ = ext.features_and_logits(torch.zeros(2, 1, 8, 8))
    assert feats.shape == (2, 32) and ext.weights_sha == sha
    assert ext.extra["weights_sha256"] == sha and ext.extra["weights_pinned"] is True
    assert "DINOv2 ViT-L/14" in ext.extra["backbone"] and "224x224" in ext.extra["preprocessing"]


def test_wrong_hash_is_one_line_naming_the_file(tiny_dinov2, monkeypatch):
    monkeypatch.setenv("GANBENCH_DINOV2_VITL14_SHA256", "0" * 64)
    with pytest.raises(GanbenchError) as err:
        bb.build_backbone("dinov2_vitl14")
    msg = str(err.value)
    assert "\n" not in msg and str(tiny_dinov2) in msg and "dinov2_vitl14_pretrain.pth" in msg and "SHA-256" in msg


def test_unpinned_file_loads_and_says_so(tiny_dinov2):
    assert bb.build_backbone("dinov2_vitl14").extra["weights_pinned"] is False


def test_missing_and_foreign_files_are_one_line(tmp_path, monkeypatch, tiny_dinov2):
    monkeypatch.setenv("GANBENCH_DINOV2_VITL14_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(GanbenchError) as err:
        bb.build_backbone("dinov2_vitl14")
    msg = str(err.value)
    assert "\n" not in msg and "nope.pth" in msg and "GANBENCH_DINOV2_VITL14_WEIGHTS" in msg and "fbaipublic" in msg
    for content in (b"not a checkpoint", None):
        bad = tmp_path / "bad.pth"
        if content is None:
            torch.save({"something.else": torch.zeros(3)}, bad)  # a state dict, but not DINOv2's
        else:
            bad.write_bytes(content)
        monkeypatch.setenv("GANBENCH_DINOV2_VITL14_WEIGHTS", str(bad))
        with pytest.raises(GanbenchError) as err:
            bb.build_backbone("dinov2_vitl14")
        assert "\n" not in str(err.value) and "bad.pth" in str(err.value)


# --- metrics in the evaluator -------------------------------------------------------------------------------------
def test_fd_dinov2_through_the_evaluator_records_the_backbone(tiny_dinov2):
    info = dataset_info("digits")
    ev = Evaluator("digits", {}, info, ["fd_dinov2"], "dinov2_vitl14", n_samples=60, n_real=60)
    real = torch.from_numpy(ev.fixed_input("real", "test")).float().reshape(60, 1, 8, 8)  # its own references
    values, prov = ev.evaluate(real, "test")
    noise, _ = ev.evaluate(torch.rand(60, 1, 8, 8) * 2 - 1, "test")
    assert set(values) == {"fd_dinov2"} and values["fd_dinov2"] < 1e-9 and noise["fd_dinov2"] > 1
    p = prov["fd_dinov2"]
    assert p["extractor"] == "dinov2_vitl14" and p["weights_sha256"] == bb.file_sha256(tiny_dinov2)
    assert "Pillow-style bicubic resize to 224x224" in p["preprocessing"] and p["direction"] == "min"


def test_nodes_get_the_weights_file_with_the_reference_statistics(tiny_dinov2):
    """A Ray node that lacks the weights fetches them from the driver (its SHA-256 checked) to its own setting."""
    from ganbench.execution.prepare import reference_files
    from ganbench.execution.trainable import local_cache_path

    ev = Evaluator("digits", {}, dataset_info("digits"), ["fd_dinov2"], "dinov2_vitl14", n_samples=50, n_real=50)
    [entry] = [e for e in reference_files(ev) if e["kind"].startswith("weights:")]
    assert entry["kind"] == "weights:dinov2_vitl14" and entry["sha256"] == bb.file_sha256(tiny_dinov2)
    assert local_cache_path(entry) == tiny_dinov2


@pytest.mark.parametrize("metrics,extractor,words", [
    (["fid"], "dinov2_vitl14", "serves fd_dinov2"),
    (["cmmd"], "dinov2_vitl14", "clip_vitl14_336"),
    (["fd_dinov2"], "inception", "dinov2_vitl14"),
    (["fd_dinov2"], "dinov2_vitb14", "dinov2_vitl14"),
])
def test_a_feature_space_never_carries_another_ones_name(metrics, extractor, words):
    with pytest.raises(GanbenchError, match=words):
        bb.check_feature_space([METRICS.get(m) for m in metrics], extractor)


def test_a_suite_asking_for_missing_weights_stops_in_preflight(tmp_path, monkeypatch):
    from ganbench.suite.checks import check_trials
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    monkeypatch.setenv("GANBENCH_CLIP_VITL14_336_WEIGHTS", str(tmp_path / "clip.safetensors"))
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndatasets: [digits]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0]\n"
                    "budget: {d_steps: 10}\neval: {every_d_steps: 10, n_samples: 100, metrics: [cmmd], "
                    "extractor: clip_vitl14_336}\n")
    with pytest.raises(GanbenchError) as err:
        check_trials(expand(load_suite(path)))
    assert "clip.safetensors" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", sorted(bb.BACKBONES))
def test_real_weights_if_present(name):
    spec = bb.BACKBONES[name]
    if bb.missing_weights(spec):
        pytest.skip(f"{spec.title} weights are not at {bb.weights_path(spec)} (no network here to fetch them)")
    ext = bb.build_backbone(name)
    feats, _ = ext.features_and_logits(torch.rand(4, 3, 32, 32) * 2 - 1, batch_size=2)
    assert feats.shape == (4, spec.dim) and np.isfinite(feats).all()
