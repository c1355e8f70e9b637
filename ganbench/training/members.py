"""K trials' networks trained as one: ``Members`` (the networks) and their optimisers.

Trials that differ only in their seed (and in optimiser settings that act elementwise: learning rates, Adam betas)
are trained together. K = 1 runs the module itself. K > 1 stacks the members' parameters and buffers along a new
leading axis (``torch.func.stack_module_state``) and runs the architecture once for all of them with
``torch.func.vmap`` over ``torch.func.functional_call``: linear layers become batched matmuls, convolutions grouped
convolutions, and batch norm, spectral norm (ganbench.zoo.models.spectral) and every other layer act per member. Inputs
and outputs carry the member axis first: ``members(x [K, B, ...], y [K, B]) -> [K, B, ...]``.

How K > 1 runs: ``vmap`` (one batched call; what pays on a GPU, and for MLPs on a CPU) or ``loop`` (one call per
member on its slice of the stacked parameters, still one optimiser step for all: on a CPU, where batched and grouped
convolutions are slower than K separate ones, measured in docs/performance.md). The default picks ``loop`` for
networks with convolutions on a CPU and ``vmap`` otherwise.

Each member's gradient depends only on its own loss (the trainer sums the members' losses), and Adam and RMSprop are
elementwise, so every member does what it would do alone, up to float32 summation order. ``member_state(k)`` and
``MemberOptimizer.member_state(k)`` give a member's state in the single-trial format (module ``state_dict`` keys,
torch optimiser ``state_dict``), so a member's checkpoint resumes alone or in any pack.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap


def default_mode(modules: list[nn.Module], device) -> str:
    convs = any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)) for m in modules[0].modules())
    return "loop" if convs and torch.device(device).type == "cpu" else "vmap"


class Swap:
    """Runs ``module`` with other tensors in the places of its parameters and buffers (``names``, state-dict keys):
    what ``torch.func.functional_call`` does, with each place looked up once instead of at every call. A module
    whose parameters or buffers are shared between places (tied weights) goes through ``functional_call`` itself."""

    def __init__(self, module: nn.Module, names: list[str]):
        self.module, self.names = module, list(names)
        tied = any(len(list(f(remove_duplicate=False))) != len(list(f()))
                   for f in (module.named_parameters, module.named_buffers))
        self.places = None if tied else []
        for n in self.names if not tied else ():
            owner, _, attr = n.rpartition(".")
            m = module.get_submodule(owner)
            self.places.append((m._parameters if attr in m._parameters else m._buffers, attr))

    def __call__(self, tensors, args: tuple):
        if self.places is None:
            return functional_call(self.module, dict(zip(self.names, tensors)), args)
        saved = [d[a] for d, a in self.places]
        try:
            for (d, a), t in zip(self.places, tensors):
                d[a] = t
            return self.module(*args)
        finally:
            for (d, a), t in zip(self.places, saved):
                d[a] = t


try:  # the primitives torch.func.vmap calls once its arguments are parsed (torch._functorch.vmap._flat_vmap)
    from torch._C._functorch import _add_batch_dim, _remove_batch_dim, _vmap_decrement_nesting, \
        _vmap_increment_nesting
except ImportError:  # another torch: LeanVmap goes through torch.func.vmap every time
    _vmap_increment_nesting = None


class LeanVmap:
    """``fn(tensors, args)`` vmapped over dim 0 of every tensor and arg, one tensor out: ``torch.func.vmap`` without
    its per-call parsing of the arguments (pytree flattening and checks of every tensor, about a third of a small
    network's call at K = 2). The first call goes through ``torch.func.vmap`` (which checks the arguments and loads
    the batching rules); later calls take the steps torch's vmap takes after parsing (``_flat_vmap``, with the
    ``torch._C._functorch`` primitives themselves rather than their export-tracing wrappers): enter a vmap level,
    wrap each input as a batched tensor, run, unwrap the output. The same kernels, the same numbers."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.checked = False
        self.public = vmap(lambda tensors, *args: fn(tensors, args))

    def __call__(self, tensors: tuple, args: tuple) -> Tensor:
        k = tensors[0].shape[0]
        if any(a.shape[0] != k for a in args):
            raise ValueError(f"inputs of {k} members need a leading dimension of {k}, got "
                             f"{[tuple(a.shape) for a in args]}")
        if not self.checked or _vmap_increment_nesting is None:
            out = self.public(tensors, *args)
            self.checked = torch.is_tensor(out)
            return out
        level = _vmap_increment_nesting(k, "error")
        try:
            out = self.fn([_add_batch_dim(t, 0, level) for t in tensors], [_add_batch_dim(a, 0, level) for a in args])
            if not torch.is_tensor(out):
                raise TypeError(f"a network of a pack returned {type(out).__name__}, not a tensor")
            return _remove_batch_dim(out, level, k, 0)
        finally:
            _vmap_decrement_nesting()


class Members:
    def __init__(self, modules: list[nn.Module], mode: Optional[str] = None):
        self.k = len(modules)
        self.keys = list(modules[0].state_dict().keys())
        self.shell = modules[0] if self.k == 1 else copy.deepcopy(modules[0])  # a single-trial module
        if self.k == 1:
            self.module: Optional[nn.Module] = modules[0]
            # fixed from here on (the optimisers hold these very tensors): listed once, not walked at every step
            self._param_list = list(self.module.parameters())
            return
        self.module = None
        self.mode = mode or default_mode(modules, next(modules[0].parameters()).device)
        self.params, self.buffers = stack_module_state(modules)
        base = copy.deepcopy(modules[0]).to("meta")
        self.base = base
        # the stacked tensors as one flat tuple (updated in place, never replaced), run through a Swap
        self._flat = (*self.params.values(), *self.buffers.values())
        self._swap = Swap(base, [*self.params, *self.buffers])
        self._vmapped = LeanVmap(self._swap)

    # ---- running
    def __call__(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        if self.module is not None:
            out = self.module(x[0]) if y is None else self.module(x[0], y[0])
            return out.unsqueeze(0)
        args = (x,) if y is None else (x, y)
        if self.mode == "loop":  # unbind: one backward node stacks the members' gradients (not K full-size ones)
            per_member = list(zip(*(t.unbind(0) for t in self._flat)))
            return torch.stack([self._swap(per_member[k], tuple(a[k] for a in args)) for k in range(self.k)])
        return self._vmapped(self._flat, args)

    def train(self, mode: bool = True) -> "Members":
        (self.module if self.module is not None else self.base).train(mode)
        return self

    def eval(self) -> "Members":
        return self.train(False)

    @property
    def training(self) -> bool:
        return (self.module if self.module is not None else self.base).training

    def parameters(self) -> list[Tensor]:
        return list(self._param_list) if self.module is not None else list(self.params.values())

    def named_modules(self):
        return (self.module if self.module is not None else self.base).named_modules()

    # ---- one member's state, in the single-trial format
    def _tensors(self) -> dict[str, Tensor]:
        if self.module is not None:
            return dict(self.module.state_dict(keep_vars=True))
        return {**self.params, **self.buffers}

    def member_state(self, k: int) -> dict[str, Tensor]:
        """Member k's state_dict (detached copies on the CPU)."""
        tensors = self._tensors()
        if self.module is not None:
            return {n: tensors[n].detach().cpu().clone() for n in self.keys}
        return {n: tensors[n][k].detach().cpu().clone() for n in self.keys}

    @torch.no_grad()
    def load_member_state(self, k: int, state: dict[str, Tensor]) -> None:
        tensors = self._tensors()
        missing = set(self.keys) - set(state)
        if missing:
            raise KeyError(f"state has no {sorted(missing)[:3]}")
        for n in self.keys:
            dst = tensors[n] if self.module is not None else tensors[n][k]
            dst.copy_(state[n].to(dst.device, dst.dtype))

    def member_module(self, k: int) -> nn.Module:
        """A single-trial module holding member k's current state (the shared shell: use it before the next call)."""
        if self.module is not None:
            return self.module
        self.shell.load_state_dict(self.member_state(k))
        return self.shell

    @torch.no_grad()
    def zero_member(self, k: int) -> None:
        """Freeze a diverged member: zero its parameters (its outputs stay finite; with zero gradients and zeroed
        optimiser state it no longer moves)."""
        if self.module is not None:
            for p in self.module.parameters():
                p.zero_()
            return
        for p in self.params.values():
            p[k].zero_()
        for n, b in self.buffers.items():
            if b.is_floating_point():
                b[k].zero_()


# ------------------------------------------------------------------------------------------------- optimisers
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
        params = [p for g in self.opt.param_groups for p in g["params"]]
        for i, p in enumerate(params):
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
