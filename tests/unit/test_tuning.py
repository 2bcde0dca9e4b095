"""The search space, how the tuner's values reach run_fn, and the tuner's time budget."""

from __future__ import annotations

import keras_tuner

from models import trainer, tuning


def test_tuned_values_win_over_configured_hyperparameters() -> None:
    tuned = {"values": {"num_layers": 2, "units_0": 128, "units_1": 16, "units_2": 64, "learning_rate": 0.02}}
    chosen = trainer.hyperparameters({"hyperparameters": {"batch_size": 64, "hidden_units": [8]}}, tuned)
    assert chosen == {"batch_size": 64, "hidden_units": [128, 16], "learning_rate": 0.02}


def test_without_tuning_the_configured_values_stand() -> None:
    chosen = trainer.hyperparameters({"hyperparameters": {"hidden_units": [8], "learning_rate": 0.1}}, None)
    assert chosen["hidden_units"] == [8] and chosen["learning_rate"] == 0.1


def test_search_space_defaults_are_the_untuned_model() -> None:
    defaults = tuning.search_space().values
    assert trainer.tuned_hyperparameters(defaults) == {
        "hidden_units": trainer.DEFAULT_HYPERPARAMETERS["hidden_units"],
        "learning_rate": trainer.DEFAULT_HYPERPARAMETERS["learning_rate"],
    }


def test_oracle_starts_no_trial_after_its_time_budget() -> None:
    oracle = tuning.TimeBudgetOracle(
        time_budget_s=3600,
        objective=keras_tuner.Objective(tuning.OBJECTIVE, "min"),
        max_trials=5,
        hyperparameters=tuning.search_space(),
        seed=1,
    )
    assert oracle.populate_space("0")["status"] == keras_tuner.engine.trial.TrialStatus.RUNNING
    oracle.time_budget_s = 0
    assert oracle.populate_space("1")["status"] == keras_tuner.engine.trial.TrialStatus.STOPPED
