"""Hostile input, tried the way a new user (or a broken disk) would: every case goes through the real command line
and must answer with exactly one line ``ganbench: error: ...`` naming the file, field or flag (and the allowed
values where there are any), exit code 2, no traceback, and nothing written: every file under the test's directory
(results directories included) is byte-identical afterwards, and no directory appears.

CASES is the corpus: (id, command, suite text, fragments the error line must contain). In a command, ``{suite}`` is
the suite file written from the text, ``{tmp}`` the test's directory (the working directory too). A few cases need
a prepared directory (SETUP) or the environment (ENV). Further down: corrupt results directories, which ``report``
and ``run`` must survive without losing anything already computed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.cli import main

BASE = "name: s\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nbudget: {d_steps: 10}\n"
DIGITS = BASE.replace("[ring8]", "[digits]")
V = ["validate", "{suite}"]
R = ["run", "{suite}", "--results", "{tmp}/res"]


def sub(old: str, new: str, base: str = BASE) -> str:
    assert old in base
    return base.replace(old, new)


LAUGHS = "".join(f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
INLINE_LAUGHS = ", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&{b} [{', '.join(['*' + a] * 9)}]"
                                                                  for a, b in zip("abcdefgh", "bcdefghi")])
GRID_200 = BASE + "hparams: {lr: %s, beta1: %s, batch_size: %s}\n" % (
    [round(1e-5 * (i + 1), 8) for i in range(200)], [round(i / 201, 6) for i in range(200)], list(range(1, 201)))

CASES = [
    # --- the file itself
    ("malformed-yaml", V, "name: s\ndatasets: [ring8\n", ["not valid YAML", "line 3"]),
    ("empty-file", V, "", ["the file is empty", "a suite file is a YAML mapping"]),
    ("comment-only", V, "# a suite, some day\n", ["the file is empty"]),
    ("top-level-list", V, "- ring8\n- ns\n", ["a suite file is a YAML mapping", "not a list"]),
    ("top-level-scalar", V, "ring8\n", ["a suite file is a YAML mapping", "not a str"]),
    ("nul-bytes", V, "name: s\x00\n", ["not valid YAML", "special characters"]),
    ("tab-indent", V, "name: s\n\tdatasets: [ring8]\n", ["not valid YAML", "line 2"]),
    ("duplicate-key", V, BASE + "name: t\n", ["line 6", "duplicate key 'name'"]),
    ("python-object-tag", V, BASE + "hparams: !!python/object/apply:os.system ['touch {tmp}/pwned']\n",
     ["not valid YAML", "python/object/apply:os.system"]),
    ("python-name-tag", V, BASE + "description: !!python/name:os.system\n", ["python/name:os.system"]),
    ("alias-bomb", V, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + LAUGHS + BASE,
     ["aliases expand to more than 100,000 values"]),
    ("alias-bomb-in-a-field", V, sub("[ring8]", "[{name: ring8, options: {n_train: [%s]}}]" % INLINE_LAUGHS),
     ["alias bomb"]),
    ("recursive-alias", V, BASE + "description: &d [*d]\n", ["a YAML alias refers to itself"]),
    ("deep-nesting", V, BASE + "description: " + "[" * 3000 + "]" * 3000 + "\n", ["nested"]),
    ("nesting-40-deep", V, BASE + "description: " + "[" * 40 + "]" * 40 + "\n", ["nested more than 32 levels deep"]),
    ("suite-is-a-directory", ["validate", "{tmp}"], None, ["not a file"]),
    ("no-such-suite-file", ["validate", "{tmp}/nope.yaml"], None, ["nope.yaml: no such suite file"]),
    # --- unknown keys, at every level
    ("unknown-top-level-key", V, BASE + "seeed: [1]\n",
     ["s.yaml: unknown field 'seeed' (did you mean 'seeds'?); allowed: name, description, datasets"]),
    ("misspelt-required-field", V, BASE.replace("datasets:", "datasests:"),
     ["unknown field 'datasests' (did you mean 'datasets'?)"]),
    ("unknown-budget-key", V, sub("{d_steps: 10}", "{dsteps: 10}"),
     ["budget: unknown field 'dsteps' (did you mean 'd_steps'?); allowed: d_steps, g_steps"]),
    ("unknown-eval-key", V, BASE + "eval: {n_sample: 3}\n",
     ["eval: unknown field 'n_sample' (did you mean 'n_samples'?)"]),
    ("unknown-resources-key", V, BASE + "resources: {gpus: 1}\n",
     ["resources: unknown field 'gpus' (did you mean 'gpu'?)"]),
    ("unknown-search-key", V, BASE + "search: {num_sample: 3}\n", ["search: unknown field 'num_sample'"]),
    ("unknown-gan-entry-key", V, sub("gans: [ns]", "gans: [{name: ns, hparam: {lr: 1}}]"),
     ["gans[0]: unknown field 'hparam' (did you mean 'hparams'?); allowed: name, preset, hparams"]),
    ("unknown-dataset-entry-key", V, sub("[ring8]", "[{name: ring8, option: {}}]"),
     ["datasets[0]: unknown field 'option' (did you mean 'options'?)"]),
    ("unknown-hparam", V, BASE + "hparams: {lrr: 1e-4}\n",
     ["s.yaml: hparams: unknown hyperparameter 'lrr' (did you mean 'lr'?); allowed: batch_size"]),
    ("unknown-gan-hparam", V, sub("gans: [ns]", "gans: [{name: ns, hparams: {btea1: 0.1}}]"),
     ["gans[0].hparams: unknown hyperparameter 'btea1' (did you mean 'beta1'?)"]),
    ("unknown-architecture-hparam", V, sub("architectures: [mlp]", "architectures: [{name: mlp, hparams: {widht: 8}}]"),
     ["architectures[0].hparams: unknown hyperparameter 'widht' (did you mean 'width'?)"]),
    ("unknown-dataset-option", V, sub("[ring8]", "[{name: ring8, options: {n_trian: 5}}]"),
     ["datasets[0].options: unknown option 'n_trian' (did you mean 'n_train'?); allowed: n_train"]),
    ("dataset-option-of-another-type", V, sub("[ring8]", "[{name: ring8, options: {n_train: lots}}]"),
     ["datasets[0].options.n_train: expected int like the default 100000, got 'lots'"]),
    ("unknown-loss-option", V, sub("gans: [ns]", "gans: [{name: ls, loss_options: {frm: x}}]"),
     ["gans[0].loss_options: loss 'ls': unknown option 'frm' (did you mean 'form'?); allowed: form"]),
    ("unknown-penalty-option", V, sub("gans: [ns]", "gans: [{name: wgan-gp, penalty_options: {epss: 1}}]"),
     ["gans[0].penalty_options: penalty 'gp': unknown option 'epss' (did you mean 'eps'?); allowed: eps"]),
    # --- wrong types
    ("seeds-not-a-list", V, BASE + "seeds: 3\n", ["seeds: Input should be a valid list (got 3)"]),
    ("seed-not-an-integer", V, BASE + "seeds: [a]\n", ["seeds[0]: Input should be a valid integer", "(got 'a')"]),
    ("datasets-not-a-list", V, sub("[ring8]", "ring8"), ["datasets: Input should be a valid list"]),
    ("budget-not-a-mapping", V, sub("{d_steps: 10}", "ten"), ["budget: Input should be a valid dictionary"]),
    ("boolean-budget", V, sub("{d_steps: 10}", "{d_steps: yes}"), ["budget.d_steps: a boolean is not a number"]),
    ("boolean-hparam", V, BASE + "hparams: {lr: true}\n", ["hparams.lr: a boolean is not a number"]),
    ("boolean-seed", V, BASE + "seeds: [true]\n", ["seeds: a boolean is not a number"]),
    ("name-escapes-results", V, sub("name: s", "name: ../../etc"), ["name: use letters, digits"]),
    ("hparam-key-not-a-name", V, BASE + "hparams: {1: 2}\n", ["hparams: key 1: Input should be a valid string"]),
    ("top-level-key-not-a-name", V, BASE + "7: x\n", ["unknown field 7"]),
    # --- unknown names, with "did you mean" and familiar names
    ("gan-typo", V, sub("gans: [ns]", "gans: [wgangp]"),
     ["gans[0].name: unknown GAN variant 'wgangp' (did you mean 'wgan-gp'?)"]),
    ("gan-familiar-name", V, sub("gans: [ns]", "gans: [lsgan]"), ["unknown GAN variant 'lsgan' (did you mean 'ls'?)"]),
    ("architecture-familiar-name", V, sub("architectures: [mlp]", "architectures: [dcgan64]"),
     ["architectures[0].name: unknown architecture 'dcgan64' (did you mean 'dcgan'?); allowed: dcgan, infogan"]),
    ("metric-familiar-name", V, DIGITS + "eval: {metrics: [precision]}\n",
     ["eval.metrics: unknown metric 'precision' (did you mean 'pr'?); allowed: birthday, cmmd, dc, fd_dinov2, fd_dinov2_vitb14, fid, is, kid, memorisation, modes, pr, swd, swd_features"]),
    ("metric-with-protocol", V, DIGITS + "eval: {metrics: [fid10k]}\n",
     ["unknown metric 'fid10k' (did you mean 'fid'?)"]),
    ("dataset-familiar-name", V, sub("[ring8]", "[CIFAR-10]"),
     ["unknown dataset 'CIFAR-10' (did you mean 'cifar10'?)"]),
    ("extractor-typo", V, DIGITS + "eval: {extractor: incepton}\n", ["eval.extractor: unknown extractor 'incepton'"]),
    ("primary-typo", V, BASE + "eval: {primary: reverse-kl}\n",
     ["eval.primary: unknown metric value 'reverse-kl' (did you mean 'reverse_kl'?)"]),
    # --- budgets
    ("zero-budget", V, sub("{d_steps: 10}", "{d_steps: 0}"),
     ["budget.d_steps: Input should be greater than or equal to 1"]),
    ("negative-budget", V, sub("{d_steps: 10}", "{g_steps: -5}"), ["budget.g_steps:", "(got -5)"]),
    ("no-budget-unit", V, sub("{d_steps: 10}", "{}"), ["budget: give exactly one of d_steps, g_steps, images, seconds, flops"]),
    ("zero-search-samples", V, BASE + "search: {num_samples: 0}\n", ["search.num_samples:"]),
    ("negative-eval-interval", V, BASE + "eval: {every_d_steps: -1}\n", ["eval.every_d_steps:"]),
    # --- distributions: parsed, never evaluated
    ("loguniform-from-zero", V, BASE + "hparams: {lr: 'loguniform(0, 1)'}\n", ["hparams.lr: loguniform needs lo > 0"]),
    ("uniform-reversed", V, BASE + "hparams: {beta1: 'uniform(1, 0)'}\n",
     ["hparams.beta1: uniform(1, 0) needs lo < hi"]),
    ("empty-choice", V, BASE + "hparams: {n_disc: 'choice([])'}\n",
     ["hparams.n_disc: choice needs at least one option"]),
    ("loguniform-one-bound", V, BASE + "hparams: {lr: 'loguniform(1e-4)'}\n",
     ["loguniform takes two numbers (lo, hi), got 1"]),
    ("import-call", V, BASE + "hparams: {lr: \"__import__('os').system('touch {tmp}/pwned')\"}\n",
     ["hparams.lr:", "is not a distribution; allowed: uniform(lo, hi)"]),
    ("attribute-call", V, BASE + "hparams: {lr: \"uniform(0, 1).__class__.__init__()\"}\n", ["is not a distribution"]),
    ("call-inside-bounds", V, BASE + "hparams: {lr: \"uniform(len('ab'), 3)\"}\n", ["hparams.lr: expected a number"]),
    ("keyword-arguments", V, BASE + "hparams: {lr: 'uniform(lo=0, hi=1)'}\n", ["is not a distribution"]),
    ("infinite-bound", V, BASE + "hparams: {lr: 'loguniform(1e-5, 1e999)'}\n",
     ["hparams.lr: expected a finite number"]),
    ("randint-past-int64", V, BASE + "hparams: {n_disc: 'randint(1, 1e30)'}\n", ["leaves the 64-bit integers"]),
    ("choice-out-of-range", V, BASE + "hparams: {n_disc: 'choice([0, 1])'}\n",
     ["hparams.n_disc: Input should be greater"]),
    ("uniform-out-of-range", V, BASE + "hparams: {beta1: 'uniform(0, 2)'}\n",
     ["hparams.beta1: Input should be less than 1"]),
    ("expression-too-long", V, BASE + "hparams: {n_disc: 'choice([%s])'}\n" % ", ".join(["1"] * 1000),
     ["characters (at most 2000)"]),
    ("empty-grid", V, BASE + "hparams: {lr: []}\n", ["hparams.lr: an empty grid"]),
    # --- resources
    ("negative-cpu", V, BASE + "resources: {cpu: -1}\n", ["resources.cpu: Input should be greater than 0"]),
    ("gpu-one-and-a-half", V, BASE + "resources: {gpu: 1.5}\n",
     ["resources.gpu: 1.5 GPUs per trial; allowed: a fraction of one GPU"]),
    ("more-gpus-than-the-machine", R, BASE + "resources: {gpu: 64}\n", ["s.yaml: resources.gpu: 64 GPUs per trial"]),
    ("more-cpus-than-the-machine", R, BASE + "resources: {cpu: 4096}\n", ["resources.cpu: 4096 CPUs per trial"]),
    ("more-cpus-than-num-cpus", R + ["--num-cpus", "1"], BASE + "resources: {cpu: 2}\n",
     ["resources.cpu: 2 CPUs per trial, but the local Ray has 1"]),
    # --- data and weights that are not there
    ("imagefolder-missing", V, sub("[ring8]", "[{name: imagefolder, options: {path: /nonexistent/faces}}]"),
     ["datasets[0]: imagefolder: /nonexistent/faces is not a folder"]),
    ("imagefolder-without-path", V, sub("[ring8]", "[imagefolder]"),
     ["datasets[0]: imagefolder: option path is required"]),
    ("inception-weights-missing", R, DIGITS + "eval: {extractor: inception, n_samples: 20}\n",
     ["GANBENCH_INCEPTION_WEIGHTS={tmp}/nope.pth: no such file"]),
    ("inception-weights-corrupt", R, DIGITS + "eval: {extractor: inception, n_samples: 20}\n",
     ["{tmp}/weights.pth: not pytorch-fid's Inception weights"]),
    # --- results directories
    ("results-is-a-file", ["run", "{suite}", "--results", "{suite}"], BASE,
     ["--results {suite}: is a file, not a directory"]),
    ("results-below-a-file", ["run", "{suite}", "--results", "{suite}/res"], BASE,
     ["is a file, so no directory can be made"]),
    ("results-of-another-suite", R, BASE,
     ["--results {tmp}/res: holds trials of another suite, 'other' (1 trial)", "--force"]),
    ("results-trials-is-a-file", R, BASE, ["--results {tmp}/res: trials is a file; ganbench writes a directory"]),
    ("results-not-ganbench", R, BASE, ["not a ganbench results directory (it holds notes.txt)"]),
    # --- huge expansions: counted, not materialised
    ("huge-grid-validate", V, GRID_200, ["expands to 8,000,000 trials", "the limit is 10,000", "--max-trials 8000000"]),
    ("huge-grid-run", R, GRID_200, ["expands to 8,000,000 trials"]),
    ("huge-search", V, BASE + "hparams: {lr: 'loguniform(1e-5, 1e-2)'}\nsearch: {num_samples: 1000000000}\n",
     ["expands to 1,000,000,000 trials"]),
    ("grid-over-max-trials", V + ["--max-trials", "3"], BASE + "seeds: [0, 1, 2, 3]\n", ["4 trials", "limit is 3"]),
    # --- the command line
    ("set-typo", V + ["--set", "lrr=1e-4"], BASE,
     ["--set lrr=1e-4: unknown hyperparameter or suite field 'lrr' (did you mean 'lr'?)"]),
    ("set-section-typo", V + ["--set", "budget.dsteps=5"], BASE,
     ["--set budget.dsteps=5: budget: unknown field 'dsteps' (did you mean 'd_steps'?); allowed: d_steps, g_steps"]),
    ("set-section-unknown", V + ["--set", "budgt.d_steps=5"], BASE,
     ["--set budgt.d_steps=5: the suite: unknown field 'budgt'"]),
    ("set-bad-value", V + ["--set", "lr=abc"], BASE, ["--set lr=abc: hparams.lr: Input should be a valid number"]),
    ("set-zero-budget", V + ["--set", "budget.d_steps=0"], BASE,
     ["--set budget.d_steps=0: budget.d_steps: Input should be"]),
    ("set-unknown-metric", V + ["--set", "eval.metrics=[precision]"], DIGITS,
     ["--set eval.metrics=[precision]: eval.metrics: unknown metric 'precision' (did you mean 'pr'?)"]),
    ("set-without-value", V + ["--set", "lr"], BASE, ["--set lr: expected KEY=VALUE"]),
    ("set-bad-yaml", V + ["--set", "lr=[1,"], BASE, ["--set lr=[1,: the value is not valid YAML"]),
    ("set-into-a-list", V + ["--set", "gans.0=ns"], BASE, ["--set gans.0=ns: gans is a list"]),
    ("set-below-a-value", V + ["--set", "name.x=1"], BASE,
     ["--set name.x=1: name is 's' in the suite file, not a section"]),
    ("option-typo", ["run", "{suite}", "--resutls", "{tmp}/res"], BASE,
     ["ganbench run: unknown option '--resutls' (did you mean '--results'?)"]),
    ("zero-cpus", R + ["--num-cpus", "0"], BASE, ["argument --num-cpus: expected a positive integer, got 0"]),
    ("negative-concurrency", R + ["--max-concurrent", "-2"], BASE, ["--max-concurrent: expected a positive integer"]),
    ("command-typo", ["rnu", "{suite}"], BASE,
     ["error: unknown command 'rnu' (did you mean 'run'?); allowed: list, report, run"]),
    ("extra-argument", V + ["again.yaml"], BASE, ["ganbench validate: unexpected argument 'again.yaml'"]),
    # --- report
    ("report-empty-directory", ["report", "{tmp}/res"], None, ["res: no trials/ and no trials.csv here"]),
    ("report-missing-directory", ["report", "{tmp}/nope"], None, ["nope: no such results directory"]),
    ("report-on-a-file", ["report", "{suite}"], BASE, ["s.yaml: is a file; give a results directory"]),
    ("report-torn-csv", ["report", "{tmp}/res"], None,
     ["trials.csv: unreadable (ParserError)", "no trial directories"]),
    ("report-binary-csv", ["report", "{tmp}/res"], None, ["trials.csv: unreadable (UnicodeDecodeError)"]),
    ("report-foreign-csv", ["report", "{tmp}/res"], None,
     ["trials.csv: a table without the columns trial_id and status"]),
    ("report-out-is-a-file", ["report", "{tmp}/res", "--out", "{suite}"], BASE, ["--out {suite}: is a file"]),
]


def _other_suite(tmp: Path) -> None:
    (tmp / "res" / "trials" / "abc123").mkdir(parents=True)
    (tmp / "res" / "trials" / "abc123" / "config.json").write_text(json.dumps({"suite": "other", "gan": "ns"}))
    (tmp / "res" / "trials.csv").write_text("trial_id,status,suite\nabc123,completed,other\n")


SETUP = {
    "results-of-another-suite": _other_suite,
    "results-trials-is-a-file": lambda tmp: ((tmp / "res").mkdir(), (tmp / "res" / "trials").write_text("x")),
    "results-not-ganbench": lambda tmp: ((tmp / "res").mkdir(), (tmp / "res" / "notes.txt").write_text("mine\n")),
    "report-empty-directory": lambda tmp: (tmp / "res").mkdir(),
    "report-torn-csv": lambda tmp: ((tmp / "res").mkdir(), (tmp / "res" / "trials.csv").write_text('a,b\n"1,2\n')),
    "report-binary-csv": lambda tmp: ((tmp / "res").mkdir(),
                                      (tmp / "res" / "trials.csv").write_bytes(b"\xff\xfe\x00x")),
    "report-foreign-csv": lambda tmp: ((tmp / "res").mkdir(), (tmp / "res" / "trials.csv").write_text("a,b\n1,2\n")),
    "report-out-is-a-file": lambda tmp: ((tmp / "res").mkdir(), (tmp / "res" / "trials.csv").write_text("x\n")),
    "inception-weights-corrupt": lambda tmp: (tmp / "weights.pth").write_bytes(b"PK\x03\x04 not a zip"),
}
ENV = {
    "inception-weights-missing": {"GANBENCH_INCEPTION_WEIGHTS": "{tmp}/nope.pth"},
    "inception-weights-corrupt": {"GANBENCH_INCEPTION_WEIGHTS": "{tmp}/weights.pth"},
}


def snapshot(root: Path) -> dict:
    """Every path under ``root``: file bytes, or 'dir'."""
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def run_case(tmp: Path, args, text, monkeypatch, capsys, case_id=""):
    monkeypatch.chdir(tmp)  # a default results/<name> would land here, and be seen
    if text is not None:
        (tmp / "s.yaml").write_text(text.replace("{tmp}", str(tmp)))
    SETUP.get(case_id, lambda _: None)(tmp)
    for key, value in ENV.get(case_id, {}).items():
        monkeypatch.setenv(key, value.replace("{tmp}", str(tmp)))
    argv = [a.replace("{suite}", str(tmp / "s.yaml")).replace("{tmp}", str(tmp)) for a in args]
    before = snapshot(tmp)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    err = capsys.readouterr().err
    return code, err, before, snapshot(tmp)


@pytest.mark.parametrize("case_id, args, text, fragments", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_and_writes_nothing(case_id, args, text, fragments, tmp_path, monkeypatch, capsys):
    code, err, before, after = run_case(tmp_path, args, text, monkeypatch, capsys, case_id)
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        fragment = fragment.replace("{suite}", str(tmp_path / "s.yaml")).replace("{tmp}", str(tmp_path))
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert after == before, "files were written or changed"
    assert not (tmp_path / "pwned").exists()


def test_the_corpus_is_large_and_names_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert set(SETUP) <= set(ids) and set(ENV) <= set(ids)


def test_misspelt_required_field_is_not_reported_as_missing(tmp_path, monkeypatch, capsys):
    _, err, _, _ = run_case(tmp_path, V, BASE.replace("datasets:", "datasests:"), monkeypatch, capsys)
    assert "missing" not in err and "(and" not in err


def test_set_typo_is_not_blamed_on_the_suite_file(tmp_path, monkeypatch, capsys):
    _, err, _, _ = run_case(tmp_path, V + ["--set", "lrr=1e-4"], BASE, monkeypatch, capsys)
    assert "s.yaml" not in err


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc, where no one can make a directory")
def test_unwritable_results_directory(tmp_path, monkeypatch, capsys):
    code, err, before, after = run_case(tmp_path, ["run", "{suite}", "--results", "/proc/ganbench-results"], BASE,
                                        monkeypatch, capsys)
    assert code == 2 and err.startswith("ganbench: error: --results /proc/ganbench-results: cannot write in /proc")
    assert len(err.splitlines()) == 1 and after == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_read_only_results_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    code, err, _, _ = run_case(tmp_path, ["run", "{suite}", "--results", "{tmp}/ro/res"], BASE, monkeypatch, capsys)
    assert code == 2 and "cannot write in" in err and "Permission denied" in err
    assert not (tmp_path / "ro" / "res").exists()


@pytest.mark.parametrize("args, text, fragment", [
    (["validate", "{suite}"], GRID_200, "expands to 8,000,000 trials"),
    (["validate", "{suite}"], "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + LAUGHS + BASE, "alias bomb"),
    (["run", "{suite}", "--results", "{tmp}/res"], BASE + "resources: {gpu: 64}\n", "resources.gpu: 64 GPUs"),
    (["validate", "{suite}", "--set", "lrr=1e-4"], BASE, "--set lrr=1e-4: unknown hyperparameter"),
    (["validate", "{suite}"], BASE + "hparams: !!python/object/apply:os.system ['touch {tmp}/pwned']\n", "YAML"),
    (["run", "{suite}", "--num-cpus", "many"], BASE, "expected a positive integer, got 'many'"),
], ids=["huge-grid", "alias-bomb", "gpus", "set-typo", "python-tag", "argparse"])
def test_from_the_shell(args, text, fragment, tmp_path):
    """The real entry point in a fresh interpreter: one line, exit 2, within the hang guard's minute."""
    suite = tmp_path / "s.yaml"
    suite.write_text(text.replace("{tmp}", str(tmp_path)))
    argv = [a.replace("{suite}", str(suite)).replace("{tmp}", str(tmp_path)) for a in args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "ganbench.cli", *argv], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ganbench: error: ") and fragment in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


# ------------------------------------------------------------------------------------ corrupt results directories
TINY = "name: tiny\ndatasets: [ring8]\ngans: [ns]\narchitectures: [mlp]\nseeds: [0, 1, 2]\nbudget: {d_steps: 20}\n" \
       "eval: {every_d_steps: 10, n_samples: 200}\n"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "ganbench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real results directory: three trials run by `ganbench run` through a local Ray (read-only for tests)."""
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.yaml").write_text(TINY)
    proc = _cli("run", str(root / "tiny.yaml"), "--results", str(root / "res"), "--num-cpus", "2", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture
def damaged(finished, tmp_path):
    """A copy of the finished results with trial 0's summary truncated, trial 1's config overwritten with binary
    junk, trial 2's metric history torn in its last line and its checkpoint truncated."""
    import shutil

    shutil.copy(finished / "tiny.yaml", tmp_path / "tiny.yaml")
    res = shutil.copytree(finished / "res", tmp_path / "res", ignore=shutil.ignore_patterns("_ray"))
    ids = sorted(p.name for p in (res / "trials").iterdir())
    a, b, c = (res / "trials" / t for t in ids)
    (a / "summary.json").write_bytes((a / "summary.json").read_bytes()[:40])
    (b / "config.json").write_bytes(b"\x80\x04\x95junk\xff")
    (c / "metrics.jsonl").write_bytes((c / "metrics.jsonl").read_bytes()[:-15])
    (c / "checkpoint.pt").write_bytes((c / "checkpoint.pt").read_bytes()[:300])
    return tmp_path, res, ids


@pytest.mark.slow
def test_rows_of_a_damaged_directory_say_what_is_corrupt(damaged):
    from ganbench.results import collect_rows, finished_ids, read_history

    _, res, (a, b, c) = damaged
    rows = {r["trial_id"]: r for r in collect_rows(res)}
    assert rows[a]["status"] == "corrupt" and "summary.json is unreadable (JSONDecodeError" in rows[a]["error"]
    assert rows[b]["status"] == "corrupt" and "config.json is unreadable" in rows[b]["error"]
    assert rows[b]["dataset"] == "unknown" and rows[c]["status"] == "completed"
    assert finished_ids(res) == {c}  # a and b are trained again by the next run
    lines = (res / "trials" / c / "metrics.jsonl").read_bytes().splitlines()
    history = read_history(res, [c])
    assert len(history) == len(lines) - 1 >= 1  # every whole line kept, the torn one skipped


@pytest.mark.slow
def test_report_on_a_damaged_directory_rebuilds_the_table_and_loses_nothing(damaged):
    tmp, res, (a, b, c) = damaged
    (res / "trials.csv").write_bytes((res / "trials.csv").read_bytes()[:-30])  # cut in its last row
    trials_before = snapshot(res / "trials")
    proc = _cli("report", str(res), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("ganbench: note: ") and "trials.csv was torn" in proc.stderr
    assert "Traceback" not in proc.stderr
    import pandas as pd

    frame = pd.read_csv(res / "trials.csv").set_index("trial_id")
    assert frame.loc[a, "status"] == "corrupt" and frame.loc[b, "status"] == "corrupt"
    assert frame.loc[c, "status"] == "completed"
    assert "1 completed" in (res / "report" / "report.md").read_text()
    assert snapshot(res / "trials") == trials_before


@pytest.mark.slow
def test_run_again_retrains_only_the_corrupt_trials(damaged):
    tmp, res, (a, b, c) = damaged
    kept = snapshot(res / "trials" / c)
    proc = _cli("run", str(tmp / "tiny.yaml"), "--results", str(res), "--num-cpus", "2", cwd=tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 search trials, 1 already finished" in proc.stdout
    import pandas as pd

    frame = pd.read_csv(res / "trials.csv")
    assert sorted(frame.trial_id) == [a, b, c] and set(frame.status) == {"completed"}
    assert snapshot(res / "trials" / c) == kept  # finished work is not touched


@pytest.mark.slow
def test_read_checkpoint_refuses_damaged_files_without_raising(finished, damaged, tmp_path):
    from ganbench.training.checkpoint import read_checkpoint

    _, res, (_, _, c) = damaged
    whole, problem = read_checkpoint(finished / "res" / "trials" / c / "checkpoint.pt")
    assert problem is None and whole["trial"]["seed"] in (0, 1, 2) and "generator" in whole
    torn, problem = read_checkpoint(res / "trials" / c / "checkpoint.pt")
    assert torn is None and problem.startswith("checkpoint.pt cannot be loaded (")
    (tmp_path / "x.pt").write_text("not a checkpoint")
    assert read_checkpoint(tmp_path / "x.pt")[0] is None
    assert read_checkpoint(tmp_path / "absent.pt") == (None, None)


def test_json_that_is_not_an_object_is_corrupt(tmp_path):
    from ganbench.results import read_json_object

    (tmp_path / "a.json").write_text("[1, 2]")
    (tmp_path / "b.json").write_bytes(b"\xff\xfe{")
    assert read_json_object(tmp_path / "a.json") == (None, "a.json holds a JSON list, not an object")
    assert read_json_object(tmp_path / "b.json")[1].startswith("b.json is unreadable (UnicodeDecodeError")
    assert read_json_object(tmp_path / "c.json") == (None, None)


def test_results_of_another_suite_are_accepted_with_force(tmp_path):
    from ganbench.execution.guard import check_results_dir

    _other_suite(tmp_path)
    with pytest.raises(Exception, match="holds trials of another suite, 'other'"):
        check_results_dir(tmp_path / "res", "s")
    check_results_dir(tmp_path / "res", "s", force=True)
    check_results_dir(tmp_path / "res", "other")  # its own suite
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["trials", "trials.csv"]
