"""A trial's ``checkpoint.pt``: its format, written and read here only.

One file per trial (a pack's members each write their own), a dictionary of tensors and plain values loaded with
``weights_only=True``::

    format            CHECKPOINT_FORMAT; a file of another format is never resumed (the trial starts over)
    trial_id, trial   the trial's id and resolved configuration
    status            "running" (resumable), "completed" or "diverged" (a record of the final state)
    pack              the ids of the pack it was trained in
    generator, discriminator, g_optimizer, d_optimizer, loss_state, streams
                      this member's networks, optimiser states, loss state and random streams
    counters          d_steps, g_steps, images, flops_per_d, flops_per_g, wall_seconds, train_seconds,
                      train_cpu_seconds (``images`` is ``images_seen`` in checkpoints written before the rename)
    best              the best-so-far generator on validation: value, state, d_steps
    last_metrics, last_provenance, evals_since_best, diagnostics
    history_bytes     the length of metrics.jsonl when it was written: a resumed trial cuts what came after

The header (format, trial id, status, D step) is what a driver reads to decide whether and from where a trial
resumes: ``running_d_steps``. The trainer writes with ``member_checkpoint`` + ``write_checkpoint`` and resumes with
``running_checkpoint`` + ``restore_member``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ganbench.paths import atomic_torch_save

CHECKPOINT_FORMAT = 2
FILENAME = "checkpoint.pt"


def read_checkpoint(path: Path, trial_id: Optional[str] = None) -> tuple[Optional[dict], Optional[str]]:
    """(the checkpoint's contents, None), loaded with ``weights_only=True``; (None, why it cannot be used) for a
    truncated, torn or foreign file, one of another format or (given ``trial_id``) of another trial, which means
    "start this trial over", never a crash; (None, None) when there is no file."""
    path = Path(path)
    if not path.is_file():
        return None, None
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError... depending on the damage
        return None, f"{path.name} cannot be loaded ({type(err).__name__}: {str(err).splitlines()[0][:80]})"
    if not isinstance(obj, dict):
        return None, f"{path.name} holds a {type(obj).__name__}, not a checkpoint dictionary"
    if trial_id is not None:
        if obj.get("format") != CHECKPOINT_FORMAT:
            return None, f"{path.name} is of format {obj.get('format')!r}; this ganbench resumes {CHECKPOINT_FORMAT}"
        if obj.get("trial_id") != trial_id:
            return None, f"{path.name} belongs to trial {obj.get('trial_id')!r}, not {trial_id!r}"
    return obj, None


def running_checkpoint(path: Path, trial_id: str) -> Optional[dict]:
    """The trial's checkpoint when a run can resume from it (this format, this trial, status ``running``)."""
    ck, _ = read_checkpoint(path, trial_id)
    return ck if ck is not None and ck.get("status") == "running" else None


def running_d_steps(trial_dir: Path, trial_id: str) -> int:
    """The D step a trial resumes from: that of the running checkpoint in its directory, 0 when it has none."""
    ck = running_checkpoint(Path(trial_dir) / FILENAME, trial_id)
    return int((ck.get("counters") or {}).get("d_steps") or 0) if ck is not None else 0


def images_count(counters: dict) -> int:
    """The real images D had seen at a checkpoint: ``images``, or ``images_seen`` in one written before the rename."""
    return counters["images"] if "images" in counters else counters["images_seen"]


def member_checkpoint(pack, k: int, member, diagnostics, counters: dict) -> dict:
    """Member ``k`` of ``pack`` as a checkpoint (the format above). ``member``: its trial, status, best tracker,
    last metrics and history; ``counters``: the pack's counters and times (see the module's docstring)."""
    from ganbench.training.optimizers import optimizer_member_state
    from ganbench.training.parts import state_dict

    m = member
    return {
        "format": CHECKPOINT_FORMAT, "trial_id": m.trial.id, "trial": m.trial.to_dict(), "status": m.status,
        "generator": pack.G.member_state(k), "discriminator": pack.D.member_state(k),
        "g_optimizer": optimizer_member_state(pack.opt_g, k), "d_optimizer": optimizer_member_state(pack.opt_d, k),
        "loss_state": {n: v[k].clone() for n, v in state_dict(pack).items()},  # the loss's and penalties'
        "streams": pack.streams.member_state(k),
        "counters": counters,
        "best": m.best.to_dict(), "last_metrics": m.last_metrics, "last_provenance": m.last_provenance,
        "diagnostics": diagnostics.member_state(k),
        "evals_since_best": m.evals_since_best,
        "history_bytes": m.history.stat().st_size if m.history.is_file() else 0,
        "pack": [t.id for t in pack.trials],
    }


def write_checkpoint(out_dir: Path, checkpoint: dict) -> None:
    """Atomically: a reader sees the previous checkpoint or this one, never half a file."""
    atomic_torch_save(checkpoint, Path(out_dir) / FILENAME)


def restore_member(pack, k: int, member, ck: dict) -> None:
    """Load member ``k``'s networks, optimisers, streams, best generator and last metrics from its checkpoint, and
    cut its history back to what the checkpoint had seen (evaluation points written after it are done again)."""
    from ganbench.training.optimizers import load_optimizer_member_state

    m = member
    pack.G.load_member_state(k, ck["generator"])
    pack.D.load_member_state(k, ck["discriminator"])
    load_optimizer_member_state(pack.opt_g, k, ck["g_optimizer"])
    load_optimizer_member_state(pack.opt_d, k, ck["d_optimizer"])
    pack.streams.load_member_state(k, ck["streams"])
    m.best.load(ck["best"])
    m.last_metrics = ck["last_metrics"]
    m.last_provenance = ck.get("last_provenance")
    m.evals_since_best = ck.get("evals_since_best", 0)
    with m.history.open("r+b") if m.history.is_file() else open(m.history, "wb") as f:
        f.truncate(ck["history_bytes"])


def restore_loss_state(pack, ckpts: list[dict]) -> None:
    """The loss's and the penalties' state (BEGAN's k, LeCam's anchors, ...), stacked over the pack's members."""
    import torch

    from ganbench.training.parts import load_state_dict, state_dict

    state = state_dict(pack)
    for n in state:
        state[n] = torch.stack([ck["loss_state"][n] for ck in ckpts])
    if state:
        load_state_dict(pack, state)
