"""One D step and one G step of a pack (K = 1 for a single trial), with no per-variant branches: the loss, the
penalty and the constraint are the pack's parts. Nothing here reads a value back to the host: diagnostics
accumulate on the device (``Diagnostics``) and are read at evaluation points only.

compare_gan's convention (and ganbench's): a step is a D step; G is updated once every ``n_disc`` D steps after
``d_warmup_steps``. With PacGAN packing (``pac`` = m), D judges m samples at once, so a step draws m times the
batch of real and generated samples.

The G step evaluates D on generated samples only, unless the loss declares ``needs_real_in_g_step`` (the relativistic
losses): then it draws a real batch from the trial's data stream and D scores both, as the D step does (one call
where no layer of D couples a batch's samples). Penalties are the pack's ``penalties``, each added with its weight.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ganbench.training.parts import Pack
from ganbench.zoo.augment import consistency_term


class Diagnostics:
    """Running sums of per-member values [K], kept on the device; ``means()`` reads them (one host sync)."""

    def __init__(self):
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, **values: Tensor) -> None:
        for name, v in values.items():
            v = v.detach()
            if name in self.sums:
                self.sums[name] += v
                self.counts[name] += 1
            else:
                self.sums[name] = v.clone()
                self.counts[name] = 1

    def finite(self) -> Optional[Tensor]:
        """[K] bool: False for a member whose losses or gradient norm went NaN/inf since the last ``pop``."""
        out = None
        for name in ("d_loss", "g_loss", "g_grad_norm"):
            if name in self.sums:
                f = torch.isfinite(self.sums[name])
                out = f if out is None else out & f
        return out

    def pop(self) -> list[dict[str, float]]:
        """Per-member means since the last pop, as floats."""
        if not self.sums:
            return []
        names = sorted(self.sums)
        table = torch.stack([self.sums[n].float() / self.counts[n] for n in names]).cpu().tolist()
        self.sums, self.counts = {}, {}
        return [{n: table[i][k] for i, n in enumerate(names)} for k in range(len(table[0]))]

    def member_state(self, k: int) -> dict:
        return {"sums": {n: float(v[k]) for n, v in self.sums.items()}, "counts": dict(self.counts)}

    @staticmethod
    def merged(states: list[dict], device) -> "Diagnostics":
        d = Diagnostics()
        names = set(states[0]["sums"]) if states else set()
        for n in sorted(names):
            d.sums[n] = torch.tensor([s["sums"][n] for s in states], device=device)
            d.counts[n] = states[0]["counts"][n]
        return d


def real_batch(pack: Pack, n: int) -> tuple[Tensor, Optional[Tensor]]:
    idx = pack.streams.randint("data", len(pack.x), (n,))  # [K, n]
    return pack.x[idx], (pack.y[idx] if pack.y is not None else None)


def _with_noise(x: Tensor, pack: Pack, std: float) -> Tensor:
    return x + std * pack.streams.randn("aux", tuple(x.shape[1:]))


def d_outputs(pack: Pack, real: Tensor, y_real: Optional[Tensor], fake: Tensor,
              y_fake: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """D's outputs on a real and a generated batch: one call on both where D allows it (``joint_d``)."""
    D = pack.D
    if not pack.joint_d:
        return D(real, y_real), D(fake, y_fake)
    both = D(torch.cat([real, fake], 1), None if y_real is None else torch.cat([y_real, y_fake], 1))
    half = both.shape[1] // 2
    return both[:, :half], both[:, half:]


def _penalties(pack: Pack, real, y_real, fake, y_fake, outputs, values: dict):
    """The weighted sum of the pack's penalties; each unweighted value logged as ``penalty`` (one penalty) or
    ``penalty_<name>`` (several)."""
    total = None
    for reg in pack.penalties:
        labels = y_fake if reg.penalty.scores_fake else y_real
        pen = reg.penalty(lambda x, y=labels: pack.D(x, y), real, fake, rng=pack.streams, outputs=outputs)
        total = reg.weight * pen if total is None else total + reg.weight * pen
        values["penalty" if len(pack.penalties) == 1 else f"penalty_{reg.name}"] = pen
    return total


def _draw(pack: Pack):
    return lambda shape: pack.streams.uniform("aux", shape)


def _augmented(pack: Pack, x: Tensor) -> Tensor:
    """What D sees of a batch: x itself, or x through the pack's augmentation (DiffAugment or ADA, differentiable)."""
    return x if pack.augment is None else pack.augment(x, _draw(pack))


def _consistency(pack: Pack, real, y_real, real_out, fake, y_fake, fake_out, values: dict):
    """CR on real images (``cr_weight``) and bCR's term on generated ones (``bcr_weight``), weighted and summed;
    each unweighted value logged as ``cr`` / ``bcr``."""
    total = None
    for name, weight, x, y, out in (("cr", pack.hp.cr_weight, real, y_real, real_out),
                                    ("bcr", pack.hp.bcr_weight, fake, y_fake, fake_out)):
        if weight > 0:
            term = consistency_term(lambda v, y=y: pack.D(v, y), x, out, _draw(pack))
            values[name] = term
            total = weight * term if total is None else total + weight * term
    return total


def d_step(pack: Pack, diag: Diagnostics, noise_std: float = 0.0) -> tuple[Tensor, Optional[Tensor]]:
    """One D step for every member; returns the latent batch it used (compare_gan's G step may reuse it)."""
    n = pack.hp.batch_size * pack.pac
    real, y_real = real_batch(pack, n)
    z, y_fake = pack.sample_z(n)
    with torch.no_grad():
        fake = pack.G(z, y_fake)
    if noise_std > 0:
        real, fake = _with_noise(real, pack, noise_std), _with_noise(fake, pack, noise_std)
    real, fake = _augmented(pack, real), _augmented(pack, fake)
    D = pack.D
    real_out, fake_out = d_outputs(pack, real, y_real, fake, y_fake)
    loss = pack.loss.d_objective(real_out, fake_out, real, fake, rng=pack.streams)
    values = {"d_loss": loss}
    penalty = _penalties(pack, real, y_real, fake, y_fake, (real_out, fake_out), values)
    total = loss if penalty is None else loss + penalty
    consistency = _consistency(pack, real, y_real, real_out, fake, y_fake, fake_out, values)
    total = total if consistency is None else total + consistency
    pack.opt_d.zero_grad(set_to_none=True)
    (total * pack.active).sum().backward()
    pack.opt_d.step()
    if pack.constraint is not None:
        pack.constraint(D.parameters())
    with torch.no_grad():
        pack.loss.after_d_step(real_out, fake_out, real, fake)
        values.update(pack.loss.diagnostics(real_out, fake_out, real, fake))
        if pack.augment is not None:
            pack.augment.observe(real_out)  # ADA: E sign(D(augmented reals)) moves p
    diag.add(**values)
    return z, y_fake


def g_step(pack: Pack, diag: Diagnostics, reuse: Optional[tuple[Tensor, Optional[Tensor]]] = None) -> None:
    """One G step for every member (with the D step's latent batch when ``reuse`` is given)."""
    z, y = reuse if reuse is not None else pack.sample_z(pack.hp.batch_size * pack.pac)
    fake = _augmented(pack, pack.G(z, y))
    if pack.loss.needs_real_in_g_step:
        real, y_real = real_batch(pack, z.shape[1])
        real = _augmented(pack, real)
        real_out, fake_out = d_outputs(pack, real, y_real, fake, y)
        loss = pack.loss.g_objective(fake_out, fake, real_out=real_out)
    else:
        loss = pack.loss.g_objective(pack.D(fake, y), fake)
    params = pack.G.parameters()
    pack.opt_g.zero_grad(set_to_none=True)
    grads = torch.autograd.grad((loss * pack.active).sum(), params, allow_unused=True)
    sq = None
    for p, g in zip(params, grads):
        if g is None:
            continue
        # autograd.grad through vmap returns transposed (non-contiguous) weight gradients; torch's fused CPU Adam
        # (2.14) reads a gradient's memory as if it had the parameter's strides, so lay it out like the parameter
        # (and read the norm from that copy: the same numbers in the same order, without a second copy)
        p.grad = g = g.contiguous()
        s = g.pow(2).view(pack.k, -1).sum(1) if pack.k > 1 else g.pow(2).sum().unsqueeze(0)
        sq = s if sq is None else sq + s
    pack.opt_g.step()
    if pack.ema is not None:
        pack.ema.update(pack.G)
    diag.add(g_loss=loss, g_grad_norm=sq.sqrt())


def step_flops(pack: Pack) -> tuple[float, float]:
    """FLOPs of one trial's D step and G step (torch.utils.flop_counter: matmuls and convolutions, forward and
    backward, a penalty's double backward included), measured on a single-trial replica so that the count does not
    depend on how many trials share the pack."""
    from torch.utils.flop_counter import FlopCounterMode

    from ganbench.training.parts import solo_replica

    replica = solo_replica(pack)
    counts = []
    for step in (d_step, g_step):
        counter = FlopCounterMode(display=False)
        with counter:
            step(replica, Diagnostics())
        counts.append(float(counter.get_total_flops()))
    return counts[0], counts[1]
