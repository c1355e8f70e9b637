"""Hooks that tests install in every Ray worker process of a run (``runtime_env={"worker_process_setup_hook":
"worker_hooks.install"}`` with tests/ on PYTHONPATH), driven by environment variables:

- ``GANBENCH_TEST_FORBID=DIR`` and ``GANBENCH_TEST_AUDIT_LOG=FILE``: a Python audit hook records, one JSON line each
  in FILE, every write this worker makes under DIR (a file opened for writing, a directory made, a rename, a
  removal); each worker first records that it installed the hook, with its node, so a test knows the check ran.
- ``GANBENCH_TEST_FAIL_SEED=S``: the trainer raises ``RuntimeError("injected fault ...")`` for a pack holding a
  trial with seed S (a trainer that raises, as a bug or a bad input would make it).
"""
import json
import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
PATH_EVENTS = {"os.mkdir": 1, "os.rename": 2, "os.replace": 2, "os.remove": 1, "os.rmdir": 1, "os.truncate": 1,
               "shutil.copyfile": 2, "shutil.rmtree": 1}


def install() -> None:
    forbid, log = os.environ.get("GANBENCH_TEST_FORBID"), os.environ.get("GANBENCH_TEST_AUDIT_LOG")
    if forbid and log:
        _audit(os.path.realpath(forbid), log)
    seed = os.environ.get("GANBENCH_TEST_FAIL_SEED")
    if seed is not None:
        _fail(int(seed))


def _audit(forbid: str, log: str) -> None:
    busy = []

    def record(event: str, path: str) -> None:
        busy.append(1)
        try:
            with open(log, "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "event": event, "path": path}) + "\n")
        finally:
            busy.pop()

    def forbidden(path) -> bool:
        if isinstance(path, int) or path is None:
            return False
        real = os.path.realpath(os.fsdecode(path))
        return real == forbid or real.startswith(forbid + os.sep)

    def hook(event, args):
        if busy:
            return
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and bool(flags & WRITE_FLAGS))
            paths = [path] if writes else []
        else:
            paths = list(args[:PATH_EVENTS[event]]) if event in PATH_EVENTS else []
        for p in paths:
            if forbidden(p):
                record(event, os.fsdecode(p))

    sys.addaudithook(hook)
    import ray

    record("installed", ray.get_runtime_context().get_node_id())


def _fail(seed: int) -> None:
    from ganbench.training import loop

    original = loop._Run.run

    def run(self):
        if any(t.seed == seed for t in self.pack.trials):
            raise RuntimeError(f"injected fault for seed {seed}")
        return original(self)

    loop._Run.run = run
