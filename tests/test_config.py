import pytest

from ganbench.config import load_suite
from ganbench.registry import GanbenchError
from ganbench.searchspace import parse_expression


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
    ("lrr: 1\n", "s.yaml: lrr: unknown field"),
    ("hparams: {lrr: 1e-4}\n", "s.yaml: hparams.lrr: unknown hyperparameter (did you mean 'lr'?)"),
    ("hparams: {n_disc: abc}\n", "s.yaml: hparams.n_disc:"),
    ("hparams: {lr: -1.0}\n", "s.yaml: hparams.lr:"),
    ("eval: {every_d_stepz: 3}\n", "s.yaml: eval.every_d_stepz: unknown field (did you mean 'every_d_steps'?)"),
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
