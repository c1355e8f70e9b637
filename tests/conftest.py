"""Test settings: local Ray on loopback only, caches in a temporary directory, no Ray dashboard."""
import os
import tempfile

# Ray reads this at import; with it every process of a local Ray instance listens on 127.0.0.1 only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("GANBENCH_CACHE", tempfile.mkdtemp(prefix="ganbench-test-cache-"))

import pytest  # noqa: E402

SUITE = """
name: tiny
datasets: [ring8, digits]
gans: [ns, wgan-gp]
architectures: [mlp]
seeds: [0]
budget: {d_steps: 60}
eval: {every_d_steps: 30, n_samples: 400}
"""


@pytest.fixture
def tiny_suite(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return path


def load_bench(name: str):
    """A script of bench/ (bench/NAME.py) imported as a module, for the tests of its arithmetic."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
