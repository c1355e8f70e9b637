"""The trainer, in parts: ``parts`` builds a pack of trials (K = 1 for one trial), ``members`` runs K networks as
one, ``streams`` gives each trial its own random streams, ``steps`` holds the D and G steps, ``scoring`` the
evaluation points and best-generator selection, and ``loop`` the budgeted loop, checkpoints and a trial's files."""
from ganbench.training.loop import RunOptions, run_pack, run_trial

__all__ = ["RunOptions", "run_pack", "run_trial"]
