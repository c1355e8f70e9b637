"""Where a trial's evaluation points go besides ``metrics.jsonl``: TensorBoard and MLflow, when a suite asks
(``logging: {tensorboard: true, mlflow: true}``). Both are optional extras (``pip install 'ganbench[tensorboard]'``,
``'ganbench[mlflow]'``), never required; a suite that asks for one that is missing stops before any trial with one
line saying what to install (``check_sinks``).

- TensorBoard (``torch.utils.tensorboard``): one event directory per trial, ``trials/<id>/tensorboard/``; scalars
  under ``val/`` (metric values on the validation split), ``train/`` (losses and diagnostics: running means since the
  previous point) and ``progress/`` (G steps, images, FLOPs, seconds), all against D steps; the sample grid (image
  datasets) or the scatter over the modes (2D toys, ``ganbench.evaluation.pictures.toy_figure``) as ``samples``; the trial's
  config as text. A resumed trial drops the events its earlier run wrote from the resume step on (``purge_step``).
- MLflow (``mlflow.MlflowClient``, no global active run, so several trials of a pack log side by side): one run per
  trial, named by the trial id, in the experiment named after the suite, with the hyperparameters as params and
  the same scalars and images; the run id is kept in ``trials/<id>/mlflow_run_id`` so that a resumed trial goes on
  in the same run.

Usage (the trainer): ``sinks = open_sinks(trial, out_dir, settings, resume_step)`` once per trial,
``sinks.log_eval(d_steps, record, samples, info)`` at every evaluation point, ``sinks.close()`` at the end.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional

from ganbench.suite.schema import LoggingSpec
from ganbench.registry import GanbenchError

TRAIN_KEYS = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "g_grad_norm", "penalty", "began_k", "began_m",
              "critic_w", "diversity")
PROGRESS_KEYS = ("g_steps", "images", "flops", "seconds", "train_seconds")
SKIP_KEYS = ("d_steps", "split", "provenance")
EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}  # field: (module, extra)


def _settings(settings) -> LoggingSpec:
    if settings is None:
        return LoggingSpec()
    return settings if isinstance(settings, LoggingSpec) else LoggingSpec.model_validate(settings)


def check_sinks(settings, source: str = "suite") -> None:
    """GanbenchError naming the field and the package when a requested sink's library is not installed."""
    import importlib.util

    s = _settings(settings)
    for field, (module, extra) in EXTRAS.items():
        if getattr(s, field) and importlib.util.find_spec(module) is None:
            raise GanbenchError(f"{source}: logging.{field}: true needs the {module} package, which is not installed; "
                                f"pip install 'ganbench[{extra}]' (or set logging.{field}: false)")


def scalar_tags(record: dict) -> dict[str, float]:
    """The record's finite numbers as tags: ``train/<key>``, ``progress/<key>`` or ``val/<key>``."""
    out = {}
    for key, value in record.items():
        if key in SKIP_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(float(value)):
            continue
        group = "train" if key in TRAIN_KEYS else "progress" if key in PROGRESS_KEYS else "val"
        out[f"{group}/{key}"] = float(value)
    return out


def sample_picture(samples, info, title: str):
    """("image", CHW tensor in [0, 1]) for image datasets: an 8-wide grid of at most 64 samples; ("figure", fig)
    for 2D toys: the scatter of ``ganbench.evaluation.pictures.toy_figure`` (the caller closes it)."""
    import torch

    if info.kind == "image":
        from torchvision.utils import make_grid

        grid = (samples[:64].detach().float().cpu().clamp(-1, 1) + 1) / 2
        if grid.shape[-1] < 32:  # small images enlarged with nearest neighbours, as samples.png
            grid = torch.nn.functional.interpolate(grid, scale_factor=32 // grid.shape[-1], mode="nearest")
        return "image", make_grid(grid, nrow=8, padding=2)
    from ganbench.evaluation.pictures import toy_figure

    return "figure", toy_figure(samples, info, title=title)


class _TensorBoard:
    def __init__(self, trial, out_dir: Path, resume_step: Optional[int]):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step or None)
        if not resume_step:
            self.writer.add_text("config", "```\n" + json.dumps(trial.to_dict(), indent=2, default=str) + "\n```", 0)

    def log(self, step: int, scalars: dict, picture) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        if picture is not None:
            kind, obj = picture
            if kind == "image":
                self.writer.add_image("samples", obj, step)
            else:
                self.writer.add_figure("samples", obj, step, close=False)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _MLflow:
    def __init__(self, trial, out_dir: Path, uri: Optional[str]):
        from mlflow import MlflowClient

        if uri is None and not os.environ.get("MLFLOW_TRACKING_URI"):
            uri = (out_dir.resolve().parent.parent / "mlruns").as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks this to use a file store
        self.client = MlflowClient(tracking_uri=uri)
        id_file = out_dir / "mlflow_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        if run_id:
            try:
                self.client.get_run(run_id)
            except Exception:  # the store was moved or cleared: start a new run
                run_id = None
        if not run_id:
            exp = self.client.get_experiment_by_name(trial.suite)
            exp_id = exp.experiment_id if exp else self.client.create_experiment(trial.suite)
            run = self.client.create_run(exp_id, run_name=trial.id, tags={
                "ganbench.trial_id": trial.id, "ganbench.gan": trial.gan, "ganbench.dataset": trial.dataset,
                "ganbench.architecture": trial.architecture, "ganbench.seed": str(trial.seed)})
            run_id = run.info.run_id
            from mlflow.entities import Param

            params = {"gan": trial.gan, "variant": trial.variant, "loss": trial.loss, "penalty": trial.penalty,
                      "budget": f"{trial.budget_unit}={trial.budget_steps}", **trial.hparams}
            self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in sorted(params.items())])
            from ganbench.paths import atomic_write_text

            atomic_write_text(id_file, run_id + "\n")
        self.run_id = run_id

    def log(self, step: int, scalars: dict, picture) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(tag, value, now, step) for tag, value in scalars.items()])
        if picture is not None:
            kind, obj = picture
            name = f"samples/d_steps_{step:09d}.png"
            if kind == "image":
                self.client.log_image(self.run_id, obj.permute(1, 2, 0).numpy(), artifact_file=name)
            else:
                self.client.log_figure(self.run_id, obj, artifact_file=name)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class Sinks:
    """The sinks one trial writes to (none, TensorBoard, MLflow); a context manager."""

    def __init__(self, trial, backends: list, images: bool):
        self.trial, self.backends, self.images = trial, backends, images

    def __bool__(self) -> bool:
        return bool(self.backends)

    def log_eval(self, step: int, record: dict, samples=None, info=None) -> None:
        """One evaluation point: ``step`` in D steps; ``record`` as written to metrics.jsonl (non-numbers and the
        provenance are skipped); ``samples`` the scored samples [N, ...] (in [-1, 1]; 2D points for toys) or None;
        ``info`` the DatasetInfo (needed with ``samples``)."""
        if not self.backends:
            return
        scalars = scalar_tags(record)
        picture = None
        if self.images and samples is not None and info is not None:
            title = f"{self.trial.gan} / {self.trial.architecture}, seed {self.trial.seed}, D step {step}"
            picture = sample_picture(samples, info, title)
        try:
            for backend in self.backends:
                backend.log(int(step), scalars, picture)
        finally:
            if picture is not None and picture[0] == "figure":
                import matplotlib.pyplot as plt

                plt.close(picture[1])

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends = []

    def __enter__(self) -> "Sinks":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_sinks(trial, out_dir, settings=None, resume_step: Optional[int] = None) -> Sinks:
    """The sinks a suite's ``logging`` asks for, for one trial writing under ``out_dir`` (``trials/<id>/``).
    ``settings``: the suite's LoggingSpec or its dict; ``resume_step``: the D step a resumed trial goes on from."""
    s = _settings(settings)
    check_sinks(s)
    out_dir = Path(out_dir)
    backends: list = []
    try:
        if s.tensorboard:
            backends.append(_TensorBoard(trial, out_dir, resume_step))
        if s.mlflow:
            backends.append(_MLflow(trial, out_dir, s.mlflow_tracking_uri))
    except BaseException:
        for b in backends:
            b.close()
        raise
    return Sinks(trial, backends, s.images)
