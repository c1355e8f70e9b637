"""BEGAN's loss with state: exact k and M updates on hand-made reconstructions."""
import pytest
import torch

from ganbench.zoo.losses import get_loss


def make(k_clip=False):
    loss = get_loss("began", gamma=0.5, lambda_k=0.1, k_clip=k_clip)
    loss.init_state(2, "cpu")
    return loss


def batch(err_real, err_fake):
    """Inputs x = 0 and reconstructions with mean absolute error ``err`` per trial: [K=2, B=3, 4]."""
    x = torch.zeros(2, 3, 4)
    recon_real = torch.tensor(err_real).view(2, 1, 1).expand(2, 3, 4).clone()
    recon_fake = -torch.tensor(err_fake).view(2, 1, 1).expand(2, 3, 4).clone()
    return recon_real, recon_fake, x, x


def test_losses_k_and_m_by_hand():
    loss = make()
    rr, rf, x, xf = batch([0.2, 0.4], [0.3, 0.1])
    assert torch.allclose(loss.d_objective(rr, rf, x, xf), torch.tensor([0.2, 0.4]))  # k = 0: L_D = L(x)
    assert torch.allclose(loss.g_objective(rf, xf), torch.tensor([0.3, 0.1]))
    loss.after_d_step(rr, rf, x, xf)
    # k <- 0 + 0.1 (0.5 L(x) - L(G(z))): trial 0: 0.1 (0.1 - 0.3) = -0.02; trial 1: 0.1 (0.2 - 0.1) = 0.01
    assert torch.allclose(loss.k, torch.tensor([-0.02, 0.01]))
    diag = loss.diagnostics(rr, rf, x, xf)
    assert torch.allclose(diag["began_k"], torch.tensor([-0.02, 0.01]))
    # M = L(x) + |gamma L(x) - L(G(z))|: 0.2 + 0.2 and 0.4 + 0.1
    assert torch.allclose(diag["began_m"], torch.tensor([0.4, 0.5]))
    # the next D loss uses k: L(x) - k L(G(z))
    assert torch.allclose(loss.d_objective(rr, rf, x, xf), torch.tensor([0.2 + 0.02 * 0.3, 0.4 - 0.01 * 0.1]))


def test_k_is_unclipped_as_compare_gan_or_clipped_as_the_paper():
    free, clipped = make(), make(k_clip=True)
    rr, rf, x, xf = batch([0.2, 0.4], [0.3, 0.1])
    for loss in (free, clipped):
        loss.after_d_step(rr, rf, x, xf)
    assert free.k[0].item() == pytest.approx(-0.02)
    assert clipped.k.tolist() == pytest.approx([0.0, 0.01])


def test_state_round_trips():
    loss = make()
    rr, rf, x, xf = batch([0.2, 0.4], [0.3, 0.1])
    loss.after_d_step(rr, rf, x, xf)
    other = make()
    other.load_state_dict(loss.state_dict())
    assert torch.equal(other.k, loss.k)


def test_began_asks_for_an_autoencoder_discriminator():
    assert get_loss("began").d_output == "autoencoder" and get_loss("ns").d_output == "logit"
