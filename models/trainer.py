"""The Trainer's entry point (`run_fn`): trains the model on Transform's output and exports it.

Hyperparameters arrive through the Trainer's custom_config, so every trained model records them
in ML Metadata.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from models import features, signatures
from models.model import build_keras_model

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "batch_size": 128,
    "learning_rate": 0.003,
    "hidden_units": [64, 32],
}


def hyperparameters(custom_config: dict[str, Any] | None) -> dict[str, Any]:
    """Returns the defaults overlaid with the Trainer's custom_config["hyperparameters"]."""
    chosen = dict(DEFAULT_HYPERPARAMETERS)
    chosen.update((custom_config or {}).get("hyperparameters", {}))
    return chosen


def _dataset(
    file_pattern: list[str],
    data_accessor: tfx.components.DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=features.LABEL_KEY),
        tf_transform_output.transformed_metadata.schema,
    )
    return dataset.map(lambda x, y: (x, tf.reshape(y, [-1, 1])))


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


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the classifier and saves it with its serving signatures.

    Args:
        fn_args: what the Trainer passes: train/eval files, Transform output, steps, the
            serving and run directories, and custom_config.
    """
    skip_autograph_for_tf_keras()
    params = hyperparameters(fn_args.custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    batch_size = int(params["batch_size"])
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size)
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size)

    model = build_keras_model(
        hidden_units=[int(u) for u in params["hidden_units"]],
        learning_rate=float(params["learning_rate"]),
    )
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=0,
    )
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=signatures.make_serving_signatures(model, tf_transform_output),
    )
