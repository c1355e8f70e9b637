"""Every shipped suite validates offline (no dataset files needed: validation reads dataset metadata and builds each
model once), the way `ganbench validate` does, and the reference suites expand to the sizes their headers state."""
from __future__ import annotations

from pathlib import Path

import pytest

from ganbench.cli import main
from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand

SUITES = sorted(str(p.relative_to(Path(__file__).parents[1]))
                for p in (Path(__file__).parents[1] / "suites").rglob("*.yaml"))
REFERENCE_SIZES = {
    **{f"suites/lucic2018/{d}.yaml": 700 for d in ("mnist", "fashion-mnist", "cifar10", "celeba")},
    **{f"suites/lucic2018/{d}-narrow.yaml": 350 for d in ("mnist", "fashion-mnist", "cifar10", "celeba")},
    "suites/kurach2019-cifar10.yaml": 720, "suites/kurach2019-celeba.yaml": 720,
    "suites/fgan.yaml": 120, "suites/practices.yaml": 110, "suites/pacgan2d-toys.yaml": 40,
    "suites/gpu/cifar10-r3gan.yaml": 7, "suites/gpu/cifar10-studiogan-dcgan.yaml": 7,
    "suites/gpu/cifar10-studiogan-sngan.yaml": 6, "suites/cpu/r3gan.yaml": 90, "suites/cpu/r3gan-flops.yaml": 90,
    # phase 1; their headers give both phases
}


@pytest.fixture(autouse=True)
def in_repo_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])


def test_reference_suites_are_shipped():
    assert set(REFERENCE_SIZES) <= set(SUITES)


@pytest.mark.parametrize("path", SUITES)
def test_suite_validates(path, capsys):
    assert main(["validate", path]) == 0
    assert f"{path}: valid" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(REFERENCE_SIZES))
def test_reference_suite_sizes(path):
    trials = expand(load_suite(path))
    assert len(trials) == REFERENCE_SIZES[path]
    assert len({t.id for t in trials}) == len(trials)


def test_lucic_searches_start_at_the_author_defaults():
    trials = expand(load_suite("suites/lucic2018/mnist.yaml"))
    first = {t.gan: t.hparams for t in trials if t.sample == 0}
    assert (first["ns-lucic"]["lr"], first["ns-lucic"]["beta1"], first["ns-lucic"]["d_norm"]) == (5e-5, 0.0, "batch")
    assert (first["wgan-lucic"]["clip"], first["wgan-lucic"]["n_disc"]) == (0.01, 5)
    assert (first["wgan-gp-lucic"]["penalty_weight"], first["wgan-gp-lucic"]["d_norm"]) == (10.0, "none")
    assert (first["began-lucic"]["began_gamma"], first["began-lucic"]["began_lambda_k"]) == (0.75, 1e-3)
    later = [t.hparams for t in trials if t.sample == 1]
    assert len({h["lr"] for h in later}) == 1  # paired: every GAN's sample 1 has the same lr
    narrow = expand(load_suite("suites/lucic2018/mnist-narrow.yaml"))
    dragan = {t.sample: t.hparams["d_norm"] for t in narrow if t.gan == "dragan-lucic"}
    assert dragan[0] == "batch" and {dragan[i] for i in range(1, 50)} == {"none"}  # compare_gan's narrow DRAGAN
