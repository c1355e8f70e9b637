import pytest

from ganbench.suite.schema import load_suite
from ganbench.registry import GanbenchError
from ganbench.suite.searchspace import parse_expression


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


BASE = "name: s\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nbudget: {d_steps: 10}\n"


def test_loads_minimal_suite(tmp_path):
    suite = load_suite(write(tmp_path, BASE))
    assert suite.datasets[0].name == "ring8" and suite.gans[0].variant == "ns"
    assert suite.budget.unit == "d_steps" and suite.budget.steps == 10
    assert suite.seeds == [0] and suite.resources.cpu == 1.0


@pytest.mark.parametrize("extra, message", [
    ("lrr: 1\n", "s.yaml: unknown field 'lrr'; allowed: name, description, datasets"),
    ("hparams: {lrr: 1e-4}\n", "s.yaml: hparams: unknown hyperparameter 'lrr' (did you mean 'lr'?); allowed: batch"),
    ("hparams: {n_disc: abc}\n", "s.yaml: hparams.n_disc:"),
    ("hparams: {lr: -1.0}\n", "s.yaml: hparams.lr:"),
    ("eval: {every_d_stepz: 3}\n", "s.yaml: eval: unknown field 'every_d_stepz' (did you mean 'every_d_steps'?)"),
    ("resources: {cpu: many}\n", "s.yaml: resources.cpu:"),
    ("hparams: {lr: 'loguniform(1e-2, 1e-5)'}\n", "hparams.lr: loguniform(0.01, 1e-05) needs lo < hi"),
    ("hparams: {lr: 'normal(0, 1)'}\n", "hparams.lr: unknown distribution 'normal'"),
])
def test_errors_name_file_and_field(tmp_path, extra, message):
    with pytest.raises(GanbenchError) as err:
        load_suite(write(tmp_path, BASE + extra))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_names_answer_did_you_mean(tmp_path):
    with pytest.raises(GanbenchError, match=r"gans\[0\].name: unknown GAN variant 'wgan-pg' \(did you mean 'wgan-gp'"):
        load_suite(write(tmp_path, BASE.replace("gans: [ns]", "gans: [wgan-pg]")))
    with pytest.raises(GanbenchError, match=r"datasets\[0\].name: unknown dataset 'ring9'.*allowed:"):
        load_suite(write(tmp_path, BASE.replace("[ring8]", "[ring9]")))


def test_budget_needs_exactly_one_unit(tmp_path):
    with pytest.raises(GanbenchError, match="budget: give exactly one of d_steps, g_steps, images, seconds, flops"):
        load_suite(write(tmp_path, BASE.replace("{d_steps: 10}", "{d_steps: 10, g_steps: 3}")))


def test_yaml_is_safe_loaded(tmp_path):
    with pytest.raises(GanbenchError, match="not valid YAML"):
        load_suite(write(tmp_path, BASE + "hparams: !!python/object/apply:os.system ['echo hi']\n"))


def test_missing_file_and_not_a_mapping(tmp_path):
    with pytest.raises(GanbenchError, match="no such suite file"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(GanbenchError, match="a suite file is a YAML mapping"):
        load_suite(write(tmp_path, "- a\n- b\n"))


def test_set_overrides_win(tmp_path):
    suite = load_suite(write(tmp_path, BASE + "hparams: {lr: 1e-3}\n"), ["lr=5e-5", "budget.d_steps=7"])
    assert suite.hparams["lr"] == 5e-5 and suite.budget.d_steps == 7
    with pytest.raises(GanbenchError, match="expected KEY=VALUE"):
        load_suite(write(tmp_path, BASE), ["lr"])


def test_loss_options_are_checked(tmp_path):
    text = BASE.replace("gans: [ns]", "gans: [{name: ls, loss_options: {form: nope}}]")
    with pytest.raises(GanbenchError, match=r"gans\[0\].loss_options: .*allowed values"):
        load_suite(write(tmp_path, text))


@pytest.mark.parametrize("text, kind, args", [
    ("loguniform(1e-5, 1e-2)", "loguniform", (1e-5, 1e-2)),
    ("uniform(0, 1)", "uniform", (0, 1)),
    ("choice([1, 5])", "choice", ((1, 5),)),
    ("randint(1, 6)", "randint", (1, 6)),
    ("uniform(-1, 1)", "uniform", (-1, 1)),
])
def test_parse_expressions(text, kind, args):
    d = parse_expression(text)
    assert d.kind == kind and d.args == args


@pytest.mark.parametrize("text", ["__import__('os').system('x')", "uniform(a, 1)", "os.system('x')",
                                  "choice(1)", "uniform(1, 2, 3)", "uniform(x=1, y=2)", "loguniform(0, 1)"])
def test_parser_rejects_non_literals(text):
    with pytest.raises(GanbenchError):
        parse_expression(text)


def test_samples_stay_in_range():
    import numpy as np

    rng = np.random.default_rng(0)
    d = parse_expression("loguniform(1e-5, 1e-2)")
    values = [d.sample(rng) for _ in range(500)]
    assert min(values) >= 1e-5 and max(values) <= 1e-2
    # log-uniform: about half of the draws below the geometric midpoint
    assert 0.4 < np.mean(np.array(values) < 10 ** -3.5) < 0.6
    assert {parse_expression("choice([1, 5])").sample(rng) for _ in range(50)} == {1, 5}


def test_metric_that_fits_no_dataset_is_an_error(tmp_path):
    with pytest.raises(GanbenchError, match="eval.metrics: 'kid' scores image datasets and this suite has none"):
        load_suite(write(tmp_path, BASE + "eval: {metrics: [kid]}\n"))
    with pytest.raises(GanbenchError, match="eval.primary: unknown metric value 'fdi'"):
        load_suite(write(tmp_path, BASE + "eval: {primary: fdi}\n"))
    assert load_suite(write(tmp_path, BASE + "eval: {primary: reverse_kl}\n")).eval.primary == "reverse_kl"


# ------------------------------------------------------------------------------- one wording for unknown names
def test_unknown_name_wording_and_suggestions():
    from ganbench.registry import suggest, unknown_name

    assert unknown_name("option", "frm", ["form"]) == "unknown option 'frm' (did you mean 'form'?); allowed: form"
    assert unknown_name("option", "x", []) == "unknown option 'x'; allowed: none"
    assert suggest("WGAN_GP", ["ns", "wgan-gp"]) == "wgan-gp"  # case and separators ignored
    assert suggest("lsgan", ["ls", "wgan"], {"LS-GAN": "ls"}) == "ls"  # a familiar name wins over spelling
    assert suggest("lsgan", ["ls", "wgan"]) == "wgan"  # ... which is why the table exists
    assert suggest("zzz", ["ns"]) is None
    assert len(unknown_name("field", "x" * 500, ["a"])) < 100  # a hostile name is shown cut


def test_familiar_names_point_at_registered_names():
    from ganbench import datasets, evaluation
    from ganbench.evaluation import extractors
    from ganbench.registry import FAMILIAR_NAMES
    from ganbench.zoo import losses, models, penalties, variants

    registries = {r.kind: r for r in (variants.VARIANTS, losses.LOSSES, penalties.PENALTIES, models.ARCHITECTURES,
                                      datasets.DATASETS, evaluation.METRICS, extractors.EXTRACTORS)}
    assert set(FAMILIAR_NAMES) <= set(registries)
    for kind, table in FAMILIAR_NAMES.items():
        for familiar, name in table.items():
            assert name in registries[kind], (kind, familiar, name)
            assert familiar not in registries[kind], (kind, familiar)  # an alias never hides a real name
    assert variants.VARIANTS.unknown_message("LSGAN").startswith("unknown GAN variant 'LSGAN' (did you mean 'ls'?)")
    assert "(did you mean 'pr'?)" in evaluation.METRICS.unknown_message("precision")


def test_every_unknown_key_message_uses_the_one_wording(tmp_path):
    """The five places that used to write their own (config fields, hyperparameters, dataset options, architecture
    options, registries) and the loss/penalty option checks."""
    from ganbench.datasets import DATASETS
    from ganbench.zoo.losses import get_loss
    from ganbench.zoo.models.layers import ArchOptions
    from ganbench.zoo.penalties import get_penalty

    pattern = r"unknown [a-zA-Z ]+ '\w+' \(did you mean '\w+'\?\); allowed: "
    texts = [BASE + "seedz: [1]\n", BASE + "hparams: {lrr: 1}\n"]
    for text in texts:
        with pytest.raises(GanbenchError, match=pattern):
            load_suite(write(tmp_path, text))
    for call in (lambda: DATASETS.get("ring8").check_options({"n_trian": 3}, "x"),
                 lambda: ArchOptions.from_dict({"d_nrom": "batch"}), lambda: DATASETS.get("ring9"),
                 lambda: get_loss("ls", frm="x"), lambda: get_penalty("gp", epss=1.0)):
        with pytest.raises(GanbenchError, match=pattern):
            call()


# ------------------------------------------------------------------------------------- reading files safely
def test_anchors_and_merge_keys_still_work(tmp_path):
    text = ("name: s\ndatasets: [ring8]\ngans: [{name: ns, hparams: &h {lr: 1e-3}}, {name: hinge, hparams: "
            "{<<: *h, lr: 2e-3}}]\narchitectures: [mlp]\nbudget: {d_steps: 10}\n")
    suite = load_suite(write(tmp_path, text))
    assert suite.gans[0].hparams == {"lr": 1e-3} and suite.gans[1].hparams == {"lr": 2e-3}


def test_alias_count_is_linear(tmp_path):
    """Nine aliases of nine aliases...: the document has 90 nodes, its expansion 9^9; refused without expanding."""
    import time

    from ganbench.suite.file import read_yaml

    laughs = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    start = time.perf_counter()
    with pytest.raises(GanbenchError, match="alias bomb"):
        read_yaml(write(tmp_path, laughs))
    assert time.perf_counter() - start < 5  # a hang guard, not a benchmark: expanding would take hours
    ok = "a: &a [1, 2]\nb: [*a, *a, *a]\n"
    assert read_yaml(write(tmp_path, ok)) == {"a": [1, 2], "b": [[1, 2]] * 3}


# ---------------------------------------------------------------------------------------- counts and resources
def test_count_trials_matches_expand(tmp_path):
    from ganbench.suite.expand import count_trials, expand

    text = BASE.replace("gans: [ns]", "gans: [ns, {name: hinge, hparams: {n_disc: [1, 2, 5]}}]") + \
        "seeds: [0, 1]\nhparams: {lr: 'loguniform(1e-4, 1e-3)', batch_size: [16, 32]}\nsearch: {num_samples: 3}\n"
    suite = load_suite(write(tmp_path, text))
    n, how = count_trials(suite)
    assert n == len(expand(suite)) == (3 * 2 + 3 * 2 * 3) * 2
    assert how == "1 datasets x 2 GANs x 1 architectures x 6 to 18 search points x 2 seeds"
    with pytest.raises(GanbenchError, match="expands to 48 trials .* the limit is 47"):
        expand(suite, max_trials=47)


def test_local_resources_against_a_given_machine(tmp_path):
    from ganbench.suite.checks import check_local_resources

    suite = load_suite(write(tmp_path, BASE + "resources: {cpu: 2, gpu: 0.5}\n"))
    check_local_resources(suite, "s.yaml", capacity=(2.0, 1))
    with pytest.raises(GanbenchError, match="resources.gpu: 0.5 GPUs per trial, but this machine has 0"):
        check_local_resources(suite, "s.yaml", capacity=(8.0, 0))
    with pytest.raises(GanbenchError, match="resources.cpu: 2 CPUs per trial, but the local Ray has 1"):
        check_local_resources(suite, "s.yaml", capacity=(8.0, 1), num_cpus=1)
    check_local_resources(suite, "s.yaml", capacity=(1.0, 1), num_cpus=4)  # Ray takes --num-cpus at its word
