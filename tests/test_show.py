"""`ganbench show VARIANT` prints every resolved default; `ganbench list` marks which datasets work offline."""
from __future__ import annotations

import re

from ganbench.cli import main
from ganbench.suite.schema import HParams
from ganbench.datasets import DATASETS
from ganbench.zoo.variants import VARIANTS


def test_show_prints_every_hparam_with_its_resolved_value(capsys):
    assert main(["show", "wgan-gp-lucic", "ls-lucic"]) == 0
    out = capsys.readouterr().out
    first, second = out.split("\n\n")
    rows = dict(re.findall(r"^  (\w+)\s+(.+?)$", first, re.M))
    assert set(rows) == set(HParams.model_fields)
    expected = HParams(**VARIANTS.get("wgan-gp-lucic").defaults)
    for name, shown in rows.items():
        value, _, star = shown.partition("  ")
        assert value == repr(getattr(expected, name)), name
        assert (star == "*") == (name in VARIANTS.get("wgan-gp-lucic").defaults), name
    assert "loss: wgan (no options)" in first
    assert "penalty: gp (eps=0.0001), weight penalty_weight=10.0" in first
    assert "loss: ls (form='compare_gan')" in second
    assert "penalty: none (no options)" in second


def test_show_fgan_and_began_losses(capsys):
    assert main(["show", "fgan-kl", "began"]) == 0
    out = capsys.readouterr().out
    assert "loss: fgan-kl (generator='fgan')" in out and "loss: began (autoencoder reconstruction" in out


def test_show_unknown_variant_is_a_one_line_error(capsys):
    assert main(["show", "ns-lucc"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "did you mean 'ns-lucic'" in err


def test_list_marks_datasets_offline_or_download(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    section = out.split("\ndatasets", 1)[1].split("\nmetrics", 1)[0]
    marks = dict(re.findall(r"^  ([\w-]+)\s+\[(offline|download)\]", section, re.M))
    assert set(marks) == set(DATASETS.names())
    assert {n for n, m in marks.items() if m == "offline"} >= {"digits", "grid25", "ring8", "polygons"}
    assert {n for n, m in marks.items() if m == "download"} == {"mnist", "fashion-mnist", "cifar10", "celeba"}
    assert "ganbench show VARIANT" in out
