"""The trainer: ``run_pack`` trains K trials as one (``run_trial`` is K = 1) under their budget, scores them, and
writes each trial's files into its own directory. It knows nothing about Ray.
Budgets (``training/budget.py``): D steps, G steps, images, seconds or FLOPs; a trial stops exactly at its budget.
Model selection is held out: at every evaluation point each generator is scored on the ``val`` split and the best
one (by the primary metric) is kept; at the end the final and the best generator are scored on ``test``.
A NaN or inf in a member's losses or gradient norm marks it ``diverged``: it keeps its last good metrics and is
frozen, while the other members of its pack go on.

Checkpoints (``training/checkpoint.py``): a trial started again with a ``running`` checkpoint resumes from it and
ends with exactly the numbers of an uninterrupted run (CPU, same pack).
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from ganbench.datasets import load_split
from ganbench.paths import using_cache
from ganbench.results import Summary, score_key, write_summary
from ganbench.suite.plan import Trial
from ganbench.training.sinks import open_sinks
from ganbench.training.budget import Counters, budget_used, expected_d_steps, instance_noise_std, used as used_by_unit
from ganbench.training.checkpoint import images_count, member_checkpoint, restore_loss_state, restore_member, \
    running_checkpoint, write_checkpoint
from ganbench.training.device import resolve_device
from ganbench.training.members import Members
from ganbench.training.optimizers import zero_optimizer_member
from ganbench.training.best import loaded_generator, score_best
from ganbench.training.milestones import milestone_keys, score_milestones
from ganbench.training.parts import Pack, build_pack, load_state_dict, state_dict
from ganbench.training.scoring import BestTracker, critic_estimate, generate, mean_pairwise_distance
from ganbench.training.steps import Diagnostics, d_step, g_step, step_flops
from ganbench.training.ema import beside_values, scored_generator, scored_provenance

EventFn = Callable[[str, int, dict], None]  # (kind: "eval" | "checkpoint" | "done", member index, payload)


@dataclass(frozen=True)
class RunOptions:
    """How a pack runs, never what it computes (not part of a trial's identity)."""

    checkpoint_every_d_steps: Optional[int] = None  # None: about every tenth of the budget, at least 200 D steps
    check_every_d_steps: int = 100  # NaN/inf checks between evaluation points
    amp: Optional[str] = None  # "bf16": autocast on CUDA (ignored on CPU)
    channels_last: bool = False  # convolutional networks in channels-last layout on CUDA (single trials)
    compile: bool = False  # torch.compile the networks of a single trial
    logging: Optional[dict] = None  # TensorBoard / MLflow sinks (ganbench.training.sinks), as the suite's ``logging``


@dataclass
class Member:
    trial: Trial
    out_dir: Path
    best: BestTracker
    status: str = "running"  # running -> completed | diverged
    last_metrics: dict = field(default_factory=dict)
    last_provenance: Optional[dict] = None  # the provenance last written to metrics.jsonl
    milestones: dict = field(default_factory=dict)  # "milestone_<unit>_<value>" -> test values of the best so far
    diverged_at: Optional[int] = None
    evals_since_best: int = 0
    stopped_at: Optional[int] = None  # early stop (eval.patience): trained no further from this D step
    final_state: Optional[dict] = None  # G at the early stop (a pack member keeps sharing the pack's forward passes)
    used: Optional[dict] = None  # the budget used when it stopped (diverged or early), in every unit

    @property
    def history(self) -> Path:
        return self.out_dir / "metrics.jsonl"


def run_trial(trial: Trial, out_dir: Path, on_event: Optional[EventFn] = None, device: str = "cpu", data_dir=None,
              num_threads: int = 1, meta: Optional[dict] = None, options: RunOptions = RunOptions(),
              cache_root=None) -> dict:
    """Train and score one trial; write its files into ``out_dir``; return its summary (also ``summary.json``)."""
    return run_pack([trial], [out_dir], on_event, device, data_dir, num_threads, meta, options, cache_root)[0]


def run_pack(trials: list[Trial], out_dirs: list[Path], on_event: Optional[EventFn] = None, device: str = "cpu",
             data_dir=None, num_threads: int = 1, meta: Optional[dict] = None,
             options: RunOptions = RunOptions(), cache_root=None) -> list[dict]:
    """Train K trials as one pack (see ganbench.training.members) and write each trial's files into its directory.
    ``cache_root`` is where extractors and reference statistics are read (default: ganbench.paths.cache_dir())."""
    with using_cache(cache_root):
        return _Run(trials, out_dirs, on_event, device, data_dir, num_threads, meta or {}, options).run()


class _Run:
    def __init__(self, trials, out_dirs, on_event, device, data_dir, num_threads, meta, options):
        self.t_start = time.perf_counter()
        torch.set_num_threads(max(1, int(num_threads)))
        self.dev = resolve_device(device)
        self.options, self.meta, self.data_dir = options, meta, data_dir
        self.on_event = on_event or (lambda kind, k, payload: None)
        self.pack: Pack = build_pack(trials, self.dev, data_dir)
        primary = trials[0].eval.primary
        self.members = [Member(t, Path(d), BestTracker(primary)) for t, d in zip(trials, out_dirs)]
        for m in self.members:
            m.out_dir.mkdir(parents=True, exist_ok=True)
        self.c = Counters()
        self.diag = Diagnostics()
        self.eval_seconds = 0.0
        self.eval_cpu = 0.0
        self.notes: list[str] = []
        self._apply_options()
        if not self._resume():
            for m in self.members:
                m.history.unlink(missing_ok=True)
        self.real_spread = mean_pairwise_distance(self.pack.x[:256].float().cpu())
        self.critic_real = None
        if self.pack.loss.has_critic_estimate:
            val = load_split(trials[0].dataset, "val", data_dir, trials[0].dataset_options)
            n = min(trials[0].eval.n_samples, len(val))
            self.critic_real = (val.x[:n], val.y[:n] if self.pack.conditional and val.y is not None else None)
        expected = expected_d_steps(trials[0])
        self.ckpt_every = options.checkpoint_every_d_steps or max(200, (expected or 2000) // 10)

    # ---- options that change how, not what
    def _apply_options(self) -> None:
        o, pack = self.options, self.pack
        self.autocast = contextlib.nullcontext
        if o.amp and self.dev.type == "cuda":
            self.autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        elif o.amp:
            self.notes.append("amp applies on CUDA only; trained in float32")
        if o.channels_last and self.dev.type == "cuda" and pack.k == 1:
            for net in (pack.G.module, pack.D.module):
                net.to(memory_format=torch.channels_last)
        elif o.channels_last:
            self.notes.append("channels_last applies to single trials on CUDA only")
        if o.compile and pack.k == 1:
            pack.G.module.compile()
            pack.D.module.compile()
        elif o.compile:
            self.notes.append("compile applies to single trials only")

    # ---- the loop
    def run(self) -> list[dict]:
        pack, c = self.pack, self.c
        pack.G.train()
        pack.D.train()
        if c.flops_per_d is None:
            c.flops_per_d, c.flops_per_g = step_flops(pack)
        self.sinks = [open_sinks(m.trial, m.out_dir, self.options.logging, resume_step=c.resumed_from)
                      for m in self.members]
        try:
            return self._loop()
        finally:
            for sink in self.sinks:
                sink.close()

    def _loop(self) -> list[dict]:
        pack, c, hp = self.pack, self.c, self.pack.hp
        trial0 = pack.trials[0]
        run_train_start = time.perf_counter()
        self.cpu_start = time.process_time()
        while not self._done(run_train_start):
            noise = instance_noise_std(hp.instance_noise, budget_used(trial0, c, self._train_seconds(
                run_train_start)), trial0.budget_steps) if hp.instance_noise else 0.0
            with self.autocast():
                latent = d_step(pack, self.diag, noise)
            c.d_steps += 1
            c.images += hp.batch_size * pack.pac
            g_stepped = c.d_steps > hp.d_warmup_steps and (c.d_steps - hp.d_warmup_steps) % hp.n_disc == 0
            if g_stepped:
                with self.autocast():
                    g_step(pack, self.diag, latent if getattr(hp, "reuse_z", False) else None)
                c.g_steps += 1
            eval_due = self._eval_due(g_stepped)
            if eval_due or c.d_steps % self.options.check_every_d_steps == 0:
                self._check_divergence()
                if not self._running():
                    break
            if self._done(run_train_start):
                break
            if eval_due:
                self._evaluate_point(run_train_start)
                if not self._running():  # every member stopped early
                    break
            if self.pack.trials[0].eval.milestones:
                self._milestones(run_train_start)
            if c.d_steps % self.ckpt_every == 0:
                self._checkpoint(run_train_start)
        self._check_divergence()
        train_seconds = self._train_seconds(run_train_start)
        self.train_cpu = c.prior_train_cpu + time.process_time() - self.cpu_start - self.eval_cpu
        if self._running():
            self._evaluate_point(run_train_start)
            for m in self.members:
                if m.status == "running":
                    m.status = "completed"
        self._milestones(run_train_start)
        return self._finish(train_seconds)

    def _running(self) -> list[int]:
        return [k for k, m in enumerate(self.members) if m.status == "running"]

    def _train_seconds(self, run_train_start: float) -> float:
        return self.c.prior_train + time.perf_counter() - run_train_start - self.eval_seconds

    def _done(self, run_train_start: float) -> bool:
        t = self.pack.trials[0]
        if t.budget_unit == "flops" and self.c.flops_per_d is None:
            return False
        return budget_used(t, self.c, self._train_seconds(run_train_start)) >= t.budget_steps

    def _eval_due(self, g_stepped: bool) -> bool:
        e = self.pack.trials[0].eval
        if e.every_d_steps:
            return self.c.d_steps % e.every_d_steps == 0
        if e.every_g_steps:
            return g_stepped and self.c.g_steps % e.every_g_steps == 0
        return False

    # ---- divergence
    def _check_divergence(self) -> None:
        finite = self.diag.finite()
        if finite is None:
            return
        finite = finite.tolist()
        for k in self._running():
            if not finite[k]:
                self._freeze(k)

    def _freeze(self, k: int) -> None:
        pack, m = self.pack, self.members[k]
        m.status = "diverged"
        m.diverged_at = self.c.d_steps
        m.used = self._used()
        self._write_checkpoint(k, final=True)  # the broken final state, as a record
        if pack.k > 1:  # the others go on: zero this member so that it no longer moves
            pack.G.zero_member(k)
            pack.D.zero_member(k)
            zero_optimizer_member(pack.opt_g, k)
            zero_optimizer_member(pack.opt_d, k)
            state = state_dict(pack)
            for v in state.values():
                v[k] = 0
            load_state_dict(pack, state)
            pack.active[k] = 0.0

    # ---- evaluation points (validation split)
    def _evaluate_point(self, run_train_start: float) -> None:
        t0, cpu0 = time.perf_counter(), time.process_time()
        pack, c = self.pack, self.c
        running = self._running()
        means = self.diag.pop()
        e = pack.trials[0].eval
        fakes, fake_y = generate(scored_generator(pack), pack.hp, pack.info.num_classes if pack.conditional else None,
                                 e.n_samples, "val", self.dev)
        beside = beside_values(pack, "val", e.n_samples, self.dev, running)  # ema_<value> with ema_eval: beside
        critic = None
        if self.critic_real is not None:
            critic = critic_estimate(pack.D, *self.critic_real, fakes, fake_y, self.dev)
        seconds = round(c.prior_wall + time.perf_counter() - self.t_start, 3)
        for k in running:
            m = self.members[k]
            values, provenance = pack.evaluator.evaluate(fakes[k], "val")
            provenance = scored_provenance(pack, provenance)
            values["diversity"] = mean_pairwise_distance(fakes[k][:256]) / max(self.real_spread, 1e-12)
            if critic is not None:
                values["critic_w"] = critic[k]
            record = {"d_steps": c.d_steps, "g_steps": c.g_steps, "images": c.images,
                      "flops": c.flops, "seconds": seconds, "train_seconds": round(self._train_seconds(
                          run_train_start), 3), "split": "val", **(means[k] if means else {}), **values,
                      **beside.get(k, {}), **(pack.augment.record(k) if pack.augment is not None else {})}
            if provenance != m.last_provenance:  # written when it changes (the first record has it): not 23 KB a line
                record["provenance"] = m.last_provenance = provenance
            with m.history.open("a") as f:
                f.write(json.dumps(record) + "\n")
            m.last_metrics = values
            improved = m.best.offer(values.get(e.primary), lambda: scored_generator(pack).member_state(k), c.d_steps)
            m.evals_since_best = 0 if improved else m.evals_since_best + 1
            self.sinks[k].log_eval(c.d_steps, record, fakes[k], pack.info)
            self.on_event("eval", k, {k2: v for k2, v in record.items() if k2 != "provenance"})
        self.eval_seconds += time.perf_counter() - t0
        self.eval_cpu += time.process_time() - cpu0
        if e.patience:
            for k in running:
                if self.members[k].evals_since_best >= e.patience:
                    self._stop_early(k)

    def _used(self) -> dict:
        c = self.c
        return {"d_steps": c.d_steps, "g_steps": c.g_steps, "images": c.images, "flops": c.flops}

    def _stop_early(self, k: int) -> None:
        """Patience ran out: member k trains no further; its generator at this point is its final one."""
        pack, m = self.pack, self.members[k]
        m.status, m.stopped_at, m.used = "completed", self.c.d_steps, self._used()
        if pack.k > 1:
            m.final_state = scored_generator(pack).member_state(k)
            zero_optimizer_member(pack.opt_g, k)
            zero_optimizer_member(pack.opt_d, k)
            pack.active[k] = 0.0

    # ---- budget milestones (analysis.milestones: ganbench.training.milestones)
    def _milestones(self, run_train_start: float) -> None:
        t0, cpu0 = time.perf_counter(), time.process_time()
        score_milestones(self.pack, self.members, used_by_unit(self.c, self._train_seconds(run_train_start)),
                         self.dev, lambda state: loaded_generator(self.pack.G, state))
        self.eval_seconds += time.perf_counter() - t0
        self.eval_cpu += time.process_time() - cpu0

    # ---- checkpoints
    def _checkpoint(self, run_train_start: float) -> None:
        t0, cpu0 = time.perf_counter(), time.process_time()
        self._train_now = self._train_seconds(run_train_start)
        self._train_cpu_now = self.c.prior_train_cpu + cpu0 - self.cpu_start - self.eval_cpu
        for k in self._running():
            self._write_checkpoint(k)
        self.eval_seconds += time.perf_counter() - t0
        self.eval_cpu += time.process_time() - cpu0
        self.on_event("checkpoint", -1, {"d_steps": self.c.d_steps})

    def _write_checkpoint(self, k: int, final: bool = False) -> None:
        c = self.c
        counters = {"d_steps": c.d_steps, "g_steps": c.g_steps, "images": c.images,
                    "flops_per_d": c.flops_per_d, "flops_per_g": c.flops_per_g,
                    "wall_seconds": c.prior_wall + time.perf_counter() - self.t_start,
                    "train_seconds": getattr(self, "_train_now", 0.0),
                    "train_cpu_seconds": getattr(self, "_train_cpu_now", 0.0)}
        ckpt = member_checkpoint(self.pack, k, self.members[k], self.diag, counters)
        ckpt["milestones"] = self.members[k].milestones
        write_checkpoint(self.members[k].out_dir, ckpt)

    def _resume(self) -> bool:
        """Load every member's ``running`` checkpoint (all at the same D step) or none."""
        ckpts = [running_checkpoint(m.out_dir / "checkpoint.pt", m.trial.id) for m in self.members]
        if not all(ck is not None for ck in ckpts):
            return False
        steps = {ck["counters"]["d_steps"] for ck in ckpts}
        if len(steps) != 1:
            raise ValueError(f"the checkpoints of this pack are at different D steps {sorted(steps)}; "
                             "resume them in separate packs")
        pack, c = self.pack, self.c
        for k, (m, ck) in enumerate(zip(self.members, ckpts)):
            restore_member(pack, k, m, ck)
            m.milestones = dict(ck.get("milestones") or {})
        restore_loss_state(pack, ckpts)
        self.diag = Diagnostics.merged([ck["diagnostics"] for ck in ckpts], self.dev)
        cc = ckpts[0]["counters"]
        c.d_steps, c.g_steps, c.images = cc["d_steps"], cc["g_steps"], images_count(cc)
        c.flops_per_d, c.flops_per_g = cc["flops_per_d"], cc["flops_per_g"]
        c.prior_wall, c.prior_train, c.resumed_from = cc["wall_seconds"], cc["train_seconds"], cc["d_steps"]
        c.prior_train_cpu = cc.get("train_cpu_seconds", 0.0)
        return True

    # ---- the end: held-out scores on test, files
    def _finish(self, train_seconds: float) -> list[dict]:
        pack, c = self.pack, self.c
        e = pack.trials[0].eval
        ncls = pack.info.num_classes if pack.conditional else None
        completed = [k for k, m in enumerate(self.members) if m.status == "completed"]
        final_values: dict[int, tuple[dict, dict]] = {}
        if completed:
            fakes, _ = generate(scored_generator(pack), pack.hp, ncls, e.n_samples, "test", self.dev)
            for k in completed:
                m = self.members[k]
                if m.final_state is not None:  # stopped early inside a pack: its generator at the stop
                    fakes_k = generate(Members([loaded_generator(pack.G, m.final_state)]), pack.hp, ncls, e.n_samples,
                                       "test", self.dev)[0][0]
                else:
                    fakes_k = fakes[k]
                values, provenance = pack.evaluator.evaluate(fakes_k, "test")
                final_values[k] = values, scored_provenance(pack, provenance)
        beside = beside_values(pack, "test", e.n_samples, self.dev, completed)  # ema_final_<value>
        summaries = []
        for k, m in enumerate(self.members):
            summary_metrics, provenance = milestone_keys(m.milestones), {}  # milestone_<unit>_<value>_<metric>
            if k in final_values:
                values, provenance = final_values[k]
                summary_metrics.update({f"final_{n}": v for n, v in values.items()})
                summary_metrics.update({f"ema_final_{n[4:]}": v for n, v in beside.get(k, {}).items()})
            else:  # diverged: the final generator is broken; its last good validation metrics stand
                summary_metrics.update({f"final_{n}": v for n, v in m.last_metrics.items()})
            if m.best.state is not None:
                values, prov = score_best(pack, m, ncls, self.dev)
                provenance = provenance or scored_provenance(pack, prov)
                summary_metrics.update({f"best_{n}": v for n, v in values.items()})
            if m.status == "completed":
                self._write_checkpoint(k, final=True)
            record = Summary(
                m.trial.id, m.status, primary=e.primary, best_d_steps=m.best.d_steps, **(m.used or self._used()),
                stopped_early_at=m.stopped_at, flops_per_d_step=c.flops_per_d, flops_per_g_step=c.flops_per_g,
                wall_seconds=round(c.prior_wall + time.perf_counter() - self.t_start, 3),
                train_seconds=round(train_seconds, 3), train_cpu_seconds=round(self.train_cpu, 3),
                device=str(self.dev), num_threads=torch.get_num_threads(), pack_size=pack.k,
                pack=[t.id for t in pack.trials] if pack.k > 1 else [], resumed_from=c.resumed_from, notes=self.notes,
                meta=dict(self.meta), provenance=provenance,  # best_val_<primary>: what chose the checkpoint
                scores={score_key("best_val", e.primary): m.best.value, **summary_metrics})
            write_summary(m.out_dir, record)
            summary = record.to_dict()
            self.on_event("done", k, {n: v for n, v in summary.items() if n != "provenance"})
            summaries.append(summary)
        return summaries
