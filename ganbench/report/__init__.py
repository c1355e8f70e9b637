"""``ganbench report``: turn a results directory into tables, statistics and figures, from result files only.

Imports neither torch nor ganbench's models, trainer or evaluation: each metric's direction is read from the results
(``<metric>_direction`` in trials.csv). Modules: ``tables`` (grouping by protocol, per-variant and pairwise tables),
``stats`` (scipy.stats: bootstrap intervals, probability of improvement, tests, Holm, IQM, performance profiles,
search-budget curve), ``baselines`` (noise and real-data baselines, "not learned"), ``figures``, ``diagnostics``,
``aggregate`` (across datasets), ``document`` (Markdown, HTML, CSV, LaTeX), ``build`` (the report itself).
"""
from ganbench.report.build import Report, build_report, make_report, terminal_summary
from ganbench.report.document import markdown_table
from ganbench.report.stats import budget_curve

__all__ = ["Report", "build_report", "budget_curve", "make_report", "markdown_table", "terminal_summary"]
