"""The results directory: ``trials/<id>/`` per trial (config.json, metrics.jsonl, summary.json, checkpoint.pt,
samples.png) and ``trials.csv``, one row per trial, rebuilt from every trial directory (rows are never lost).

Files in it may be torn, truncated or foreign: readers here never raise on them. A trial whose config or summary
cannot be read is not finished (the next run trains it again) and appears in ``trials.csv`` with status ``corrupt``
and the reason; a torn line of a metric history is skipped; ``trials.csv`` is rebuilt from the trial directories.

summary.json has one writer and one reader, ``write_summary`` and ``read_summary``, through its typed record
``Summary``; baselines.json has ``write_baselines_file`` and ``read_baselines_file``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable, Optional

from ganbench.paths import atomic_write_json, atomic_write_text
from ganbench.protocol import BASELINE_MATCH, RECORDED, config_columns
from ganbench.registry import GanbenchError

TERMINAL = ("completed", "diverged")  # a trial in one of these states is not run again
OWN_ENTRIES = ("trials", "trials.csv", "_ray", "report")  # what ganbench writes at the top of a results directory


def trial_dir(results: Path, trial_id: str) -> Path:
    return Path(results) / "trials" / trial_id


def read_json_object(path: Path) -> tuple[Optional[dict], Optional[str]]:
    """(the JSON object in ``path``, None); (None, what is wrong with it) for a torn, binary or non-object file;
    (None, None) when there is no file."""
    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, f"{path.name} is unreadable ({type(err).__name__}: {str(err)[:80]})"
    if not isinstance(obj, dict):
        return None, f"{path.name} holds a JSON {type(obj).__name__}, not an object"
    return obj, None


# ------------------------------------------------------------------------------------------------ summary.json
RENAMED = {"images_seen": "images"}  # keys of summaries and histories written before: old name -> the name now


def current_names(record: dict) -> dict:
    """A summary's or history line's keys as this ganbench names them (``RENAMED``; a key already there stays)."""
    return {(RENAMED[k] if k in RENAMED and RENAMED[k] not in record else k): v for k, v in record.items()}


# the keys a summary of each status always holds (None where it has no value); any other field only when it has one
_FINISHED = ("primary", "best_d_steps", "d_steps", "g_steps", "images", "flops", "stopped_early_at",
             "flops_per_d_step", "flops_per_g_step", "wall_seconds", "train_seconds", "train_cpu_seconds", "device",
             "num_threads", "pack_size", "pack", "resumed_from", "notes")
_ALWAYS = {"completed": _FINISHED, "diverged": _FINISHED, "failed": ("error",),
           "stopped": ("early_stopped", "d_steps", "stopped_by", "last_val_score")}


@dataclass
class Summary:
    """``summary.json``: how a trial ended. ``completed`` or ``diverged`` (the trainer's), ``failed``
    (``record_failure``) or ``stopped`` (an early-stopping scheduler's, ``record_stopped``). ``scores``: the metric
    values (``score_key``s, ``ema_final_*``, ``milestone_*``); ``meta``: where it ran (node_id, ray_cpu, ray_gpu,
    started_at, cache_files_fetched) and any key this ganbench does not know, kept as it was."""
    trial_id: Optional[str]
    status: Optional[str]
    error: Optional[str] = None
    primary: Optional[str] = None  # the metric that chose the checkpoint
    best_d_steps: Optional[int] = None  # where it was chosen
    d_steps: Optional[int] = None  # the budget used, in every unit
    g_steps: Optional[int] = None
    images: Optional[int] = None  # real images D saw (``images_seen`` in summaries written before)
    flops: Optional[float] = None
    stopped_early_at: Optional[int] = None
    flops_per_d_step: Optional[float] = None
    flops_per_g_step: Optional[float] = None
    wall_seconds: Optional[float] = None
    train_seconds: Optional[float] = None
    train_cpu_seconds: Optional[float] = None
    device: Optional[str] = None
    num_threads: Optional[int] = None
    pack_size: Optional[int] = None
    pack: Optional[list] = None
    resumed_from: Optional[int] = None
    notes: Optional[list] = None
    early_stopped: Optional[bool] = None  # stopped: where and why
    stopped_by: Optional[str] = None
    last_val_score: Optional[float] = None
    scores: dict = field(default_factory=dict)
    provenance: Optional[dict] = None  # metric -> how its values were measured (the trainer's)
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON object of summary.json."""
        always = _ALWAYS.get(self.status, ()) if isinstance(self.status, str) else ()
        named = (("trial_id", self.trial_id), ("status", self.status))
        out = {**self.meta, **{k: v for k, v in named if v is not None}}
        for name in _TYPED:
            value = getattr(self, name)
            if value is not None or name in always:
                out[name] = value
        out.update(self.scores)
        return out if self.provenance is None else {**out, "provenance": self.provenance}

    @classmethod
    def from_dict(cls, d: dict) -> "Summary":
        """A summary.json object, of this ganbench or an earlier one."""
        d = current_names(d)
        rest = {k: v for k, v in d.items() if k not in _TYPED and k not in ("trial_id", "status", "provenance")}
        scores = {k: v for k, v in rest.items() if is_score(k)}
        return cls(trial_id=d.get("trial_id"), status=d.get("status"), provenance=d.get("provenance"),
                   scores=scores, meta={k: v for k, v in rest.items() if k not in scores},
                   **{k: v for k, v in d.items() if k in _TYPED})


_TYPED = tuple(f.name for f in fields(Summary) if f.name not in ("trial_id", "status", "scores", "provenance", "meta"))


def write_summary(out_dir: Path, summary: Summary) -> None:
    """The one writer of summary.json (atomic: a reader sees the old file or the new one)."""
    atomic_write_json(Path(out_dir) / "summary.json", summary.to_dict())


def read_summary(results: Path, trial_id: str) -> Optional[Summary]:
    """The trial's summary, or None when it has none or it cannot be read."""
    data = read_json_object(trial_dir(results, trial_id) / "summary.json")[0]
    return None if data is None else Summary.from_dict(data)


def summary_status(results: Path, trial_id: str) -> Optional[str]:
    """The status its summary gives a trial (None without a readable summary)."""
    summary = read_summary(results, trial_id)
    return None if summary is None else summary.status


def finished_ids(results: Path, also: tuple[str, ...] = ()) -> set[str]:
    """Trials with a readable config and a summary in a terminal state (or in ``also``: ``stopped`` for a suite
    that stops trials early); anything else is trained (again), from its checkpoint where it has one."""
    root = Path(results) / "trials"
    if not root.is_dir():
        return set()
    done = set()
    for d in root.iterdir():
        if summary_status(results, d.name) in TERMINAL + tuple(also) and read_json_object(d / "config.json")[0] \
                is not None:
            done.add(d.name)
    return done


def trial_state(results: Path, trial_id: str) -> str:
    """What a run would do with a trial, from its files: ``finished`` (completed or diverged: skipped), ``failed``
    (run again), ``interrupted`` (started, no final summary: resumes from its checkpoint.pt where it has one, else
    starts over) or ``new``."""
    d = trial_dir(results, trial_id)
    status = summary_status(results, trial_id)
    config, _ = read_json_object(d / "config.json")
    if status in TERMINAL and config is not None:
        return "finished"
    if status == "failed":
        return "failed"
    if (d / "checkpoint.pt").is_file() or (d / "metrics.jsonl").is_file():
        return "interrupted"
    return "new"


def suite_trials(results: Path, suite_name: str) -> dict[str, dict]:
    """Trial id -> config of every trial directory in ``results`` whose config names this suite."""
    out = {}
    root = Path(results) / "trials"
    for cfg in sorted(root.glob("*/config.json")) if root.is_dir() else []:
        config = read_json_object(cfg)[0]
        if config is not None and config.get("suite") == suite_name:
            out[cfg.parent.name] = config
    return out


def write_trial_config(results: Path, trial) -> None:
    atomic_write_json(trial_dir(results, trial.id) / "config.json", trial.to_dict())


def record_failure(results: Path, trial_id: str, error: str, **extra) -> None:
    """A trial that raised: its summary says so (its earlier files stay), and the next run tries it again (from its
    checkpoint where it has one). ``extra``: where it ran (node_id, ...)."""
    write_summary(trial_dir(results, trial_id), Summary(trial_id, "failed", error=error[-2000:], meta=extra))


def record_stopped(results: Path, trial_id: str, d_steps: int, scheduler: str, last_score: Optional[float]) -> None:
    """A trial an early-stopping scheduler cut: status ``stopped`` with where and why. Its last checkpoint stays, so
    a run of the suite without early stopping completes it from there."""
    write_summary(trial_dir(results, trial_id), Summary(trial_id, "stopped", early_stopped=True, d_steps=d_steps,
                                                        stopped_by=scheduler, last_val_score=last_score))


def _flatten_row(config: dict, record: Summary) -> dict:
    summary = record.to_dict()
    row = {"trial_id": config.get("trial_id") or record.trial_id, "status": record.status or "pending",
           "suite": config["suite"], "gan": config["gan"], "variant": config["variant"], "loss": config["loss"],
           "penalty": config["penalty"], "dataset": config["dataset"], "architecture": config["architecture"],
           "seed": config["seed"], "sample": config["sample"], "node_id": summary.get("node_id", ""),
           "budget_unit": config["budget_unit"], "budget_steps": config["budget_steps"], **config_columns(config),
           "phase": config.get("phase") or "search", "analysis_margin": config.get("analysis_margin"),
           **{k: config[k] for k in ("analysis_alpha", "confirm_max_seeds", "confirm_step") if k in config}}
    row.update({f"hp_{k}": v for k, v in sorted(config["hparams"].items())})
    for key in ("d_steps", "g_steps", "images", "wall_seconds", "train_seconds", "flops", "device", "ray_cpu",
                "ray_gpu", "started_at", "resumed_from", "primary", "best_d_steps", "early_stopped", "error"):
        if key in summary:
            row[key] = summary[key]
    for key, value in sorted(record.scores.items()):
        if parse_score_key(key) or key.startswith("milestone_"):
            row[key] = value
    prov = record.provenance or {}
    for metric, p in sorted(prov.items()):  # provenance columns: numbers of different protocol never share a column
        for f in RECORDED:
            row[f"{metric}_{f}"] = p.get(f)
    return row


# ------------------------------------------------------------------ score keys of summary.json and trials.csv
# ``<kind>_<value>``: ``final_fid`` (the last generator on test), ``best_fid`` (the generator chosen on validation,
# scored on test), ``best_val_fid`` (the validation value that chose it). ``best_d_steps`` is where it was chosen.
SCORE_KINDS = ("best_val", "best", "final")  # the longest prefix first: best_val_fid is not best's "val_fid"
NOT_SCORES = ("best_d_steps",)


def score_key(kind: str, value: str) -> str:
    """The summary key (and trials.csv column) of a metric value's score of one kind."""
    if kind not in SCORE_KINDS:
        raise ValueError(f"score kind {kind!r}; allowed: {', '.join(SCORE_KINDS)}")
    return f"{kind}_{value}"


def is_score(key: str) -> bool:
    """A summary key that holds a metric's value: a score key, ``ema_final_<value>`` (the EMA generator beside the
    final one) or a budget milestone's ``milestone_<unit>_<value>_<metric>``."""
    return parse_score_key(key) is not None or key.startswith(("ema_final_", "milestone_"))


def parse_score_key(key: str) -> Optional[tuple[str, str]]:
    """(kind, metric value) of a score key, None for any other key: the one place such keys are read."""
    if key in NOT_SCORES:
        return None
    for kind in SCORE_KINDS:
        if key.startswith(kind + "_") and len(key) > len(kind) + 1:
            return kind, key[len(kind) + 1:]
    return None


# ------------------------------------------------------------------------------------------- baselines.json
BASELINES_FILE = "baselines.json"
BASELINES_VERSION = 1
BASELINE_FIELDS = (*BASELINE_MATCH, "metrics")  # every record


def read_baselines_file(path: Path) -> list[dict]:
    """The records of a ``baselines.json`` (``{"version": 1, "baselines": [record, ...]}``); [] when there is no
    file; GanbenchError, naming the file and what is wrong, for anything else."""
    path = Path(path)
    if not path.is_file():
        return []
    data, problem = read_json_object(path)
    if problem is None and data.get("version") != BASELINES_VERSION:
        problem = f"version {data.get('version')!r}, this ganbench reads {BASELINES_VERSION}"
    elif problem is None and not isinstance(data.get("baselines"), list):
        problem = "no list of records under 'baselines'"
    for i, rec in enumerate(data["baselines"] if problem is None else []):
        missing = [f for f in BASELINE_FIELDS if not isinstance(rec, dict) or f not in rec]
        if missing:
            problem = f"baselines[{i}] lacks {', '.join(missing)}"
            break
    if problem:
        raise GanbenchError(f"{path}: not a ganbench baselines file ({problem}); expected {{\"version\": "
                            f"{BASELINES_VERSION}, \"baselines\": [...]}}: move it away and run again")
    return data["baselines"]


def write_baselines_file(path: Path, records: list[dict]) -> None:
    atomic_write_json(Path(path), {"version": BASELINES_VERSION, "baselines": records})


UNKNOWN = "unknown"  # identity of a trial whose config.json cannot be read


def _corrupt_row(trial_id: str, problem: str) -> dict:
    return {"trial_id": trial_id, "status": "corrupt", "suite": UNKNOWN, "gan": UNKNOWN, "variant": UNKNOWN,
            "dataset": UNKNOWN, "architecture": UNKNOWN, "error": problem}


def collect_rows(results: Path) -> list[dict]:
    """One row per trial directory; a trial whose files cannot be read gets status ``corrupt`` and the reason."""
    rows = []
    root = Path(results) / "trials"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if not d.is_dir() or not (d / "config.json").exists():
            continue
        config, problem = read_json_object(d / "config.json")
        if config is None:
            rows.append(_corrupt_row(d.name, problem))
            continue
        summary, s_problem = read_json_object(d / "summary.json")
        if s_problem:
            summary = {"status": "corrupt", "error": s_problem}
        config["trial_id"] = d.name
        if not summary and (d / "metrics.jsonl").is_file():  # started, no summary yet: running (or interrupted)
            summary = {"status": "running"}
        try:
            rows.append(_flatten_row(config, Summary.from_dict(summary or {})))
        except (KeyError, TypeError, AttributeError, ValueError) as err:  # valid JSON, not a trial's config
            rows.append(_corrupt_row(d.name, f"config.json is not a trial config ({type(err).__name__}: {err})"))
    return rows


def write_trials_csv(results: Path) -> Path:
    import pandas as pd

    rows = collect_rows(results)
    path = Path(results) / "trials.csv"
    frame = pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def read_history(results: Path, trial_ids: Iterable[str]):
    """Every trial's ``metrics.jsonl`` as one frame, one row per evaluation point, with a ``trial_id`` column.
    A last line still being written by a running trial is skipped."""
    import pandas as pd

    records = []
    for tid in trial_ids:
        path = trial_dir(results, tid) / "metrics.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                record.pop("provenance", None)
                records.append({**current_names(record), "trial_id": tid})
    return pd.DataFrame.from_records(records)


def load_results(results: Path):
    """A results directory as ``(trials, history)``: ``trials`` has one row per trial (its status, variant,
    dataset, protocol, ``hp_*`` hyperparameters, ``final_*``/``best_*`` test scores and their provenance columns),
    rebuilt from ``trials/<id>/`` so that a suite still running shows its pending and running trials (read from
    ``trials.csv`` where there are no trial directories); ``history`` is every ``metrics.jsonl`` with a
    ``trial_id`` column. Reads files only (no torch)."""
    import pandas as pd

    from ganbench.registry import GanbenchError

    results = Path(results)
    rows = collect_rows(results)
    if rows:
        trials = pd.DataFrame(rows)
    elif (results / "trials.csv").is_file():
        trials = pd.read_csv(results / "trials.csv")
    else:
        raise GanbenchError(f"{results}: no trials/ and no trials.csv here; run `ganbench run SUITE --results "
                            f"{results}` first")
    if trials.empty:
        raise GanbenchError(f"{results}: no trials recorded yet")
    return trials, read_history(results, trials.trial_id)


def ensure_trials_csv(results: Path) -> Optional[str]:
    """Make sure ``trials.csv`` can be read: when it is missing or unreadable and trial directories exist, rebuild it
    from them (it is derived data) and say so; GanbenchError when it is unreadable and nothing can rebuild it."""
    import pandas as pd

    path = Path(results) / "trials.csv"
    problem = None
    if path.is_file():
        try:
            frame = pd.read_csv(path)
            if not {"trial_id", "status"} <= set(frame.columns):
                problem = "a table without the columns trial_id and status"
            elif not path.read_bytes().endswith(b"\n") or frame[["trial_id", "status"]].isna().any(axis=None):
                problem = "torn (a row cut short)"
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as err:
            problem = f"unreadable ({type(err).__name__})"
        if problem is None:
            return None
    n = sum(1 for _ in (Path(results) / "trials").glob("*/config.json"))
    if n == 0:
        if problem:
            raise GanbenchError(f"{path}: {problem}, and no trial directories under {Path(results) / 'trials'} to "
                                f"rebuild it from")
        return None
    try:
        write_trials_csv(results)
    except OSError as err:
        raise GanbenchError(f"{path}: {problem or 'missing'}, and it cannot be rebuilt there "
                            f"({err.strerror})") from None
    return f"{path} was {problem or 'missing'}; rebuilt it from {n} trial director{'ies' if n != 1 else 'y'}"

