"""ganbench: compare GAN losses and architectures at a fixed budget, the way large-scale studies do."""

__version__ = "0.1.0"

from ganbench.results import load_results  # noqa: E402  (reads files only; imports neither torch nor Ray)

__all__ = ["__version__", "load_results"]
