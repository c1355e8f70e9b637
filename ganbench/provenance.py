"""Versions and identities that go into every stored number."""
from __future__ import annotations

from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def library_versions() -> dict:
    out = {}
    for dist in ("torch", "torchvision", "pytorch-fid", "ganbench"):
        try:
            out[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.replace("-", "_")] = "unknown"
    return out
