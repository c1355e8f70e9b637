"""`ganbench run --address`: trials on an existing multi-node Ray cluster (every node on this machine, loopback,
made with ray.cluster_utils.Cluster), with the default storage (a local path every node here can reach): a node
lost while its trial runs, and fractional GPUs declared on a CPU machine."""
import threading
import time

import pandas as pd
import pytest
import torch

from ganbench.suite.schema import load_suite
from ganbench.execution.tune import checkpoint_d_steps, run_suite

pytestmark = pytest.mark.slow
FAST_HEALTH_CHECKS = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}

RING8 = """
name: ring
datasets: [ring8]
gans: [ns]
architectures: [mlp]
seeds: {seeds}
budget: {{d_steps: {steps}}}
eval: {{every_d_steps: {every}, n_samples: 400}}
resources: {resources}
"""


def _cluster(head_cpus: int, **head):
    from ray.cluster_utils import Cluster

    return Cluster(initialize_head=True, head_node_args={"num_cpus": head_cpus, "include_dashboard": False,
                                                         "_system_config": FAST_HEALTH_CHECKS, **head})


def test_a_lost_node_restarts_its_trial_from_its_last_checkpoint(tmp_path):
    import ray

    path = tmp_path / "ring.yaml"
    path.write_text(RING8.format(seeds="[0, 1]", steps=2000, every=1000,
                                 resources="{checkpoint_every_d_steps: 200, max_failures: 2}"))
    results = tmp_path / "results"
    cluster = _cluster(1)
    lost_at: dict = {}
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        head = cluster.head_node.node_id

        def remove_the_worker_after_checkpoints():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not lost_at:
                ids = [p.name for p in (results / "trials").glob("*")] if (results / "trials").is_dir() else []
                steps = {tid: checkpoint_d_steps(results, tid) for tid in ids}
                if len(steps) == 2 and min(steps.values()) >= 600:  # both trials (one per node) checkpointed
                    lost_at.update(steps)
                    cluster.remove_node(worker, allow_graceful=False)
                time.sleep(0.2)

        watcher = threading.Thread(target=remove_the_worker_after_checkpoints, daemon=True)
        watcher.start()
        logs: list[str] = []
        counts = run_suite(load_suite(path), results, log=logs.append)
        watcher.join(timeout=10)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()

    assert lost_at, "the trials never checkpointed"
    assert counts == {"completed": 2}
    frame = pd.read_csv(results / "trials.csv").set_index("trial_id")
    resumed = frame[frame.resumed_from.fillna(0) > 0]
    assert len(resumed) == 1, frame[["node_id", "resumed_from"]]  # the trial of the lost node, and only it
    (tid, row), = resumed.iterrows()
    assert row.resumed_from >= lost_at[tid] and row.resumed_from % 200 == 0 and row.d_steps == 2000
    assert set(frame.node_id) == {head}  # both finished on the node that was left
    assert any(line.startswith(f"lost {tid}") for line in logs), logs
    print(f"resumed {tid} from D step {row.resumed_from:.0f} of 2000 after losing its node")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a trial granted a GPU now fails without CUDA instead of "
                    "falling back to the CPU (issue 18); fractional GPU sharing needs a CUDA machine to test")
def test_fractional_gpus_put_four_trials_on_one_logical_gpu(tmp_path):
    import ray
    import torch

    path = tmp_path / "ring.yaml"
    path.write_text(RING8.format(seeds="[0, 1, 2, 3]", steps=400, every=200, resources="{cpu: 1, gpu: 0.25}"))
    results = tmp_path / "results"
    cluster = _cluster(0)  # the head only runs the driver
    try:
        gpu_node = cluster.add_node(num_cpus=4, num_gpus=1)  # a logical GPU: Ray schedules it, CUDA need not exist
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        counts = run_suite(load_suite(path), results, log=lambda s: None)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()

    assert counts == {"completed": 4}
    frame = pd.read_csv(results / "trials.csv")
    assert set(frame.node_id) == {gpu_node.node_id}
    assert set(frame.ray_gpu) == {0.25}
    # Ray hands each trial GPU 0; without CUDA the trainer falls back to the CPU and says so in trials.csv
    assert set(frame.device) == {"cuda:0" if torch.cuda.is_available() else "cpu"}
    starts = frame.started_at
    ends = frame.started_at + frame.wall_seconds
    assert starts.max() < ends.min(), "the four trials did not share the GPU at the same time"
