"""Serving signatures: raw JSON-style values (the default), serialized tf.Example, and Transform for evaluation.

Every signature runs the raw inputs through the same Transform graph the model was trained on,
so no client has to reproduce the preprocessing and there is no training/serving skew.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models import features

_DTYPES = {"string": tf.string, "int": tf.int64, "float": tf.float32}


def serving_feature_spec() -> dict[str, tf.io.VarLenFeature]:
    """Returns the parse spec of what a client sends: every model input, each optional."""
    return {
        name: tf.io.VarLenFeature(_DTYPES[features.raw_feature_kind(name)]) for name in features.model_input_features()
    }


def _as_sparse_column(values: tf.Tensor) -> tf.sparse.SparseTensor:
    """Turns a [batch] tensor of present values into the [batch, 1] sparse form tf.Example parsing gives."""
    batch = tf.shape(values, out_type=tf.int64)[0]
    rows = tf.range(batch, dtype=tf.int64)
    indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
    return tf.sparse.SparseTensor(indices, values, tf.stack([batch, tf.constant(1, tf.int64)]))


def make_serving_signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """Builds the exported signatures around a trained model.

    Args:
        model: the trained Keras model (consumes transformed features).
        tf_transform_output: Transform's output, whose graph is attached to the model.

    Returns:
        signature name -> concrete function, for `model.save(signatures=...)`:
        `serving_default` takes one [batch] tensor per raw feature (what JSON clients send, so a
        request without signature_name works on TF Serving and Vertex alike), `serving_tf_example`
        takes serialized tf.Examples (`examples`), `transform_features` returns the transformed features
        and label (TFMA uses it to compute the label from raw eval examples).
    """
    # Tracked as an attribute so the Transform graph and its vocabularies are saved with the model.
    model.tft_layer = tf_transform_output.transform_features_layer()
    spec = serving_feature_spec()

    def predict(raw: dict[str, Any]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(raw)
        inputs = {name: transformed[name] for name in model.input_names}
        return {features.OUTPUT_KEY: model(inputs)}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_tf_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(serialized, spec))

    raw_spec = {name: tf.TensorSpec(shape=[None], dtype=feature.dtype, name=name) for name, feature in spec.items()}

    @tf.function(input_signature=[raw_spec])
    def serve_raw(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return predict({name: _as_sparse_column(value) for name, value in raw.items()})

    full_spec = tf_transform_output.raw_feature_spec()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return model.tft_layer(tf.io.parse_example(serialized, full_spec))

    return {
        features.SERVING_DEFAULT: serve_raw.get_concrete_function(),
        features.SERVING_TF_EXAMPLE: serve_tf_examples.get_concrete_function(),
        features.TRANSFORM_FEATURES: transform_features.get_concrete_function(),
    }
