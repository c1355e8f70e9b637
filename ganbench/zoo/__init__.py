"""What is trained: losses (``losses``; BEGAN's stateful one in ``began``; the relativistic family in
``relativistic``), penalties and constraints (``penalties``), named presets of loss + penalties + defaults
(``variants``) and the architectures (``models``).

This package face registers the built-ins: importing any of its modules registers them all."""
from ganbench.zoo import began, losses, models, penalties, relativistic, variants  # noqa: F401
