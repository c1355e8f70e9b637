"""A suite on a two-node Ray cluster (both nodes on this machine, loopback) whose only storage is an object store: an
S3-protocol server on loopback (moto's server mode) started and stopped here. No trial may write into the driver's
results directory (an audit hook in every worker records any write there), every file must reach it through the
store, and each node fetches the cache files it lacks once."""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ganbench.config import load_suite
from ganbench.runner import run_suite

pytestmark = pytest.mark.slow
TESTS = Path(__file__).parent
BUCKET = "ganbench-test"


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on 127.0.0.1 (random port) with one bucket; yields (storage URI, boto3 client)."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)  # before the cluster starts: its nodes inherit them
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield f"s3://{BUCKET}/runs?endpoint_override={host}:{port}&scheme=http&region=us-east-1", client
    finally:
        server.stop()


def test_object_store_storage_on_two_nodes(tmp_path, tiny_suite, s3, monkeypatch):
    import ray
    from ray.cluster_utils import Cluster

    import ganbench.progress

    uri, client = s3
    results, audit = tmp_path / "results", tmp_path / "audit.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("GANBENCH_TEST_FORBID", str(results))
    monkeypatch.setenv("GANBENCH_TEST_AUDIT_LOG", str(audit))
    caches = {"head": tmp_path / "cache-head", "worker": tmp_path / "cache-worker"}  # each node its own cache
    gathered = []
    real_gather = ganbench.progress.gather

    def spy(fs, path, res, manifest=None):  # the driver's side: where every gathered file comes from
        gathered.append((fs.type_name, path))
        return real_gather(fs, path, res, manifest)

    monkeypatch.setattr(ganbench.progress, "gather", spy)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "env_vars": {"GANBENCH_CACHE": str(caches["head"])}})
    try:
        cluster.add_node(num_cpus=1, env_vars={"GANBENCH_CACHE": str(caches["worker"])})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, runtime_env={"worker_process_setup_hook": "worker_hooks.install"})
        suite = load_suite(tiny_suite, ["budget.d_steps=80", "resources.checkpoint_every_d_steps=40"])
        counts = run_suite(suite, results, storage=uri, log=lambda s: None)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        head = cluster.head_node.node_id
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()

    assert counts == {"completed": 4}
    frame = pd.read_csv(results / "trials.csv")
    assert frame.node_id.nunique() == 2 and set(frame.node_id) == nodes, frame.node_id.tolist()
    assert set(frame.device) == {"cpu"}
    for tid in frame.trial_id:
        assert {"config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "samples.png"} <= \
               {p.name for p in (results / "trials" / tid).iterdir()}
    # every file came out of the object store, gathered from s3
    assert gathered and {kind for kind, _ in gathered} == {"s3"}
    assert all(path.startswith(f"{BUCKET}/runs/tiny.run-") for _, path in gathered)
    assert len(gathered) == 4 * 2  # per trial: the checkpoint at D step 40, and the end
    # no worker wrote into the results directory, and the audit ran in workers of both nodes
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {r["path"] for r in records if r["event"] == "installed"} == nodes
    assert [r for r in records if r["event"] != "installed"] == []
    # one copy of each file: the run's directory is gone from the store once gathered
    left = client.list_objects_v2(Bucket=BUCKET, Prefix="runs/").get("Contents", [])
    assert [o["Key"] for o in left if not o["Key"].endswith("/")] == []
    assert not (results / "_ray").exists()
    # the digits trials' cache files (classifier, reference statistics) reached each node that ran one, once
    digits = frame[frame.dataset == "digits"]
    summaries = {tid: json.loads((results / "trials" / tid / "summary.json").read_text()) for tid in digits.trial_id}
    driver_files = {p.relative_to(Path(os.environ["GANBENCH_CACHE"])) for p in
                    Path(os.environ["GANBENCH_CACHE"]).rglob("*") if p.is_file() and not p.name.startswith(".")}
    for node, group in digits.groupby("node_id"):
        fetched = sum(summaries[tid]["cache_files_fetched"] for tid in group.trial_id)
        cache = caches["head"] if node == head else caches["worker"]
        held = {p.relative_to(cache) for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")}
        assert fetched == len(held) >= 3 and held <= driver_files  # classifier + val and test statistics
        for rel in held:
            assert (cache / rel).read_bytes() == (Path(os.environ["GANBENCH_CACHE"]) / rel).read_bytes()
