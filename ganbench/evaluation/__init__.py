"""How samples are scored: the metric record and registry (``metric``), the built-in metrics (``builtin``), the
evaluator a trial calls (``evaluator``), feature extractors (``extractors``), the noise/real baselines
(``baselines``), sample pictures (``pictures``, ``nearest``) and the numpy cores (``metrics``).

This package face registers the built-in metrics: importing any of its modules registers them all."""
from ganbench.evaluation import builtin  # noqa: F401
from ganbench.evaluation import backbones  # noqa: F401  (registers the DINOv2 and CLIP extractors)
from ganbench.evaluation.metric import METRICS, Metric, metric, output_direction  # noqa: F401
