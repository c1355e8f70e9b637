"""The ``ganbench`` command: run, trial, validate, report, list, show, stats."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.registry import GanbenchError, unknown_name


STATE_MARKS = {"finished": "done", "failed": "rerun", "interrupted": "resume", "new": "run"}


def _cmd_validate(args) -> int:
    from ganbench.suite.schema import load_suite
    from ganbench.suite.expand import MAX_TRIALS, expand
    from ganbench.suite.checks import check_trials
    from ganbench.training.sinks import check_sinks

    suite = load_suite(args.suite, args.set)
    trials = expand(suite, max_trials=args.max_trials or MAX_TRIALS)
    check_trials(trials)
    check_sinks(suite.logging, args.suite)
    states, confirm = {}, []
    if args.results:
        from ganbench.execution.phases import confirm_due
        from ganbench.results import trial_state

        if Path(args.results).exists() and not Path(args.results).is_dir():
            raise GanbenchError(f"--results {args.results}: is a file; give a results directory")
        confirm = confirm_due(suite, trials, Path(args.results)) if Path(args.results).is_dir() else []
        states = {t.id: trial_state(Path(args.results), t.id) for t in trials + confirm}
    for t in trials + confirm:
        print(f"{STATE_MARKS[states[t.id]]:<7}{t.describe()}" if states else t.describe())
    configs = len(trials) // len(suite.seeds)
    print(f"{args.suite}: valid; {len(trials)} trials = {configs} configurations ({len(suite.datasets)} datasets x "
          f"{len(suite.gans)} GANs x {len(suite.architectures)} architectures x search points) x "
          f"{len(suite.seeds)} seeds; budget {suite.budget.unit}={suite.budget.steps}")
    from ganbench.execution.design import print_design

    print_design(suite, trials, Path(args.results) if args.results else None, args.calibrate)
    if args.results:
        counts = {m: sum(1 for v in states.values() if STATE_MARKS[v] == m) for m in STATE_MARKS.values()}
        print(f"in {args.results}: {counts['done']} finished (done), {counts['resume']} to resume from their files "
              f"(resume), {counts['rerun']} failed before and run again (rerun), {counts['run']} new (run)"
              + (f"; phase 2 due now: {len(confirm)} confirmation trials" if suite.confirm else ""))
        warning = unused_warning(Path(args.results), suite.name, trials + confirm)
        if warning:
            print(f"ganbench: warning: {warning}", file=sys.stderr)
    return 0


IDENTITY = ("dataset", "gan", "architecture", "seed", "sample")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "dataset_options":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def unused_warning(results: Path, suite_name: str, trials: list) -> str | None:
    """When finished trials of this suite in ``results`` are not among ``trials`` (the suite was edited), say how
    many and what changed: the fields that differ from the suite's trial of the same dataset, GAN entry,
    architecture, seed and search sample, or that no such trial exists any more."""
    from ganbench.results import suite_trials, trial_state

    ids = {t.id for t in trials}
    unused = {tid: cfg for tid, cfg in suite_trials(results, suite_name).items()
              if tid not in ids and trial_state(results, tid) == "finished"}
    if not unused:
        return None
    now = {tuple(t.to_dict()[k] for k in IDENTITY): _flat(t.to_dict()) for t in trials}
    changes: dict[str, int] = {}
    for cfg in unused.values():
        key = tuple(cfg.get(k) for k in IDENTITY)
        if key not in now:
            gone = ", ".join(f"{k} {v!r}" for k, v in zip(IDENTITY, key))
            change = f"no trial with {gone} any more"
        else:
            old, new = _flat(cfg), now[key]
            diff = sorted(k for k in set(old) | set(new) if k not in ("suite", "searched", "trial_id")
                          and old.get(k) != new.get(k))
            change = "; ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in diff) or "identity changed"
        changes[change] = changes.get(change, 0) + 1
    what = "; ".join(f"{c} ({n} trial{'s' if n != 1 else ''})" for c, n in sorted(changes.items(), key=lambda x: -x[1]))
    n = len(unused)
    return (f"{n} finished trial{'s' if n != 1 else ''} of suite {suite_name!r} in {results} "
            f"{'are' if n != 1 else 'is'} not in the suite any more, so a run leaves "
            f"{'them' if n != 1 else 'it'} unused: {what}. They stay in the directory and in its report (in their "
            f"own tables where the protocol differs); use another --results to keep the two apart.")


def _cmd_run(args) -> int:
    from ganbench.suite.checks import check_local_resources
    from ganbench.suite.schema import load_suite
    from ganbench.suite.expand import MAX_TRIALS, check_trial_count
    from ganbench.execution.guard import check_results_dir
    from ganbench.execution.tune import run_suite

    suite = load_suite(args.suite, args.set)
    check_trial_count(suite, args.max_trials or MAX_TRIALS)
    results = Path(args.results) if args.results else Path("results") / suite.name
    check_results_dir(results, suite.name, force=args.force, label=f"--results {results}" if args.results
                      else f"{results} (the default results directory)")
    if not args.address:  # a cluster's nodes are not this machine: Ray reports what it cannot place
        check_local_resources(suite, args.suite, num_cpus=args.num_cpus)
    counts = run_suite(suite, results, address=args.address, max_concurrent=args.max_concurrent,
                       num_cpus=args.num_cpus, suite_path=Path(args.suite), max_trials=args.max_trials,
                       storage=args.storage, max_failures=args.max_failures, progress_bar=sys.stdout.isatty())
    print(f"next: ganbench report {results}")
    return 0 if not counts.get("failed") else 1


def _cmd_trial(args) -> int:
    from ganbench.execution.local import run_local

    summaries = run_local(args.path, args.id, args.all, args.results, args.device, args.threads, args.set)
    return 0 if all(s["status"] in ("completed", "diverged") for s in summaries) else 1


def _cmd_report(args) -> int:
    from ganbench.report import build_report, terminal_summary
    from ganbench.execution.guard import check_writable
    from ganbench.results import ensure_trials_csv

    results = Path(args.results_dir)
    if not results.exists():
        raise GanbenchError(f"{results}: no such results directory")
    if not results.is_dir():
        raise GanbenchError(f"{results}: is a file; give a results directory (the --results of a run)")
    check_writable(Path(args.out) if args.out else results / "report", f"--out {args.out}" if args.out
                   else f"{results / 'report'} (the report's directory)")
    note = ensure_trials_csv(results)
    if note:
        print(f"ganbench: note: {note}", file=sys.stderr)
    report = build_report(results, Path(args.out) if args.out else None)
    print(terminal_summary(report.summary))
    if report.partial:
        print("partial results: some trials are still pending or running; the report says how many")
    print(f"wrote {report.path} and {report.path.with_name('report.html')}")
    return 0


def _cmd_list(args) -> int:
    from ganbench.catalog import list_lines

    print("\n".join(list_lines()))
    return 0


def _cmd_show(args) -> int:
    from ganbench.catalog import describe_part, describe_variant
    from ganbench.zoo.variants import VARIANTS

    for i, name in enumerate(args.variant):
        lines = describe_variant(name) if name in VARIANTS.names() else describe_part(name)
        print(("\n" if i else "") + "\n".join(lines))
    return 0


def _cmd_stats(args) -> int:
    from ganbench.evaluation.baselines import compute_baselines, format_record
    from ganbench.protocol import Evaluation
    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation.evaluator import ReferenceKey, compute_reference, reference_n_real
    from ganbench.evaluation.extractors import get_extractor

    for option, value in (("--draws", args.draws), ("--n-samples", args.n_samples)):
        if not args.no_baselines and value < 2:
            raise GanbenchError(f"stats {option}: must be at least 2, got {value}")
    info = dataset_info(args.dataset)
    extractor = None
    if info.kind == "image":
        extractor = get_extractor(args.extractor or info.default_extractor, args.dataset, data_dir=args.data_dir)
        for split in args.split:
            size = len(load_split(args.dataset, split, args.data_dir))
            key = ReferenceKey(args.dataset, (), split, extractor.name, extractor.weights_sha,
                               reference_n_real(args.n, args.n, size))
            path = compute_reference(key, extractor, args.data_dir)
            print(f"{args.dataset} {split}: {extractor.name} n={key.n_real} -> {path}")
    if args.no_baselines:
        return 0
    # the baselines a trial with eval {n_samples: --n-samples, n_real: --n} is compared with
    protocol = Evaluation(args.dataset, (), extractor.name if extractor else None, args.n_samples,
                          args.n if info.kind == "image" else None)
    for record in compute_baselines(protocol, info.default_metrics, data_dir=args.data_dir, draws=args.draws):
        if info.kind == "toy" or record["split"] in args.split:
            print("\n".join(format_record(record)))
    return 0


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes in the house style: one line, exit code 2, no usage block."""

    def error(self, message: str):
        command = "" if self.prog == "ganbench" else f"{self.prog}: "
        print(f"ganbench: error: {command}{message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``, or an error naming ``what`` was expected."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a whole number >= 0")


def _validate_parser(sub) -> argparse.ArgumentParser:
    val = sub.add_parser("validate", help="check a suite and print its trials without running them; with --results, "
                                          "mark which are finished there and which would run")
    val.add_argument("suite")
    val.add_argument("--results", help="a results directory: mark each trial done/resume/rerun/run there, and warn "
                                       "about finished trials of this suite that it no longer expands to")
    val.add_argument("--calibrate", type=_positive_int, nargs="?", const=50, default=None, metavar="STEPS",
                     help="time each distinct model for STEPS D steps (default 50) to estimate each phase's time and "
                          "translate a seconds budget into D and G steps")
    return val


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganbench", description="Benchmark GAN losses and architectures.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every trial of a suite through Ray Tune")
    run.add_argument("suite", help="suite YAML file")
    run.add_argument("--results", help="results directory (default: results/<suite name>)")
    run.add_argument("--address", help="address of an existing Ray cluster (default: start a local Ray on loopback)")
    run.add_argument("--max-concurrent", type=_positive_int, default=None, help="at most this many trials at once")
    run.add_argument("--num-cpus", type=_positive_int, default=None, help="CPUs of the local Ray (default: all)")
    run.add_argument("--storage", metavar="URI", default=None,
                     help="where Ray Tune keeps the run while it goes: a path every node can reach or an object store "
                          "URI such as s3://bucket/prefix (default: RESULTS/_ray, removed when the run ends)")
    run.add_argument("--max-failures", type=_non_negative_int, default=None, metavar="N",
                     help="restarts of a trial lost with its node or worker, from its last checkpoint (default: the "
                          "suite's resources.max_failures, 3)")
    run.add_argument("--force", action="store_true",
                     help="write into a results directory that holds another suite's trials or other files")
    tri = sub.add_parser("trial", help="run trials in this process, without Ray: trial directories, or a suite with "
                                       "--id ID / --all")
    tri.add_argument("path", nargs="+", help="trial directories (their config.json), or one suite YAML file")
    tri.add_argument("--id", action="append", default=[], help="trial id or unique prefix (with a suite; repeatable: "
                                                               "several ids train as one pack when they can)")
    tri.add_argument("--all", action="store_true", help="every unfinished trial of the suite, in packs of "
                                                        "resources.pack")
    tri.add_argument("--results", help="results directory (default: results/<suite name>)")
    tri.add_argument("--device", help="cpu or cuda (default: cuda when resources.gpu > 0 and CUDA is available)")
    tri.add_argument("--threads", type=_positive_int, default=None, help="torch threads (default: resources.cpu)")
    tri.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a hyperparameter or a field of the suite; repeatable")
    val = _validate_parser(sub)
    for sp in (run, val):
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter (lr=1e-4) or a field (budget.d_steps=200); repeatable")
        sp.add_argument("--max-trials", type=_positive_int, default=None, metavar="N",
                        help="refuse a suite that expands to more than N trials (default: 10,000)")
    rep = sub.add_parser("report", help="aggregate a results directory into report.md, report.html, figures and "
                                        "tables (CSV, LaTeX)")
    rep.add_argument("results_dir")
    rep.add_argument("--out", help="output directory (default: RESULTS_DIR/report)")
    st = sub.add_parser("stats", help="precompute a dataset's reference statistics (pytorch-fid .npz) and print "
                                      "its baselines (noise, fitted Gaussian, real data)")
    st.add_argument("dataset")
    st.add_argument("--extractor", help="feature extractor (default: the dataset's)")
    st.add_argument("--split", action="append", choices=["train", "val", "test"], default=None,
                    help="split(s) to compute (default: val and test)")
    st.add_argument("--n", type=_positive_int, default=10000, help="number of real images (capped at the split's size)")
    st.add_argument("--n-samples", type=_positive_int, default=2500,
                    help="generated samples per baseline draw, as a suite's eval.n_samples (default 2500)")
    st.add_argument("--draws", type=_positive_int, default=5, help="independent draws per baseline (default 5)")
    st.add_argument("--no-baselines", action="store_true", help="only the reference statistics")
    st.add_argument("--data-dir", default=None, help="dataset directory")
    sub.add_parser("list", help="list the registered GAN variants, losses, architectures, datasets and metrics")
    show = sub.add_parser("show", help="print a GAN variant's every resolved default (hyperparameters, loss, penalty), "
                                       "or what a loss, penalty, training option, transform or metric is")
    show.add_argument("variant", nargs="+", help="registered name(s), e.g. ns-lucic, rpgan, r2, ada, cmmd")
    return p


COMMANDS = {"stats": _cmd_stats, "run": _cmd_run, "trial": _cmd_trial, "validate": _cmd_validate, "report": _cmd_report, "list": _cmd_list,
            "show": _cmd_show}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """parse_args, with "did you mean" for a misspelt option of the chosen command."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        parser.error(unknown_name("command", argv[0], sorted(COMMANDS)))
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = parser._subparsers._group_actions[0].choices[args.command]  # the command's own parser
        flag = extra[0].split("=", 1)[0]
        if not flag.startswith("-"):
            sub.error(f"unexpected argument {flag!r}")
        sub.error(unknown_name("option", flag, sorted(o for o in sub._option_string_actions if o.startswith("--"))))
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
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
