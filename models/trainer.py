"""The Trainer's entry point (`run_fn`): trains the model on Transform's output and exports it.

Hyperparameters arrive through the Trainer's custom_config, overlaid by the Tuner's best values when
tuning is on, so every trained model records them in ML Metadata.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from models import features, signatures
from models.model import build_keras_model

# Written to the Trainer's model_run output: the hyperparameters the model was trained with.
HYPERPARAMETERS_FILE = "hyperparameters.json"

# Also in model_run: Keras's loss and metrics per epoch, for the run report's training curves
# (reading them back from the TensorBoard event files would need TensorFlow in every reader).
HISTORY_FILE = "history.json"

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": 256,
    "learning_rate": 0.003,
    "hidden_units": [64, 32],
}


# The validation split is scored every EPOCH_STEPS training steps; training stops once its loss has
# not improved for PATIENCE scorings in a row, keeping the best weights. On the bundled data the
# model peaks within a few hundred steps and longer training only overfits (BENCHMARKS.md).
EPOCH_STEPS = 100
PATIENCE = 2


def epochs_for(train_steps: int) -> tuple[int, int]:
    """Splits train_steps into (epochs, steps per epoch) of about EPOCH_STEPS, never above train_steps."""
    epochs = max(1, train_steps // EPOCH_STEPS)
    return epochs, train_steps // epochs


def tuned_hyperparameters(values: dict[str, Any]) -> dict[str, Any]:
    """Turns KerasTuner values (see models.tuning.search_space) into run_fn's hyperparameter names.

    Args:
        values: e.g. {"num_layers": 2, "units_0": 64, "units_1": 32, "units_2": 16, "learning_rate": 0.01}.

    Returns:
        The hyperparameters the values set: hidden_units and/or learning_rate.
    """
    chosen: dict[str, Any] = {}
    if "num_layers" in values:
        chosen["hidden_units"] = [int(values[f"units_{i}"]) for i in range(int(values["num_layers"]))]
    if "learning_rate" in values:
        chosen["learning_rate"] = float(values["learning_rate"])
    return chosen


def hyperparameters(custom_config: dict[str, Any] | None, tuned: dict[str, Any] | None = None) -> dict[str, Any]:
    """Returns the defaults, overlaid with custom_config["hyperparameters"], overlaid with the tuner's best.

    Args:
        custom_config: the Trainer's custom_config.
        tuned: the Tuner's best_hyperparameters (a keras_tuner HyperParameters config, as
            fn_args.hyperparameters holds it), or None when tuning is off.
    """
    chosen = dict(DEFAULT_HYPERPARAMETERS)
    chosen.update((custom_config or {}).get("hyperparameters", {}))
    if tuned:
        # The search ran on this data for this purpose: its values win over the configured ones.
        chosen.update(tuned_hyperparameters(tuned.get("values", {})))
    return chosen


def dataset(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    """Returns (transformed features, [batch, 1] label) batches of Transform's output files."""
    batches = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=features.LABEL_KEY),
        tf_transform_output.transformed_metadata.schema,
    )
    return batches.map(lambda x, y: (x, tf.reshape(y, [-1, 1])))


def skip_autograph_for_tf_keras() -> None:
    """Stops AutoGraph from re-transpiling tf-keras internals on every first fit (tens of seconds).

    TensorFlow 2.16 exempts the `keras` package from AutoGraph conversion but not `tf_keras`, the
    Keras 2 that TFX needs, so the first training step spends most of its time rewriting Keras's
    own code. tf-keras is written for graph mode exactly as keras is, so the same exemption holds.
    """
    from tensorflow.python.autograph.core import config as autograph_config

    rule = autograph_config.DoNotConvert("tf_keras")
    if not any(getattr(r, "_prefix", None) == "tf_keras" for r in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = (rule, *autograph_config.CONVERSION_RULES)


def run_fn(fn_args: FnArgs) -> None:
    """Trains the classifier and saves it with its serving signatures.

    Args:
        fn_args: what the Trainer passes: train/eval files, Transform output, steps, the
            serving and run directories, and custom_config.
    """
    skip_autograph_for_tf_keras()
    params = hyperparameters(fn_args.custom_config, fn_args.hyperparameters)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    batch_size = int(params["batch_size"])
    train = dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size)
    evaluation = dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size)
    # Next to the TensorBoard logs, so the values a model was trained with are readable without MLMD.
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HYPERPARAMETERS_FILE), "w") as f:
        f.write(json.dumps(params, indent=2, sort_keys=True))

    model = build_keras_model(
        hidden_units=[int(u) for u in params["hidden_units"]],
        learning_rate=float(params["learning_rate"]),
    )
    epochs, steps_per_epoch = epochs_for(fn_args.train_steps)
    history = model.fit(
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        callbacks=[
            tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True),
        ],
        verbose=0,
    )
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        f.write(json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}, indent=2))
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=signatures.make_serving_signatures(model, tf_transform_output),
    )
