"""The hyperparameter search (`tuner_fn`): KerasTuner random search over the model of models/model.py.

The Tuner component calls tuner_fn; its best values reach run_fn as fn_args.hyperparameters and
win over the configured ones (see models.trainer.hyperparameters).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import trainer
from models.model import build_keras_model

OBJECTIVE = "val_loss"
MAX_LAYERS = 3
UNITS = (16, 32, 64, 128)


def search_space() -> keras_tuner.HyperParameters:
    """Returns the space searched: layer count, each layer's size, and Adam's learning rate.

    Every layer size is declared even when fewer layers are used, so the space is fixed and
    tuning_values_to_hyperparameters only reads the first `num_layers` of them.
    """
    hp = keras_tuner.HyperParameters()
    hp.Int("num_layers", 1, MAX_LAYERS, default=2)
    for i in range(MAX_LAYERS):
        hp.Choice(f"units_{i}", list(UNITS), default=64 if i == 0 else 32)
    hp.Float("learning_rate", 1e-4, 3e-2, sampling="log", default=0.003)
    return hp


class TimeBudgetOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search that stops starting trials once max_trials or the time budget is used up.

    A running trial finishes; no new one starts after the budget, so the search overruns it by at
    most one trial.
    """

    def __init__(self, *, time_budget_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.time_budget_s = time_budget_s
        self._started = time.monotonic()

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if time.monotonic() - self._started > self.time_budget_s:
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        result: dict[str, Any] = super().populate_space(trial_id)
        return result


class TaxiTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs each trial by building and fitting the model itself.

    KerasTuner's own Tuner checks that models are Keras 3 instances; this project trains with
    tf-keras (Keras 2, what TFX needs), so the trial loop is written here on the BaseTuner API.
    """

    def run_trial(
        self,
        trial: keras_tuner.engine.trial.Trial,
        train: tf.data.Dataset,
        evaluation: tf.data.Dataset,
        train_steps: int,
        eval_steps: int,
        verbose: int = 0,
    ) -> dict[str, float]:
        params = tuning_values_to_hyperparameters(trial.hyperparameters.values)
        model = build_keras_model(hidden_units=params["hidden_units"], learning_rate=params["learning_rate"])
        history = model.fit(
            train,
            steps_per_epoch=train_steps,
            validation_data=evaluation,
            validation_steps=eval_steps,
            verbose=verbose,
        )
        return {OBJECTIVE: float(history.history[OBJECTIVE][-1])}

    # KerasTuner prints these summaries; the Tuner executor calls them, and a run's stdout carries only
    # the summary (JSON with --json), so they go to the log instead.
    def search_space_summary(self, extended: bool = False) -> None:
        logging.info("Tuner search space: %s", self.oracle.get_space().get_config())

    def results_summary(self, num_trials: int = 10) -> None:
        for trial in self.oracle.get_best_trials(num_trials):
            logging.info(
                "Tuner trial %s: %s = %s, %s", trial.trial_id, OBJECTIVE, trial.score, trial.hyperparameters.values
            )

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Trial models are not kept: the Trainer retrains the best values on the full step budget."""

    def load_model(self, trial: keras_tuner.engine.trial.Trial) -> Any:
        raise NotImplementedError("trial models are not kept; retrain with the best hyperparameters")


def tuning_values_to_hyperparameters(values: dict[str, Any]) -> dict[str, Any]:
    """Turns a trial's flat values into run_fn's hyperparameters (hidden_units, learning_rate).

    Args:
        values: keras_tuner values, e.g. {"num_layers": 2, "units_0": 64, "units_1": 32, ...}.
    """
    return trainer.tuned_hyperparameters(values)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the tuner and the arguments of its search.

    custom_config carries "tuner_trials" (max trials), "tuner_time_budget_s" and the configured
    "hyperparameters" (for the batch size). train_args.num_steps is the steps of each trial.

    Args:
        fn_args: what the Tuner passes: Transform output, train/eval files, steps, working dir.

    Returns:
        The tuner and the keyword arguments of tuner.search.
    """
    trainer.skip_autograph_for_tf_keras()
    custom_config = fn_args.custom_config or {}
    params = trainer.hyperparameters(custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    batch_size = int(params["batch_size"])
    train = trainer.dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size)
    evaluation = trainer.dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size)
    oracle = TimeBudgetOracle(
        time_budget_s=float(custom_config.get("tuner_time_budget_s", 600)),
        objective=keras_tuner.Objective(OBJECTIVE, "min"),
        max_trials=int(custom_config.get("tuner_trials", 10)),
        hyperparameters=search_space(),
        # A fixed seed: the same inputs give the same trials, which is what the cache assumes.
        seed=42,
    )
    tuner = TaxiTuner(oracle=oracle, directory=fn_args.working_dir, project_name="taxi_tuning", overwrite=True)
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "train": train,
            "evaluation": evaluation,
            "train_steps": fn_args.train_steps,
            "eval_steps": fn_args.eval_steps,
            # KerasTuner's progress display prints to stdout; the log keeps the trials (results_summary).
            "verbose": 0,
        },
    )
