"""The best-so-far generator of one trial at the end of its run: scored on test, saved, and drawn."""
from __future__ import annotations

import copy

import torch

from ganbench.evaluation.pictures import save_nearest_neighbours, save_samples
from ganbench.training.members import Members
from ganbench.training.scoring import generate, save_torch


def loaded_generator(G: Members, state: dict) -> torch.nn.Module:
    """A single-trial generator holding ``state`` (G's shell module)."""
    module = G.shell if G.k > 1 else copy.deepcopy(getattr(G.module, "_orig_mod", G.module))
    module.load_state_dict(state)
    return module


def score_best(pack, m, ncls, dev) -> tuple[dict, dict]:
    """Test values and provenance of member ``m``'s best generator; writes best_generator.pt, samples.png and, for
    images, nearest.png (the seed texts' memorisation check: samples beside their nearest training images)."""
    e = pack.trials[0].eval
    shell = Members([loaded_generator(pack.G, m.best.state)])
    fakes, _ = generate(shell, pack.hp, ncls, e.n_samples, "test", dev)
    values, prov = pack.evaluator.evaluate(fakes[0], "test")
    save_torch({"trial_id": m.trial.id, "d_steps": m.best.d_steps, "generator": m.best.state},
               m.out_dir / "best_generator.pt")
    samples, _ = generate(shell, pack.hp, ncls, 256, "test", dev)
    toy = pack.info.kind == "toy"
    save_samples(samples[0], pack.info, m.out_dir / "samples.png", real=pack.x[:2000].cpu() if toy else None,
                 scores=values if toy else None,
                 title=f"{m.trial.gan} / {m.trial.architecture}, seed {m.trial.seed} (best, test)")
    if not toy:
        save_nearest_neighbours(samples[0][:8], pack.x.cpu(), pack.info, m.out_dir / "nearest.png")
    return values, prov
