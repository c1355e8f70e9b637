import numpy as np
import pandas as pd

from ganbench.report import budget_curve, markdown_table, variant_table


def test_budget_curve_known_values():
    curve = budget_curve(np.array([1.0, 2.0, 3.0]), better_max=False, n_boot=20000)
    # k = 1: the mean of the scores; best-of-k improves with k; min over k=3 draws with replacement:
    # E[min] = sum_v P(min >= v) = 1 + (2/3)^3 + (1/3)^3 = 1.3333...
    assert abs(curve["mean"][0] - 2.0) < 0.03
    assert abs(curve["mean"][2] - (1 + (2 / 3) ** 3 + (1 / 3) ** 3)) < 0.02
    assert list(curve.k) == [1, 2, 3] and (np.diff(curve["mean"]) < 0).all()
    up = budget_curve(np.array([1.0, 2.0, 3.0]), better_max=True, n_boot=2000)
    assert (np.diff(up["mean"]) > 0).all() and (up.q05 <= up["mean"]).all() and (up["mean"] <= up.q95).all()


def test_variant_table_best_median_and_seed_spread():
    frame = pd.DataFrame({
        "gan": ["a"] * 4 + ["b"] * 2, "architecture": ["mlp"] * 6, "sample": [0, 0, 1, 1, 0, 0],
        "status": ["completed"] * 5 + ["failed"], "best_fid": [10.0, 12.0, 5.0, 9.0, 3.0, np.nan]})
    t = variant_table(frame, "fid").set_index("gan")
    assert t.loc["a", "best"] == 5.0 and t.loc["a", "median"] == 9.5
    # config 1 has the lower mean (7 vs 11); its std over two seeds is sqrt(8)
    assert t.loc["a", "best config mean"] == 7.0 and abs(t.loc["a", "best config std"] - 8 ** 0.5) < 1e-12
    assert t.loc["b", "failed"] == 1 and t.loc["b", "trials"] == 2 and t.loc["b", "best"] == 3.0


def test_markdown_escapes_user_strings():
    md = markdown_table(pd.DataFrame({"gan": ["a|b\nc"], "x": [1.23456]}))
    assert "| a\\|b c | 1.235 |" in md
    assert len(md.splitlines()) == 3


def test_budget_figure(tmp_path):
    from ganbench.report import _plot_budget

    frame = pd.DataFrame({"gan": ["a"] * 4 + ["b"] * 3, "best_fid": [4.0, 2.0, 8.0, 5.0, 3.0, 3.5, 9.0]})
    assert _plot_budget(frame, "fid", tmp_path / "b.png", "t")
    assert (tmp_path / "b.png").stat().st_size > 1000
    assert not _plot_budget(frame.iloc[:2], "fid", tmp_path / "c.png", "t")  # too few trials to say anything
