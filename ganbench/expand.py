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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ganbench.config import HParams, SearchSpec, Suite
from ganbench.datasets import dataset_info
from ganbench.registry import GanbenchError
from ganbench.searchspace import Distribution, looks_like_expression, parse_expression
from ganbench.variants import VARIANTS


# hyperparameters added after trial ids were first published, with their defaults: left out of a trial's identity at
# that default, so the ids of earlier trials do not move (a new field belongs here when its default keeps old behaviour)
LATER_HPARAMS = {"reuse_z": False, "bn_style": "torch", "pac": 1}


@dataclass(frozen=True)
class Trial:
    suite: str
    dataset: str
    gan: str  # the suite's name for the entry
    variant: str  # the registered preset
    loss: str
    penalty: str
    architecture: str
    seed: int
    sample: int  # index of the search sample
    hparams: dict  # every HParams field, resolved
    budget_unit: str  # d_steps | g_steps
    budget_steps: int
    eval: dict  # resolved: every_d_steps, every_g_steps, n_samples, n_real, metrics, extractor, primary
    dataset_options: dict = field(default_factory=dict)
    loss_options: dict = field(default_factory=dict)
    penalty_options: dict = field(default_factory=dict)
    searched: tuple = ()  # names of the searched hyperparameters (for display; not part of the identity)

    def identity(self) -> dict:
        d = asdict(self)
        d.pop("suite")
        d.pop("searched")
        d["hparams"] = {k: v for k, v in d["hparams"].items()
                        if not (k in LATER_HPARAMS and v == LATER_HPARAMS[k])}
        return d

    @property
    def id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        return cls(**{**d, "searched": tuple(d.get("searched", ()))})

    def describe(self) -> str:
        searched = ", ".join(f"{k}={_fmt(v)}" for k, v in self.hparams.items()
                             if k in self.searched)
        return (f"{self.id}  {self.dataset:<10} {self.gan:<10} {self.architecture:<8} seed={self.seed} "
                f"sample={self.sample} {self.budget_unit}={self.budget_steps}" + (f"  {searched}" if searched else ""))


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


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


def expand(suite: Suite) -> list[Trial]:
    trials: list[Trial] = []
    for ds, gan, arch in itertools.product(suite.datasets, suite.gans, suite.architectures):
        info = dataset_info(ds.name, ds.options)
        variant = VARIANTS.get(gan.variant)
        blocks = [variant.defaults, suite.hparams, arch.hparams, gan.hparams]
        fixed, grid, dists = resolve_space(blocks)
        eval_cfg = _resolve_eval(suite, info, ds.extractor)
        draws = draw_samples(suite.search, (ds.name, gan.name, arch.name), dists, search_defaults(blocks))
        grid_points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        for sample, (draw, point) in enumerate(itertools.product(draws, grid_points)):
            try:
                hp = HParams(**{**fixed, **point, **draw}).model_dump()
            except Exception as err:  # a value valid alone but not together
                raise GanbenchError(f"suite {suite.name!r}: gans entry {gan.name!r}: {err}") from None
            for seed in suite.seeds:
                trials.append(Trial(
                    suite=suite.name, dataset=ds.name, gan=gan.name, variant=variant.name, loss=variant.loss,
                    penalty=variant.penalty, architecture=arch.name, seed=seed, sample=sample, hparams=hp,
                    budget_unit=suite.budget.unit, budget_steps=suite.budget.steps, eval=dict(eval_cfg),
                    dataset_options=dict(ds.options), loss_options={**variant.loss_options, **gan.loss_options},
                    penalty_options={**variant.penalty_options, **gan.penalty_options}, searched=tuple(sorted([*grid, *dists]))))
    ids = [t.id for t in trials]
    if len(set(ids)) != len(ids):
        raise GanbenchError(f"suite {suite.name!r} expands to duplicate trials; check for repeated entries")
    return trials


def _resolve_eval(suite: Suite, info, ds_extractor=None) -> dict:
    e = suite.eval
    metrics = list(e.metrics) if e.metrics else list(info.default_metrics)
    from ganbench.evaluation import METRICS

    metrics = [m for m in metrics if METRICS.get(m).kind == info.kind] or list(info.default_metrics)
    extractor = (ds_extractor or e.extractor or info.default_extractor) if info.kind == "image" else None
    outputs = {o for m in metrics for o in METRICS.get(m).outputs}
    primary = e.primary if e.primary in outputs else info.primary
    return {"every_d_steps": e.every_d_steps, "every_g_steps": e.every_g_steps, "n_samples": e.n_samples,
            "n_real": e.n_real, "metrics": metrics, "extractor": extractor, "primary": primary}
