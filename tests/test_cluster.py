"""`ganbench run --address`: trials spread over an existing two-node Ray cluster (both nodes on this machine,
on loopback, made with ray.cluster_utils.Cluster)."""
import pandas as pd
import pytest

from ganbench.config import load_suite
from ganbench.runner import run_suite

pytestmark = pytest.mark.slow


def test_two_node_cluster(tmp_path, tiny_suite):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        suite = load_suite(tiny_suite, ["budget.d_steps=200"])
        counts = run_suite(suite, tmp_path / "r", address=cluster.address, log=lambda s: None)
        assert counts == {"completed": 4}
        frame = pd.read_csv(tmp_path / "r" / "trials.csv")
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]} if ray.is_initialized() else None
        assert frame.node_id.nunique() == 2, frame.node_id.tolist()
        if nodes:
            assert set(frame.node_id) <= nodes
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
