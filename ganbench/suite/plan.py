"""A trial's plan: what one trial trains and how it is scored, typed, and the checks that need the registries.

``Trial`` is what expansion produces and what the trainer consumes (it travels to Ray workers as a dict). Its id is
a hash of its identity (everything but the suite's name and the display-only ``searched``), so a trial keeps its id
across runs, resources and packing. ``trial.hp`` gives the hyperparameters typed (``HParams``); ``trial.eval`` is an
``EvalSettings``. ``arch_options`` lives here, next to expansion, so that validating a suite never imports the
trainer; the checks of a trial are in ``ganbench.suite.checks``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any, Optional

from ganbench.suite.schema import HParams
from ganbench.registry import GanbenchError

# hyperparameters that act elementwise in the optimiser: trials differing only in these (and the seed) can be
# trained as one pack (ganbench.training.members)
# hyperparameters added after trial ids were first published, with their defaults: left out of a trial's identity at
# that default, so the ids of earlier trials do not move (a new field belongs here when its default keeps old behaviour)
LATER_HPARAMS = {"reuse_z": False, "bn_style": "torch", "pac": 1,
                 "augment": "none", "augment_policy": None, "ada_target": 0.6, "ada_kimg": 500.0, "ada_interval": 4,
                 "cr_weight": 0.0, "bcr_weight": 0.0, "ema_half_life_images": None, "ema_rampup": None,
                 "ema_eval": "instead"}
PACKABLE_HPARAMS = ("lr", "lr_g", "lr_d", "beta1", "beta2", "beta1_g", "beta1_d", "beta2_g", "beta2_d")


@dataclass(frozen=True)
class EvalSettings:
    """How a trial is scored: when (every D or G steps), on how many samples, with which metrics and extractor."""

    every_d_steps: Optional[int]
    every_g_steps: Optional[int]
    n_samples: int
    n_real: Optional[int]
    metrics: tuple[str, ...]
    extractor: Optional[str]
    primary: str
    patience: Optional[int] = None  # stop after this many evaluations without improvement (exploration suites)
    # budget milestones ((unit, value), ...): the best-so-far generator (chosen on validation) scored on test there
    milestones: tuple = ()

    @classmethod
    def from_dict(cls, d: dict) -> "EvalSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in d.items() if k in known}, "metrics": tuple(d["metrics"]),
                      "milestones": tuple((u, float(v)) for u, v in d.get("milestones") or ())})

    def to_dict(self) -> dict:
        return {**asdict(self), "metrics": list(self.metrics), "milestones": [list(m) for m in self.milestones]}


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
    budget_unit: str  # d_steps | g_steps | images | seconds | flops
    budget_steps: int  # the budget, in budget_unit
    eval: EvalSettings
    dataset_options: dict = field(default_factory=dict)
    loss_options: dict = field(default_factory=dict)
    penalty_options: dict = field(default_factory=dict)
    # several penalties (a variant's ``penalties``): name -> {"weight": number or hyperparameter name, **options};
    # ``penalty`` then names them joined by "+", for display. Empty (the single ``penalty``) is left out of the id.
    penalties: dict = field(default_factory=dict)
    searched: tuple = ()  # names of the searched hyperparameters (for display; not part of the identity)
    phase: str = "search"  # "search", or "confirm": the configuration chosen on validation, on a fresh seed
    analysis_margin: Optional[float] = None  # the suite's equivalence margin for this dataset (analysis only)
    # the design the verdicts are judged by (analysis only): the suite's alpha, and for adaptive confirmation the
    # sequential rule's looks (every confirm_step seeds up to confirm_max_seeds); the report reads them from trials.csv
    analysis_alpha: Optional[float] = None
    confirm_max_seeds: Optional[int] = None
    confirm_step: Optional[int] = None

    def identity(self) -> dict:
        d = asdict(self)
        d.pop("suite")
        d.pop("searched")
        for key in ("analysis_margin", "analysis_alpha", "confirm_max_seeds", "confirm_step"):
            d.pop(key)  # how results are judged, not what is trained
        if d["phase"] == "search":  # added later: absent from the ids of search trials
            d.pop("phase")
        else:  # a confirmation trial is its configuration and seed, whichever search sample found it
            d.pop("sample")
        if not d["eval"].get("milestones"):  # added later: absent from the ids of trials without milestones
            d["eval"].pop("milestones", None)
        d["hparams"] = {k: v for k, v in d["hparams"].items() if not (k in LATER_HPARAMS and v == LATER_HPARAMS[k])}
        if d["eval"].get("patience") is None:  # added later: absent from the ids of trials without it
            d["eval"].pop("patience", None)
        if not d["penalties"]:  # added later: absent from the ids of trials with one penalty
            d.pop("penalties")
        return d

    def regularisers(self) -> list[tuple[str, dict, float]]:
        """(penalty name, its options, its weight) for every penalty added to D's loss with a weight > 0."""
        if not self.penalties:
            if self.penalty == "none" or not self.hp.penalty_weight > 0:
                return []
            return [(self.penalty, dict(self.penalty_options), self.hp.penalty_weight)]
        out = []
        for name, spec in self.penalties.items():
            options = {k: v for k, v in spec.items() if k != "weight"}
            weight = spec["weight"]
            weight = float(getattr(self.hp, weight) if isinstance(weight, str) else weight)
            if weight > 0:
                out.append((name, options, weight))
        return out

    @property
    def id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @cached_property
    def hp(self) -> HParams:
        return HParams(**self.hparams)

    def pack_key(self) -> str:
        """Trials with the same key can be trained as one pack: they differ at most in the seed, the search sample
        and optimiser settings that act elementwise (learning rates, Adam betas)."""
        d = self.identity()
        for k in ("seed", "sample"):
            d.pop(k, None)
        d["hparams"] = {k: v for k, v in d["hparams"].items() if k not in PACKABLE_HPARAMS}
        return json.dumps(d, sort_keys=True, default=str)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eval"] = self.eval.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        ev = d["eval"] if isinstance(d["eval"], EvalSettings) else EvalSettings.from_dict(d["eval"])
        return cls(**{**d, "eval": ev, "searched": tuple(d.get("searched", ()))})

    def configuration(self) -> str:
        """The searched hyperparameters' values, e.g. ``lr=0.0002, beta1=0.5`` ('' when nothing is searched)."""
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.hparams.items() if k in self.searched)

    def describe(self) -> str:
        searched = self.configuration()
        what = "confirm" if self.phase == "confirm" else f"sample={self.sample}"
        return (f"{self.id}  {self.dataset:<10} {self.gan:<10} {self.architecture:<8} seed={self.seed} "
                f"{what} {self.budget_unit}={self.budget_steps}" + (f"  {searched}" if searched else ""))


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


WEIGHT_HPARAMS = ("penalty_weight",)  # hyperparameters a penalty's weight may name (searchable, shared)


def normal_penalties(spec: dict, where: str) -> dict[str, dict]:
    """A variant's or gans entry's ``penalties`` in one form: name -> {"weight": w, **options}, where each value
    was a weight (a number >= 0 or a hyperparameter of WEIGHT_HPARAMS) or a mapping with a ``weight`` and options."""
    out = {}
    for name, value in spec.items():
        options = dict(value) if isinstance(value, dict) else {"weight": value}
        weight = options.get("weight")
        number = isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight >= 0
        if not number and weight not in WEIGHT_HPARAMS:
            raise GanbenchError(f"{where}.{name}: weight={weight!r} is not allowed; allowed values: a number >= 0 or "
                                f"{', '.join(WEIGHT_HPARAMS)} (the hyperparameter), alone or as {{weight: ..., "
                                f"option: value}}")
        out[str(name)] = options
    return out


def arch_options(trial: Trial):
    """The architecture options of a trial: its hyperparameters (``ARCH_HPARAMS``: normalisation, width, conditioning,
    PacGAN's ``pac``, ``bn_style``), plus what its loss needs of D (an autoencoder for BEGAN)."""
    from ganbench.zoo.losses import loss_class
    from ganbench.zoo.models import ArchOptions

    return ArchOptions.from_hparams(trial.hparams, loss_class(trial.loss).d_output)
