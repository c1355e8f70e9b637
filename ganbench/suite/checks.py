"""Every check of a suite before anything runs: hyperparameter blocks, registered names and their options,
resources, phases (at load, ``check_suite``) and each expanded trial (``check_trials``: cross-field checks,
evaluation, a model build per architecture). The trainer trusts a checked ``Trial``. (The trial count is checked
where the suite is expanded: ``ganbench.suite.expand.check_trial_count``.)

Errors are one line that names the file (or the ``--set`` item), the field and what is allowed.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Optional

from pydantic import ValidationError

from ganbench.registry import GanbenchError, unknown_name
from ganbench.suite.file import describe, label_for
from ganbench.suite.plan import Trial, arch_options
from ganbench.suite.schema import HPARAM_NAMES, GanSpec, HParams, Suite
from ganbench.suite.searchspace import looks_like_expression, parse_expression


def check_suite(suite: Suite, source: str, blame: Optional[dict] = None) -> None:
    """The checks a suite passes when it is loaded (``load_suite``): names, resources, phases."""
    check_names(suite, source, blame)
    check_resources(suite, source, blame)
    check_phases(suite, source, blame)


def check_hparams_block(block: Any, where: str) -> None:
    """Validate one hyperparameter block (literals, YAML-list grids, distribution expressions) on its own, so an
    error names the block it comes from."""
    if not isinstance(block, dict):
        raise GanbenchError(f"{where}: expected a mapping of hyperparameters, got {type(block).__name__}")
    for key, value in block.items():
        path = f"{where}.{key}"
        if key not in HParams.model_fields:
            raise GanbenchError(f"{where}: {unknown_name('hyperparameter', key, HPARAM_NAMES)}")
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
                raise GanbenchError(f"{path}: {describe(err.errors()[0], HParams).split(': ', 1)[-1]}") from None


def _support_ends(dist) -> list:
    """The values a distribution can take that bound its support: choice's options, randint's lo and hi - 1, and
    lo and the largest float below hi for the half-open uniform and loguniform (uniform(0, 1) for beta1 < 1)."""
    if dist.kind == "choice":
        return list(dist.args[0])
    lo, hi = dist.args
    if dist.kind == "randint":
        return [lo, hi - 1]
    return [lo, math.nextafter(hi, lo)]


def check_names(suite: Suite, source: str, blame: Optional[dict] = None) -> None:
    """Check every registered name and hyperparameter block of a suite (imports the plug-in registries)."""
    from ganbench import datasets, evaluation
    from ganbench.evaluation.extractors import EXTRACTORS
    from ganbench.zoo import models, variants

    def at(field: str) -> str:
        return f"{label_for(field, source, blame)}: {field}"

    for i, d in enumerate(suite.datasets):
        _named(datasets.DATASETS, d.name, at(f"datasets[{i}].name"))
        datasets.DATASETS.get(d.name).check_options(d.options, at(f"datasets[{i}].options"))
        if d.extractor is not None:
            _named(EXTRACTORS, d.extractor, at(f"datasets[{i}].extractor"))
    for i, g in enumerate(suite.gans):
        _named(variants.VARIANTS, g.variant, at(f"gans[{i}].{'preset' if g.preset else 'name'}"))
        check_hparams_block(g.hparams, at(f"gans[{i}].hparams"))
        _check_options(g, variants.VARIANTS.get(g.variant), at(f"gans[{i}]"))
    for i, a in enumerate(suite.architectures):
        _named(models.ARCHITECTURES, a.name, at(f"architectures[{i}].name"))
        check_hparams_block(a.hparams, at(f"architectures[{i}].hparams"))
    check_hparams_block(suite.hparams, at("hparams"))
    kinds = set()
    for i, d in enumerate(suite.datasets):
        try:
            kinds.add(datasets.dataset_info(d.name, d.options).kind)
        except GanbenchError as err:  # e.g. an imagefolder whose path is not a folder
            raise GanbenchError(f"{at(f'datasets[{i}]')}: {err}") from None
    for m in suite.eval.metrics or []:
        _named(evaluation.METRICS, m, at("eval.metrics"))
        if not any(evaluation.METRICS.get(m).fits(k) for k in kinds):
            raise GanbenchError(f"{at('eval.metrics')}: {m!r} scores {evaluation.METRICS.get(m).kind} datasets and "
                                f"this suite has none (its datasets: {', '.join(d.name for d in suite.datasets)})")
    if suite.eval.primary is not None:
        outputs = {o for m in evaluation.METRICS.names() for o in evaluation.METRICS.get(m).outputs}
        if suite.eval.primary not in outputs:
            msg = unknown_name("metric value", suite.eval.primary, sorted(outputs))
            raise GanbenchError(f"{at('eval.primary')}: {msg}")
    if suite.eval.extractor is not None:
        _named(EXTRACTORS, suite.eval.extractor, at("eval.extractor"))


def _check_options(gan: GanSpec, variant, where: str) -> None:
    from ganbench.suite.plan import normal_penalties
    from ganbench.zoo.losses import get_loss, loss_class
    from ganbench.zoo.penalties import PENALTIES, get_penalty

    by_hparam = loss_class(variant.loss).HPARAM_OPTIONS
    for key in gan.loss_options:
        if key in by_hparam:
            raise GanbenchError(f"{where}.loss_options: {key} of loss {variant.loss!r} is set by the hyperparameter "
                                f"{by_hparam[key]}; allowed here: none of {', '.join(by_hparam)}")
    try:
        get_loss(variant.loss, **{**variant.loss_options, **gan.loss_options})
    except GanbenchError as err:
        raise GanbenchError(f"{where}.loss_options: {err}") from None
    penalties = gan.penalties if gan.penalties is not None else variant.penalties
    if penalties and gan.penalty_options:
        raise GanbenchError(f"{where}.penalty_options: this entry has several penalties; give each its options in "
                            f"penalties: {{name: {{weight: ..., option: value}}}}")
    named = normal_penalties(penalties, f"{where}.penalties") if penalties else \
        {variant.penalty: {**variant.penalty_options, **gan.penalty_options}}
    field = "penalties" if penalties else "penalty_options"
    for name, options in named.items():
        if name not in PENALTIES:
            raise GanbenchError(f"{where}.penalties: {PENALTIES.unknown_message(name)}")
        try:
            get_penalty(name, **{k: v for k, v in options.items() if k != "weight"})
        except GanbenchError as err:
            raise GanbenchError(f"{where}.{field}: {err}") from None


def _named(registry, name: str, where: str) -> None:
    if name not in registry:
        raise GanbenchError(f"{where}: {registry.unknown_message(name)}")


def check_resources(suite: Suite, source: str, blame: Optional[dict] = None) -> None:
    """Per-trial resources any Ray can grant: a share of one GPU, or whole GPUs."""
    gpu = suite.resources.gpu
    if gpu > 1 and gpu != int(gpu):
        raise GanbenchError(f"{label_for('resources.gpu', source, blame)}: resources.gpu: {gpu:g} GPUs per trial; "
                            f"allowed: a fraction of one GPU (0.25 packs 4 trials on a GPU) or a whole number")


def local_capacity() -> tuple[float, int]:
    """(CPUs, GPUs) a local Ray started on this machine would offer."""
    try:
        from ray._private.utils import get_num_cpus  # Ray's own count (cgroup limits included)

        cpus = float(get_num_cpus())
    except Exception:  # Ray's private helper moved: the OS's count
        cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    import torch

    return cpus, torch.cuda.device_count()


def check_local_resources(suite: Suite, source: str, num_cpus: Optional[float] = None,
                          capacity: Optional[tuple[float, int]] = None) -> None:
    """Refuse per-trial resources that a local Ray on this machine can never grant (Tune would wait for them
    forever). ``num_cpus``: the ``--num-cpus`` of the local Ray. Not for ``--address``: a cluster has its own."""
    cpus, gpus = capacity if capacity is not None else local_capacity()
    if num_cpus is not None:  # a local Ray offers what --num-cpus says
        cpus = float(num_cpus)
    res = suite.resources
    if res.cpu > cpus:
        raise GanbenchError(f"{source}: resources.cpu: {res.cpu:g} CPUs per trial, but the local Ray has {cpus:g}; "
                            f"allowed: at most {cpus:g} here (or --address of a cluster with larger nodes)")
    if res.gpu > gpus:
        raise GanbenchError(f"{source}: resources.gpu: {res.gpu:g} GPUs per trial, but this machine has {gpus} "
                            f"(torch sees {gpus} CUDA device{'s' if gpus != 1 else ''}); allowed: at most {gpus} here "
                            f"(or --address of a cluster with GPUs)")


def check_phases(suite: Suite, source: str, blame: Optional[dict] = None) -> None:
    """The analysis names datasets of the suite; the confirmation seeds are disjoint from the search's."""
    names = [d.name for d in suite.datasets]
    for field in ("margin", "seed_sd"):
        for key in getattr(suite.analysis, field):
            if key not in names:
                raise GanbenchError(f"{label_for(f'analysis.{field}', source, blame)}: analysis.{field}: "
                                    f"{unknown_name('dataset of this suite', key, names)}")
    if suite.confirm is not None:
        seeds = suite.confirm.seed_list()
        overlap = sorted(set(seeds) & set(suite.seeds))
        if overlap:
            raise GanbenchError(f"{label_for('confirm.seed_offset', source, blame)}: confirm.seed_offset: "
                                f"confirmation seeds {seeds[0]}..{seeds[-1]} overlap the search's seeds {overlap}; "
                                f"allowed: a seed_offset above {max(suite.seeds)} (phase 2 trains on fresh seeds)")
        if suite.resources.early_stopping is not None:
            raise GanbenchError(f"{label_for('resources.early_stopping', source, blame)}: resources.early_stopping: "
                                f"a suite with a confirmation phase trains every trial to its full budget (a stopped "
                                f"search trial would make the choice on cut scores); allowed: early_stopping for "
                                f"exploration suites without confirm")


def check_trial(trial: Trial) -> None:
    """Cross-field checks of one trial that need the registries (before any trial runs; the trainer trusts them)."""
    from ganbench.datasets import dataset_info
    from ganbench.zoo.losses import LOSSES, loss_class

    hp = trial.hp
    if (hp.label_smoothing or hp.label_flip) and not loss_class(trial.loss).takes_label_smoothing:
        takers = [n for n in LOSSES.names() if loss_class(n).takes_label_smoothing]
        raise GanbenchError(f"trial {trial.gan}: label_smoothing and label_flip apply to the BCE losses "
                            f"({', '.join(takers)}), not to {trial.loss!r}")
    info = dataset_info(trial.dataset, trial.dataset_options)
    if hp.conditioning != "none" and not info.num_classes:
        raise GanbenchError(f"trial {trial.gan}: conditioning={hp.conditioning} needs a labelled dataset; "
                            f"{trial.dataset!r} has no labels")
    from ganbench.zoo.augment import check_augment_options
    from ganbench.zoo.losses import LOSSES

    check_augment_options(hp, info, getattr(LOSSES.get(trial.loss), "d_output", "logit"), f"trial {trial.gan}")


def penalty_through_batch_norm(t: Trial, arch) -> str | None:
    """A gradient penalty (a penalty with the ``input_gradients`` trait: gp, dragan, r1, r2) on a D with batch
    norm: the penalty's gradient of one sample's output then depends on the rest of its batch, which per-sample
    penalties assume it does not. Allowed (it is compare_gan's DRAGAN default), but said: on digits, DRAGAN at lambda
    10 with BN in D scored FID 253 to 377 (noise images: 455) where the same GAN without BN scored 3 to 10
    (suites/dragan.yaml, results/README.md)."""
    from ganbench.zoo.penalties import PENALTIES

    names = [name for name, _, _ in t.regularisers() if getattr(PENALTIES.get(name), "input_gradients", False)]
    if names and arch.d_norm == "batch":
        return (f"gans entry {t.gan!r}: the {'+'.join(names)} penalty's gradients pass through batch norm in D, which "
                "couples the samples of a batch; on digits DRAGAN with BN in D stays in the noise band (see "
                "results/README.md, DRAGAN); d_norm: none or layer avoids it")
    return None


def check_trials(trials: list[Trial]) -> None:
    """Every trial of a suite before any runs (``ganbench validate``, ``run``, ``trial``): cross-field checks, the
    evaluation's metrics and weights, one model build per architecture and data shape; a warning, once per GAN entry,
    for a gradient penalty through batch norm."""
    from ganbench.datasets import dataset_info
    from ganbench.evaluation.backbones import check_evaluation
    from ganbench.zoo.models import build_models

    seen, warned = set(), set()
    for t in trials:
        check_trial(t)
        hp = t.hp
        arch = arch_options(t)
        warning = penalty_through_batch_norm(t, arch)
        if warning and t.gan not in warned:
            warned.add(t.gan)
            print(f"ganbench: warning: {warning}", file=sys.stderr)
        info = dataset_info(t.dataset, t.dataset_options)
        if info.kind == "image":  # metrics fit the feature space; a backbone's weights file is in place
            check_evaluation(t.eval.metrics, t.eval.extractor)
        key = (t.architecture, info.shape, arch, hp.z_dim, info.num_classes)
        if key in seen:
            continue
        seen.add(key)
        try:
            build_models(t.architecture, info.shape, hp.z_dim, arch,
                         num_classes=info.num_classes if hp.conditioning != "none" else None)
        except GanbenchError as err:
            raise GanbenchError(f"gans entry {t.gan!r} x architecture {t.architecture!r} on {t.dataset!r}: {err}") \
                from None
