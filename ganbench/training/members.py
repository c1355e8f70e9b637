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
elementwise (ganbench.training.optimizers), so every member does what it would do alone, up to float32 summation
order. ``member_state(k)`` and the optimisers' ``member_state(k)`` give a member's state in the single-trial format
(module ``state_dict`` keys, torch optimiser ``state_dict``), so a member's checkpoint resumes alone or in any pack.
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
