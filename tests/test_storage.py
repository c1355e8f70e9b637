"""A suite on a two-node Ray cluster (both nodes on this machine, loopback) whose only storage is an object store: an
S3-protocol server on loopback (moto's server mode) started and stopped here. No trial may write into the driver's
results directory (an audit hook in every worker records any write there), every file must reach it through the
store, and each node fetches the cache files it lacks once."""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ganbench.suite.schema import load_suite
from ganbench.registry import GanbenchError
from ganbench.execution.tune import run_suite
from ganbench.execution.storage import MANIFEST, Storage, gather, harvest, open_storage, read_manifest, write_manifest

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


@pytest.mark.slow
def test_object_store_storage_on_two_nodes(tmp_path, tiny_suite, s3, monkeypatch):
    import ray
    from ray.cluster_utils import Cluster

    import ganbench.execution.monitor

    uri, client = s3
    results, audit = tmp_path / "results", tmp_path / "audit.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("GANBENCH_TEST_FORBID", str(results))
    monkeypatch.setenv("GANBENCH_TEST_AUDIT_LOG", str(audit))
    caches = {"head": tmp_path / "cache-head", "worker": tmp_path / "cache-worker"}  # each node its own cache
    gathered = []
    real_gather = ganbench.execution.monitor.gather

    def spy(fs, path, res, manifest=None):  # the driver's side: where every gathered file comes from
        gathered.append((fs.type_name, path))
        return real_gather(fs, path, res, manifest)

    monkeypatch.setattr(ganbench.execution.monitor, "gather", spy)
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
    per_node = frame.node_id.value_counts()
    print("trials per node:", {("head" if n == head else "worker"): int(c) for n, c in per_node.items()})
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


# ------------------------------------------------------------------------------ the storage helpers on their own
def _checkpoint(root: Path, members: dict, files: dict) -> Path:
    """A reported working directory: files (relative path -> bytes) and its manifest."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    write_manifest(root, members, "checkpoint")
    return root


def _local():
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem()


def test_gather_copies_only_members_files_history_before_checkpoint_summary_last(tmp_path, monkeypatch):
    import ganbench.execution.storage

    files = {"trials/a/summary.json": b"{}", "trials/a/checkpoint.pt": b"ck", "trials/a/metrics.jsonl": b"{}\n",
             "trials/a/samples.png": b"png", "trials/b/metrics.jsonl": b"not a member", "loose.txt": b"x"}
    ck = _checkpoint(tmp_path / "ck", {"a": {"status": "completed", "d_steps": 10}}, files)
    copied = []
    real_copy = ganbench.execution.storage.copy_from
    monkeypatch.setattr(ganbench.execution.storage, "copy_from", lambda fs, src, dest: (copied.append(dest.name),
                                                                               real_copy(fs, src, dest)))
    results = tmp_path / "results"
    manifest = gather(_local(), str(ck), results)
    assert manifest["members"] == {"a": {"status": "completed", "d_steps": 10}}
    assert copied[-2:] == ["checkpoint.pt", "summary.json"] and sorted(copied[:2]) == ["metrics.jsonl", "samples.png"]
    assert {p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()} == \
        {rel for rel in files if rel.startswith("trials/a/")}
    assert (results / "trials/a/checkpoint.pt").read_bytes() == b"ck"


def test_a_checkpoint_cut_short_is_never_gathered(tmp_path):
    ck = _checkpoint(tmp_path / "ck", {"a": {"status": "running", "d_steps": 5}},
                     {"trials/a/checkpoint.pt": b"0123456789", "trials/a/metrics.jsonl": b"{}\n"})
    (ck / "trials/a/checkpoint.pt").write_bytes(b"01234")  # torn by a crash during the upload
    assert read_manifest(_local(), str(ck)) is None
    assert gather(_local(), str(ck), tmp_path / "results") is None and not (tmp_path / "results").exists()
    (ck / MANIFEST).unlink()  # or the manifest never arrived
    assert read_manifest(_local(), str(ck)) is None


def test_harvest_takes_each_runs_latest_complete_checkpoint_then_removes_the_run(tmp_path):
    root = tmp_path / "results" / "_ray"
    store = Storage(_local(), str(root), str(root), default=True)
    run = root / "s.run-20260101-000000" / "trial_a"
    _checkpoint(run / "checkpoint_000001", {"a": {"status": "running", "d_steps": 300}},
                {"trials/a/checkpoint.pt": b"at 300", "trials/a/metrics.jsonl": b"300\n"})
    newer = _checkpoint(run / "checkpoint_000002", {"a": {"status": "running", "d_steps": 400}},
                        {"trials/a/checkpoint.pt": b"at 400", "trials/a/metrics.jsonl": b"400\n"})
    (newer / "trials/a/checkpoint.pt").write_bytes(b"at")  # the newer one is incomplete
    done = root / "s.run-20260101-000000" / "trial_b" / "checkpoint_000003"
    _checkpoint(done, {"b": {"status": "completed", "d_steps": 500}}, {"trials/b/summary.json": b'{"x": 1}'})
    other = root / "other.run-20260101-000000"
    other.mkdir(parents=True)
    results = tmp_path / "results"
    (results / "trials" / "b").mkdir(parents=True)
    (results / "trials" / "b" / "summary.json").write_text('{"status": "completed"}')  # finished here: kept
    logs = []
    assert harvest(store, "s", results, lambda tid: 0, logs.append) == 1
    assert (results / "trials/a/checkpoint.pt").read_bytes() == b"at 300"
    assert json.loads((results / "trials/b/summary.json").read_text()) == {"status": "completed"}
    assert not (root / "s.run-20260101-000000").exists() and other.is_dir()  # another suite's run is left alone
    assert "gathered 1 trial left in" in logs[0]
    # a results directory already further along than storage keeps its own files
    _checkpoint(root / "s.run-20260102-000000/trial_a/checkpoint_000001", {"a": {"status": "running", "d_steps": 100}},
                {"trials/a/checkpoint.pt": b"at 100"})
    assert harvest(store, "s", results, lambda tid: 300, logs.append) == 0
    assert (results / "trials/a/checkpoint.pt").read_bytes() == b"at 300"


def test_storage_options_that_cannot_work_are_one_line(tmp_path):
    with pytest.raises(GanbenchError, match=r"^--storage nosuch://x/y: not a path or a URI pyarrow can open"):
        open_storage("nosuch://x/y", tmp_path)
    (tmp_path / "file").write_text("a file")
    with pytest.raises(GanbenchError, match=r"^--storage .*/file/sub: cannot write there"):
        open_storage(str(tmp_path / "file" / "sub"), tmp_path)
    local = open_storage(str(tmp_path / "shared"), tmp_path / "results")
    assert local.path == str(tmp_path / "shared") and not local.default and not list((tmp_path / "shared").iterdir())
    default = open_storage(None, tmp_path / "results")
    assert default.default and default.path == str(tmp_path / "results" / "_ray") and not Path(default.path).exists()


@pytest.mark.parametrize("args, fragment", [
    (["--max-failures", "-1"], "--max-failures: expected a whole number >= 0, got -1"),
    (["--storage", "nosuch://x"], "--storage nosuch://x: not a path or a URI pyarrow can open"),
])
def test_run_options_mistakes_from_the_command_line(args, fragment, tiny_suite, tmp_path, capsys):
    from ganbench.cli import main

    try:
        code = main(["run", str(tiny_suite), "--results", str(tmp_path / "r"), *args])
    except SystemExit as exit_:  # argparse's mistakes
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
