"""Suite files: load (safe YAML), validate (one model per level, unknown keys are errors) and describe.

Every error names the file and the field path, e.g. ``suites/x.yaml: hparams.lrr: unknown field (did you mean 'lr'?)``.
Precedence of hyperparameters, lowest first: ``HParams`` defaults < the GAN variant's preset < suite ``hparams`` <
the architecture entry's ``hparams`` < the GAN entry's ``hparams`` < command-line ``--set``.
"""
from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ganbench.registry import GanbenchError
from ganbench.searchspace import looks_like_expression, parse_expression


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    # architecture options (see ganbench.models.ArchOptions)
    d_norm: Literal["none", "batch", "layer", "spectral"] = "none"
    g_norm: Literal["none", "batch"] = "batch"
    activation: Literal["lrelu", "relu"] = "lrelu"
    downsample: Literal["stride", "avgpool"] = "stride"
    width: int = Field(64, ge=1)
    conditioning: Literal["none", "concat", "projection"] = "none"
    bn_style: Literal["torch", "compare_gan"] = "torch"  # batch norm: PyTorch's, or decay 0.999 / eps 1e-3 / scale 1
    pac: int = Field(1, ge=1)  # PacGAN packing: D judges pac samples at once; the trainer draws batch_size * pac


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
    d_steps: Optional[int] = Field(None, ge=1)
    g_steps: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_unit(self):
        if (self.d_steps is None) == (self.g_steps is None):
            raise ValueError("give exactly one of d_steps or g_steps")
        return self

    @property
    def unit(self) -> str:
        return "d_steps" if self.d_steps is not None else "g_steps"

    @property
    def steps(self) -> int:
        return self.d_steps if self.d_steps is not None else self.g_steps


class EvalSpec(Strict):
    every_d_steps: Optional[int] = Field(None, ge=1)
    every_g_steps: Optional[int] = Field(None, ge=1)
    n_samples: int = Field(2500, ge=2)  # generated samples scored at each evaluation
    n_real: Optional[int] = Field(None, ge=2)  # real samples for reference statistics; default: min(n_samples, split)
    metrics: Optional[list[str]] = None  # default: the dataset's
    extractor: Optional[str] = None  # default: the dataset's
    primary: Optional[str] = None  # metric that picks the best checkpoint; default: the dataset's

    @model_validator(mode="after")
    def _one_every(self):
        if self.every_d_steps is not None and self.every_g_steps is not None:
            raise ValueError("give at most one of every_d_steps or every_g_steps")
        return self


class ResourcesSpec(Strict):
    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


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
class SuiteLoader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


SuiteLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$"
               r"|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(error: dict, model_fields: list[str]) -> str:
    path = _field_path(error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, model_fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{path}: unknown field{hint}"
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        msg = "required field is missing"
    if "input" in error and error["type"] not in ("missing", "model_attributes_type"):
        shown = repr(error["input"])
        msg += f" (got {shown[:60]})"
    return f"{path}: {msg}" if path else msg


def validation_message(source: str, err: ValidationError, fields: list[str]) -> str:
    errors = err.errors()
    first = _describe(errors[0], fields)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {first}{more}"


_ALL_FIELDS = sorted(
    set(Suite.model_fields) | set(HParams.model_fields) | set(EvalSpec.model_fields) | set(BudgetSpec.model_fields)
    | set(ResourcesSpec.model_fields) | set(SearchSpec.model_fields) | {"options", "preset"}
)


def check_hparams_block(block: Any, where: str) -> None:
    """Validate one hyperparameter block (literals, YAML-list grids, distribution expressions) on its own, so an
    error names the block it comes from."""
    if not isinstance(block, dict):
        raise GanbenchError(f"{where}: expected a mapping of hyperparameters, got {type(block).__name__}")
    for key, value in block.items():
        path = f"{where}.{key}"
        if key not in HParams.model_fields:
            close = difflib.get_close_matches(str(key), HPARAM_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GanbenchError(f"{path}: unknown hyperparameter{hint}; allowed: {', '.join(HPARAM_NAMES)}")
        if isinstance(value, list):
            if not value:
                raise GanbenchError(f"{path}: an empty grid")
            candidates = value
        elif looks_like_expression(value):
            dist = parse_expression(value, path)
            candidates = _support_ends(dist)
        else:
            candidates = [value]
        for candidate in candidates:
            try:
                HParams(**{key: candidate})
            except ValidationError as err:
                raise GanbenchError(f"{path}: {_describe(err.errors()[0], []).split(': ', 1)[-1]}") from None


def _support_ends(dist) -> list:
    """The values a distribution can take that bound its support: choice's options, randint's lo and hi - 1, and
    lo and the largest float below hi for the half-open uniform and loguniform (uniform(0, 1) for beta1 < 1)."""
    if dist.kind == "choice":
        return list(dist.args[0])
    lo, hi = dist.args
    if dist.kind == "randint":
        return [lo, hi - 1]
    return [lo, math.nextafter(hi, lo)]


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """Load and validate a suite file. ``overrides`` are ``key=value`` strings (``--set``) applied to hparams
    (``lr=1e-4``) or to top-level sections (``budget.d_steps=200``), values parsed as YAML scalars."""
    path = Path(path)
    if not path.is_file():
        raise GanbenchError(f"{path}: no such suite file")
    try:
        raw = yaml.load(path.read_text(), Loader=SuiteLoader)  # safe: SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise GanbenchError(f"{path}:{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(raw, dict):
        raise GanbenchError(f"{path}: a suite file is a YAML mapping (name, datasets, gans, architectures, budget, ...)")
    for item in overrides or []:
        _apply_override(raw, item, path)
    try:
        suite = Suite(**raw)
    except ValidationError as err:
        raise GanbenchError(validation_message(str(path), err, _ALL_FIELDS)) from None
    check_names(suite, str(path))
    return suite


def _apply_override(raw: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise GanbenchError(f"--set {item!r}: expected KEY=VALUE, e.g. lr=1e-4 or budget.d_steps=200")
    key, value = item.split("=", 1)
    parsed = yaml.load(value, Loader=SuiteLoader) if value.strip() else None
    parts = key.strip().split(".")
    if len(parts) == 1 and parts[0] in HParams.model_fields:
        raw.setdefault("hparams", {})
        raw["hparams"][parts[0]] = parsed
        return
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise GanbenchError(f"--set {item!r}: {part} is not a section of {path}")
    node[parts[-1]] = parsed


def check_names(suite: Suite, source: str) -> None:
    """Check every registered name and hyperparameter block of a suite (imports the plug-in registries)."""
    from ganbench import datasets, evaluation, models, variants

    for i, d in enumerate(suite.datasets):
        _named(datasets.DATASETS, d.name, f"{source}: datasets[{i}].name")
        datasets.DATASETS.get(d.name).check_options(d.options, f"{source}: datasets[{i}].options")
        if d.extractor is not None:
            _named(evaluation.EXTRACTORS, d.extractor, f"{source}: datasets[{i}].extractor")
    for i, g in enumerate(suite.gans):
        _named(variants.VARIANTS, g.variant, f"{source}: gans[{i}].{'preset' if g.preset else 'name'}")
        check_hparams_block(g.hparams, f"{source}: gans[{i}].hparams")
        _check_options(g, variants.VARIANTS.get(g.variant), f"{source}: gans[{i}]")
    for i, a in enumerate(suite.architectures):
        _named(models.ARCHITECTURES, a.name, f"{source}: architectures[{i}].name")
        check_hparams_block(a.hparams, f"{source}: architectures[{i}].hparams")
    check_hparams_block(suite.hparams, f"{source}: hparams")
    kinds = {datasets.dataset_info(d.name, d.options).kind for d in suite.datasets}
    for m in suite.eval.metrics or []:
        _named(evaluation.METRICS, m, f"{source}: eval.metrics")
        if evaluation.METRICS.get(m).kind not in kinds:
            raise GanbenchError(f"{source}: eval.metrics: {m!r} scores {evaluation.METRICS.get(m).kind} datasets and "
                                f"this suite has none (its datasets: {', '.join(d.name for d in suite.datasets)})")
    if suite.eval.primary is not None:
        outputs = {o for m in evaluation.METRICS.names() for o in evaluation.METRICS.get(m).outputs}
        if suite.eval.primary not in outputs:
            raise GanbenchError(f"{source}: eval.primary: unknown metric value {suite.eval.primary!r}; allowed: "
                                f"{', '.join(sorted(outputs))}")
    if suite.eval.extractor is not None:
        _named(evaluation.EXTRACTORS, suite.eval.extractor, f"{source}: eval.extractor")


def _check_options(gan: GanSpec, variant, where: str) -> None:
    from ganbench.losses import get_loss
    from ganbench.penalties import get_penalty

    if variant.loss == "began":
        if gan.loss_options:
            raise GanbenchError(f"{where}.loss_options: BEGAN takes no loss options (its knobs are hyperparameters "
                                f"began_gamma, began_lambda_k, began_k_clip)")
        return
    try:
        get_loss(variant.loss, **{**variant.loss_options, **gan.loss_options})
    except GanbenchError as err:
        raise GanbenchError(f"{where}.loss_options: {err}") from None
    try:
        get_penalty(variant.penalty, **{**variant.penalty_options, **gan.penalty_options})
    except GanbenchError as err:
        raise GanbenchError(f"{where}.penalty_options: {err}") from None


def _named(registry, name: str, where: str) -> None:
    if name not in registry:
        raise GanbenchError(f"{where}: {registry.unknown_message(name)}")
