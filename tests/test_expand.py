from ganbench.config import load_suite
from ganbench.expand import expand

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
    from ganbench.expand import Trial

    t = expand(suite(tmp_path))[0]
    assert Trial.from_dict(t.to_dict()).id == t.id
    assert "lr=" in t.describe()


def test_eval_defaults_follow_dataset_kind(tmp_path):
    text = BASE.replace("[ring8, grid25]", "[ring8, digits]") + "eval: {metrics: [fid, modes, kid]}\n"
    by_ds = {t.dataset: t.eval for t in expand(suite(tmp_path, text, "e.yaml"))}
    assert by_ds["ring8"].metrics == ("modes",) and by_ds["ring8"].primary == "modes"
    assert by_ds["digits"].metrics == ("fid", "kid") and by_ds["digits"].extractor == "classifier"
