"""Expansion: datasets x GAN variants x architectures x search samples x seeds -> trials.

A trial's id is a hash of its fully resolved configuration (not of the suite's name or resources), so running a
suite again finds the trials it already completed, and adding a variant adds only the new trials. Hyperparameters
added to ``HParams`` later (``LATER_HPARAMS``) are left out of the hash at their default, so earlier ids stand.

Random search (``search:``): ``num_samples`` draws per dataset x GAN entry x architecture, crossed with the grid.
- Paired draws (``paired: true``, the default): the draws of each searched hyperparameter come from an RNG keyed by
  (search seed, dataset, architecture, hyperparameter, its distribution), so GAN entries that search lr over the
  same range get the same lr in sample i: a paired comparison. ``paired: false`` gives each entry its own RNG,
  keyed by (search seed, dataset, GAN entry, architecture). Either way, draws do not move when other entries are
  added or reordered.
- ``first: defaults`` (Lucic et al.'s rule, compare_gan generate_tasks_lib.TuneParams): sample 0 is the default
  configuration: every searched hyperparameter takes the value it would have without the search (the last literal
  set for it below the block holding the distribution: preset < suite < architecture entry < GAN entry, else
  the HParams default). Samples 1.. are the random draws, the same as with ``first: random``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import replace

import numpy as np

from ganbench.suite.schema import HParams, SearchSpec, Suite
from ganbench.suite.study import milestone_of
from ganbench.datasets import dataset_info
from ganbench.suite.plan import EvalSettings, Trial, normal_penalties
from ganbench.registry import GanbenchError
from ganbench.suite.searchspace import Distribution, looks_like_expression, parse_expression
from ganbench.zoo.variants import VARIANTS



def _rng_for(seed: int, *keys: str) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps([seed, *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _dist_key(dist: Distribution) -> str:
    return json.dumps([dist.kind, [list(a) if isinstance(a, tuple) else a for a in dist.args]])


def search_defaults(blocks: list[dict]) -> dict:
    """For each hyperparameter searched by a distribution: its value without the search (the last literal given for
    it in a block below the one holding the distribution, else the HParams default)."""
    literal: dict = {}
    defaults: dict = {}
    for block in blocks:
        for key, value in block.items():
            if looks_like_expression(value):
                defaults[key] = literal.get(key, HParams.model_fields[key].default)
            elif not isinstance(value, list):
                literal[key] = value
    return defaults


def draw_samples(search: SearchSpec, keys: tuple[str, ...], dists: dict, defaults: dict) -> list[dict]:
    """The search's samples for one dataset x GAN entry x architecture; ``keys`` = (dataset, GAN entry, arch)."""
    if not dists:
        return [{}]
    n = search.num_samples
    dataset, gan, arch = keys
    if search.paired:
        columns = {}
        for k, d in sorted(dists.items()):
            rng = _rng_for(search.seed, dataset, arch, k, _dist_key(d))
            columns[k] = [d.sample(rng) for _ in range(n)]
        draws = [{k: columns[k][i] for k in columns} for i in range(n)]
    else:
        rng = _rng_for(search.seed, dataset, gan, arch)
        draws = [{k: d.sample(rng) for k, d in sorted(dists.items())} for _ in range(n)]
    if search.first == "defaults":
        draws[0] = {k: defaults[k] for k in dists}
    return draws


def resolve_space(blocks: list[dict]) -> tuple[dict, dict, dict]:
    """Merge hyperparameter blocks (later wins) and split them into literals, grids and distributions."""
    merged: dict = {}
    for block in blocks:
        merged.update(block)
    fixed, grid, dists = {}, {}, {}
    for key, value in merged.items():
        if isinstance(value, list):
            grid[key] = value
        elif looks_like_expression(value):
            dists[key] = parse_expression(value, f"hparams.{key}")
        else:
            fixed[key] = value
    return fixed, grid, dists


MAX_TRIALS = 10_000  # more needs --max-trials N: a slip in a grid must not queue a million trials


def count_trials(suite: Suite) -> tuple[int, str]:
    """How many trials ``expand`` makes, counted without making them, and how that number factors."""
    total, points = 0, []
    for ds, gan, arch in itertools.product(suite.datasets, suite.gans, suite.architectures):
        variant = VARIANTS.get(gan.variant)
        _, grid, dists = resolve_space([variant.defaults, suite.hparams, arch.hparams, gan.hparams])
        n = (suite.search.num_samples if dists else 1) * math.prod(len(v) for v in grid.values())
        points.append(n)
        total += n * len(suite.seeds)
    lo, hi = min(points), max(points)
    how = (f"{len(suite.datasets)} datasets x {len(suite.gans)} GANs x {len(suite.architectures)} architectures x "
           f"{lo:,}{'' if lo == hi else f' to {hi:,}'} search points x {len(suite.seeds)} seeds")
    return total, how


def check_trial_count(suite: Suite, max_trials: int | None = MAX_TRIALS) -> int:
    """The number of trials, or GanbenchError past ``max_trials`` (None: no limit)."""
    n, how = count_trials(suite)
    if max_trials is not None and n > max_trials:
        raise GanbenchError(f"suite {suite.name!r} expands to {n:,} trials ({how}); the limit is {max_trials:,}: "
                            f"shrink the grids, search.num_samples or seeds, or pass --max-trials {n}")
    return n


def expand(suite: Suite, max_trials: int | None = MAX_TRIALS) -> list[Trial]:
    check_trial_count(suite, max_trials)
    adaptive = suite.confirm is not None and suite.confirm.seeds == "adaptive"
    design = {"analysis_alpha": suite.analysis.alpha,
              "confirm_max_seeds": suite.confirm.max_seeds if adaptive else None,
              "confirm_step": suite.confirm.step if adaptive else None}
    trials: list[Trial] = []
    for ds, gan, arch in itertools.product(suite.datasets, suite.gans, suite.architectures):
        info = dataset_info(ds.name, ds.options)
        variant = VARIANTS.get(gan.variant)
        blocks = [variant.defaults, suite.hparams, arch.hparams, gan.hparams]
        fixed, grid, dists = resolve_space(blocks)
        eval_cfg = _resolve_eval(suite, info, ds.extractor)
        draws = draw_samples(suite.search, (ds.name, gan.name, arch.name), dists, search_defaults(blocks))
        penalties = normal_penalties(gan.penalties if gan.penalties is not None else variant.penalties,
                                     f"suite {suite.name!r}: gans entry {gan.name!r}: penalties")
        penalty = "+".join(penalties) if penalties else variant.penalty
        grid_points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        for sample, (draw, point) in enumerate(itertools.product(draws, grid_points)):
            try:
                hp = HParams(**{**fixed, **point, **draw}).model_dump()
            except Exception as err:  # a value valid alone but not together
                raise GanbenchError(f"suite {suite.name!r}: gans entry {gan.name!r}: {err}") from None
            for seed in suite.seeds:
                trials.append(Trial(
                    suite=suite.name, dataset=ds.name, gan=gan.name, variant=variant.name, loss=variant.loss,
                    penalty=penalty, penalties=penalties, architecture=arch.name, seed=seed, sample=sample, hparams=hp,
                    budget_unit=suite.budget.unit, budget_steps=suite.budget.steps, eval=eval_cfg,
                    dataset_options=dict(ds.options), loss_options={**variant.loss_options, **gan.loss_options},
                    penalty_options={**variant.penalty_options, **gan.penalty_options},
                    searched=tuple(sorted([*grid, *dists])), analysis_margin=suite.analysis.margin.get(ds.name),
                    **design))
    ids = [t.id for t in trials]
    if len(set(ids)) != len(ids):
        raise GanbenchError(f"suite {suite.name!r} expands to duplicate trials; check for repeated entries")
    return trials


def _resolve_eval(suite: Suite, info, ds_extractor=None) -> EvalSettings:
    e = suite.eval
    metrics = list(e.metrics) if e.metrics else list(info.default_metrics)
    from ganbench.evaluation import METRICS

    metrics = [m for m in metrics if METRICS.get(m).fits(info.kind)] or list(info.default_metrics)
    extractor = (ds_extractor or e.extractor or info.default_extractor) if info.kind == "image" else None
    outputs = {o for m in metrics for o in METRICS.get(m).outputs}
    primary = e.primary if e.primary in outputs else info.primary
    return EvalSettings(every_d_steps=e.every_d_steps, every_g_steps=e.every_g_steps, n_samples=e.n_samples,
                        n_real=e.n_real, metrics=tuple(metrics), extractor=extractor, primary=primary,
                        patience=e.patience, milestones=resolve_milestones(suite))


def resolve_milestones(suite: Suite) -> tuple:
    """The suite's ``analysis.milestones`` as sorted ((unit, value), ...): a fraction becomes a value in the
    budget's unit; a milestone past the budget is dropped (the trial never gets there)."""
    out = set()
    for item in suite.analysis.milestones:
        unit, value = milestone_of(item)
        if unit is None:
            unit, value = suite.budget.unit, value * suite.budget.steps
        if unit == suite.budget.unit and value > suite.budget.steps:
            continue
        out.add((unit, float(value)))
    return tuple(sorted(out))


def confirm_trials(chosen: Trial, seeds: list[int]) -> list[Trial]:
    """Phase 2: the chosen search trial's configuration on each of ``seeds`` (fresh seeds)."""
    return [replace(chosen, seed=seed, phase="confirm") for seed in seeds]
