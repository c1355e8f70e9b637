"""Trials without Ray: ``ganbench trial`` runs one trial, a pack of trials, or every trial of a suite in this
process, writing exactly the files a Ray run writes (for debugging, notebooks, and machines without Ray or with a GPU
but no cluster).

    ganbench trial results/quickstart/trials/3d0ce4e935c7          # a trial directory (its config.json); resumes
    ganbench trial suites/quickstart.yaml --id 3d0ce4e935c7         # a suite and a trial id (or a unique prefix)
    ganbench trial suites/quickstart.yaml --id 3d0c --id 8675       # several ids: trained as one pack when they can be
    ganbench trial suites/quickstart.yaml --all                     # every unfinished trial, in packs of resources.pack
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from ganbench.suite.plan import Trial
from ganbench.registry import GanbenchError
from ganbench.results import TERMINAL, summary_status, trial_dir, write_trials_csv
from ganbench.suite.checks import check_trials


def _device(requested: Optional[str], gpu: float):
    """--device when given, else cuda for a suite with resources.gpu > 0: an error where CUDA is absent, never a
    quiet run on the CPU."""
    from ganbench.training.device import resolve_device

    if requested:
        return resolve_device(requested, "--device")
    if gpu > 0:
        return resolve_device("cuda", f"resources.gpu: {gpu:g} (--device cpu runs these trials on the CPU)")
    return resolve_device("cpu")


def _from_dirs(paths: list[Path]) -> list[tuple[Trial, Path]]:
    out = []
    for p in paths:
        cfg = p / "config.json"
        if not cfg.is_file():
            raise GanbenchError(f"{p}: no config.json here; give a trial directory (results/<suite>/trials/<id>) "
                                f"or a suite file with --id")
        try:
            trial = Trial.from_dict(json.loads(cfg.read_text()))
        except (ValueError, TypeError, KeyError) as err:
            raise GanbenchError(f"{cfg}: not a trial's config ({type(err).__name__}: {err})") from None
        out.append((trial, p))
    return out


def _pick(trials: list[Trial], ids: list[str], source: str) -> list[Trial]:
    chosen = []
    for i in ids:
        hits = [t for t in trials if t.id.startswith(i)]
        if len(hits) != 1:
            what = "no trial" if not hits else f"{len(hits)} trials"
            raise GanbenchError(f"--id {i}: {what} of {source} start with it; `ganbench validate {source}` lists the "
                                f"ids")
        chosen.append(hits[0])
    return chosen


def run_local(paths: list[str], ids: list[str], all_trials: bool, results: Optional[str], device: Optional[str],
              threads: Optional[int], overrides: list[str], log: Callable[[str], None] = print) -> list[dict]:
    from ganbench.execution.tune import make_packs
    from ganbench.training import RunOptions

    first = Path(paths[0])
    if first.suffix in (".yaml", ".yml") or first.is_file():
        if len(paths) > 1:
            raise GanbenchError("give one suite file (with --id or --all), or trial directories")
        if not ids and not all_trials:
            raise GanbenchError(f"{first}: say which trials: --id ID (repeatable) or --all")
        return _run_suite(first, ids, all_trials, results, device, threads, overrides, log)
    if ids or all_trials or overrides:
        raise GanbenchError("--id, --all and --set apply to a suite file, not to trial directories")
    pairs = _from_dirs([Path(p) for p in paths])
    check_trials([t for t, _ in pairs])  # the trainer trusts a checked trial
    packs = make_packs([t for t, _ in pairs], len(pairs))
    return _train(packs, {t.id: d for t, d in pairs}, _device(device, 0.0), None, threads or 1, RunOptions(), log)


def _run_suite(first: Path, ids: list[str], all_trials: bool, results: Optional[str], device: Optional[str],
               threads: Optional[int], overrides: list[str], log: Callable[[str], None]) -> list[dict]:
    """A suite's trials in this process: ``--all`` runs both phases (the search, then each finished cell's
    confirmation rounds), as ``ganbench run`` does; ``--id`` the trials named (confirmation trials due now
    included)."""
    from ganbench.execution.packsize import pack_sizer
    from ganbench.execution.phases import confirm_due, run_phases
    from ganbench.execution.prepare import prepare, run_options
    from ganbench.execution.tune import make_packs
    from ganbench.suite.expand import expand
    from ganbench.suite.schema import load_suite

    suite = load_suite(first, overrides)
    dev = _device(device, suite.resources.gpu)  # before any work: no CUDA where it was asked for is an error
    expanded = expand(suite)
    root = Path(results) if results else Path("results") / suite.name
    data_dir = str(Path(suite.data_dir).expanduser().resolve()) if suite.data_dir else None
    options, cpus = run_options(suite), suite.resources.cpu
    summaries: list[dict] = []

    def run_round(todo: list[Trial], what: str) -> None:
        check_trials(todo)  # the trainer trusts a checked trial
        log(f"{what}: {len(todo)} trials to run")
        prepare(root, todo, data_dir, first)
        size = pack_sizer(suite.resources.pack, dev, suite.resources.gpu, data_dir, options.amp, log) \
            if all_trials else len(todo)
        summaries.extend(_train(make_packs(todo, size, root), {t.id: trial_dir(root, t.id) for t in todo}, dev,
                                data_dir, threads or max(1, int(cpus)), options, log))

    if all_trials:
        done = {t.id for t in expanded if summary_status(root, t.id) in TERMINAL}
        if done:
            log(f"{len(done)} of the chosen trials already finished in {root}; {len(expanded) - len(done)} search "
                f"trials to run")
        run_phases(suite, root, expanded, run_round, log)
    else:
        chosen = _pick(expanded + confirm_due(suite, expanded, root, log), ids, str(first))
        done = {t.id for t in chosen if summary_status(root, t.id) in TERMINAL}
        todo = [t for t in chosen if t.id not in done]
        if done:
            log(f"{len(done)} of the chosen trials already finished in {root}; {len(todo)} to run")
        if todo:
            run_round(todo, "the chosen trials")
    log(f"wrote {write_trials_csv(root)}")
    return summaries


def _train(packs: list[list[Trial]], where: dict, dev, data_dir, threads: int, options,
           log: Callable[[str], None]) -> list[dict]:
    """Train packs one after the other; one line per trial naming its configuration."""
    from ganbench.training import run_pack

    summaries = []
    for pack in packs:
        t0 = time.perf_counter()
        out = run_pack(pack, [where[t.id] for t in pack], device=dev, data_dir=data_dir, num_threads=threads,
                       options=options)
        for t, s in zip(pack, out):
            log(f"{result_line(t, s)} ({time.perf_counter() - t0:.0f}s"
                f"{', pack of ' + str(len(pack)) if len(pack) > 1 else ''})")
        summaries += out
    return summaries


def result_line(t: Trial, s: dict) -> str:
    """``id dataset gan arch seed=S [confirm] config: status primary=value``: which trial, which configuration."""
    p = s.get("primary")
    score = f" {p}={s.get('best_' + p, float('nan')):.4g}" if p else ""
    config = t.configuration()
    return (f"{t.id} {t.dataset} {t.gan} {t.architecture} seed={t.seed}{' confirm' if t.phase == 'confirm' else ''}"
            f"{' [' + config + ']' if config else ''}: {s['status']}{score}")
