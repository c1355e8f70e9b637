"""TensorBoard and MLflow sinks: what a trial logs is read back with each library's own reader (TensorBoard's event
accumulator, MLflow's client); a missing package is one error line; ``logging`` is not part of a trial's identity."""
import json

import numpy as np
import pytest
import torch

from ganbench.suite.schema import load_suite
from ganbench.datasets import DatasetInfo
from ganbench.suite.plan import EvalSettings, Trial
from ganbench.registry import GanbenchError
from ganbench.training.sinks import check_sinks, open_sinks, scalar_tags

IMAGE = DatasetInfo(name="digits", kind="image", shape=(1, 8, 8))
TOY = DatasetInfo(name="ring8", kind="toy", shape=(2,), centers=np.array([[0.5, 0.0], [-0.5, 0.0]]), std=0.005)


def _trial(dataset="digits") -> Trial:
    ev = EvalSettings(every_d_steps=100, every_g_steps=None, n_samples=16, n_real=None, metrics=("fid",),
                      extractor="classifier", primary="fid")
    return Trial(suite="study", dataset=dataset, gan="wgan-gp", variant="wgan-gp", loss="wgan", penalty="gp",
                 architecture="dcgan", seed=1, sample=0, hparams={"lr": 1e-4, "n_disc": 5}, budget_unit="d_steps",
                 budget_steps=200, eval=ev)


def _record(step: int, fid: float) -> dict:
    return {"d_steps": step, "g_steps": step // 5, "seconds": 1.5, "split": "val", "d_loss": -2.0 + step / 1000,
            "critic_w": 3.0, "fid": fid, "kid": float("nan"), "is_best": True, "provenance": {"fid": {"n_real": 9}}}


def _events(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_scalar_tags_group_and_skip():
    tags = scalar_tags(_record(100, 40.0))
    assert tags == {"progress/g_steps": 20.0, "progress/seconds": 1.5, "train/d_loss": -1.9, "train/critic_w": 3.0,
                    "val/fid": 40.0}  # d_steps is the step; NaN, booleans, strings and provenance are left out


def test_tensorboard_scalars_images_and_resume(tmp_path):
    out = tmp_path / "trials" / "abc"
    samples = torch.linspace(-1, 1, 16 * 64).reshape(16, 1, 8, 8)
    with open_sinks(_trial(), out, {"tensorboard": True}) as sinks:
        sinks.log_eval(100, _record(100, 40.0), samples, IMAGE)
        sinks.log_eval(200, _record(200, 30.0), samples, IMAGE)
    acc = _events(out / "tensorboard")
    assert [(e.step, e.value) for e in acc.Scalars("val/fid")] == [(100, 40.0), (200, 30.0)]
    assert [e.value for e in acc.Scalars("train/d_loss")] == pytest.approx([-1.9, -1.8])
    assert "val/kid" not in acc.Tags()["scalars"]
    images = acc.Images("samples")
    assert [i.step for i in images] == [100, 200]
    # 16 images of 8x8 enlarged to 32x32, 8 per row with 2 pixels of padding: 2 rows
    assert (images[0].width, images[0].height) == (8 * 34 + 2, 2 * 34 + 2)
    from PIL import Image
    import io

    decoded = np.asarray(Image.open(io.BytesIO(images[0].encoded_image_string)))
    assert decoded.shape[:2] == (70, 274) and decoded[2, 2, 0] == 0  # the first pixel of the first sample is -1
    config = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(config.strip("`\n")) == json.loads(json.dumps(_trial().to_dict()))
    # resumed from the checkpoint at D step 100: the earlier run's events from step 100 on are dropped
    with open_sinks(_trial(), out, {"tensorboard": True}, resume_step=100) as sinks:
        sinks.log_eval(100, _record(100, 41.0), None, None)
    assert [(e.step, e.value) for e in _events(out / "tensorboard").Scalars("val/fid")] == [(100, 41.0)]


def test_tensorboard_toy_scatter(tmp_path):
    out = tmp_path / "t"
    points = torch.tensor([[0.5, 0.0], [-0.5, 0.001], [0.0, 0.3]])
    with open_sinks(_trial("ring8"), out, {"tensorboard": True}) as sinks:
        sinks.log_eval(50, {"d_steps": 50, "mode_tv": 0.4}, points, TOY)
    acc = _events(out / "tensorboard")
    assert acc.Scalars("val/mode_tv")[0].value == pytest.approx(0.4)
    assert acc.Images("samples")[0].width > 200  # the matplotlib scatter, rendered
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # the figure was closed


def test_no_sinks_and_images_off(tmp_path):
    sinks = open_sinks(_trial(), tmp_path, None)
    assert not sinks
    sinks.log_eval(1, _record(1, 1.0), torch.zeros(1, 1, 8, 8), IMAGE)  # nothing to do, nothing written
    assert list(tmp_path.iterdir()) == []
    with open_sinks(_trial(), tmp_path, {"tensorboard": True, "images": False}) as sinks:
        sinks.log_eval(1, _record(1, 1.0), torch.zeros(1, 1, 8, 8), IMAGE)
    assert "samples" not in _events(tmp_path / "tensorboard").Tags()["images"]


def test_a_missing_package_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name))
    with pytest.raises(GanbenchError) as err:
        check_sinks({"tensorboard": True}, "suites/x.yaml")
    assert str(err.value) == ("suites/x.yaml: logging.tensorboard: true needs the tensorboard package, which is not "
                              "installed; pip install 'ganbench[tensorboard]' (or set logging.tensorboard: false)")
    check_sinks({"tensorboard": False})  # not asked: nothing needed


def test_mlflow_run_per_trial(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'ganbench[mlflow]'")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient

    out = tmp_path / "results" / "trials" / "abc"
    samples = torch.zeros(4, 1, 8, 8)
    with open_sinks(_trial(), out, {"mlflow": True}) as sinks:
        sinks.log_eval(100, _record(100, 40.0), samples, IMAGE)
    run_id = (out / "mlflow_run_id").read_text().strip()
    client = MlflowClient(tracking_uri=(tmp_path / "results" / "mlruns").as_uri())
    run = client.get_run(run_id)
    assert run.info.run_name == _trial().id and run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.0001" and run.data.tags["ganbench.gan"] == "wgan-gp"
    assert client.get_experiment(run.info.experiment_id).name == "study"
    with open_sinks(_trial(), out, {"mlflow": True}, resume_step=100) as sinks:  # a resumed trial: the same run
        sinks.log_eval(200, _record(200, 30.0), None, None)
    assert (out / "mlflow_run_id").read_text().strip() == run_id
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val/fid")] == [(100, 40.0), (200, 30.0)]
    assert [a.path for a in client.list_artifacts(run_id, "samples")] == ["samples/d_steps_000000100.png"]


def test_logging_is_a_suite_field_outside_trial_identity(tmp_path):
    from ganbench.suite.expand import expand

    base = "name: s\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nbudget: {d_steps: 10}\n"
    plain, logged = tmp_path / "a.yaml", tmp_path / "b.yaml"
    plain.write_text(base)
    logged.write_text(base + "logging: {tensorboard: true, images: false}\n")
    suite = load_suite(logged)
    assert suite.logging.tensorboard and not suite.logging.images and not suite.logging.mlflow
    assert [t.id for t in expand(load_suite(plain))] == [t.id for t in expand(suite)]
    bad = tmp_path / "c.yaml"
    bad.write_text(base + "logging: {tensorbord: true}\n")
    with pytest.raises(GanbenchError, match="logging"):
        load_suite(bad)
    assert json.loads(suite.logging.model_dump_json()) == {"tensorboard": True, "mlflow": False,
                                                           "mlflow_tracking_uri": None, "images": False}
