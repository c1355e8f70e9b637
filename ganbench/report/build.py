"""``ganbench report DIR``: from result files only (trials/<id>/, trials.csv, baselines.json, environment.json),
write ``report.md``, a self-contained ``report.html``, ``summary.csv``, every table as CSV and LaTeX under
``tables/``, figures under ``figures/`` and sample grids under ``samples/``; return a short terminal summary."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ganbench.report import aggregate as agg
from ganbench.report import baselines as bl
from ganbench.report import figures, learned, limits, notes, pairwise, panels, runs, signals, stats, tables
from ganbench.report import milestones, replication
from ganbench.report import memorisation as memo
from ganbench.report.document import Document, md_text
from ganbench.paths import atomic_write_text
from ganbench.protocol import PROVENANCE
from ganbench.results import load_results, parse_score_key, trial_dir

INTRO = ("Everything that chooses is decided on the **validation** split: each trial's checkpoint, and each "
         "variant's configuration (`selected_on` = val). A *configuration* is a set of resolved hyperparameters, "
         "never a search sample index. **chosen config** is the configuration with the best mean validation value "
         "(**val mean**) over its seeds; its **test** scores are computed for it and choose nothing. They come from "
         "the confirmation runs on fresh seeds where the suite ran them, else from the search seeds it was chosen "
         "on, marked *optimistic* (**scored on**). **still improving** counts its runs whose chosen checkpoint is "
         "their last evaluation. **median**, **q25** and **q75** are over every scored trial of the search (test, "
         "descriptive). D steps, G steps and wall seconds are medians over the scored trials.")


@dataclass
class Report:
    path: Path  # report.md
    summary: pd.DataFrame
    partial: bool


def _slug(*parts) -> str:
    parts = [int(p) if isinstance(p, float) and p.is_integer() else p for p in parts]
    return "-".join("".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(p)) for p in parts)


def _status_line(trials: pd.DataFrame) -> tuple[str, bool]:
    counts = trials.status.value_counts()
    text = f"{len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "."
    unfinished = int(counts.get("pending", 0) + counts.get("running", 0))
    if unfinished:
        text = (f"**Partial results**: {unfinished} of {len(trials)} trials are not finished "
                f"({int(counts.get('running', 0))} running or interrupted, {int(counts.get('pending', 0))} pending); "
                f"tables count them and score only the finished ones. " + text)
    return text, bool(unfinished)


def read_environment(results: Path) -> list[dict]:
    path = Path(results) / "environment.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return [{"environment.json": "unreadable (not valid JSON)"}]
    return data if isinstance(data, list) else [data]


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", ", ".join(map(str, v)) if isinstance(v, list) else str(v)))
    return out


def _other_metrics(group: tables.Group, names: pd.Series) -> pd.DataFrame:
    frame = group.frame
    keys = {c: parse_score_key(c) for c in frame.columns}  # best_<value>: the chosen generator's test score
    cols = [c for c, k in keys.items() if k and k[0] == "best" and k[1] != group.metric
            and not k[1].startswith(memo.OWN_PREFIXES)
            and frame[c].notna().any() and pd.api.types.is_numeric_dtype(frame[c])]
    if not cols:
        return pd.DataFrame()
    metrics = [keys[c][1] for c in cols]
    scored = frame[frame.status.isin(tables.SCORED)]
    table = scored.groupby(names.reindex(scored.index))[cols].mean()
    table.columns = metrics
    rows = table.reset_index(names="variant")
    if group.baseline:
        base = [{"variant": f"{kind} baseline (mean)",
                 **{m: ((group.baseline["metrics"].get(m) or {}).get(kind) or {}).get("mean") for m in metrics}}
                for kind in ("noise", "real")]
        rows = pd.concat([rows, pd.DataFrame(base)], ignore_index=True)
    labels = {"max": "higher better", "min": "lower better"}
    rows.columns = ["variant", *(f"{m} ({labels.get(tables.metric_direction(frame, m), 'no direction')})"
                                 for m in metrics)]
    return rows


def _group_section(doc: Document, group: tables.Group, history: pd.DataFrame, colors: dict, results: Path,
                   out: Path, idx: int) -> tuple[pd.DataFrame, tuple | None, limits.GroupFacts]:
    frame, metric, direction = group.frame, group.metric, group.direction
    word = {"max": "higher is better", "min": "lower is better"}.get(direction, "direction unknown")
    prov, protocol = tables.protocol_text(group)
    doc.heading(f"{group.dataset}: {metric} ({word})")
    doc.para(f"Provenance: {md_text(prov)}. Protocol: {md_text(protocol)}.")
    slug = _slug(idx, group.dataset, metric, group.protocol.get("budget_steps"))
    names = tables.variant_names(frame)
    not_learned = tables.mark_not_learned(group)
    choices = tables.best_config(group, history)
    table, best_runs = tables.variant_table(group, ~not_learned, history, choices)
    doc.table(table, f"{slug}-variants", f"{group.dataset}: {metric} per variant ({word}), configuration "
              "selected on validation")
    notes.choice_notes(doc, group, table, choices, names, history, slug)
    entry = group.entry
    if entry and direction:
        doc.table(pd.DataFrame(bl.baseline_rows(group.baseline, [metric])), f"{slug}-baselines",
                  f"Baselines on the same protocol ({metric}): noise, and real data (the floor of this feature "
                  "space; its std is the resampling spread)")
    notes.learned_notes(doc, group, not_learned)
    other = _other_metrics(group, names)
    if not other.empty:
        doc.table(other, f"{slug}-metrics", "Every metric of the best checkpoints (mean over scored trials)")
        doc.bullets(learned.not_evidence_text(other))
    pairs = pairwise.pairwise_table(group, choices)
    if not pairs.empty:
        doc.heading("Which differences are decided", 3)
        doc.para("Each pair: the difference A - B of the mean scores, oriented so that positive means A is better, "
                 "with its 95% t interval (paired t on per-seed differences where both ran the same seeds, else "
                 "Welch), printed to the precision the interval supports; the rank test (Wilcoxon signed-rank paired, "
                 "Mann-Whitney U unpaired; exact where the counts allow, else a permutation test labelled with its "
                 "resamples and standard error); Holm's correction over the pairs of each family; two one-sided "
                 "t-tests (TOST) against the suite's declared margin (`analysis.margin`). Verdict: better or worse "
                 f"when Holm's p < {stats.ALPHA}, equivalent when the TOST's Holm p < {stats.ALPHA}, else undecided, "
                 "with the seeds per variant that would decide it at the observed spread (t-test power at alpha / m). "
                 "Undecided says that these seeds cannot tell: a statement about the design, not about the losses.")
        doc.bullets(pairwise.family_lines(pairs))
        doc.table(pairs, f"{slug}-pairwise", f"{group.dataset}: pairwise comparisons of {metric}")
        doc.bullets([pairwise.verdict(r) for r in pairs.to_dict("records")])
    milestones.section(doc, group, choices, pairs, slug)
    replication.section(doc, group, choices, pairs, slug)
    panels.group_figures(doc, group, history, colors, out, slug, names, not_learned, choices, table)
    best = notes.shown_trials(choices, not_learned, True)
    best_any = notes.shown_trials(choices, not_learned, False)
    _samples(doc, group, best, best_any, results, out)
    memo.section(doc, best, frame, names, metric, results, out, slug, _slug)
    signals.section(doc, group, history, names, colors, out, slug)
    p = group.protocol
    summary = table.assign(dataset=group.dataset, metric=metric, direction=direction, **{
        k: p.get(k) for k in ("dataset_options", "budget_unit", "budget_steps", "eval_every_d_steps",
                              "eval_every_g_steps", "eval_n_samples", "eval_n_real")},
        **{k: p.get(f"{metric}_{k}") for k in PROVENANCE})
    runs = tables.aggregate_runs(group, best_runs)
    task = (f"{group.dataset} ({metric})", entry, runs, metric) if entry and runs else None
    return summary, task, limits.facts(group, table, pairs, history)


def _samples(doc, group, best_trials: dict, best_any: dict, results, out) -> None:
    """Per variant, samples of its chosen configuration (lowest seed that learned); where none learned, its lowest
    seed anyway, marked, so a reader sees what 'not learned' looks like. No score picks the trial shown."""
    col = f"best_{group.metric}"
    shown = []
    for name in sorted(best_any):
        best, learned = (best_trials[name], True) if name in best_trials else (best_any[name], False)
        src = trial_dir(results, best.trial_id) / "samples.png"
        if src.is_file():
            dest = f"samples/{_slug(best.dataset, name, best.trial_id)}.png"
            shutil.copyfile(src, out / dest)
            shown.append((dest, name, best, learned))
    if shown:
        doc.heading("Samples of each chosen configuration", 3)
        for dest, name, best, learned in shown:
            doc.figure(dest, f"samples of {name}", f"**{name}** (trial {best.trial_id}, {group.metric} "
                                                   f"{best[col]:.4g}" + ("" if learned else "; **not learned**") + ")")


def build_report(results: Path, out: Path | None = None) -> Report:
    results = Path(results)
    trials, history = load_results(results)
    out = Path(out) if out else results / "report"
    for sub in ("figures", "samples", "tables"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    records = bl.read_baselines(results)
    status, partial = _status_line(trials)  # counts every trial, corrupt ones too
    trials = trials[trials.status.astype(str) != "corrupt"]  # unreadable configs: no dataset, variant or protocol
    suites = ", ".join(sorted(trials.suite.astype(str).unique()))
    doc = Document(f"ganbench report: {suites}")
    doc.para(status)
    doc.para(INTRO)
    if not records:
        doc.para("No `baselines.json` in the results directory: scores are shown without their noise and real-data "
                 "baselines, and no trial can be marked *not learned*.")
    colors = figures.palette(tables.variant_names(trials))
    summaries, tasks, facts = [], [], []
    for i, group in enumerate(tables.protocol_groups(trials)):
        group.baseline = bl.match_baseline(records, group.match_fields()) if records else None
        summary, task, fact = _group_section(doc, group, history, colors, results, out, i)
        summaries.append(summary)
        facts.append(fact)
        if task:
            tasks.append(task)
    _aggregate_section(doc, tasks, colors, out)
    limits.section(doc, facts, partial)
    runs.section(doc, results, trials)
    _environment_section(doc, results)
    doc.heading("How these numbers were made")
    doc.para("Every trial trained one GAN variant under the budget above and was scored at its evaluation points; "
             "configs, metric histories (`metrics.jsonl`) and provenance are in `trials/<trial_id>/` of the results "
             "directory. Tables are also in `summary.csv` and `tables/` (CSV and LaTeX).")
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    doc.write(out)
    return Report(out / "report.md", summary, partial)


def _aggregate_section(doc: Document, tasks: list, colors: dict, out: Path) -> None:
    runs, labels, left_out = agg.normalised_runs(tasks)
    if not runs:
        return
    doc.heading("Across datasets")
    doc.para("Scores normalised by their baselines (0 = noise mean, 1 = real-data mean, higher is better; FID and "
             "KID on a log scale, (log noise - log score) / (log noise - log real), so that FIDs near real data stay "
             "apart) for the seeds of each variant's chosen configuration on " + ", ".join(md_text(t) for t in labels)
             + "; "
             "IQM = interquartile mean of the pooled runs (`scipy.stats.trim_mean`, 25%), intervals by stratified "
             "bootstrap (each dataset resampled on its own), as in rliable (Agarwal et al. 2021)."
             + (f" Left out (not on every dataset): {', '.join(left_out)}." if left_out else ""))
    table = agg.aggregate_table(runs)
    doc.table(table, "aggregate", "Normalised scores across datasets")
    if agg.plot_aggregate(table, runs, colors, out / "figures/aggregate.png"):
        doc.figure("figures/aggregate.png", "aggregate normalised scores and performance profiles",
                   "Left: IQM and mean with 95% stratified bootstrap intervals; right: performance profiles.")


def _environment_section(doc: Document, results: Path) -> None:
    doc.heading("Environment")
    envs = read_environment(results)
    if not envs:
        doc.para("No `environment.json` in the results directory (`ganbench run` writes one per run).")
        return
    for i, env in enumerate(envs):
        rows = _flatten(env) if isinstance(env, dict) else [("environment", str(env))]
        doc.table(pd.DataFrame(rows, columns=["key", "value"]), f"environment{'' if len(envs) == 1 else i}",
                  "The software and hardware of the run" + (f" ({i + 1} of {len(envs)})" if len(envs) > 1 else ""))


def terminal_summary(summary: pd.DataFrame) -> str:
    """A short table for the terminal: per dataset and variant, the best configuration's mean and its interval."""
    if summary.empty:
        return "no scored trials yet"
    cols = [c for c in ("dataset", "metric", "budget_steps", "gan", "trials", "not learned", "chosen config mean",
                        "CI low", "CI high", "median") if c in summary]
    shown = summary[cols].rename(columns={"budget_steps": "budget", "chosen config mean": "chosen mean",
                                          "not learned": "not lrnd"})
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")


def make_report(results: Path, out: Path | None = None) -> Path:
    return build_report(results, out).path


__all__ = ["Report", "build_report", "make_report", "terminal_summary", "read_environment"]
