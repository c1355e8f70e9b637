"""The details a Lucic et al. 2018 reproduction trips on: compare_gan's batch norm, initialisers, BEGAN's
autoencoder size, and the study's presets (google/compare_gan v1.0, src/params.py)."""
from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch import nn

from ganbench.suite.schema import HParams
from ganbench.zoo.models import ARCHITECTURES, ArchOptions, build_models, paper_options
from ganbench.zoo.models.layers import init_compare_gan_
from ganbench.zoo.variants import VARIANTS

SMALL = {"mlp": (1, 8, 8), "dcgan": (1, 8, 8), "infogan": (1, 8, 8), "sndcgan": (1, 8, 8), "resnet": (3, 32, 32),
         "pacgan2d": (2,)}
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ARCHITECTURES.names())
@pytest.mark.parametrize("style,momentum,eps", [("torch", 0.1, 1e-5), ("compare_gan", 0.001, 1e-3)])
def test_bn_style_sets_every_batch_norm(name, style, momentum, eps):
    torch.manual_seed(0)
    G, D = build_models(name, SMALL[name], 8, ArchOptions(width=4, d_norm="batch", bn_style=style))
    bns = [m for net in (G, D) for m in net.modules() if isinstance(m, BATCH_NORMS)]
    assert bns and all(m.momentum == momentum and m.eps == eps for m in bns)
    if style == "compare_gan":  # scale 1, offset 0: tf.contrib.layers.batch_norm's initialisers
        assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias))
                   for m in bns if m.affine)


def test_compare_gan_running_averages_move_by_one_thousandth():
    """TF decay 0.999: moving = 0.999 moving + 0.001 batch statistic (PyTorch's unbiased variance)."""
    torch.manual_seed(0)
    _, D = build_models("infogan", (1, 8, 8), 8, ArchOptions(width=4, d_norm="batch", bn_style="compare_gan"))
    bn = next(m for m in D.modules() if isinstance(m, nn.BatchNorm1d))
    captured = {}
    bn.register_forward_hook(lambda mod, inp, out: captured.update(x=inp[0].detach()))
    D(torch.rand(16, 1, 8, 8) * 2 - 1)
    x = captured["x"]
    torch.testing.assert_close(bn.running_mean, 0.001 * x.mean(0))
    torch.testing.assert_close(bn.running_var, 0.999 + 0.001 * x.var(0, unbiased=True))
    normed = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-3)
    torch.testing.assert_close(bn(x), normed)


def test_compare_gan_init_truncates_conv_weights_at_two_std():
    """conv: tf.truncated_normal_initializer(0.02), re-drawn beyond 2 std and not rescaled (std 0.02 * 0.88);
    linear and transposed conv: N(0, 0.02); batch-norm scale 1."""
    torch.manual_seed(0)
    G, D = build_models("infogan", (1, 28, 28), 64, paper_options("infogan"))
    conv = torch.cat([m.weight.flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert conv.abs().max() <= 0.04
    assert conv.std().item() == pytest.approx(0.02 * stats.truncnorm(-2, 2).std(), rel=0.02)
    lin = torch.cat([m.weight.flatten() for m in [*G.modules(), *D.modules()] if isinstance(m, nn.Linear)])
    assert lin.std().item() == pytest.approx(0.02, rel=0.02) and lin.abs().max() > 0.06
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in [*G.modules(), *D.modules()]
               if isinstance(m, BATCH_NORMS))
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ConvTranspose2d(3, 2, 3), nn.BatchNorm2d(2))
    init_compare_gan_(net)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in net)


def test_sndcgan_and_dcgan_batch_norm_scales():
    """DCGAN draws BN scales from N(1, 0.02) (Radford et al.'s code); compare_gan v2.0's SNDCGAN starts them at 1."""
    torch.manual_seed(0)
    G, _ = build_models("dcgan", (3, 32, 32), 100, paper_options("dcgan"))
    scales = torch.cat([m.weight for m in G.modules() if isinstance(m, BATCH_NORMS)])
    assert scales.std().item() == pytest.approx(0.02, rel=0.15)
    G, _ = build_models("sndcgan", (3, 32, 32), 128, paper_options("sndcgan"))
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in G.modules() if isinstance(m, BATCH_NORMS))


def _began_d_size(c: int, h: int, bn: bool) -> int:
    """compare_gan v1.0 BEGAN.py:64-96: conv 4x4 64, conv 4x4 128, FC 64, FC 128 (h/4)^2, deconv 64, deconv c."""
    q2 = (h // 4) ** 2
    weights = (16 * c * 64 + 64) + (16 * 64 * 128 + 128) + (128 * q2 * 64 + 64) + (64 * 128 * q2 + 128 * q2) \
        + (16 * 128 * 64 + 64) + (16 * 64 * c + c)
    return weights + (2 * (64 + 128 * q2 + 64) if bn else 0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("d_norm", ["none", "batch"])
def test_began_autoencoder_is_compare_gans(shape, d_norm):
    torch.manual_seed(0)
    _, D = build_models("infogan", shape, 64, ArchOptions(d_output="autoencoder", d_norm=d_norm))
    assert sum(p.numel() for p in D.parameters()) == _began_d_size(shape[0], shape[1], d_norm == "batch")
    if shape == (1, 28, 28):  # "about 1.1M" (REFERENCE.md); the logit D has 6.56M, the FC1024 layers
        assert sum(p.numel() for p in D.parameters()) == (1_073_601 if d_norm == "none" else 1_086_401)
    # no activation between the second conv and the code layer, as compare_gan
    kinds = [type(m) for m in D.body]
    assert kinds[:5] == [nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.Flatten, nn.Linear]
    x = torch.rand(4, *shape) * 2 - 1
    rec = D(x)
    assert rec.shape == x.shape and rec.abs().max() <= 1


# ------------------------------------------------------------------------------------------------ presets
# google/compare_gan v1.0 src/params.py UpdateDefaults per GAN (lr, beta1, disc_iters, discriminator_batchnorm) and
# the extra ranges' defaults; transcribed here from the file, independently of ganbench/zoo/variants.py.
COMPARE_GAN_V1 = {
    "ns-lucic": ("ns", "none", dict(lr=5e-5, beta1=0.0, n_disc=1, d_norm="batch")),
    "mm-lucic": ("mm", "none", dict(lr=5e-5, beta1=0.0, n_disc=1, d_norm="batch")),
    "ls-lucic": ("ls", "none", dict(lr=2e-4, beta1=0.5, n_disc=1, d_norm="batch")),
    "wgan-lucic": ("wgan", "none", dict(lr=5e-5, beta1=0.5, n_disc=5, d_norm="batch", clip=0.01)),
    "wgan-gp-lucic": ("wgan", "gp", dict(lr=1e-4, beta1=0.5, n_disc=5, d_norm="none", penalty_weight=10.0)),
    "dragan-lucic": ("ns", "dragan", dict(lr=1e-4, beta1=0.5, n_disc=1, d_norm="batch", penalty_weight=10.0)),
    "began-lucic": ("began", "none", dict(lr=1e-4, beta1=0.5, n_disc=5, d_norm="none", began_lambda_k=1e-3,
                                          began_gamma=0.75)),
}


@pytest.mark.parametrize("name", sorted(COMPARE_GAN_V1))
def test_lucic_presets_are_compare_gans_defaults(name):
    loss, penalty, expected = COMPARE_GAN_V1[name]
    v = VARIANTS.get(name)
    hp = HParams(**v.defaults)
    assert (v.loss, v.penalty) == (loss, penalty)
    for key, value in expected.items():
        assert getattr(hp, key) == value, key
    # shared by every variant of the study
    assert (hp.z_dist, hp.z_dim, hp.batch_size, hp.optimizer, hp.beta2) == ("uniform", 64, 64, "adam", 0.999)
    assert (hp.g_norm, hp.bn_style, hp.began_k_clip) == ("batch", "compare_gan", False)
    assert hp.reuse_z == (name != "wgan-gp-lucic")  # WGAN_GP.resample_before_generator() is True
    assert hp.clip == expected.get("clip")
    if name == "ls-lucic":
        assert v.loss_options == {"form": "compare_gan"}
    if name == "dragan-lucic":
        assert v.penalty_options == {"form": "compare_gan"}


def test_every_preset_validates():
    for name in VARIANTS.names():
        HParams(**VARIANTS.get(name).defaults)
