"""Metric functions on numpy arrays (public API). Metric plug-ins that trials run live in ``ganbench.evaluation.evaluator``."""
from ganbench.evaluation.metrics.functional import (  # noqa: F401
    density_coverage,
    features_to_stats,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mode_metrics,
    precision_recall,
)

__all__ = [
    "density_coverage", "features_to_stats", "fid_from_features", "frechet_distance", "inception_score_from_logits",
    "kid_from_features", "mode_metrics", "precision_recall",
]
