"""ganbench.results owns the result files' formats: score keys of summary.json / trials.csv and baselines.json,
read by the trainer's side and the report's side through the same functions."""
import json

import pytest

from ganbench.registry import GanbenchError
from ganbench.results import BASELINES_VERSION, parse_score_key, read_baselines_file, score_key, \
    write_baselines_file


@pytest.mark.parametrize("key, parsed", [
    ("best_fid", ("best", "fid")), ("final_mode_tv", ("final", "mode_tv")),
    ("best_val_fid", ("best_val", "fid")),  # the validation value that chose the generator, not a test score
    ("best_val_loss", ("best_val", "loss")), ("best_d_steps", None), ("best_", None), ("primary", None),
    ("fid", None), ("milestone_d_steps_100_fid", None),
])
def test_score_keys_are_parsed_in_one_place(key, parsed):
    assert parse_score_key(key) == parsed
    if parsed:
        assert score_key(*parsed) == key


def test_score_key_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="allowed: best_val, best, final"):
        score_key("worst", "fid")


RECORD = {"dataset": "ring8", "dataset_options": {}, "split": "test", "extractor": None, "n_real": 100,
          "n_fake": 100, "metrics": {}}


def test_baselines_file_round_trip_and_both_readers(tmp_path):
    from ganbench.evaluation.baselines import read_baselines as driver_reads
    from ganbench.report.baselines import read_baselines as report_reads

    assert read_baselines_file(tmp_path / "baselines.json") == [] == report_reads(tmp_path)
    write_baselines_file(tmp_path / "baselines.json", [RECORD])
    assert json.loads((tmp_path / "baselines.json").read_text())["version"] == BASELINES_VERSION
    assert driver_reads(tmp_path / "baselines.json") == report_reads(tmp_path) == [RECORD]


@pytest.mark.parametrize("content, why", [
    ("{torn", "baselines.json is unreadable"),
    ("[1, 2]", "holds a JSON list, not an object"),
    ('{"version": 2, "baselines": []}', "version 2, this ganbench reads 1"),
    ('{"version": 1}', "no list of records under 'baselines'"),
    ('{"version": 1, "baselines": [{"dataset": "ring8"}]}', "baselines[0] lacks dataset_options, split"),
])
def test_a_foreign_baselines_file_is_one_clear_error_for_both_readers(tmp_path, content, why):
    from ganbench.report.baselines import read_baselines as report_reads

    (tmp_path / "baselines.json").write_text(content)
    for read in (lambda: read_baselines_file(tmp_path / "baselines.json"), lambda: report_reads(tmp_path)):
        with pytest.raises(GanbenchError) as err:
            read()
        line = str(err.value)
        assert "\n" not in line and line.startswith(f"{tmp_path / 'baselines.json'}: not a ganbench baselines file")
        assert why in line and "move it away" in line
