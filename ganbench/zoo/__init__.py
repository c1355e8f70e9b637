"""What is trained: losses (``losses``, BEGAN's stateful one in ``began``), penalties and constraints
(``penalties``), named presets of loss + penalty + defaults (``variants``) and the architectures (``models``).

This package face registers the built-ins: importing any of its modules registers them all."""
from ganbench.zoo import began, losses, models, penalties, variants  # noqa: F401
