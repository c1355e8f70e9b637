"""PacGAN packing (``pac``) in the Discriminator wrapper, and the ``pacgan2d`` architecture."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.suite.schema import HParams
from ganbench.zoo.losses import get_loss
from ganbench.zoo.models import ARCH_HPARAMS, ARCHITECTURES, ArchOptions, build_models
from ganbench.zoo.models.pacgan2d import Maxout
from ganbench.registry import GanbenchError

SMALL = {"mlp": (1, 8, 8), "dcgan": (1, 8, 8), "infogan": (1, 8, 8), "sndcgan": (1, 8, 8), "resnet": (3, 32, 32),
         "pacgan2d": (2,)}
Z, B, K = 8, 3, 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(name, pac=1, **kw):
    num_classes = kw.pop("num_classes", None)
    return build_models(name, SMALL[name], Z, ArchOptions(width=kw.pop("width", 4), pac=pac, **kw),
                        num_classes=num_classes)


def first_layer(D: nn.Module) -> nn.Module:
    return next(m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_every_architecture_is_listed_here():
    assert sorted(SMALL) == ARCHITECTURES.names()


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("pac", [2, 3])
def test_packed_d_takes_m_times_the_samples_and_inputs(name, pac):
    torch.manual_seed(0)
    G, D = build(name, pac=pac)
    _, D1 = build(name)
    x = G(torch.randn(B * pac, Z))
    assert D(x).shape == (B,)
    m1, m = first_layer(D1), first_layer(D)
    if isinstance(m, nn.Linear):
        assert m.in_features == pac * m1.in_features
    else:
        assert m.in_channels == pac * m1.in_channels
    with pytest.raises(GanbenchError, match=f"multiple of {pac}"):
        D(x[:-1])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_pac_1_is_the_plain_discriminator(name):
    def state(pac_field: bool):
        torch.manual_seed(3)
        _, D = build(name, pac=1) if pac_field else build_models(name, SMALL[name], Z, ArchOptions(width=4))
        return D

    a, b = state(True), state(False)
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    x = torch.randn(B, *SMALL[name]).clamp(-1, 1)
    torch.testing.assert_close(a(x), b(x))


def test_flat_packs_concatenate_consecutive_samples():
    torch.manual_seed(0)
    _, D = build("mlp", pac=2)
    x = torch.randn(6, 1, 8, 8)
    flat = x.reshape(6, -1)
    packed = torch.stack([torch.cat([flat[2 * i], flat[2 * i + 1]]) for i in range(3)])
    torch.testing.assert_close(D(x), D.head(D.body(packed)).squeeze(1))


def test_image_packs_concatenate_channels_of_consecutive_samples():
    torch.manual_seed(0)
    _, D = build("dcgan", pac=3)
    x = torch.randn(6, 1, 8, 8)
    packed = D.pack(x)
    assert packed.shape == (2, 3, 8, 8)
    for i in range(2):
        torch.testing.assert_close(packed[i], torch.cat([x[3 * i], x[3 * i + 1], x[3 * i + 2]], 0))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_reordering_packs_reorders_outputs(name):
    """Outputs follow their packs: moving pack 2 to the front moves its output there (eval mode: no batch stats)."""
    torch.manual_seed(0)
    _, D = build(name, pac=2, d_norm="batch")
    D.eval()
    x = torch.randn(6, *SMALL[name]).clamp(-1, 1)
    out = D(x)
    moved = torch.cat([x[4:6], x[0:4]])
    torch.testing.assert_close(D(moved), out[[2, 0, 1]])
    swapped = x[[0, 2, 1, 3, 4, 5]]  # a sample moves to another pack: packs 0 and 1 change
    changed = (D(swapped)[:2] - out[:2]).abs().max()
    assert changed > 1e-3 * out.abs().max()  # relative: outputs at init can be tiny


def test_concat_labels_are_packed_with_their_samples():
    torch.manual_seed(0)
    _, D = build("dcgan", pac=2, conditioning="concat", num_classes=K)
    assert first_layer(D).in_channels == 2 * (1 + K)
    assert D(torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])).shape == (2,)
    _, D = build("mlp", pac=2, conditioning="concat", num_classes=K)
    assert first_layer(D).in_features == 2 * (64 + K)


def test_pac_conflicts_and_validation():
    with pytest.raises(GanbenchError, match="autoencoder"):
        ArchOptions(pac=2, d_output="autoencoder")
    with pytest.raises(GanbenchError, match="projection"):
        ArchOptions(pac=2, conditioning="projection")
    for bad in (0, 1.5, True):
        with pytest.raises(GanbenchError, match="pac"):
            ArchOptions(pac=bad)


def test_options_come_from_hparams():
    assert set(ARCH_HPARAMS) <= set(HParams.model_fields)
    hp = HParams(pac=4, bn_style="compare_gan", d_norm="batch", width=8)
    opts = ArchOptions.from_hparams(hp)
    assert (opts.pac, opts.bn_style, opts.d_norm, opts.width, opts.d_output) == (4, "compare_gan", "batch", 8, "logit")
    began = ArchOptions.from_hparams({**hp.model_dump(), "pac": 1}, d_output="autoencoder")
    assert began.d_output == "autoencoder" and began.bn_style == "compare_gan"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_one_training_step_with_pac_2(name):
    """The trainer's contract: draw batch * pac real and fake samples, D returns one output per pack."""
    torch.manual_seed(0)
    pac = 2
    G, D = build(name, pac=pac, d_norm="batch")
    loss = get_loss("ns")
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    real = torch.rand(B * pac, *SMALL[name]) * 2 - 1
    d_before = [p.detach().clone() for p in D.parameters()]
    with torch.no_grad():
        fake = G(torch.randn(B * pac, Z))
    real_out, fake_out = D(real), D(fake)
    assert real_out.shape == fake_out.shape == (B,)
    opt_d.zero_grad()
    loss.d_loss(real_out, fake_out).backward()
    opt_d.step()
    g_before = [p.detach().clone() for p in G.parameters()]
    opt_g.zero_grad()
    g_loss = loss.g_loss(D(G(torch.randn(B * pac, Z))))
    g_loss.backward()
    opt_g.step()
    assert torch.isfinite(g_loss)
    assert any(not torch.equal(a, p) for a, p in zip(d_before, D.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(g_before, G.parameters()))
    assert all(torch.isfinite(p).all() for p in [*G.parameters(), *D.parameters()])


# ------------------------------------------------------------------------------------------------ pacgan2d
def test_pacgan2d_layer_sizes_match_the_authors_code():
    """G 2-400-400-400-400-2 (no bias before BN), D three maxout layers 200 x 5 and a linear output."""
    G, D = build_models("pacgan2d", (2,), 2, ArchOptions())
    g_lin = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features, m.bias is not None) for m in g_lin] == \
        [(2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)]
    assert len([m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]) == 4
    assert sum(p.numel() for p in G.parameters()) == 2 * 400 + 3 * 400 * 400 + (400 * 2 + 2) + 4 * 2 * 400
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in maxouts] == [(2, 200, 5), (200, 200, 5), (200, 200, 5)]
    assert sum(p.numel() for p in D.parameters()) == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201
    _, D4 = build_models("pacgan2d", (2,), 2, ArchOptions(pac=4))
    assert first_layer(D4).in_features == 8
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)) for m in D.modules())


def test_maxout_is_the_max_over_consecutive_pieces():
    torch.manual_seed(0)
    m = Maxout(3, 2, 5)
    x = torch.randn(4, 3)
    pre = x @ m.linear.weight.T + m.linear.bias
    expected = torch.stack([pre[:, 0:5].max(1).values, pre[:, 5:10].max(1).values], 1)
    torch.testing.assert_close(m(x), expected)


def test_pacgan2d_init_and_flat_data_only():
    torch.manual_seed(0)
    G, D = build_models("pacgan2d", (2,), 2, ArchOptions())
    w = torch.cat([m.weight.flatten() for m in [*G.modules(), *D.modules()] if isinstance(m, nn.Linear)])
    assert w.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in G.modules() if isinstance(m, nn.BatchNorm1d))
    with pytest.raises(GanbenchError, match="flat data"):
        build_models("pacgan2d", (1, 8, 8), 2, ArchOptions())
    _, D = build_models("pacgan2d", (2,), 2, ArchOptions(width=8))
    assert [m.units for m in D.modules() if isinstance(m, Maxout)] == [25, 25, 25]
