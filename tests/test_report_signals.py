"""Training signals against sample quality, memorisation and support size, and "what these numbers can show", on
synthetic results with known answers (a critic that tracks FID exactly gives rho = 1; rank patterns with a known
sum of squared rank differences give rho by the closed form 1 - 6 sum d^2 / (n (n^2 - 1)))."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ganbench.report import build_report, signals
from ganbench.report import memorisation as memo
from test_report import _table, write_trial

STEPS = [400, 800, 1200, 1600, 2000]  # the last is the trials' best_d_steps (write_trial, budget 2000)


def _spearman_closed_form(x, y) -> float:
    """Spearman's rho without ties: 1 - 6 sum d^2 / (n (n^2 - 1)), d the rank differences."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    n = len(x)
    return 1 - 6 * float(((rx - ry) ** 2).sum()) / (n * (n ** 2 - 1))


def _history(tid: str, **series) -> pd.DataFrame:
    n = len(next(iter(series.values())))
    return pd.DataFrame({"trial_id": tid, "d_steps": [100 * (i + 1) for i in range(n)], **series})


def test_a_critic_that_tracks_fid_exactly_gives_rho_one():
    fid = np.array([100.0, 80.0, 60.0, 50.0, 40.0])
    h = _history("t1", fid=fid, critic_w=fid / 10 + 3, d_loss=-(fid / 10 + 3), g_loss=[4.0, 1.0, 3.0, 5.0, 2.0],
                 swd=[1.0] * 5)
    changes = signals.trial_correlations(h, "fid", "min").set_index("signal")  # step-to-step changes
    assert changes.loc["critic_w", "rho"] == pytest.approx(1.0) and changes.loc["d_loss", "rho"] == pytest.approx(1.0)
    corr = signals.trial_correlations(h, "fid", "min", on="levels").set_index("signal")
    assert corr.loc["critic_w", "rho"] == pytest.approx(1.0) and corr.loc["d_loss", "rho"] == pytest.approx(1.0)
    assert corr.loc["g_loss", "rho"] == pytest.approx(_spearman_closed_form([4, 1, 3, 5, 2], fid))
    assert corr.loc["g_loss", "rho"] == pytest.approx(0.0)  # sum d^2 = 20 = n (n^2 - 1) / 6
    assert np.isnan(corr.loc["swd", "rho"])  # a constant signal says nothing
    assert set(corr.points) == {5}
    # a metric where higher is better: the same critic against IS rising as FID falls still tracks quality
    h2 = _history("t2", **{"is": 10 - fid / 20, "critic_w": fid / 10})
    assert signals.trial_correlations(h2, "is", "max").rho.iloc[0] == pytest.approx(1.0)
    # and against the primary itself, or with fewer than 3 finite points, there is no row
    h3 = _history("t3", fid=[1.0, np.nan, 3.0, np.nan, 5.0], critic_w=[1.0, 2.0, np.nan, 4.0, 5.0])
    assert signals.trial_correlations(h3, "fid", "min").empty


def test_random_histories_match_scipy_and_the_closed_form():
    rng = np.random.default_rng(3)
    for _ in range(20):
        fid, d = rng.permutation(8) + 1.0, rng.normal(size=8)
        corr = signals.trial_correlations(_history("t", fid=fid, d_loss=d), "fid", "min", on="levels")
        assert corr.rho.iloc[0] == pytest.approx(_spearman_closed_form(-d, fid))
        assert corr.p.iloc[0] == pytest.approx(sps.spearmanr(-d, fid).pvalue)
        corr = signals.trial_correlations(_history("t", fid=fid, d_loss=d), "fid", "min")
        assert corr.rho.iloc[0] == pytest.approx(sps.spearmanr(np.diff(-d), np.diff(fid)).statistic)


def test_a_shared_time_trend_is_not_tracking():
    """Both fall over training, so their levels rank alike (rho 1), but every rise of one is a fall of the other:
    on step-to-step changes rho is -1. The report's correlations are on changes."""
    fid = np.array([100.0, 93.0, 80.0, 72.0, 60.0, 51.0])  # changes -7, -13, -8, -12, -9
    critic = np.array([10.0, 8.5, 8.0, 6.7, 6.0, 5.0])  # changes -1.5, -0.5, -1.3, -0.7, -1.0: every rank reversed
    h = _history("t", fid=fid, critic_w=critic)
    assert signals.trial_correlations(h, "fid", "min", on="levels").rho.iloc[0] == pytest.approx(1.0)
    assert signals.trial_correlations(h, "fid", "min").rho.iloc[0] == pytest.approx(-1.0)


@pytest.mark.parametrize("rhos, expected", [
    ([0.9, 0.8, 0.7], "tracks"),
    ([0.9, 0.8, -0.6, 0.7, 0.6], "tracks"),  # median 0.7, 4 of 5 positive = 80%
    ([0.9, 0.8, -0.6, -0.7, 0.6], "inconsistent"),  # median 0.6, 3 of 5 positive
    ([0.1, 0.2, -0.1], "weak"),
    ([0.5, 0.5], "tracks"),  # the threshold itself counts
    ([-0.9, -0.8], "inverted"),
    ([0.9, np.nan], "too few trials"),
])
def test_the_stopping_criterion_rule(rhos, expected):
    assert signals.verdict(rhos) == expected


def test_summary_per_variant_and_sentences():
    corr = pd.DataFrame({"trial_id": [f"w{i}" for i in range(5)] + [f"n{i}" for i in range(5)] * 2,
                         "signal": ["critic_w"] * 5 + ["d_loss"] * 5 + ["g_loss"] * 5,
                         "rho": [0.2, 0.4, 0.6, 0.8, 1.0, 0.1, -0.2, 0.0, 0.3, -0.1, -0.9, -0.8, -1.0, -0.7, -0.6],
                         "p": np.nan, "points": 5})
    names = pd.Series({**{f"w{i}": "wgan-gp" for i in range(5)}, **{f"n{i}": "ns" for i in range(5)}})
    table = signals.summarise(corr, names)
    w = table.set_index(["variant", "signal"]).loc[("wgan-gp", "critic_w")]
    assert (w["median rho"], w.q25, w.q75, w["rho > 0"], w.trials) == (0.6, 0.4, 0.8, 5, 5)
    assert w["Wilcoxon p"] == pytest.approx(2 / 32)  # all five positive: the exact two-sided p
    assert w["CI low"] <= 0.6 <= w["CI high"] and w.verdict == "tracks"
    assert list(table[table.variant == "ns"].signal) == ["d_loss", "g_loss"]  # the module's signal order
    text = signals.sentences(table, {"wgan-gp": "wgan", "ns": "ns"}, "fid")
    ns, wgan = text  # sorted by variant
    assert "\"The WGAN loss is a stopping criterion\" **holds** here (judged on the critic's W estimate)" in wgan
    assert "the critic's W estimate tracks fid (median rho 0.60" in wgan
    # an NS G loss that moves consistently against fid still tells something: "meaningless" does not hold
    assert "the G loss moves against fid (median rho -0.80" in ns
    assert "\"The NS loss is meaningless as a stopping criterion\" **does not hold** here: the G loss moves " \
           "consistently against fid." in ns
    weak = table.assign(verdict=np.where(table.signal == "g_loss", "weak", table.verdict))
    assert "\"The NS loss is meaningless as a stopping criterion\" **holds** here: neither the D loss nor the G " \
           "loss moves consistently with fid." in signals.sentences(weak, {"ns": "ns"}, "fid")[0]
    tracking = table.assign(verdict=np.where(table.signal == "d_loss", "tracks", table.verdict))
    assert "**does not hold** here: the D loss tracks fid; the G loss moves consistently against fid." in \
        signals.sentences(tracking, {"ns": "ns"}, "fid")[0]
    both = table.assign(verdict=np.where(table.signal == "d_loss", "inverted", table.verdict))
    assert "**does not hold** here: the D loss and the G loss move consistently against fid." in \
        signals.sentences(both, {"ns": "ns"}, "fid")[0]
    broken = table.assign(verdict=np.where(table.signal == "critic_w", "weak", table.verdict))
    assert "\"The WGAN loss is a stopping criterion\" **does not hold** here" in \
        signals.sentences(broken, {"wgan-gp": "wgan"}, "fid")[1]


def _write_history(res: Path, tid: str, rows: list[dict]) -> None:
    lines = [json.dumps({"d_steps": s, "g_steps": s, "seconds": float(i + 1), "split": "val", **r})
             for i, (s, r) in enumerate(zip(STEPS, rows))]
    (res / "trials" / tid / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_report_section_on_a_study_with_wgan_gp_and_ns(tmp_path):
    """WGAN-GP's held-out critic estimate equals FID / 10 (rho 1 in every trial); the changes of NS's D loss
    (negated) and G loss have rank pattern [2, 4, 1, 3] against the changes of FID's [1, 2, 3, 4] (sum d^2 = 10:
    rho 0); its SWD runs opposite to FID (-1)."""
    res = tmp_path / "r"
    for seed in range(3):
        fid = np.array([100.0, 80.0, 65.0, 55.0, 48.0]) * (1 + 0.1 * seed)  # changes -20, -15, -10, -7
        w = write_trial(res, gan="wgan-gp", seed=seed, score=fid[-1], history=False)
        _write_history(res, w, [{"fid": f, "critic_w": f / 10, "d_loss": -f / 10 + 0.01 * k, "g_loss": 0.5}
                                for k, f in enumerate(fid)])
        n = write_trial(res, gan="ns", seed=seed, score=fid[-1] + 5, history=False)
        _write_history(res, n, [{"fid": f + 5, "d_loss": -x, "g_loss": x, "swd": -f}
                                for f, x in zip(fid, [4, 3, 6, 4, 5])])  # changes -1, 3, -2, 1
    for tid in _ids(res, "wgan-gp"):  # the trials' config says loss wgan
        cfg = json.loads((res / "trials" / tid / "config.json").read_text())
        (res / "trials" / tid / "config.json").write_text(json.dumps({**cfg, "loss": "wgan"}))
    report = build_report(res)
    md = report.path.read_text()
    table = _table(res / "report", "signals").set_index(["variant", "signal"])
    assert table.loc[("wgan-gp", "critic_w"), "median rho"] == pytest.approx(1.0)
    assert table.loc[("wgan-gp", "critic_w"), "verdict"] == "tracks"
    assert table.loc[("ns", "d_loss"), "median rho"] == pytest.approx(0.0)
    assert table.loc[("ns", "d_loss"), "verdict"] == "weak"
    assert table.loc[("ns", "g_loss"), "median rho"] == pytest.approx(0.0)
    assert table.loc[("ns", "swd"), "median rho"] == pytest.approx(-1.0)
    assert table.loc[("ns", "swd"), "verdict"] == "inverted"
    assert table.loc[("wgan-gp", "g_loss"), "verdict"] == "constant"  # a constant G loss: no ranking at all
    assert table.loc[("wgan-gp", "g_loss"), "trials"] == 0 and "the G loss is constant over training" in md
    assert "\"The WGAN loss is a stopping criterion\" **holds** here" in md
    assert "\"The NS loss is meaningless as a stopping criterion\" **holds** here" in md
    assert "**Rule**: a signal tracks fid (and can serve as a stopping criterion) when its median rho is at least 0.5" \
        in md
    figs = {p.name for p in (res / "report" / "figures").iterdir()}
    assert any(f.endswith("signals-traces.png") for f in figs) and any(f.endswith("signals-rho.png") for f in figs)
    # what these numbers can and cannot show
    assert "## What these numbers can and cannot show" in md
    assert "**digits (fid, d_steps=2000)**: 3 seed(s) behind each variant's chosen configuration (ns 3, wgan-gp 3); " \
           "5 evaluation points per trial (median)." in md
    assert "Of 1 pairwise comparison(s) of best configurations, 0 are distinguishable from seed noise (Holm-adjusted" \
           " p < 0.05); 1 cannot be with these numbers of seeds" in md  # 3 vs 3: smallest exact p = 0.1
    assert "Budget in discriminator steps (compare_gan's convention)" in md


def _ids(res: Path, gan: str) -> list[str]:
    return [d.name for d in (res / "trials").iterdir() if json.loads((d / "config.json").read_text())["gan"] == gan]


def _memo_scores(copies: float, fake_q50: float, support: float, lo: float, hi: float | None) -> dict:
    scores = {"copies_pixels": copies, "copies_features": copies / 2, "nn_pixels_fake_q50": fake_q50,
              "nn_pixels_real_q50": 6.0, "nn_features_fake_q50": fake_q50 / 10, "nn_features_real_q50": 0.6,
              "nn_pixels_fake_q01": 0.1, "support": support, "support_lo": lo, "support_dup_pairs": 3.0,
              "support_real": 5000.0, "support_real_lo": 3000.0, "support_real_hi": 9000.0,
              "support_real_dup_pairs": 16.0}
    if hi is not None:
        scores["support_hi"] = hi
    return scores


def test_memorisation_and_support_sections(tmp_path):
    res = tmp_path / "r"
    import matplotlib.pyplot as plt

    for seed in (0, 1):
        a = write_trial(res, gan="copier", seed=seed, score=30.0 + seed,
                        extra_scores={**_memo_scores(0.9 - 0.1 * seed, 0.5, 400.0, 300.0, 600.0), "precision": 0.7})
        b = write_trial(res, gan="novel", seed=seed, score=40.0 + seed,
                        extra_scores={**_memo_scores(0.01, 6.5, 20000.0, 20000.0, None), "precision": 0.5})
        for tid in (a, b):
            plt.imsave(res / "trials" / tid / "nearest.png", np.random.default_rng(seed).random((8, 32)))
            path = res / "trials" / tid / "summary.json"
            s = json.loads(path.read_text())
            s["provenance"]["support"].update({"lower_bound": tid == b, "lower_bound_real": False, "batch_size": 400,
                                               "batches": 6, "batch_size_real": 359, "batches_real": 1,
                                               "threshold": 2.5,
                                               "calibration": "1e-04 quantile of training pairs"})
            s["provenance"]["copies_pixels"].update({"copy_threshold_pixels": 1.25, "threshold_quantile": 0.01})
            path.write_text(json.dumps(s))
    build_report(res)
    out = res / "report"
    md = (out / "report.md").read_text()
    m = _table(out, "memorisation").set_index("variant")
    assert m.loc["copier", "copies (pixels)"] == 0.9 and m.loc["copier", "copies (features)"] == 0.45
    assert m.loc["copier", "copies (pixels), mean over the variant's trials"] == pytest.approx(0.85)
    assert m.loc["novel", "NN pixels: samples median"] == 6.5 and m.loc["novel", "copy threshold (pixels)"] == 1.25
    s = _table(out, "support").set_index("variant")
    assert s.loc["copier", "samples: CI high"] == 600.0 and s.loc["novel", "samples: lower bound"] == "yes"
    assert np.isnan(s.loc["novel", "samples: CI high"]) and s.loc["novel", "threshold (pixels)"] == 2.5
    assert s.loc["novel", "batches (samples; real)"] == "6 x 400; 1 x 359"
    assert ("**copier**: support size 400 (95% CI 300 to 600), against 5,000 (95% CI 3,000 to 9,000) for real images "
            "under the same threshold: 0.08 times the real data's, smaller beyond the intervals' overlap") in md
    assert "**novel**: support size at least 20,000 (no near-duplicate pair seen: a 95% lower bound)" in md
    assert "copies 0.9 in pixels, 0.45 in features; median nearest-training distance 0.5 for samples against 6 for " \
           "held-out real images (pixels)" in md
    assert "calibrated on real data: 1e-04 quantile of training pairs" in md
    assert len(list((out / "samples").glob("*-nearest.png"))) == 2
    every = _table(out, "metrics")
    assert "precision (higher better)" in every.columns
    assert not any(c.startswith(memo.OWN_PREFIXES) for c in every.columns)  # they have their own tables


def test_limits_in_words():
    from ganbench.report.limits import GroupFacts, bullets

    pairs = pd.DataFrame({"level": ["best configuration over seeds"] * 2 + ["whole search"], "A": ["a", "a", "a"],
                          "B": ["b", "c", "b"], "verdict": ["better", "undecided", "worse"],
                          "attainable p (Holm)": [0.002, 0.002, 0.01]})
    f = GroupFacts("grid25 (mode_tv, g_steps=500)", "g_steps", 500, {"a": 6, "b": 6, "c": 5}, {"a": 4, "b": 4, "c": 4},
                   pairs, 8.0)
    text = bullets([f], partial=True)
    assert text[0].startswith("**The results are partial**")
    assert text[1] == ("**grid25 (mode_tv, g_steps=500)**: 5 to 6 seed(s) behind each variant's chosen configuration "
                       "(a 6, b 6, c 5); 4 search configuration(s) per variant; 8 evaluation points per trial "
                       "(median).")
    assert text[2] == ("Of 2 pairwise comparison(s) of best configurations, 1 is distinguishable from seed noise "
                       "(Holm-adjusted p < 0.05): a vs b.")  # the whole-search level is not counted here
    assert text[3].startswith("Budget in generator steps: a variant with n_disc > 1")
    assert "a search of a few configurations finds a variant's good region only by luck" in text[4]
