"""The protocol: what trials must share for their scores to be compared, pooled or chosen between, defined once.

Two layers, both read from a trial's files (torch-free: the report imports this module):

- the trial's settings (its config.json, as trials.csv columns): dataset and its options, the budget (unit and size),
  the evaluation settings (every D or G steps, n_samples, n_real) and the primary metric: ``COLUMNS``, built by
  ``config_columns``;
- the provenance of a metric's scores (``<metric>_<field>`` in trials.csv, from summary.json): extractor, n_real,
  n_fake and split: ``PROVENANCE``.

Trials.csv (ganbench.results) writes these columns; the report's tables (ganbench.report.tables) and the choice of
configurations (ganbench.selection) split trials by ``columns``; a baseline matches a score on ``BASELINE_MATCH``.
Before training, the driver builds one evaluator per ``Evaluation`` (extractor, reference statistics, cache files,
baselines); early stopping ranks trials that agree on ``RANKED``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

EVAL_SETTINGS = ("every_d_steps", "every_g_steps", "n_samples", "n_real")  # trials.csv: eval_<setting>
COLUMNS = ("dataset", "dataset_options", "budget_unit", "budget_steps", *(f"eval_{k}" for k in EVAL_SETTINGS),
           "primary")
PROVENANCE = ("extractor", "n_real", "n_fake", "split")
RECORDED = (*PROVENANCE, "direction")  # what trials.csv carries per metric: the provenance and how to read it
# a baselines.json record beside a metric's scores: the dataset, its options and the provenance
BASELINE_MATCH = ("dataset", "dataset_options", "split", "extractor", "n_real", "n_fake")
# ASHA ranks every trial of a suite on one validation score: these settings must agree (budgets may differ: its
# horizon is the largest)
RANKED = ("dataset", "dataset_options", "primary", "eval_every_d_steps", "eval_every_g_steps")


def config_columns(config: dict) -> dict:
    """A trial's protocol settings (its config.json, or ``Trial.to_dict()``) as the trials.csv columns ``COLUMNS``
    (dataset options as sorted JSON text; ``primary`` is the configured one: a summary's replaces it)."""
    e = config.get("eval") or {}
    return {"dataset": config["dataset"],
            "dataset_options": json.dumps(config.get("dataset_options") or {}, sort_keys=True),
            "budget_unit": config["budget_unit"], "budget_steps": config["budget_steps"], "primary": e.get("primary"),
            **{f"eval_{k}": e.get(k) for k in EVAL_SETTINGS}}


def metric_columns(table, metric: str) -> list[str]:
    """The provenance columns of ``metric`` (``<metric>_<field>``, ``PROVENANCE``) that a table (a frame, or a
    collection of column names) has."""
    return [f"{metric}_{f}" for f in PROVENANCE if f"{metric}_{f}" in table]


def columns(table, metric: Optional[str] = None) -> list[str]:
    """The columns that split trials of different protocol, where a table has them: the settings (``COLUMNS``) and,
    given a metric, its provenance."""
    return [c for c in COLUMNS if c in table] + (metric_columns(table, metric) if metric else [])


def ranked_key(trial) -> tuple:
    """The settings (``RANKED``) that trials ranked on one score by an early-stopping scheduler share."""
    cols = config_columns(trial.to_dict())
    return tuple(cols[c] for c in RANKED)


@dataclass(frozen=True)
class Evaluation:
    """What a trial's scores depend on, as its ``eval`` settings state them (n_real as configured: None = the
    dataset's default): trials with the same one share an evaluator in the driver (extractor, reference statistics,
    cache files) and baselines."""
    dataset: str
    options: tuple  # sorted (key, value) pairs of the dataset options, as the suite gives them
    extractor: Optional[str]
    n_samples: int
    n_real: Optional[int]

    @classmethod
    def of(cls, trial) -> "Evaluation":
        e = trial.eval
        return cls(trial.dataset, tuple(sorted(trial.dataset_options.items())), e.extractor, int(e.n_samples),
                   e.n_real)
