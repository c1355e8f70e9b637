"""ganbench.paths: the cache root a trial is given, the data root, atomic writes."""
import os

import pytest

from ganbench import paths


def test_cache_root_given_to_a_trial_wins_inside_the_block(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "env"))
    assert paths.cache_dir() == tmp_path / "env"
    with paths.using_cache(tmp_path / "given"):
        assert paths.cache_dir() == tmp_path / "given"
        with paths.using_cache(None):  # None leaves it as it is
            assert paths.cache_dir() == tmp_path / "given"
    assert paths.cache_dir() == tmp_path / "env"


def test_data_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "env"))
    assert paths.data_root(tmp_path / "suite") == tmp_path / "suite"
    assert paths.data_root() == tmp_path / "env"


def test_atomic_open_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "sub" / "f.json"
    paths.atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with paths.atomic_open(target) as f:
            f.write(b"half a fi")
            raise RuntimeError("interrupted")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert os.listdir(target.parent) == ["f.json"]  # no temporary file left behind
    with pytest.raises(ValueError):
        with paths.atomic_open(target, "ab"):
            pass
