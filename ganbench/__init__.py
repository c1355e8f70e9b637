"""ganbench: compare GAN losses and architectures at a fixed budget, the way large-scale studies do."""

__version__ = "0.1.0"
