"""The trainer: one function trains one trial under its budget and scores it. It knows nothing about Ray.

Budget accounting (compare_gan's convention): a *step* is a discriminator step; G is updated once every ``n_disc``
D steps (after ``d_warmup_steps``). A ``d_steps`` budget stops after exactly that many D steps; a ``g_steps``
budget stops right after the G step that reaches it. The trial records what it used: D steps, G steps, real
images seen by D, wall seconds (and the seconds spent training, without evaluation).

Model selection is held out: at every evaluation point the generator is scored on the ``val`` split and the best
one (by the primary metric) is kept; at the end both the final and the best generator are scored on ``test``.
A NaN or inf in a loss stops the trial with status ``diverged``; its metrics are the last good ones.
"""
from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ganbench.config import HParams
from ganbench.datasets import dataset_info, load_split
from ganbench.evaluation import OUTPUT_DIRECTIONS, Evaluator
from ganbench.expand import Trial
from ganbench.losses import get_loss
from ganbench.models import ArchOptions, build_models
from ganbench.penalties import get_constraint, get_penalty
from ganbench.results import atomic_write_json
from ganbench.samples import save_samples

ReportFn = Callable[[dict, Optional[Path]], None]
BCE_LOSSES = ("ns", "mm")


class TrialState:
    """Counters and running means of one trial."""

    def __init__(self):
        self.d_steps = self.g_steps = self.images_seen = 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, **values: float) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def pop_means(self) -> dict:
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out


def _device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(requested)


def _optimizer(hp: HParams, params, net: str):
    """Adam or RMSprop for net 'g' or 'd', with that net's learning rate and betas where set (TTUR)."""
    lr = getattr(hp, f"lr_{net}") or hp.lr
    if hp.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    b1, b2 = getattr(hp, f"beta1_{net}"), getattr(hp, f"beta2_{net}")
    return torch.optim.Adam(params, lr=lr, betas=(hp.beta1 if b1 is None else b1, hp.beta2 if b2 is None else b2))


def _sample_z(hp: HParams, n: int, device, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    if hp.z_dist == "uniform":
        return torch.rand(n, hp.z_dim, generator=generator).mul_(2).sub_(1).to(device)
    return torch.randn(n, hp.z_dim, generator=generator).to(device)


def _eval_due(trial: Trial, st: TrialState, g_stepped: bool) -> bool:
    e = trial.eval
    if e.get("every_d_steps"):
        return st.d_steps % e["every_d_steps"] == 0
    if e.get("every_g_steps"):
        return g_stepped and st.g_steps % e["every_g_steps"] == 0
    return False


def _budget_done(trial: Trial, st: TrialState) -> bool:
    used = st.d_steps if trial.budget_unit == "d_steps" else st.g_steps
    return used >= trial.budget_steps


def arch_options(trial: Trial) -> ArchOptions:
    """The architecture options of a trial: its hyperparameters, plus an autoencoder D for BEGAN."""
    hp = HParams(**trial.hparams)
    opts = {k: getattr(hp, k) for k in ("d_norm", "g_norm", "activation", "downsample", "width", "conditioning")}
    return ArchOptions.from_dict({**opts, "d_output": "autoencoder" if trial.loss == "began" else "logit"})


def _mean_pairwise_distance(x: torch.Tensor) -> float:
    flat = x.flatten(1).double()
    return float(torch.cdist(flat, flat).sum() / max(1, len(flat) * (len(flat) - 1)))


def _recon_error(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """BEGAN's L(x) = mean |AE(x) - x| over pixels, then over the batch."""
    return (recon - x).abs().flatten(1).mean(1).mean()


def check_trial(trial: Trial) -> None:
    """Cross-field checks that need the registries (run at validation time and again in the trial)."""
    from ganbench.registry import GanbenchError

    hp = HParams(**trial.hparams)
    if (hp.label_smoothing or hp.label_flip) and trial.loss not in BCE_LOSSES:
        raise GanbenchError(f"trial {trial.gan}: label_smoothing and label_flip apply to the BCE losses "
                            f"({', '.join(BCE_LOSSES)}), not to {trial.loss!r}")
    info = dataset_info(trial.dataset, trial.dataset_options)
    if hp.conditioning != "none" and not info.num_classes:
        raise GanbenchError(f"trial {trial.gan}: conditioning={hp.conditioning} needs a labelled dataset; "
                            f"{trial.dataset!r} has no labels")


def run_trial(trial: Trial, out_dir: Path, report: Optional[ReportFn] = None, device: str = "cpu",
              data_dir=None, num_threads: int = 1, meta: Optional[dict] = None) -> dict:
    """Train and score one trial; write its files into ``out_dir``; return its summary (also ``summary.json``)."""
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, num_threads))
    dev = _device(device)
    check_trial(trial)
    hp = HParams(**trial.hparams)

    info = dataset_info(trial.dataset, trial.dataset_options)
    train = load_split(trial.dataset, "train", data_dir, trial.dataset_options)
    e = trial.eval
    evaluator = Evaluator(trial.dataset, trial.dataset_options, info, e["metrics"], e["extractor"], e["n_samples"],
                          e["n_real"], data_dir=data_dir, device=str(dev))
    torch.manual_seed(trial.seed)  # after the evaluator, which may train (and seed) a classifier the first time
    np.random.seed(trial.seed % 2**32)
    conditional = hp.conditioning != "none"
    G, D = build_models(trial.architecture, info.shape, hp.z_dim, arch_options(trial),
                        num_classes=info.num_classes if conditional else None)
    G, D = G.to(dev), D.to(dev)
    opt_g = _optimizer(hp, G.parameters(), "g")
    opt_d = _optimizer(hp, D.parameters(), "d")
    began = trial.loss == "began"
    began_k = 0.0
    loss = None if began else get_loss(trial.loss, **trial.loss_options)
    penalty = get_penalty(trial.penalty, **trial.penalty_options)
    clip = get_constraint("clip", clip=hp.clip) if hp.clip else None
    batch_gen = torch.Generator().manual_seed(trial.seed)
    n_train = len(train)
    history_path = out_dir / "metrics.jsonl"
    history_path.unlink(missing_ok=True)

    def labels(n, gen=None):
        return torch.randint(info.num_classes, (n,), generator=gen).to(dev) if conditional else None

    def generate(n: int, split: str, model=None) -> torch.Tensor:
        """Scoring samples: fixed noise per split (independent of training randomness), G in eval mode."""
        model = model or G
        gen = torch.Generator().manual_seed(10_000 + {"val": 1, "test": 2}[split])
        was_training = model.training
        model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, n, 500):
                m = min(500, n - start)
                out.append(model(_sample_z(hp, m, dev, gen), labels(m, gen)).float().cpu())
        model.train(was_training)
        return torch.cat(out)

    st = TrialState()
    primary = e["primary"]
    direction = OUTPUT_DIRECTIONS.get(primary) or "min"
    best = {"value": None, "state": None, "d_steps": None}
    last_metrics: dict = {}
    status, eval_seconds = "completed", 0.0
    total_d = trial.budget_steps if trial.budget_unit == "d_steps" else \
        hp.d_warmup_steps + trial.budget_steps * hp.n_disc

    real_spread = _mean_pairwise_distance(train.x[:256])

    def evaluate_point():
        nonlocal eval_seconds, last_metrics
        t0 = time.perf_counter()
        fake_val = generate(e["n_samples"], "val")
        values, provenance = evaluator.evaluate(fake_val, "val")
        # mode-collapse signal: spread of generated samples relative to real ones (about 1 when diverse)
        values["diversity"] = _mean_pairwise_distance(fake_val[:256]) / max(real_spread, 1e-12)
        eval_seconds += time.perf_counter() - t0
        record = {"d_steps": st.d_steps, "g_steps": st.g_steps, "images_seen": st.images_seen,
                  "seconds": round(time.perf_counter() - t_start, 3), "split": "val", **st.pop_means(), **values,
                  "provenance": provenance}
        with history_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        last_metrics = values
        v = values.get(primary)
        if v is not None and math.isfinite(v) and (best["value"] is None or
                                                   (v > best["value"] if direction == "max" else v < best["value"])):
            best.update(value=v, state=copy.deepcopy(G.state_dict()), d_steps=st.d_steps)
        if report is not None:
            report({k: v for k, v in record.items() if k != "provenance"}, None)

    G.train()
    D.train()
    while not _budget_done(trial, st):
        # ---- discriminator step
        idx = torch.randint(n_train, (hp.batch_size,), generator=batch_gen)
        real = train.x[idx].to(dev)
        y_real = train.y[idx].to(dev) if conditional else None
        y_fake = labels(hp.batch_size)
        with torch.no_grad():
            fake = G(_sample_z(hp, hp.batch_size, dev), y_fake)
        noise_std = hp.instance_noise * max(0.0, 1.0 - st.d_steps / max(1, total_d))
        if noise_std > 0:
            real = real + noise_std * torch.randn_like(real)
            fake = fake + noise_std * torch.randn_like(fake)
        real_out, fake_out = D(real, y_real), D(fake, y_fake)
        if began:
            l_real, l_fake = _recon_error(real_out, real), _recon_error(fake_out, fake)
            d_loss = l_real - began_k * l_fake
        elif trial.loss in BCE_LOSSES and (hp.label_smoothing or hp.label_flip):
            d_loss = _bce_with_targets(real_out, fake_out, hp)
        else:
            d_loss = loss.d_loss(real_out, fake_out)
        if trial.penalty != "none" and hp.penalty_weight > 0:
            d_loss = d_loss + hp.penalty_weight * penalty(lambda x: D(x, y_real), real, fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if clip is not None:
            clip(D)
        st.d_steps += 1
        st.images_seen += hp.batch_size
        d_value = d_loss.item()
        if began:  # balance update after each D step; M is BEGAN's convergence measure
            lr_, lf_ = l_real.item(), l_fake.item()
            began_k += hp.began_lambda_k * (hp.began_gamma * lr_ - lf_)
            if hp.began_k_clip:
                began_k = min(max(began_k, 0.0), 1.0)
            st.add(d_loss=d_value, began_k=began_k, began_m=lr_ + abs(hp.began_gamma * lr_ - lf_))
        else:
            st.add(d_loss=d_value, d_acc_real=(real_out > 0).float().mean().item(),
                   d_acc_fake=(fake_out < 0).float().mean().item())
        # ---- generator step
        g_stepped = False
        if st.d_steps > hp.d_warmup_steps and (st.d_steps - hp.d_warmup_steps) % hp.n_disc == 0:
            y_fake = labels(hp.batch_size)
            fake = G(_sample_z(hp, hp.batch_size, dev), y_fake)
            g_loss = _recon_error(D(fake, y_fake), fake) if began else loss.g_loss(D(fake, y_fake))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            g_norm = torch.sqrt(sum((p.grad.pow(2).sum() for p in G.parameters() if p.grad is not None),
                                    torch.zeros((), device=dev))).item()
            opt_g.step()
            st.g_steps += 1
            g_stepped = True
            g_value = g_loss.item()
            st.add(g_loss=g_value, g_grad_norm=g_norm)
            if not math.isfinite(g_value) or not math.isfinite(g_norm):
                status = "diverged"
        if not math.isfinite(d_value):
            status = "diverged"
        if status == "diverged":
            break
        if _eval_due(trial, st, g_stepped) and not _budget_done(trial, st):
            evaluate_point()
    if status == "completed":
        evaluate_point()  # the last point of the curve, at the end of the budget
    train_seconds = time.perf_counter() - t_start - eval_seconds

    # ---- held-out scores on test: final generator and the best one by the validation primary metric
    summary_metrics, provenance = {}, {}
    if status == "completed":
        values, provenance = evaluator.evaluate(generate(e["n_samples"], "test"), "test")
        summary_metrics.update({f"final_{k}": v for k, v in values.items()})
    else:  # diverged: the final generator is broken; its last good validation metrics stand
        summary_metrics.update({f"final_{k}": v for k, v in last_metrics.items()})
    if best["state"] is not None:
        best_g = copy.deepcopy(G)
        best_g.load_state_dict(best["state"])
        values, prov = evaluator.evaluate(generate(e["n_samples"], "test", best_g), "test")
        provenance = provenance or prov
        summary_metrics.update({f"best_{k}": v for k, v in values.items()})
        torch.save({"trial_id": trial.id, "d_steps": best["d_steps"], "generator": best["state"]},
                   out_dir / "best_generator.pt")
        save_samples(generate(256, "test", best_g), info, out_dir / "samples.png",
                     real=train.x[:2000] if info.kind == "toy" else None)
    summary = {
        "trial_id": trial.id, "status": status, "primary": primary, "best_d_steps": best["d_steps"],
        "d_steps": st.d_steps, "g_steps": st.g_steps, "images_seen": st.images_seen,
        "wall_seconds": round(time.perf_counter() - t_start, 3), "train_seconds": round(train_seconds, 3),
        "device": str(dev), "num_threads": torch.get_num_threads(), **(meta or {}), **summary_metrics,
        "provenance": provenance,
    }
    torch.save({"trial": trial.to_dict(), "generator": G.state_dict(), "discriminator": D.state_dict(),
                "g_optimizer": opt_g.state_dict(), "d_optimizer": opt_d.state_dict(),
                "counters": {"d_steps": st.d_steps, "g_steps": st.g_steps, "images_seen": st.images_seen}},
               out_dir / "checkpoint.pt")
    atomic_write_json(out_dir / "summary.json", summary)
    if report is not None:
        report({k: v for k, v in summary.items() if k != "provenance"}, out_dir)
    return summary


def _bce_with_targets(real_out, fake_out, hp: HParams):
    """BCE D loss with one-sided label smoothing (real target 1 - s) and label flips (probability p per sample)."""
    t_real = torch.full_like(real_out, 1.0 - hp.label_smoothing)
    t_fake = torch.zeros_like(fake_out)
    if hp.label_flip > 0:
        flip_r = torch.rand_like(real_out) < hp.label_flip
        flip_f = torch.rand_like(fake_out) < hp.label_flip
        t_real = torch.where(flip_r, 1.0 - t_real, t_real)
        t_fake = torch.where(flip_f, 1.0 - t_fake, t_fake)
    return (F.binary_cross_entropy_with_logits(real_out, t_real)
            + F.binary_cross_entropy_with_logits(fake_out, t_fake))
