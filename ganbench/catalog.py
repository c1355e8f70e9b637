"""What ``ganbench list`` and ``ganbench show`` print: every registry's names with their descriptions (each loss,
penalty, training option, transform and metric names its paper), a variant's every resolved default, and what any
other registered name is. Imports are deferred, as in cli.py, so that ``ganbench --help`` stays fast."""
from __future__ import annotations

from ganbench.registry import GanbenchError, unknown_name


def list_lines() -> list[str]:
    """Every registry's names with their descriptions, as ``ganbench list`` prints them."""
    from ganbench.datasets import DATASETS
    from ganbench.evaluation import METRICS
    from ganbench.evaluation.extractors import EXTRACTORS
    from ganbench.zoo.losses import LOSSES
    from ganbench.zoo.models import ARCHITECTURES
    from ganbench.zoo.options import OPTIONS, TRANSFORMS
    from ganbench.zoo.penalties import PENALTIES
    from ganbench.zoo.variants import VARIANTS

    sections = (
        ("GAN variants", "ganbench show VARIANT prints every resolved default", VARIANTS), ("losses", "", LOSSES),
        ("penalties", "", PENALTIES),
        ("training options", "hyperparameters of any variant; ganbench show NAME", OPTIONS),
        ("augmentation transforms", "augment_policy: a comma-separated list of these", TRANSFORMS),
        ("architectures", "", ARCHITECTURES),
        ("datasets", "[offline]: no network needed; [download]: fetched on first use unless its files are in the data "
                     "directory", DATASETS),
        ("metrics", "", METRICS), ("feature extractors", "", EXTRACTORS))
    lines = []
    for title, note, reg in sections:
        lines.append(f"{title}:" + (f" ({note})" if note else ""))
        width = max(len(n) for n in reg.names())
        for name in reg.names():
            mark = f"[{dataset_access(DATASETS.get(name))}] " if reg is DATASETS else ""
            lines.append(f"  {name:<{width}}  {mark}{reg.help(name)}")
    return lines


def dataset_access(dataset) -> str:
    """'offline' when a dataset needs no download (generated or bundled, or your own files), else 'download'."""
    return "download" if "download" in dataset.option_defaults else "offline"


def describe_variant(name: str) -> list[str]:
    """Every resolved default of a variant: each HParams field (``*`` = set by the preset), the loss and the
    penalty with every option."""
    from ganbench.suite.plan import normal_penalties
    from ganbench.suite.schema import HParams
    from ganbench.zoo.losses import LOSSES, get_loss
    from ganbench.zoo.penalties import PENALTIES, get_penalty
    from ganbench.zoo.variants import VARIANTS

    v = VARIANTS.get(name)
    hp = HParams(**v.defaults).model_dump()

    def options(opts: dict) -> str:
        return ", ".join(f"{k}={val!r}" for k, val in opts.items()) or "no options"

    loss = get_loss(v.loss, **v.loss_options)
    by_hparam = ", ".join(h if h == o else f"{h} ({o})" for o, h in loss.HPARAM_OPTIONS.items())
    by_hparam = f"; set by the hyperparameters {by_hparam}" if by_hparam else ""
    lines = [f"{name}: {VARIANTS.help(name)}", f"reference: {v.reference or '-'}",
             f"loss: {v.loss} ({'autoencoder reconstruction; ' if loss.d_output == 'autoencoder' else ''}"
             f"{options(loss.options)}{by_hparam}): {LOSSES.help(v.loss)}"]
    for pen, spec in (normal_penalties(v.penalties, name) if v.penalties else
                      {v.penalty: {"weight": "penalty_weight", **v.penalty_options}}).items():
        weight = spec["weight"] if not isinstance(spec["weight"], str) else f"{spec['weight']}={hp[spec['weight']]!r}"
        opts = get_penalty(pen, **{k: val for k, val in spec.items() if k != "weight"}).options
        lines.append(f"penalty: {pen} ({options(opts)}), weight {weight}: {PENALTIES.help(pen)}")
    lines.append("hyperparameters (* set by the preset, others HParams defaults):")
    width = max(len(k) for k in hp)
    lines += [f"  {k:<{width}}  {val!r}{'  *' if k in v.defaults else ''}" for k, val in hp.items()]
    return lines


def describe_part(name: str) -> list[str]:
    """A registered loss, penalty, training option, augmentation transform, metric or feature extractor: its kind
    and its description (which names its paper)."""
    from ganbench.evaluation import METRICS
    from ganbench.evaluation.extractors import EXTRACTORS
    from ganbench.zoo.losses import LOSSES
    from ganbench.zoo.options import OPTIONS, TRANSFORMS
    from ganbench.zoo.penalties import PENALTIES
    from ganbench.zoo.variants import VARIANTS

    registries = (LOSSES, PENALTIES, OPTIONS, TRANSFORMS, METRICS, EXTRACTORS)
    found = [f"{name} ({reg.kind}): {reg.help(name)}" for reg in registries if name in reg.names()]
    if not found:
        allowed = sorted({n for reg in (VARIANTS, *registries) for n in reg.names()})
        raise GanbenchError(unknown_name("name", name, allowed))
    return found
