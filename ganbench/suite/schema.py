"""Suite files: load (safe YAML), validate (one model per level, unknown keys are errors) and describe.

Every error names the file (or the ``--set`` item) and the field path, e.g.
``suites/x.yaml: hparams: unknown hyperparameter 'lrr' (did you mean 'lr'?); allowed: ...``.
Precedence of hyperparameters, lowest first: ``HParams`` defaults < the GAN variant's preset < suite ``hparams`` <
the architecture entry's ``hparams`` < the GAN entry's ``hparams`` < command-line ``--set``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from ganbench.registry import GanbenchError, unknown_name
from ganbench.suite.base import BUDGET_UNITS, Strict
from ganbench.suite.file import apply_override, read_yaml, validation_message
from ganbench.suite.study import AnalysisSpec, ConfirmSpec


class HParams(Strict):
    """Every hyperparameter a trial can set; units live in the names."""

    batch_size: int = Field(64, ge=1)
    z_dim: int = Field(64, ge=1)
    z_dist: Literal["normal", "uniform"] = "normal"  # uniform = U(-1, 1), as in Lucic et al.
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = Field(2e-4, gt=0)
    lr_g: Optional[float] = Field(None, gt=0)  # separate learning rates (TTUR); default: lr
    lr_d: Optional[float] = Field(None, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    beta1_g: Optional[float] = Field(None, ge=0, lt=1)  # per-network Adam betas; default: beta1 / beta2
    beta1_d: Optional[float] = Field(None, ge=0, lt=1)
    beta2_g: Optional[float] = Field(None, ge=0, lt=1)
    beta2_d: Optional[float] = Field(None, ge=0, lt=1)
    n_disc: int = Field(1, ge=1)  # D steps per G step
    d_warmup_steps: int = Field(0, ge=0)  # D steps before G is first updated (counted in the D-step budget)
    penalty_weight: float = Field(0.0, ge=0)  # the trainer adds penalty_weight * penalty
    clip: Optional[float] = Field(None, gt=0)  # WGAN weight clipping to [-clip, clip]
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)  # one-sided: real target 1 - s (BCE losses only)
    label_flip: float = Field(0.0, ge=0, lt=0.5)  # probability of flipping a D target (BCE losses only)
    instance_noise: float = Field(0.0, ge=0)  # std of Gaussian noise on D inputs, annealed linearly to 0
    began_gamma: float = Field(0.75, ge=0, le=1)  # BEGAN diversity ratio gamma = E[L(G(z))] / E[L(x)]
    began_lambda_k: float = Field(1e-3, ge=0)  # BEGAN learning rate of the balance term k
    began_k_clip: bool = False  # clip k to [0, 1] as in the BEGAN paper; compare_gan does not
    reuse_z: bool = False  # the G step reuses the z of the D step before it (compare_gan v1, all but WGAN-GP)
    # architecture options (see ganbench.zoo.models.ArchOptions)
    d_norm: Literal["none", "batch", "layer", "spectral"] = "none"
    g_norm: Literal["none", "batch"] = "batch"
    activation: Literal["lrelu", "relu"] = "lrelu"
    downsample: Literal["stride", "avgpool"] = "stride"
    width: int = Field(64, ge=1)
    conditioning: Literal["none", "concat", "projection"] = "none"
    bn_style: Literal["torch", "compare_gan"] = "torch"  # batch norm: PyTorch's, or decay 0.999 / eps 1e-3 / scale 1
    pac: int = Field(1, ge=1)  # PacGAN packing: D judges pac samples at once; the trainer draws batch_size * pac
    # augmentation of D's input, consistency regularisation, generator EMA (ganbench.zoo.augment, training.ema)
    augment: Literal["none", "diffaugment", "ada"] = "none"  # DiffAugment (Zhao et al. 2020) or ADA (Karras et al.)
    augment_policy: Optional[str] = None  # comma-separated transforms; default: the method's (zoo.augment)
    ada_target: float = Field(0.6, gt=0, lt=1)  # ADA: the target of E sign(D(augmented real))
    ada_kimg: float = Field(500.0, gt=0)  # ADA: thousands of real images for p to go from 0 to 1
    ada_interval: int = Field(4, ge=1)  # ADA: D steps between updates of p
    cr_weight: float = Field(0.0, ge=0)  # CR (Zhang et al. 2020) on real images: weight of E (D(x) - D(T(x)))^2
    bcr_weight: float = Field(0.0, ge=0)  # bCR (Zhao et al. 2021): the same on generated images
    ema_half_life_images: Optional[float] = Field(None, gt=0)  # generator EMA's half-life in images; None: off
    ema_rampup: Optional[float] = Field(None, gt=0)  # half-life min(ema_half_life_images, rampup * images so far)
    ema_eval: Literal["instead", "beside"] = "instead"  # score the EMA generator instead of G, or beside it

    @field_validator("augment_policy")
    @classmethod
    def _known_transforms(cls, value):
        if value is not None:
            from ganbench.zoo.augment import parse_policy

            try:
                parse_policy(value)
            except GanbenchError as err:
                raise ValueError(str(err)) from None
        return value


HPARAM_NAMES = tuple(HParams.model_fields)


class DatasetSpec(Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    extractor: Optional[str] = None  # feature extractor for this dataset (wins over eval.extractor)


class GanSpec(Strict):
    name: str
    preset: Optional[str] = None  # the registered variant this entry configures; default: name
    hparams: dict[str, Any] = Field(default_factory=dict)
    loss_options: dict[str, Any] = Field(default_factory=dict)  # e.g. {form: compare_gan} for ls
    penalty_options: dict[str, Any] = Field(default_factory=dict)  # e.g. {form: standard} for dragan
    # several penalties, each with its weight, replacing the variant's: {r1: penalty_weight, lecam: {weight: 0.3}}
    penalties: Optional[dict[str, Any]] = None

    @property
    def variant(self) -> str:
        return self.preset or self.name


class ArchSpec(Strict):
    name: str
    hparams: dict[str, Any] = Field(default_factory=dict)


class SearchSpec(Strict):
    num_samples: int = Field(1, ge=1)  # random draws per dataset x variant x architecture (when any is random)
    seed: int = 0
    first: Literal["random", "defaults"] = "random"  # defaults: sample 0 is the variant's default configuration
    paired: bool = True  # variants share the draws of a hyperparameter searched over the same distribution


class BudgetSpec(Strict):
    """A trial's budget, in exactly one unit: D steps (compare_gan's "steps"), G steps, real images seen by D,
    training seconds (not reproducible: depends on the machine), or FLOPs (matmuls and convolutions of D and G
    steps, penalties' double backward included, counted per trial)."""

    d_steps: Optional[int] = Field(None, ge=1)
    g_steps: Optional[int] = Field(None, ge=1)
    images: Optional[int] = Field(None, ge=1)
    seconds: Optional[float] = Field(None, gt=0)
    flops: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_unit(self):
        given = [u for u in BUDGET_UNITS if getattr(self, u) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(BUDGET_UNITS)}")
        return self

    @property
    def unit(self) -> str:
        return next(u for u in BUDGET_UNITS if getattr(self, u) is not None)

    @property
    def steps(self) -> int | float:
        value = getattr(self, self.unit)
        return int(value) if self.unit == "flops" else value




class EvalSpec(Strict):
    every_d_steps: Optional[int] = Field(None, ge=1)
    every_g_steps: Optional[int] = Field(None, ge=1)
    n_samples: int = Field(2500, ge=2)  # generated samples scored at each evaluation
    n_real: Optional[int] = Field(None, ge=2)  # real samples for reference statistics; default: min(n_samples, split)
    metrics: Optional[list[str]] = None  # default: the dataset's
    extractor: Optional[str] = None  # default: the dataset's
    primary: Optional[str] = None  # metric that picks the best checkpoint; default: the dataset's
    # exploration only: stop a trial once this many evaluations in a row bring no better validation score. Off in
    # comparison suites: it changes the compute each variant gets (the report compares the compute actually used)
    patience: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_every(self):
        if self.every_d_steps is not None and self.every_g_steps is not None:
            raise ValueError("give at most one of every_d_steps or every_g_steps")
        return self


class EarlyStoppingSpec(Strict):
    """Tune's ASHA scheduler on the primary validation metric, for exploration only: a comparison must not cut trials
    on a noisy score, so the default is every trial to its full budget."""

    scheduler: Literal["asha"] = "asha"
    grace_evals: int = Field(1, ge=1)  # evaluation points every trial gets before it can be stopped
    reduction_factor: float = Field(3.0, gt=1)  # ASHA keeps the best 1/reduction_factor at each rung


MAX_PACK = 1024  # trials in one pack, at most


class ResourcesSpec(Strict):
    """How trials run, never what they compute (not part of a trial's identity)."""

    cpu: float = Field(1.0, gt=0)  # per Ray Tune trial (a pack of trials when pack > 1)
    gpu: float = Field(0.0, ge=0)
    # trials trained as one network (same config but seed/lr/betas); auto: as many as the device's free memory
    # holds on a GPU, measured (ganbench.execution.packsize)
    pack: Union[int, Literal["auto"]] = 1
    checkpoint_every_d_steps: Optional[int] = Field(None, ge=1)  # default: about a tenth of the budget
    amp: Optional[Literal["bf16"]] = None  # mixed precision on CUDA
    channels_last: bool = False  # channels-last convolutions on CUDA (single trials)
    compile: bool = False  # torch.compile the networks of single trials
    max_failures: int = Field(3, ge=0)  # Tune restarts of a pack lost to a node or worker failure
    early_stopping: Optional[EarlyStoppingSpec] = None  # off: every trial runs to its full budget

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _bare_scheduler(cls, value):
        return {"scheduler": value} if isinstance(value, str) else value

    @field_validator("pack", mode="before")
    @classmethod
    def _pack_size(cls, value):
        if value == "auto" or (type(value) is int and 1 <= value <= MAX_PACK):
            return value
        raise ValueError(f"allowed: a whole number from 1 to {MAX_PACK}, or auto (on a GPU: as many "
                         f"trials as its free memory holds, measured)")

    @model_validator(mode="after")
    def _early_stopping_single_trials(self):
        if self.early_stopping is not None and self.pack != 1:
            raise ValueError("early_stopping needs pack: 1 (a Tune trial is a whole pack; ASHA would stop every "
                             "member on the first member's score)")
        return self


class LoggingSpec(Strict):
    """Where each trial's evaluation points are also sent (optional extras, never required; not part of a trial's
    identity). TensorBoard: scalars and sample images under ``trials/<id>/tensorboard/``; MLflow: one run per trial
    in the experiment named after the suite (``mlflow_tracking_uri``, else $MLFLOW_TRACKING_URI, else a file store
    ``<results>/mlruns``). See ganbench/training/sinks.py."""

    tensorboard: bool = False
    mlflow: bool = False
    mlflow_tracking_uri: Optional[str] = None
    images: bool = True  # sample grids (images) or scatter figures (2D toys) at every evaluation point


def _listify(value):
    """Entries may be bare names: ``[ns, wgan-gp]`` means ``[{name: ns}, {name: wgan-gp}]``."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


class Suite(Strict):
    name: str
    description: str = ""
    datasets: list[DatasetSpec] = Field(min_length=1)
    gans: list[GanSpec] = Field(min_length=1)
    architectures: list[ArchSpec] = Field(min_length=1)
    hparams: dict[str, Any] = Field(default_factory=dict)
    search: SearchSpec = SearchSpec()
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    budget: BudgetSpec
    eval: EvalSpec = EvalSpec()
    resources: ResourcesSpec = ResourcesSpec()
    logging: LoggingSpec = LoggingSpec()
    confirm: Optional[ConfirmSpec] = None  # phase 2: the chosen configurations on fresh seeds
    analysis: AnalysisSpec = AnalysisSpec()
    data_dir: Optional[str] = None

    @field_validator("datasets", "gans", "architectures", mode="before")
    @classmethod
    def _names(cls, value):
        return _listify(value)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v):
            raise ValueError("use letters, digits, '_', '.' and '-' (it names the results directory)")
        return v

    @model_validator(mode="after")
    def _unique(self):
        for field in ("datasets", "gans", "architectures"):
            names = [e.name for e in getattr(self, field)]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{field}: duplicate name(s) {sorted(dup)}; give repeated presets their own name")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: duplicate seeds")
        return self


# ----------------------------------------------------------------------------------------------------------------
def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Load and validate a suite file. ``overrides`` are ``key=value`` strings (``--set``) applied to hparams
    (``lr=1e-4``) or to fields (``budget.d_steps=200``), values parsed as YAML; a mistake in one is blamed on it."""
    path = Path(path)
    raw = read_yaml(path)
    if raw is None:
        raise GanbenchError(f"{path}: the file is empty; a suite file is a YAML mapping (name, datasets, gans, "
                            f"architectures, budget, ...)")
    if not isinstance(raw, dict):
        raise GanbenchError(f"{path}: a suite file is a YAML mapping (name, datasets, gans, architectures, budget, "
                            f"...), not a {type(raw).__name__}")
    for key in raw:
        if not isinstance(key, str):
            raise GanbenchError(f"{path}: {unknown_name('field', key, Suite.model_fields)}")
    blame: dict[str, str] = {}
    for item in overrides or []:
        set_path = apply_override(raw, item, Suite, HParams)
        blame[set_path] = item
        _one_budget_unit(raw, set_path)
        if set_path.startswith("hparams."):
            from ganbench.suite.checks import check_hparams_block

            check_hparams_block({set_path.split(".", 1)[1]: raw["hparams"][set_path.split(".", 1)[1]]},
                                f"--set {item}: hparams")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as err:
        raise GanbenchError(validation_message(str(path), err, Suite, blame)) from None
    from ganbench.suite.checks import check_suite

    check_suite(suite, str(path), blame)
    return suite


def _one_budget_unit(raw: dict, set_path: str) -> None:
    """``--set budget.d_steps=200`` replaces the budget: units are exclusive, so the file's other unit goes."""
    parts = set_path.split(".")
    if len(parts) == 2 and parts[0] == "budget" and parts[1] in BUDGET_UNITS and isinstance(raw.get("budget"), dict):
        raw["budget"] = {k: v for k, v in raw["budget"].items() if k == parts[1] or k not in BUDGET_UNITS}
