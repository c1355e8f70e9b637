"""Where ganbench reads and writes, and how it writes: the cache root, the data root, and atomic writes.

- Cache root (extractor weights, reference statistics, baselines, decoded datasets): the root a trial was given in
  its config (``run_pack(cache_root=...)``, set for the trial's duration with ``using_cache``), else
  ``$GANBENCH_CACHE``, else ``~/.cache/ganbench``.
- Data root (downloaded datasets): a suite's ``data_dir``, else ``$GANBENCH_DATA``, else ``~/.cache/ganbench/data``.
- Every file ganbench writes goes through ``atomic_open`` (a temporary file in the same directory, renamed into place
  when the block ends without error): a reader never sees half a file, and an interrupted write leaves the old file.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Iterator, Optional

_CACHE_ROOT: ContextVar[Optional[Path]] = ContextVar("ganbench_cache_root", default=None)


def cache_dir() -> Path:
    """The cache root in effect (see the module docstring)."""
    return _CACHE_ROOT.get() or Path(os.environ.get("GANBENCH_CACHE", Path.home() / ".cache" / "ganbench"))


@contextlib.contextmanager
def using_cache(root) -> Iterator[None]:
    """Use ``root`` as the cache root inside the block (None: leave it as it is)."""
    if root is None:
        yield
        return
    token = _CACHE_ROOT.set(Path(root))
    try:
        yield
    finally:
        _CACHE_ROOT.reset(token)


def data_root(data_dir=None) -> Path:
    """``data_dir``, else ``$GANBENCH_DATA``, else ``~/.cache/ganbench/data``."""
    chosen = data_dir or os.environ.get("GANBENCH_DATA") or Path.home() / ".cache" / "ganbench" / "data"
    return Path(chosen).expanduser()


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb") -> Iterator[IO]:
    """Write ``path`` through a temporary file in its directory, renamed into place when the block succeeds."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj, path) -> None:
    """torch.save through ``atomic_open``."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def file_sha256(path) -> Optional[str]:
    """SHA-256 of a file (None when there is none), remembered per (path, size, mtime) within a process."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return _sha256_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
