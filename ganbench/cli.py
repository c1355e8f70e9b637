"""The ``ganbench`` command: run, validate, report, list, show, stats."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.registry import GanbenchError


def _cmd_validate(args) -> int:
    from ganbench.config import load_suite
    from ganbench.expand import expand
    from ganbench.runner import preflight

    suite = load_suite(args.suite, args.set)
    trials = expand(suite)
    preflight(trials)
    for t in trials:
        print(t.describe())
    configs = len(trials) // len(suite.seeds)
    print(f"{args.suite}: valid; {len(trials)} trials = {configs} configurations ({len(suite.datasets)} datasets x "
          f"{len(suite.gans)} GANs x {len(suite.architectures)} architectures x search points) x "
          f"{len(suite.seeds)} seeds; budget {suite.budget.unit}={suite.budget.steps}")
    return 0


def _cmd_run(args) -> int:
    from ganbench.config import load_suite
    from ganbench.runner import run_suite

    suite = load_suite(args.suite, args.set)
    results = Path(args.results) if args.results else Path("results") / suite.name
    counts = run_suite(suite, results, address=args.address, max_concurrent=args.max_concurrent,
                       num_cpus=args.num_cpus)
    print(f"next: ganbench report {results}")
    return 0 if not counts.get("failed") else 1


def _cmd_report(args) -> int:
    from ganbench.report import make_report

    results = Path(args.results_dir)
    if not results.is_dir():
        raise GanbenchError(f"{results}: no such results directory")
    path = make_report(results, Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def _cmd_list(args) -> int:
    from ganbench.datasets import DATASETS
    from ganbench.evaluation import METRICS
    from ganbench.extractors import EXTRACTORS
    from ganbench.losses import LOSSES
    from ganbench.models import ARCHITECTURES
    from ganbench.penalties import PENALTIES
    from ganbench.variants import VARIANTS

    sections = (
        ("GAN variants", "ganbench show VARIANT prints every resolved default", VARIANTS), ("losses", "", LOSSES),
        ("penalties", "", PENALTIES), ("architectures", "", ARCHITECTURES),
        ("datasets", "[offline]: no network needed; [download]: fetched on first use unless its files are in the data "
                     "directory", DATASETS),
        ("metrics", "", METRICS), ("feature extractors", "", EXTRACTORS))
    for title, note, reg in sections:
        print(f"{title}:" + (f" ({note})" if note else ""))
        width = max(len(n) for n in reg.names())
        for name in reg.names():
            mark = f"[{dataset_access(DATASETS.get(name))}] " if reg is DATASETS else ""
            print(f"  {name:<{width}}  {mark}{reg.help(name)}")
    return 0


def dataset_access(dataset) -> str:
    """'offline' when a dataset needs no download (generated or bundled, or your own files), else 'download'."""
    return "download" if "download" in dataset.option_defaults else "offline"


def describe_variant(name: str) -> list[str]:
    """Every resolved default of a variant: each HParams field (``*`` = set by the preset), the loss and the
    penalty with every option."""
    from ganbench.config import HParams
    from ganbench.losses import get_loss
    from ganbench.penalties import get_penalty
    from ganbench.variants import VARIANTS

    v = VARIANTS.get(name)
    hp = HParams(**v.defaults).model_dump()

    def options(opts: dict) -> str:
        return ", ".join(f"{k}={val!r}" for k, val in opts.items()) or "no options"

    loss = "autoencoder reconstruction (BEGAN; knobs are the began_* hyperparameters)" if v.loss == "began" else \
        options(get_loss(v.loss, **v.loss_options).options)
    lines = [f"{name}: {VARIANTS.help(name)}", f"reference: {v.reference or '-'}",
             f"loss: {v.loss} ({loss})",
             f"penalty: {v.penalty} ({options(get_penalty(v.penalty, **v.penalty_options).options)}), "
             f"weight penalty_weight={hp['penalty_weight']!r}",
             "hyperparameters (* set by the preset, others HParams defaults):"]
    width = max(len(k) for k in hp)
    lines += [f"  {k:<{width}}  {val!r}{'  *' if k in v.defaults else ''}" for k, val in hp.items()]
    return lines


def _cmd_show(args) -> int:
    for i, name in enumerate(args.variant):
        print(("\n" if i else "") + "\n".join(describe_variant(name)))
    return 0


def _cmd_stats(args) -> int:
    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation import ReferenceKey, compute_reference, reference_n_real
    from ganbench.extractors import get_extractor

    info = dataset_info(args.dataset)
    if info.kind != "image":
        raise GanbenchError(f"dataset {args.dataset!r} is scored against its known modes; it has no reference "
                            f"statistics")
    extractor = get_extractor(args.extractor or info.default_extractor, args.dataset, data_dir=args.data_dir)
    for split in args.split:
        size = len(load_split(args.dataset, split, args.data_dir))
        key = ReferenceKey(args.dataset, (), split, extractor.name, extractor.weights_sha,
                           reference_n_real(args.n, args.n, size))
        path = compute_reference(key, extractor, args.data_dir)
        print(f"{args.dataset} {split}: {extractor.name} n={key.n_real} -> {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganbench", description="Benchmark GAN losses and architectures.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every trial of a suite through Ray Tune")
    run.add_argument("suite", help="suite YAML file")
    run.add_argument("--results", help="results directory (default: results/<suite name>)")
    run.add_argument("--address", help="address of an existing Ray cluster (default: start a local Ray on loopback)")
    run.add_argument("--max-concurrent", type=int, default=None, help="at most this many trials at once")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    val = sub.add_parser("validate", help="check a suite and print its trials without running them")
    val.add_argument("suite")
    for sp in (run, val):
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter (lr=1e-4) or a field (budget.d_steps=200); repeatable")
    rep = sub.add_parser("report", help="aggregate a results directory into report.md, figures and tables")
    rep.add_argument("results_dir")
    rep.add_argument("--out", help="output directory (default: RESULTS_DIR/report)")
    st = sub.add_parser("stats", help="precompute a dataset's reference statistics (pytorch-fid .npz)")
    st.add_argument("dataset")
    st.add_argument("--extractor", help="feature extractor (default: the dataset's)")
    st.add_argument("--split", action="append", choices=["train", "val", "test"], default=None,
                    help="split(s) to compute (default: val and test)")
    st.add_argument("--n", type=int, default=10000, help="number of real images (capped at the split's size)")
    st.add_argument("--data-dir", default=None, help="dataset directory")
    sub.add_parser("list", help="list the registered GAN variants, losses, architectures, datasets and metrics")
    show = sub.add_parser("show", help="print a GAN variant's every resolved default (hyperparameters, loss, penalty)")
    show.add_argument("variant", nargs="+", help="registered variant name(s), e.g. ns-lucic")
    return p


COMMANDS = {"stats": _cmd_stats, "run": _cmd_run, "validate": _cmd_validate, "report": _cmd_report, "list": _cmd_list,
            "show": _cmd_show}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "split", 0) is None:
        args.split = ["val", "test"]
    try:
        return COMMANDS[args.command](args)
    except GanbenchError as err:
        print(f"ganbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganbench: interrupted; finished trials are kept, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
