"""The trainer's optimisers do torch's arithmetic: the lean fused Adam step (torch's kernel called without torch's
per-call Python) gives bitwise what ``torch.optim.Adam(fused=True).step`` gives, through unused parameters, a
checkpoint's state loaded back and a member frozen."""
import copy

import torch
from torch import nn

from ganbench.training.members import Members
from ganbench.training.optimizers import member_optimizer


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 16), nn.LeakyReLU(0.2), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))


def _loss(net: nn.Module, x: torch.Tensor, skip_last: bool) -> torch.Tensor:
    """Some steps leave the last layer without a gradient (as a G step's autograd.grad leaves unused parameters)."""
    h = net[3](net[2](net[1](net[0](x))))
    return h.square().mean() if skip_last else net[4](h).square().mean()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def _same_state(torch_opt, ours) -> bool:
    ref, got = torch_opt.state_dict()["state"], ours.member_state(0)["state"]
    return ref.keys() == got.keys() and all(torch.equal(ref[i][n], got[i][n]) for i in ref for n in ref[i])


def test_the_lean_fused_adam_step_is_torchs_step_bitwise():
    ref_net, net = _net(), _net()
    ref = torch.optim.Adam(ref_net.parameters(), lr=2e-3, betas=(0.5, 0.9), fused=True)
    ours = member_optimizer(Members([net]), "adam", [2e-3], [(0.5, 0.9)])
    assert ours.lean  # torch's fused Adam with plain settings: the lean path is the one under test
    x = torch.randn(32, 3)
    for step in range(12):
        for model, opt in ((ref_net, ref), (net, ours)):
            opt.zero_grad(set_to_none=True)
            _loss(model, x, skip_last=step in (0, 5, 6)).backward()
            opt.step()
        assert _same(ref_net, net), f"parameters differ after step {step + 1}"
        assert _same_state(ref, ours), f"optimiser state differs after step {step + 1}"
        if step == 7:  # a checkpoint's state loaded back (the state's tensors are replaced, not updated)
            ours.load_member_state(0, copy.deepcopy(ours.member_state(0)))
    assert float(ours.member_state(0)["state"][0]["step"]) == 12


def test_a_frozen_member_stays_frozen_under_the_lean_step_while_the_other_moves():
    nets = [_net(), _net()]
    members = Members(nets)
    ours = member_optimizer(members, "adam", [1e-2, 1e-2], [(0.5, 0.999)] * 2)  # shared settings: stacked, fused
    assert ours.lean
    x = torch.randn(2, 16, 3)

    def step():
        ours.zero_grad()
        members(x).square().mean(dim=(1, 2)).sum().backward()
        ours.step()

    for _ in range(3):
        step()
    members.zero_member(0)
    ours.zero_member(0)
    before = [p[1].clone() for p in members.parameters()]
    for _ in range(3):
        step()
    assert all(not p[0].any() for p in members.parameters())
    assert any(not torch.equal(p[1], b) for p, b in zip(members.parameters(), before))


def test_zeroing_a_single_trials_optimiser_zeroes_all_its_state():
    net = _net()
    ours = member_optimizer(Members([net]), "adam", [1e-2], [(0.5, 0.999)])
    ours.zero_grad()
    _loss(net, torch.randn(16, 3), skip_last=False).backward()
    ours.step()
    ours.zero_member(0)
    assert all(not v.any() for s in ours.member_state(0)["state"].values() for n, v in s.items() if n != "step")
