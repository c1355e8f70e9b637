"""The optimisers of a pack: each member does what torch's Adam or RMSprop does for its trial alone.

K = 1, or members that share their settings: torch's own optimiser over the (stacked) parameters, stepped through its
fused kernel without torch's per-call Python (``StackedTorchOptimizer``). Members with their own learning rates or
betas: ``MemberOptimizer``, the same arithmetic with per-member factors. ``member_state(k)`` gives member k's state in
torch's single-trial ``state_dict`` format, so a member's checkpoint resumes alone or in any pack.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor

from ganbench.training.members import Members


def member_optimizer(members: Members, kind: str, lrs: list[float], betas: list[tuple[float, float]]):
    """Adam or RMSprop over the members' parameters, with each member's learning rate and betas.

    K = 1, or members that share their settings: torch's own optimiser (fused Adam; foreach RMSprop), elementwise
    over the stacked parameters. Otherwise ``MemberOptimizer``, the same arithmetic with per-member settings.
    """
    params = members.parameters()
    if members.k == 1 or (len(set(lrs)) == 1 and len(set(betas)) == 1):
        return StackedTorchOptimizer(_torch_optimizer(kind, params, lrs[0], betas[0]), members.k)
    template = _torch_optimizer(kind, [p[0].detach() for p in params], lrs[0], betas[0])
    return MemberOptimizer(params, kind, lrs, betas, template.state_dict()["param_groups"][0])


def _torch_optimizer(kind, params, lr, betas):
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


class StackedTorchOptimizer:
    """A torch optimiser over one trial's parameters (K = 1) or over K members' stacked parameters that share their
    settings; ``member_state(k)`` slices member k's state into the single-trial format."""

    def __init__(self, opt: torch.optim.Optimizer, k: int):
        self.opt, self.k = opt, k
        self.params = [p for g in opt.param_groups for p in g["params"]]
        group = opt.param_groups[0]
        self.lean = (isinstance(opt, torch.optim.Adam) and len(opt.param_groups) == 1 and bool(group.get("fused"))
                     and not group["amsgrad"] and not group["maximize"] and group["weight_decay"] == 0
                     and not group.get("decoupled_weight_decay") and not torch.is_tensor(group["lr"]))

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            self.opt.zero_grad(set_to_none=False)
            return
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        if not (self.lean and self._lean_step()):
            self.opt.step()

    @torch.no_grad()
    def _lean_step(self) -> bool:
        """torch's fused Adam step without the Python torch wraps around it (grouping by device, hooks, profiler
        marks, state checks: about half of a small network's optimiser step on a CPU): the same kernel with the same
        arguments, so the same numbers. False (nothing done) until torch's own first step has made every state."""
        group = self.opt.param_groups[0]
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in self.params:
            if p.grad is None:
                continue
            state = self.opt.state.get(p)
            if not state:
                return False
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            return True
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                           beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False,
                           grad_scale=None, found_inf=None)
        return True

    def member_state(self, k: int) -> dict:
        sd = self.opt.state_dict()
        if self.k == 1:
            return copy.deepcopy(sd)
        state = {i: {n: (v[k].detach().cpu().clone() if torch.is_tensor(v) and v.dim() > 0 else
                         (v.detach().cpu().clone() if torch.is_tensor(v) else v)) for n, v in s.items()}
                 for i, s in sd["state"].items()}
        return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}

    @torch.no_grad()
    def load_member_state(self, k: int, sd: dict) -> None:
        if self.k == 1:
            self.opt.load_state_dict(sd)
            return
        fused = bool(self.opt.param_groups[0].get("fused"))
        for i, p in enumerate(self.params):
            src = sd["state"].get(i)
            if src is None:
                continue
            dst = self.opt.state[p]
            for n, v in src.items():
                if v.dim() > 0:  # moments: member k's slice of the stacked state
                    if n not in dst:
                        dst[n] = torch.zeros((self.k, *v.shape), dtype=v.dtype, device=p.device)
                    dst[n][k].copy_(v)
                elif n in dst and not torch.equal(dst[n].cpu(), v.cpu()):
                    raise ValueError("members of a pack must resume from the same optimiser step")
                else:  # the step count, shared by the members
                    dst[n] = v.clone().to(p.device if fused else "cpu")

    @torch.no_grad()
    def zero_member(self, k: int) -> None:
        for s in self.opt.state.values():
            for v in s.values():
                if torch.is_tensor(v) and v.dim() > 0:
                    (v if self.k == 1 else v[k]).zero_()  # K = 1: the state has the parameter's own shape


class MemberOptimizer:
    """Adam (torch's defaults: eps 1e-8, no weight decay) or RMSprop (alpha 0.99, eps 1e-8) over parameters with a
    leading member axis, each member with its own learning rate (and Adam betas). One foreach kernel per operation
    over all parameters; per-member factors are broadcast views made once."""

    def __init__(self, params: list[Tensor], kind: str, lrs: list[float], betas: list[tuple[float, float]],
                 group_template: dict):
        self.params, self.kind = params, kind
        dev = params[0].device
        self.lr = torch.tensor(lrs, dtype=torch.float64)
        self.beta1 = torch.tensor([b[0] for b in betas], dtype=torch.float64)
        self.beta2 = torch.tensor([b[1] for b in betas], dtype=torch.float64)
        self.eps, self.alpha, self.steps, self.device = 1e-8, 0.99, 0, dev
        self.group_template = group_template
        self.exp_avg = [torch.zeros_like(p) for p in params] if kind == "adam" else []
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self._constant_factors()

    def _views(self, v: Tensor) -> list[Tensor]:
        """Per-member values [K] as one broadcastable view per parameter."""
        v = v.to(self.params[0].dtype).to(self.device)
        return [v.view((-1,) + (1,) * (p.dim() - 1)) for p in self.params]

    def _constant_factors(self) -> None:
        self.one_minus_beta1 = self._views(1 - self.beta1)
        self.beta2_v = self._views(self.beta2)
        self.one_minus_beta2 = self._views(1 - self.beta2)
        self.lr_v = self._views(self.lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        t = self.steps
        ps = [p for p in self.params if p.grad is not None]
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        grads = [p.grad for p in ps]
        sq = [self.exp_avg_sq[i] for i in idx]
        if self.kind == "rmsprop":
            torch._foreach_mul_(sq, self.alpha)
            torch._foreach_addcmul_(sq, grads, grads, value=1 - self.alpha)
            denom = torch._foreach_sqrt(sq)
            torch._foreach_add_(denom, self.eps)
            upd = torch._foreach_div(grads, denom)
            torch._foreach_mul_(upd, [self.lr_v[i] for i in idx])
            torch._foreach_sub_(ps, upd)
            return
        m = [self.exp_avg[i] for i in idx]
        step_size = self._views(self.lr / (1 - self.beta1 ** t))
        bc2_sqrt = self._views(torch.sqrt(1 - self.beta2 ** t))
        torch._foreach_lerp_(m, grads, [self.one_minus_beta1[i] for i in idx])
        torch._foreach_mul_(sq, [self.beta2_v[i] for i in idx])
        gg = torch._foreach_mul(grads, grads)
        torch._foreach_mul_(gg, [self.one_minus_beta2[i] for i in idx])
        torch._foreach_add_(sq, gg)
        denom = torch._foreach_sqrt(sq)
        torch._foreach_div_(denom, [bc2_sqrt[i] for i in idx])
        torch._foreach_add_(denom, self.eps)
        upd = torch._foreach_div(m, denom)
        torch._foreach_mul_(upd, [step_size[i] for i in idx])
        torch._foreach_sub_(ps, upd)

    # ---- one member's state in torch's single-trial format, and back
    def member_state(self, k: int) -> dict:
        group = dict(self.group_template)
        group["lr"] = float(self.lr[k])
        if self.kind == "adam":
            group["betas"] = (float(self.beta1[k]), float(self.beta2[k]))
        state = {}
        for i in range(len(self.params)):
            s = {"step": torch.tensor(float(self.steps)), "square_avg" if self.kind == "rmsprop" else "exp_avg_sq":
                 self.exp_avg_sq[i][k].detach().cpu().clone()}
            if self.kind == "adam":
                s["exp_avg"] = self.exp_avg[i][k].detach().cpu().clone()
            state[i] = s
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}

    @torch.no_grad()
    def load_member_state(self, k: int, sd: dict) -> None:
        group = sd["param_groups"][0]
        self.lr[k] = group["lr"]
        if self.kind == "adam":
            self.beta1[k], self.beta2[k] = group["betas"]
        self._constant_factors()
        steps = {int(float(s["step"])) for s in sd["state"].values()} or {0}
        if len(steps) != 1 or (self.steps and self.steps not in steps):
            raise ValueError("members of a pack must resume from the same optimiser step")
        self.steps = steps.pop()
        for i, s in sd["state"].items():
            i = int(i)
            self.exp_avg_sq[i][k].copy_(s["square_avg" if self.kind == "rmsprop" else "exp_avg_sq"])
            if self.kind == "adam":
                self.exp_avg[i][k].copy_(s["exp_avg"])

    @torch.no_grad()
    def zero_member(self, k: int) -> None:
        for t in (*self.exp_avg, *self.exp_avg_sq):
            t[k].zero_()


def optimizer_member_state(opt, k: int) -> dict:
    """A member's optimiser state in torch's single-trial ``state_dict`` format."""
    return opt.member_state(k)


def load_optimizer_member_state(opt, k: int, state: dict) -> None:
    opt.load_member_state(k, state)


def zero_optimizer_member(opt, k: int) -> None:
    opt.zero_member(k)
