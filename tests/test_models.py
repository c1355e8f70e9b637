"""Tests of the architecture family: shapes, options, conditioning, init and paper layer sizes."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganbench.zoo.models import ARCHITECTURES, ArchOptions, build_models, paper_options
from ganbench.zoo.models.layers import ConditionalBatchNorm2d
from ganbench.registry import GanbenchError

SHAPES = [(2,), (1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)]
SUPPORTED = {
    "mlp": set(SHAPES),
    "dcgan": set(SHAPES[1:]),
    "infogan": set(SHAPES[1:]),
    "sndcgan": set(SHAPES[1:]),
    "resnet": {(3, 32, 32), (3, 64, 64)},
    "pacgan2d": {(2,)},
}
SMALL = {"mlp": (1, 8, 8), "dcgan": (1, 8, 8), "infogan": (1, 8, 8), "sndcgan": (1, 8, 8), "resnet": (3, 32, 32),
         "pacgan2d": (2,)}
Z, B, K = 8, 3, 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is faster than two and does not fight other test processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when a and b differ by more than 1e-3 of their scale (outputs at init can be tiny, e.g. 1e-10)."""
    return (a - b).abs().max().item() > 1e-3 * max(a.abs().max().item(), b.abs().max().item())


def small(**kw) -> ArchOptions:
    return ArchOptions(width=kw.pop("width", 4), **kw)


def build(name, shape, **kw):
    num_classes = kw.pop("num_classes", None)
    return build_models(name, shape, Z, small(**kw), num_classes=num_classes)


def test_registry_lists_every_architecture_with_help():
    assert ARCHITECTURES.names() == sorted(SUPPORTED)
    assert all(ARCHITECTURES.help(n) for n in ARCHITECTURES)
    with pytest.raises(GanbenchError, match="did you mean 'dcgan'"):
        build_models("dcgna", (1, 8, 8), Z)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes_range_and_backward(name, shape):
    if shape not in SUPPORTED[name]:
        with pytest.raises(GanbenchError, match="supports"):
            build(name, shape)
        return
    torch.manual_seed(0)
    G, D = build(name, shape)
    x = G(torch.randn(B, Z))
    assert x.shape == (B, *shape)
    assert x.min() >= -1 and x.max() <= 1
    out = D(x)
    assert out.shape == (B,)
    out.sum().backward()
    for net in (G, D):
        for pname, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in G.parameters())


@pytest.mark.parametrize("name,shape", [("dcgan", (3, 36, 36)), ("dcgan", (1, 4, 4)), ("infogan", (1, 30, 30)),
                                        ("sndcgan", (1, 30, 30)), ("dcgan", (3, 32, 16)), ("resnet", (3, 48, 48)),
                                        ("mlp", (0, 4)), ("pacgan2d", (1, 8, 8))])
def test_unsupported_shapes_raise(name, shape):
    with pytest.raises(GanbenchError, match=f"'{name}' cannot serve data shape"):
        build(name, shape)


def test_bad_data_shape_and_z_dim():
    with pytest.raises(GanbenchError, match="data_shape"):
        build_models("mlp", (2.5,), Z)
    with pytest.raises(GanbenchError, match="z_dim"):
        build_models("mlp", (2,), 0)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
@pytest.mark.parametrize("d_norm", ["none", "batch", "layer", "spectral"])
def test_every_d_norm_builds_and_runs(name, d_norm):
    torch.manual_seed(0)
    G, D = build(name, SMALL[name], d_norm=d_norm)
    D(G(torch.randn(B, Z))).sum().backward()
    kinds = {type(m) for m in D.modules()}
    assert (nn.BatchNorm2d in kinds or nn.BatchNorm1d in kinds) == (d_norm == "batch")
    assert (nn.GroupNorm in kinds or nn.LayerNorm in kinds) == (d_norm == "layer")
    weighted = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding))]
    assert weighted and all(parametrize.is_parametrized(m, "weight") == (d_norm == "spectral") for m in weighted)
    assert not any(parametrize.is_parametrized(m) for m in G.modules())


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    G, D = build("infogan", (1, 8, 8), d_norm="spectral")
    x = G(torch.randn(B, Z)).detach()
    for _ in range(30):  # each training-mode forward runs one power iteration
        D(x)
    fc = [m for m in D.modules() if isinstance(m, nn.Linear)][0]
    assert torch.linalg.matrix_norm(fc.weight.detach(), 2).item() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["dcgan", "infogan", "sndcgan", "resnet"])
def test_avgpool_downsampling(name):
    shape = SMALL[name]
    for mode in ("stride", "avgpool"):
        torch.manual_seed(0)
        G, D = build(name, shape, downsample=mode)
        assert D(G(torch.randn(B, Z))).shape == (B,)
        strided = [m for m in D.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
        pools = [m for m in D.modules() if isinstance(m, nn.AvgPool2d)]
        assert bool(strided) == (mode == "stride")
        assert bool(pools) == (mode == "avgpool")


@pytest.mark.parametrize("name", sorted(SUPPORTED))
@pytest.mark.parametrize("cond", ["concat", "projection"])
def test_conditioning_changes_outputs(name, cond):
    torch.manual_seed(0)
    G, D = build(name, SMALL[name], conditioning=cond, num_classes=K)
    z = torch.randn(B, Z)
    # mixed labels: with one label for the whole batch, G's batch norm would cancel a concatenated one-hot column
    y0, y1 = torch.tensor([0, 1, 2]), torch.tensor([3, 0, 1])
    x = G(z, y0)
    cbns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    if cbns:  # class gains start at 1 and biases at 0 (Miyato & Koyama 2018): labels act once they are learned
        torch.testing.assert_close(G(z, y1), x)
        for m in cbns:
            nn.init.normal_(m.gain.weight, 1.0, 0.5)
    assert differs(G(z, y1), x)
    D.eval()  # fixed normalisation statistics: only the label differs
    assert differs(D(x, y0), D(x, y1))
    with pytest.raises(GanbenchError, match="pass labels"):
        D(x)
    with pytest.raises(GanbenchError, match="pass labels"):
        G(z)
    with pytest.raises(GanbenchError, match="num_classes"):
        build(name, SMALL[name], conditioning=cond)


def test_projection_term_is_embedding_inner_product():
    torch.manual_seed(0)
    G, D = build("dcgan", (1, 8, 8), conditioning="projection", num_classes=K)
    x, y = torch.randn(B, 1, 8, 8), torch.tensor([0, 1, 3])
    feats = D.body(x)
    expected = D.head(feats).squeeze(1) + (D.embed.weight[y] * feats).sum(1)
    torch.testing.assert_close(D(x, y), expected)


def test_concat_adds_label_channels_and_inputs():
    _, D = build("dcgan", (1, 8, 8), conditioning="concat", num_classes=K)
    assert [m for m in D.modules() if isinstance(m, nn.Conv2d)][0].in_channels == 1 + K
    G, D = build("mlp", (2,), conditioning="concat", num_classes=K)
    linears = lambda net: [m for m in net.modules() if isinstance(m, nn.Linear)]  # noqa: E731
    assert linears(D)[0].in_features == 2 + K and linears(G)[0].in_features == Z + K


def test_resnet_projection_uses_conditional_batch_norm():
    G, _ = build("resnet", (3, 32, 32), conditioning="projection", num_classes=K)
    cbns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 6 and all(torch.equal(m.gain.weight, torch.ones_like(m.gain.weight)) for m in cbns)
    G, _ = build("resnet", (3, 32, 32), conditioning="projection", num_classes=K, g_norm="none")
    assert [m for m in G.modules() if isinstance(m, nn.Linear)][0].in_features == Z + K  # falls back to concat


def test_labels_ignored_when_unconditional():
    torch.manual_seed(0)
    G, D = build("mlp", (2,))
    G.eval(), D.eval()
    z = torch.randn(B, Z)
    torch.testing.assert_close(G(z, torch.zeros(B, dtype=torch.long)), G(z))


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_autoencoder_d_reconstructs_input_shape(name):
    shape = SMALL[name]
    torch.manual_seed(0)
    G, D = build(name, shape, d_output="autoencoder", d_norm="spectral")
    x = G(torch.randn(B, Z))
    rec = D(x)
    assert rec.shape == x.shape and rec.abs().max() <= 1
    (rec - x).abs().mean().backward()
    _, D = build(name, shape, d_output="autoencoder", conditioning="concat", num_classes=K)
    assert D(x.detach(), torch.zeros(B, dtype=torch.long)).shape == x.shape


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_same_seed_same_weights(name):
    def weights(seed):
        torch.manual_seed(seed)
        G, D = build(name, SMALL[name], d_norm="spectral")
        return {**{"G." + k: v for k, v in G.state_dict().items()}, **{"D." + k: v for k, v in D.state_dict().items()}}

    a, b, c = weights(1), weights(1), weights(2)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_dcgan_init_and_stage_count():
    torch.manual_seed(0)
    G, D = build_models("dcgan", (3, 64, 64), 100, paper_options("dcgan"))
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [256, 128, 64, 3]  # 4x4x512 base, Radford et al.'s 64x64 G
    assert convs[0].weight.std().item() == pytest.approx(0.02, rel=0.02)
    bn = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bn) == 3 and all(abs(m.weight.mean().item() - 1) < 0.01 for m in bn)
    for side, n in ((28, 2), (8, 2), (32, 3)):
        G, _ = build("dcgan", (1, side, side))
        assert len([m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]) == n


def test_infogan_layer_sizes_match_the_paper():
    z = 64
    G, D = build_models("infogan", (1, 28, 28), z, paper_options("infogan"))
    g_lin = [m for m in G.modules() if isinstance(m, nn.Linear)]
    g_dec = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert sum(p.numel() for p in g_lin[0].parameters()) == z * 1024 + 1024
    assert sum(p.numel() for p in g_lin[1].parameters()) == 1024 * 128 * 7 * 7 + 128 * 7 * 7
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in g_dec] == \
        [(128, 64, (4, 4), (2, 2)), (64, 1, (4, 4), (2, 2))]
    bn_g = 2 * (1024 + 128 * 49 + 64)
    assert sum(p.numel() for p in G.parameters()) == (z * 1024 + 1024) + (1024 * 6272 + 6272) + \
        (128 * 64 * 16 + 64) + (64 * 16 + 1) + bn_g
    d_conv = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    d_lin = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in d_conv] == [(64, (4, 4), (2, 2)), (128, (4, 4), (2, 2))]
    assert [(m.in_features, m.out_features) for m in d_lin] == [(128 * 7 * 7, 1024), (1024, 1)]
    assert sum(p.numel() for p in D.parameters()) == (16 * 64 + 64) + (64 * 128 * 16 + 128) + \
        (6272 * 1024 + 1024) + (1024 + 1) + 2 * (128 + 1024)
    assert [m.negative_slope for m in G.modules() if isinstance(m, nn.LeakyReLU)] == [0.2] * 3


def test_sndcgan_paper_channels_and_adapted_generator():
    G, D = build_models("sndcgan", (3, 32, 32), 128, paper_options("sndcgan"))
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == \
        [(64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1)]
    assert [m for m in D.modules() if isinstance(m, nn.Linear)][0].in_features == 512 * 4 * 4
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert G.body.shape == (512, 4, 4)
    G, _ = build("sndcgan", (1, 28, 28))
    assert G.body.shape == (16, 7, 7)


def test_resnet_cifar_parameter_count_matches_sngan():
    """SNGAN CIFAR ResNet (Miyato et al. 2018): G 256 channels, D 128 channels, z 128 (about 4.3M / 1.0M)."""
    G, D = build_models("resnet", (3, 32, 32), 128, paper_options("resnet"))
    c = 256
    up_block = 2 * c + (c * c * 9 + c) + 2 * c + (c * c * 9 + c) + (c * c + c)
    g = (128 * 16 * c + 16 * c) + 3 * up_block + 2 * c + (c * 3 * 9 + 3)
    d_c = 128
    first = (3 * d_c * 9 + d_c) + (d_c * d_c * 9 + d_c) + (3 * d_c + d_c)
    down = 2 * (d_c * d_c * 9 + d_c) + (d_c * d_c + d_c)
    plain = 2 * (d_c * d_c * 9 + d_c)
    d = first + down + 2 * plain + (d_c + 1)
    assert sum(p.numel() for p in G.parameters()) == g
    assert sum(p.numel() for p in D.parameters()) == d
    conv = D.body.blocks[1].c1
    bound = math.sqrt(2) * math.sqrt(6 / (2 * d_c * 9))  # Xavier-uniform, gain sqrt(2)
    w = conv.parametrizations.weight.original
    assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_options_validation():
    assert ArchOptions.from_dict({"d_norm": "spectral", "width": 32}) == ArchOptions(d_norm="spectral", width=32)
    with pytest.raises(GanbenchError, match=r"unknown architecture option 'd_nrom' \(did you mean 'd_norm'\?\)"):
        ArchOptions.from_dict({"d_nrom": "batch"})
    with pytest.raises(GanbenchError, match="allowed: none, batch, layer, spectral"):
        ArchOptions.from_dict({"d_norm": "weight"})
    with pytest.raises(GanbenchError, match="allowed: lrelu, relu"):
        ArchOptions(activation="elu")
    for bad in (0, 2.0, True, "64"):
        with pytest.raises(GanbenchError, match="width"):
            ArchOptions(width=bad)
    with pytest.raises(GanbenchError, match="conflict"):
        ArchOptions(conditioning="projection", d_output="autoencoder")
    with pytest.raises(GanbenchError, match="mapping"):
        ArchOptions.from_dict(["d_norm"])
    assert paper_options("resnet").downsample == "avgpool"
