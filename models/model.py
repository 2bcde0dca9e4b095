"""The Keras model: one-hot categorical and bucket ids next to scaled numbers, into a small MLP.

It consumes Transform's outputs only; raw-feature handling lives in the serving signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from models import features

PREDICTION_KEY = "probability"


def categorical_sizes() -> dict[str, int]:
    """Returns transformed feature name -> number of ids, for every id-valued model input."""
    sizes = {features.transformed_name(k): features.FEATURE_BUCKET_COUNT for k in features.BUCKET_FEATURES}
    sizes.update({features.transformed_name(k): n for k, n in features.CATEGORICAL_INT_FEATURES.items()})
    sizes.update(
        {features.transformed_name(k): features.VOCAB_SIZE + features.OOV_SIZE for k in features.VOCAB_FEATURES}
    )
    return sizes


def build_keras_model(hidden_units: Sequence[int] = (64, 32), learning_rate: float = 0.003) -> tf.keras.Model:
    """Builds and compiles the classifier.

    Args:
        hidden_units: sizes of the dense layers.
        learning_rate: Adam's learning rate.

    Returns:
        A compiled model mapping a dict of transformed features ([batch] tensors) to a
        [batch, 1] tensor: the probability of a big tip.
    """
    inputs: dict[str, tf.keras.Input] = {}
    encoded: list[tf.Tensor] = []
    for key in features.DENSE_FLOAT_FEATURES:
        name = features.transformed_name(key)
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.float32)
        encoded.append(tf.keras.layers.Reshape((1,), name=f"{name}_column")(inputs[name]))
    for name, size in categorical_sizes().items():
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.int64)
        encoded.append(
            tf.keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot", name=f"{name}_onehot")(
                inputs[name]
            )
        )
    hidden = tf.keras.layers.Concatenate(name="all_features")(encoded)
    for i, units in enumerate(hidden_units):
        hidden = tf.keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(hidden)
    output = tf.keras.layers.Dense(1, activation="sigmoid", name=PREDICTION_KEY)(hidden)
    model = tf.keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate, jit_compile=False),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    return model
