"""Configurations are chosen on validation and identified by their resolved hyperparameters (ganbench.selection)."""
import pandas as pd
import pytest

from ganbench.selection import choose_configurations, configuration_key, configuration_keys, validation_values


def trial(tid, gan, sample, seed, lr, val, test, **extra):
    return {"trial_id": tid, "status": "completed", "gan": gan, "architecture": "mlp", "dataset": "digits",
            "primary": "fid", "fid_extractor": "classifier", "fid_split": "test", "sample": sample, "seed": seed,
            "hp_lr": lr, "hp_beta1": 0.5, "best_val_fid": val, "best_fid": test, "best_d_steps": 100, **extra}


def test_key_is_the_resolved_hyperparameters_not_the_sample():
    a = {"sample": 0, "hp_lr": 1e-4, "hp_n_disc": 5, "hp_clip": float("nan"), "seed": 1}
    assert configuration_key(a) == "lr=0.0001|n_disc=5"
    assert configuration_key({**a, "sample": 7, "seed": 3}) == configuration_key(a)
    assert configuration_key({**a, "hp_n_disc": 5.0}) == configuration_key(a)  # CSV round trip: 5 -> 5.0
    assert configuration_key({**a, "hp_lr": 1.06e-4}) != configuration_key(a)  # WGAN-GP's two near draws
    assert configuration_key({**a, "hp_optimizer": "adam"}) != configuration_key(a)


def test_planted_best_on_test_worst_on_validation_is_never_chosen():
    rows = [trial(f"a{s}", "ns", 0, s, 1e-4, val=9.0 + s * 0.01, test=2.0) for s in range(3)]  # best test, worst val
    rows += [trial(f"b{s}", "ns", 1, s, 2e-4, val=5.0, test=6.0) for s in range(3)]
    rows += [trial(f"c{s}", "ns", 2, s, 4e-4, val=6.0, test=3.0) for s in range(3)]
    (row,) = choose_configurations(pd.DataFrame(rows), "fid", "min").itertuples()
    assert row.hp_lr == 2e-4 and row.selected_on == "val" and row.val_mean == 5.0
    assert row.seeds == [0, 1, 2] and row.configurations == 3
    # direction matters: on a "max" metric the same frame chooses the highest validation mean
    (row,) = choose_configurations(pd.DataFrame(rows), "fid", "max").itertuples()
    assert row.hp_lr == 1e-4


def test_sample_zero_meaning_two_learning_rates_never_merges():
    # sample 0 was the preset's 2e-4 in one run and a draw of 5.47e-3 in another: pooled it would average to 7.0
    rows = [trial(f"p{s}", "ns", 0, s, 2e-4, val=5.0, test=4.92) for s in range(5)]
    rows += [trial(f"q{s}", "ns", 0, s + 5, 5.47e-3, val=9.0, test=8.33) for s in range(5)]
    rows += [trial(f"r{s}", "ns", 1, s, 1e-3, val=6.0, test=6.0) for s in range(5)]
    frame = pd.DataFrame(rows)
    assert configuration_keys(frame).nunique() == 3
    (row,) = choose_configurations(frame, "fid", "min").itertuples()
    assert row.hp_lr == 2e-4 and row.val_seeds == 5 and row.seeds == [0, 1, 2, 3, 4] and row.configurations == 3


def test_cells_and_protocols_are_chosen_apart():
    rows = [trial(f"a{s}", "ns", 0, s, 1e-4, val=5.0, test=5.0) for s in range(2)]
    rows += [trial(f"b{s}", "ns", 1, s, 2e-4, val=6.0, test=6.0) for s in range(2)]
    rows += [trial(f"c{s}", "ns", 1, s, 2e-4, val=1.0, test=1.0, fid_extractor="inception") for s in range(2)]
    rows += [trial(f"d{s}", "lsgan", 0, s, 1e-4, val=7.0, test=7.0) for s in range(2)]
    rows += [trial(f"e{s}", "lsgan", 1, s, 2e-4, val=3.0, test=3.0) for s in range(2)]
    chosen = choose_configurations(pd.DataFrame(rows), "fid", "min").set_index(["gan", "fid_extractor"])
    assert len(chosen) == 3
    assert chosen.loc[("ns", "classifier"), "hp_lr"] == 1e-4  # not 2e-4, which won only in the other protocol
    assert chosen.loc[("ns", "inception"), "hp_lr"] == 2e-4
    assert chosen.loc[("lsgan", "classifier"), "hp_lr"] == 2e-4


def test_confirmation_runs_and_unscored_trials_do_not_choose():
    rows = [trial(f"a{s}", "ns", 0, s, 1e-4, val=5.0, test=5.0, phase="search") for s in range(2)]
    rows += [trial(f"b{s}", "ns", 1, s, 2e-4, val=6.0, test=6.0, phase="search") for s in range(2)]
    rows += [trial(f"c{s}", "ns", 1, s + 100, 2e-4, val=1.0, test=1.0, phase="confirm") for s in range(4)]
    rows += [trial("f", "ns", 2, 0, 8e-4, val=0.5, test=0.5, status="failed")]
    (row,) = choose_configurations(pd.DataFrame(rows), "fid", "min").itertuples()
    assert row.hp_lr == 1e-4 and row.configurations == 2


def test_validation_value_read_from_history_at_the_chosen_checkpoint():
    frame = pd.DataFrame([trial("a", "ns", 0, 0, 1e-4, val=None, test=5.0, best_d_steps=200),
                          trial("b", "ns", 1, 0, 2e-4, val=None, test=1.0, best_d_steps=100)])
    history = pd.DataFrame({"trial_id": ["a", "a", "a", "b", "b"], "d_steps": [100, 200, 300, 100, 200],
                            "split": ["val"] * 5, "fid": [9.0, 4.0, 7.0, 6.0, 2.0]})
    assert validation_values(frame, "fid", history).tolist() == [4.0, 6.0]  # at best_d_steps, not the minimum
    (row,) = choose_configurations(frame, "fid", "min", history=history).itertuples()
    assert row.hp_lr == 1e-4
    assert choose_configurations(frame, "fid", "min").empty  # no validation value known: nothing is chosen
    with pytest.raises(ValueError):
        choose_configurations(frame, "fid", "lower")
