import pytest

from ganbench.suite.schema import load_suite
from ganbench.suite.expand import expand

BASE = """name: s
datasets: [ring8, grid25]
gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}]
architectures: [mlp]
hparams: {lr: 'loguniform(1e-4, 1e-3)', batch_size: [32, 64]}
search: {num_samples: 3, seed: 7}
seeds: [0, 1]
budget: {d_steps: 10}
"""


def suite(tmp_path, text=BASE, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return load_suite(p)


def test_counts_ids_and_precedence(tmp_path):
    trials = expand(suite(tmp_path))
    # 2 datasets x 2 GANs x 1 architecture x (3 draws x 2 grid points) x 2 seeds
    assert len(trials) == 2 * 2 * 6 * 2
    assert len({t.id for t in trials}) == len(trials)
    for t in trials:
        assert 1e-4 <= t.hparams["lr"] <= 1e-3 and t.hparams["batch_size"] in (32, 64)
        if t.gan == "wgan-gp":  # GAN entry > suite hparams > preset defaults
            assert t.hparams["n_disc"] == 3 and t.hparams["penalty_weight"] == 10.0 and t.penalty == "gp"
            assert t.hparams["beta2"] == 0.9
        else:
            assert t.hparams["n_disc"] == 1 and t.penalty == "none"
    # the two seeds of one sample share every hyperparameter
    pairs = {}
    for t in trials:
        pairs.setdefault((t.dataset, t.gan, t.sample), []).append(t)
    assert all(len(v) == 2 and v[0].hparams == v[1].hparams for v in pairs.values())


def test_expansion_is_stable_and_additive(tmp_path):
    before = expand(suite(tmp_path))
    assert [t.id for t in before] == [t.id for t in expand(suite(tmp_path))]
    # adding a variant (and reordering) adds trials without touching the old ones
    more = BASE.replace("gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}]",
                        "gans: [ls, {name: wgan-gp, hparams: {n_disc: 3}}, ns]")
    after = expand(suite(tmp_path, more, "t.yaml"))
    old, new = {t.id for t in before}, {t.id for t in after}
    assert old < new
    assert {t.gan for t in after if t.id not in old} == {"ls"}


def test_id_ignores_suite_name_but_not_config(tmp_path):
    a = expand(suite(tmp_path))
    b = expand(suite(tmp_path, BASE.replace("name: s", "name: other"), "o.yaml"))
    assert [t.id for t in a] == [t.id for t in b]
    c = expand(suite(tmp_path, BASE.replace("d_steps: 10", "d_steps: 11"), "c.yaml"))
    assert not {t.id for t in a} & {t.id for t in c}


def test_trial_round_trips_through_dict(tmp_path):
    from ganbench.suite.expand import Trial

    t = expand(suite(tmp_path))[0]
    assert Trial.from_dict(t.to_dict()).id == t.id
    assert "lr=" in t.describe()


def test_eval_defaults_follow_dataset_kind(tmp_path):
    text = BASE.replace("[ring8, grid25]", "[ring8, digits]") + "eval: {metrics: [fid, modes, kid]}\n"
    by_ds = {t.dataset: t.eval for t in expand(suite(tmp_path, text, "e.yaml"))}
    assert by_ds["ring8"].metrics == ("modes",) and by_ds["ring8"].primary == "mode_tv"
    assert by_ds["digits"].metrics == ("fid", "kid") and by_ds["digits"].extractor == "classifier"


# ---------------------------------------------------------------------------------- ids, paired draws, defaults
NO_SEARCH = """name: s
datasets: [ring8, digits]
gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}, began]
architectures: [mlp]
hparams: {batch_size: [32, 64]}
seeds: [0, 1]
budget: {d_steps: 10}
"""
# computed before reuse_z, bn_style, pac and the search options existed (ganbench at commit 7b6405a)
NO_SEARCH_IDS = ['169df328526f', 'dac0847d7467', 'f9d9d15d521b', '795b8515e704', 'b9366cae3753', '3a86dc9ce23c',
                 '27d51d0781ae', '2add6b04ce49', '3a6f44a9e79f', 'fbdb19ff9af5', 'abddf29e7b09', '6036b173b454',
                 '60e626bc4ec6', 'ed6f6970a10f', 'ae2cecb05d13', '80f241bc28aa', '70818a45d656', 'e498e12908eb',
                 '0e9b4129a996', '3d5b74ff679c', '615e0e9bba82', '98c79de0c11c', '1c6c6736e3c3', 'f3f4b6f88860']
SEARCH = """name: s
datasets: [ring8, grid25]
gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}]
architectures: [mlp]
hparams: {lr: 'loguniform(1e-4, 1e-3)', batch_size: [32, 64], beta1: 'uniform(0, 0.9)'}
search: {num_samples: 3, seed: 7}
seeds: [0, 1]
budget: {d_steps: 10}
"""
SEARCH_UNPAIRED_IDS_START = ['fb4613c6e257', '0b391cba2850', '36ba0eed6ed8', '47a3ce83abe7', '6ae5e098977d']


# The toys' default primary metric became mode_tv after these ids were published: that changes what picks a toy
# trial's best checkpoint, so it is a new trial (a new id). Asking for the old primary gives the old trials back.
OLD_PRIMARY = "eval: {primary: modes}\n"


def test_ids_of_suites_without_search_are_unchanged(tmp_path):
    assert [t.id for t in expand(suite(tmp_path, NO_SEARCH + OLD_PRIMARY))] == NO_SEARCH_IDS
    # a new hyperparameter away from its default is part of the identity
    moved = expand(suite(tmp_path, NO_SEARCH.replace("{batch_size: [32, 64]}", "{batch_size: [32, 64], pac: 2}")
                         + OLD_PRIMARY, "p.yaml"))
    assert not {t.id for t in moved} & set(NO_SEARCH_IDS)


def test_unpaired_draws_are_the_earlier_per_entry_draws(tmp_path):
    trials = expand(suite(tmp_path, SEARCH.replace("seed: 7}", "seed: 7, paired: false}") + OLD_PRIMARY))
    assert [t.id for t in trials][:5] == SEARCH_UNPAIRED_IDS_START


def _by_sample(trials, dataset, gan, key):
    return [t.hparams[key] for t in trials if t.dataset == dataset and t.gan == gan and t.seed == 0
            and t.hparams["batch_size"] == 32]


def test_paired_draws_are_shared_across_gan_entries(tmp_path):
    text = SEARCH.replace("gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}]",
                          "gans: [ns, {name: wgan-gp, hparams: {n_disc: 3}}, "
                          "{name: wide, preset: ns, hparams: {lr: 'loguniform(1e-5, 1e-2)'}}]")
    trials = expand(suite(tmp_path, text))
    for key in ("lr", "beta1"):
        ns, gp = _by_sample(trials, "ring8", "ns", key), _by_sample(trials, "ring8", "wgan-gp", key)
        assert ns == gp and len(set(ns)) == 3
    # another range is another stream; another dataset draws anew; beta1 is still shared
    assert not set(_by_sample(trials, "ring8", "wide", "lr")) & set(_by_sample(trials, "ring8", "ns", "lr"))
    assert _by_sample(trials, "ring8", "wide", "beta1") == _by_sample(trials, "ring8", "ns", "beta1")
    assert _by_sample(trials, "grid25", "ns", "lr") != _by_sample(trials, "ring8", "ns", "lr")
    # adding a searched hyperparameter leaves the others' draws alone
    more = expand(suite(tmp_path, text.replace("beta1: 'uniform(0, 0.9)'", "beta1: 'uniform(0, 0.9)', "
                                               "beta2: 'uniform(0.9, 0.99)'"), "m.yaml"))
    assert _by_sample(more, "ring8", "ns", "lr") == _by_sample(trials, "ring8", "ns", "lr")
    unpaired = expand(suite(tmp_path, SEARCH.replace("seed: 7}", "seed: 7, paired: false}"), "u.yaml"))
    assert _by_sample(unpaired, "ring8", "ns", "lr") != _by_sample(unpaired, "ring8", "wgan-gp", "lr")


def test_first_sample_is_the_default_configuration(tmp_path):
    text = SEARCH.replace("seed: 7}", "seed: 7, first: defaults}")
    trials = expand(suite(tmp_path, text))
    random_first = expand(suite(tmp_path, SEARCH, "r.yaml"))
    # sample 0 (both grid points) takes each variant's defaults: ns the HParams defaults, wgan-gp its preset's
    for t in trials:
        if t.sample in (0, 1):
            expected = {"ns": (2e-4, 0.5), "wgan-gp": (1e-4, 0.5)}[t.gan]
            assert (t.hparams["lr"], t.hparams["beta1"]) == expected
    # later samples are the same random draws as with first: random
    later = lambda ts: [(t.id, t.hparams) for t in ts if t.sample >= 2]  # noqa: E731
    assert later(trials) == later(random_first)


def test_search_default_is_the_last_literal_below_the_distribution(tmp_path):
    from ganbench.suite.expand import search_defaults

    blocks = [{"lr": 1e-4, "beta1": 0.0}, {"lr": 3e-4}, {"lr": "loguniform(1e-5, 1e-2)", "n_disc": "choice([1, 5])"},
              {"beta1": "uniform(0, 1)"}]
    assert search_defaults(blocks) == {"lr": 3e-4, "n_disc": 1, "beta1": 0.0}
    # in a suite: a literal lr in the suite's hparams is the default of the GAN entry that searches lr
    text = SEARCH.replace("hparams: {lr: 'loguniform(1e-4, 1e-3)',", "hparams: {lr: 5.0e-4,").replace(
        "gans: [ns,", "gans: [{name: ns, hparams: {lr: 'loguniform(1e-4, 1e-3)'}},").replace(
        "seed: 7}", "seed: 7, first: defaults}")
    trials = expand(suite(tmp_path, text))
    assert {t.hparams["lr"] for t in trials if t.gan == "ns" and t.sample in (0, 1)} == {5e-4}


def test_search_endpoints_validate_as_half_open(tmp_path):
    """uniform(0, 1) for beta1 < 1 is valid (draws are in [0, 1)); randint's high is exclusive."""
    ok = SEARCH.replace("beta1: 'uniform(0, 0.9)'", "beta1: 'uniform(0, 1)', n_disc: 'randint(1, 6)'")
    trials = expand(suite(tmp_path, ok))
    assert all(0 <= t.hparams["beta1"] < 1 and 1 <= t.hparams["n_disc"] <= 5 for t in trials)
    from ganbench.registry import GanbenchError

    with pytest.raises(GanbenchError, match="beta1"):
        suite(tmp_path, SEARCH.replace("beta1: 'uniform(0, 0.9)'", "beta1: 'uniform(-0.5, 1)'"), "b.yaml")


# sha256 of the comma-joined trial ids of every shipped suite, as the floor-plan commit (a6c8a42) expanded them:
# a field added to a trial must keep them (an edit to a suite file that changes what its trials train must update
# this table on purpose)
SHIPPED_IDS = {
    "suites/cpu/digits.yaml": "17864cd634c7af53",  # 75 trials
    "suites/cpu/toys.yaml": "9a3e502c55f572b6",  # 40 trials
    "suites/dragan.yaml": "c235dfde20038902",  # 36 trials
    "suites/fgan.yaml": "5f744077c05d7db4",  # 120 trials
    "suites/kurach2019-celeba.yaml": "38b5c2ed3576a982",  # 720 trials
    "suites/kurach2019-cifar10.yaml": "18df65832a91e73f",  # 720 trials
    "suites/lucic2018/celeba-narrow.yaml": "8d9108a5a686ad51",  # 350 trials
    "suites/lucic2018/celeba.yaml": "f92efe65c25b2118",  # 700 trials
    "suites/lucic2018/cifar10-narrow.yaml": "c39f27da99b6181a",  # 350 trials
    "suites/lucic2018/cifar10.yaml": "155dfd9c27c62699",  # 700 trials
    "suites/lucic2018/fashion-mnist-narrow.yaml": "d7dfb21d1b4c6657",  # 350 trials
    "suites/lucic2018/fashion-mnist.yaml": "e58a0ed054671241",  # 700 trials
    "suites/lucic2018/mnist-narrow.yaml": "de6e13f104bf612b",  # 350 trials
    "suites/lucic2018/mnist.yaml": "8c087de2c96dcac2",  # 700 trials
    "suites/metrics-offline.yaml": "fe18de8212a4548f",  # 4 trials
    "suites/pacgan2d-cpu.yaml": "89b4ca2cdebc08fc",  # 3 trials
    "suites/pacgan2d-toys.yaml": "28d77ac6079aec31",  # 40 trials
    "suites/practices.yaml": "609a378fc950af1e",  # 110 trials
    "suites/quickstart.yaml": "06ec027160746ed4",  # 8 trials
    "suites/zoo-grid25.yaml": "aa73446330af1bbe",  # 30 trials
}


@pytest.mark.parametrize("path", sorted(SHIPPED_IDS))
def test_shipped_suites_keep_their_trial_ids(path):
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ids = [t.id for t in expand(load_suite(root / path), max_trials=None)]
    assert hashlib.sha256(",".join(ids).encode()).hexdigest()[:16] == SHIPPED_IDS[path]


def test_confirm_and_analysis_keep_the_search_ids(tmp_path):
    plain = expand(suite(tmp_path))
    text = BASE + ("confirm: {seeds: 3}\nanalysis: {margin: {ring8: 0.05}, seed_sd: {grid25: 0.1}, alpha: 0.1}\n")
    declared = expand(suite(tmp_path, text, "c.yaml"))
    assert [t.id for t in plain] == [t.id for t in declared]
    assert {t.phase for t in declared} == {"search"}
    assert {(t.dataset, t.analysis_margin) for t in declared} == {("ring8", 0.05), ("grid25", None)}
    # milestones change what a trial records, so they are part of its identity
    timed = expand(suite(tmp_path, BASE + "analysis: {milestones: [0.5]}\n", "m.yaml"))
    assert not {t.id for t in plain} & {t.id for t in timed}
    assert {t.eval.milestones for t in timed} == {(("d_steps", 5.0),)}


def test_milestones_in_any_unit_resolve_against_the_budget(tmp_path):
    text = BASE + "analysis: {milestones: [0.25, 1.0, {g_steps: 4}, {d_steps: 99}]}\n"
    t = expand(suite(tmp_path, text, "m.yaml"))[0]
    # 0.25 and 1.0 of 10 D steps; a G-step milestone kept as given; a D-step one past the budget dropped
    assert t.eval.milestones == (("d_steps", 2.5), ("d_steps", 10.0), ("g_steps", 4.0))


@pytest.mark.parametrize("bad, message", [
    ("confirm: {seeds: 0}", "confirm.seeds: allowed: a number of seeds >= 1, or adaptive"),
    ("confirm: {seeds: many}", "confirm.seeds: allowed: a number of seeds >= 1, or adaptive"),
    ("confirm: {seeds: adaptive}", "needs max_seeds"),
    ("confirm: {seeds: 5, max_seeds: 10}", "max_seeds applies to seeds: adaptive"),
    ("confirm: {seeds: adaptive, max_seeds: 3, step: 4}", "max_seeds 3 is below step 4"),
    ("confirm: {seeds: 3, seed_offset: 1}", "confirm.seed_offset: confirmation seeds 1..3 overlap the search's seeds [1]"),
    ("confirm: {seeds: 3}\nresources: {early_stopping: asha}", "a suite with a confirmation phase trains every trial"),
    ("analysis: {margin: {ring9: 0.1}}", "analysis.margin: unknown dataset of this suite 'ring9' (did you mean 'ring8'?)"),
    ("analysis: {seed_sd: {ring8: 0}}", "analysis.seed_sd: key 'ring8': expected a positive number"),
    ("analysis: {alpha: 0.7}", "analysis.alpha"),
    ("analysis: {milestones: [1.5]}", "1.5 is not a fraction of the budget; allowed: a fraction of the budget in (0, 1]"),
    ("analysis: {milestones: [{epochs: 2}]}", "is not a milestone; allowed"),
])
def test_bad_confirm_and_analysis_are_one_clear_line(tmp_path, bad, message):
    from ganbench.registry import GanbenchError

    with pytest.raises(GanbenchError) as err:
        suite(tmp_path, BASE + bad + "\n", "bad.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_set_budget_replaces_a_budget_in_another_unit(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text(BASE.replace("budget: {d_steps: 10}", "budget: {flops: 1e9}"))
    s = load_suite(p, ["budget.d_steps=200"])
    assert (s.budget.unit, s.budget.steps) == ("d_steps", 200)
    assert load_suite(p, ["budget.g_steps=50"]).budget.unit == "g_steps"
    assert load_suite(p).budget.unit == "flops"


def test_confirmation_trials_are_the_configuration_on_fresh_seeds(tmp_path):
    from ganbench.suite.expand import confirm_trials

    s = suite(tmp_path, BASE + "confirm: {seeds: 4, seed_offset: 100}\n", "c.yaml")
    search = expand(s)
    chosen = search[5]
    confirm = confirm_trials(chosen, s.confirm.seed_list())
    assert [t.seed for t in confirm] == [100, 101, 102, 103]
    assert not {t.seed for t in confirm} & set(s.seeds)
    assert all(t.hparams == chosen.hparams and t.phase == "confirm" for t in confirm)
    assert not {t.id for t in confirm} & {t.id for t in search}
    # a confirmation trial is its configuration and seed, whichever sample index found it
    from dataclasses import replace

    assert confirm_trials(replace(chosen, sample=99), [100])[0].id == confirm[0].id
