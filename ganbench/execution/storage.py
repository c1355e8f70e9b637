"""Where Ray Tune keeps a run, and how its files reach the results directory.

A pack's trials write into a working directory on their own node and report it to Tune as a checkpoint at every
trainer checkpoint and at the end (``ganbench.execution.trainable``). Tune copies each reported directory into the run's
*storage*: a local path (default ``results/<suite>/_ray``), a shared file system, or an object store URI (anything
``pyarrow.fs.FileSystem.from_uri`` opens, e.g. ``s3://bucket/prefix?endpoint_override=host:port&scheme=http``).
The driver copies every reported checkpoint into ``results/<suite>/trials/<id>/`` as it arrives (``gather``), so
the results directory is current while a suite runs, and no trial ever writes there. Tune keeps one checkpoint per
pack (the latest); when the run ends its directory in storage is removed, so each file has one copy, in the results
directory. A run whose driver was killed leaves its directory behind: the next run of the suite gathers its latest
complete checkpoints (``harvest``) before anything else, then removes it.

Each reported directory holds ``ganbench.json``: its members' status and D step and the size of every file, so a
checkpoint cut short by a crash is recognised and never gathered. Files are copied atomically (temporary file, then
rename), the trainer's ``checkpoint.pt`` after the history it points into, ``summary.json`` last.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from ganbench.registry import GanbenchError
from ganbench.results import TERMINAL, summary_status

MANIFEST = "ganbench.json"
MANIFEST_FORMAT = 1
_LAST = ("checkpoint.pt", "summary.json")  # gathered after every other file of a trial, in this order


@dataclass(frozen=True)
class Storage:
    """A pyarrow file system and the directory on it where each run of a suite gets ``<suite>.run-<time>/``."""

    fs: object  # pyarrow.fs.FileSystem
    path: str
    label: str  # as the user gave it (for messages)
    default: bool = False  # results/<suite>/_ray, removed when empty

    def run_name(self, suite_name: str) -> str:
        return f"{suite_name}.run-{time.strftime('%Y%m%d-%H%M%S')}"

    def runs_of(self, suite_name: str) -> list[str]:
        """Paths of this suite's runs in storage (left by drivers that did not finish)."""
        import pyarrow.fs as pafs

        pattern = re.compile(re.escape(suite_name) + r"\.run-\d{8}-\d{6}")
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        except OSError:
            return []
        return sorted(i.path for i in infos if i.type == pafs.FileType.Directory
                      and pattern.fullmatch(PurePosixPath(i.path).name))

    def remove(self, run_path: str) -> None:
        """Delete a run's directory (and the default ``_ray`` directory once it is empty)."""
        import pyarrow.fs as pafs

        self.fs.delete_dir(run_path)
        if self.default and not self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True)):
            self.fs.delete_dir(self.path)


def open_storage(uri: Optional[str], results: Path) -> Storage:
    """The storage of ``--storage URI`` (a path or a URI), or ``results/_ray`` by default; GanbenchError with one
    line when it cannot be opened or written."""
    import pyarrow
    import pyarrow.fs as pafs

    if not uri:
        root = Path(results).resolve() / "_ray"
        return Storage(pafs.LocalFileSystem(), str(root), str(root), default=True)
    label = f"--storage {uri}"
    try:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri):
            fs, path = pafs.FileSystem.from_uri(uri)
        else:
            fs, path = pafs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, ValueError, OSError) as err:
        raise GanbenchError(f"{label}: not a path or a URI pyarrow can open ({_first_line(err)}); e.g. "
                            f"/mnt/shared/ganbench or s3://bucket/prefix") from None
    path = path.rstrip("/")
    probe = f"{path}/.ganbench-probe-{os.getpid()}"
    try:  # fail now, in one line, rather than in every trial
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except (OSError, pyarrow.ArrowException) as err:
        raise GanbenchError(f"{label}: cannot write there ({_first_line(err)})") from None
    return Storage(fs, path, uri)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:160]


# --------------------------------------------------------------------------------------------- the trial's side
def write_manifest(work: Path, members: dict[str, dict], event: str) -> None:
    """Describe a working directory before it is reported: members' status and D step, every file's size."""
    from ganbench.paths import atomic_write_json

    files = {p.relative_to(work).as_posix(): p.stat().st_size for p in sorted(Path(work).rglob("*"))
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    atomic_write_json(Path(work) / MANIFEST, {"format": MANIFEST_FORMAT, "event": event, "members": members,
                                              "files": files})


# --------------------------------------------------------------------------------------------- the driver's side
def read_manifest(fs, path: str) -> Optional[dict]:
    """The manifest of a checkpoint in storage, if the checkpoint is complete (every listed file there, with its
    size); None for a checkpoint cut short or not ganbench's."""
    import pyarrow.fs as pafs

    try:
        with fs.open_input_stream(f"{path}/{MANIFEST}") as f:
            manifest = json.loads(f.read())
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    sizes = {PurePosixPath(i.path).relative_to(path).as_posix(): i.size for i in infos
             if i.type == pafs.FileType.File}
    files = manifest.get("files")
    if not isinstance(files, dict) or any(sizes.get(rel) != size for rel, size in files.items()):
        return None
    return manifest


def gather(fs, path: str, results: Path, manifest: Optional[dict] = None) -> Optional[dict]:
    """Copy a reported checkpoint's trial files into ``results/trials/<id>/``; returns its manifest, or None (and
    copies nothing) when it is incomplete."""
    manifest = manifest or read_manifest(fs, path)
    if manifest is None:
        return None
    members = set(manifest.get("members") or {})

    def order(rel: str) -> tuple:
        name = PurePosixPath(rel).name
        return (_LAST.index(name) + 1 if name in _LAST else 0, rel)

    for rel in sorted(manifest["files"], key=order):
        parts = PurePosixPath(rel).parts
        if len(parts) != 3 or parts[0] != "trials" or parts[1] not in members or parts[2] in ("", ".", ".."):
            continue  # only a member's own files, never a path outside its directory
        copy_from(fs, f"{path}/{rel}", Path(results).joinpath(*parts))
    return manifest


def copy_from(fs, src: str, dest: Path, chunk_bytes: int = 1 << 22) -> None:
    """Copy one file out of storage atomically: a reader sees the old file or the new one, never half of it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, fs.open_input_stream(src) as stream:
            while chunk := stream.read(chunk_bytes):
                out.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())  # the permissions open() would give, not mkstemp's 0600
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """This process's umask, read without changing it (os.umask would, for a moment, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def latest_checkpoints(fs, run_path: str) -> list[tuple[str, dict]]:
    """For each Tune trial of a run in storage, its latest complete checkpoint: (path, manifest)."""
    import pyarrow.fs as pafs

    out = []
    try:
        trials = [i.path for i in fs.get_file_info(pafs.FileSelector(run_path)) if i.type == pafs.FileType.Directory]
    except OSError:
        return out
    for trial in sorted(trials):
        ckpts = sorted((i.path for i in fs.get_file_info(pafs.FileSelector(trial))
                        if i.type == pafs.FileType.Directory and PurePosixPath(i.path).name.startswith("checkpoint_")),
                       reverse=True)
        for ck in ckpts:
            manifest = read_manifest(fs, ck)
            if manifest is not None:
                out.append((ck, manifest))
                break
    return out


def harvest(storage: Storage, suite_name: str, results: Path, local_d_steps: Callable[[str], int],
            log: Callable[[str], None]) -> int:
    """Gather what earlier, interrupted runs of this suite left in storage, then remove those runs. A checkpoint is
    gathered for its non-finished members when it is at least as far as the results directory's own files."""
    gathered = 0
    for run in storage.runs_of(suite_name):
        for path, manifest in latest_checkpoints(storage.fs, run):
            members = manifest.get("members") or {}
            behind = [tid for tid, m in members.items()
                      if summary_status(results, tid) not in TERMINAL
                      and int(m.get("d_steps") or 0) >= local_d_steps(tid)]
            if behind:
                gather(storage.fs, path, results, manifest)
                gathered += len(behind)
        try:
            storage.remove(run)
        except OSError as err:
            log(f"note: could not remove {run} from {storage.label} ({_first_line(err)})")
    if gathered:
        log(f"gathered {gathered} trial{'s' if gathered != 1 else ''} left in {storage.label} by an interrupted run")
    return gathered
