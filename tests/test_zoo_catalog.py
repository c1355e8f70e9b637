"""``ganbench list`` and ``ganbench show`` describe every loss, penalty, training option (augmentation, CR/bCR, EMA),
augmentation transform and metric with its reference: a part registered without a description naming its paper
fails here, and so does an augmentation method or transform the trainer knows but the catalogue does not."""
import re
import typing

import pytest

from ganbench.cli import main
from ganbench.evaluation import METRICS
from ganbench.suite.schema import HParams
from ganbench.zoo.augment import GROUPS, PRIMITIVES
from ganbench.zoo.losses import LOSSES
from ganbench.zoo.options import OPTIONS, TRANSFORMS
from ganbench.zoo.penalties import PENALTIES
from ganbench.zoo.variants import VARIANTS

# "Goodfellow 2014", "Lim & Ye 2017", "Kynkaanniemi et al. 2019", "Jolicoeur-Martineau 2018"
REFERENCE = re.compile(r"\b[A-Z][A-Za-z'\-]+(?: et al\.| & [A-Z][A-Za-z\-]+)? (?:19|20)\d\d\b")
NO_PAPER = {("penalty", "none"), ("metric", "memorisation")}  # no penalty; ganbench's own nearest-neighbour check
PARTS = [(reg, name) for reg in (LOSSES, PENALTIES, OPTIONS, TRANSFORMS, METRICS) for name in reg.names()
         if (reg.kind, name) not in NO_PAPER]


@pytest.mark.parametrize("reg, name", PARTS, ids=[f"{r.kind}:{n}" for r, n in PARTS])
def test_every_registered_part_has_a_description_with_its_reference(reg, name):
    assert len(reg.help(name)) > 20 and REFERENCE.search(reg.help(name)), f"{reg.kind} {name}: {reg.help(name)!r}"


def test_every_variant_names_its_reference():
    missing = [n for n in VARIANTS.names() if not REFERENCE.search(VARIANTS.get(n).reference)]
    assert missing == []


def test_the_reference_pattern_has_teeth():
    assert not REFERENCE.search("no penalty (returns 0)") and not REFERENCE.search("FD in DINOv2 features")
    assert all(REFERENCE.search(s) for s in ("Lim & Ye 2017", "Kynkaanniemi et al. 2019", "(Jolicoeur-Martineau 2018)"))


def test_the_catalogue_knows_every_augmentation_method_transform_and_option():
    methods = set(typing.get_args(HParams.model_fields["augment"].annotation)) - {"none"}
    assert methods | {"cr", "bcr", "ema"} == set(OPTIONS.names())
    assert set(PRIMITIVES) | set(GROUPS) == set(TRANSFORMS.names())


def test_list_prints_each_part_with_its_description(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for title in ("training options:", "augmentation transforms:"):
        assert any(line.startswith(title) for line in lines)
    for reg, name in PARTS:
        assert any(line.split()[:1] == [name] and line.endswith(reg.help(name)) for line in lines), name


@pytest.mark.parametrize("name, kind, words", [
    ("ada", "training option", "Karras et al. 2020"), ("diffaugment", "training option", "Zhao et al. 2020"),
    ("cr", "training option", "Zhang et al. 2020"), ("bcr", "training option", "Zhao et al. 2021"),
    ("ema", "training option", "half-life"), ("cutout", "augmentation transform", "Zhao et al. 2020"),
    ("r2", "penalty", "Mescheder 2018"), ("lecam", "penalty", "Tseng 2021"),
    ("fd_dinov2", "metric", "Stein et al. 2023"), ("cmmd", "metric", "Jayasumana et al. 2024"),
])
def test_show_describes_a_part_that_is_not_a_variant(capsys, name, kind, words):
    assert main(["show", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{name} ({kind}): ") and words in out


def test_show_prefers_the_variant_and_refuses_an_unknown_name_in_one_line(capsys):
    assert main(["show", "rpgan"]) == 0
    assert "reference: Jolicoeur-Martineau 2018" in capsys.readouterr().out  # the variant, not the bare loss
    assert main(["show", "adda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown name 'adda' (did you mean 'ada'?)" in err
