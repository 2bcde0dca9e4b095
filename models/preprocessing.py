"""tf.Transform preprocessing: fills missing values, scales, buckets and indexes the taxi features.

Transform runs this once over the training window (analysis) and the resulting graph is baked
into the exported model, so serving applies exactly the same transformation.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models import features

MISSING_TOKEN = "<missing>"


def _fill_missing(value: Any, default: Any) -> tf.Tensor:
    """Densifies a possibly-sparse [batch, 0 or 1] feature to [batch], using default where absent."""
    if isinstance(value, tf.sparse.SparseTensor):
        dense = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
            default_value=default,
        )
        return tf.squeeze(dense, axis=1)
    if value.shape.rank == 2:
        return tf.squeeze(value, axis=1)
    return value


def _default_for(key: str) -> Any:
    kind = features.raw_feature_kind(key)
    return "" if kind == "string" else (0 if kind == "int" else 0.0)


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Maps raw taxi features to model features and, when `tips` is present, the label.

    Args:
        inputs: raw features as parsed from tf.Example with the curated schema (sparse where a
            value may be missing).

    Returns:
        Transformed features keyed by `features.transformed_name(key)`, plus `big_tipper`
        (int64 0/1) when the inputs carry tips.
    """
    outputs: dict[str, tf.Tensor] = {}
    for key in features.DENSE_FLOAT_FEATURES:
        value = tf.cast(_fill_missing(inputs[key], _default_for(key)), tf.float32)
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)

    for key in features.BUCKET_FEATURES:
        value = tf.cast(_fill_missing(inputs[key], _default_for(key)), tf.float32)
        outputs[features.transformed_name(key)] = tft.bucketize(value, features.FEATURE_BUCKET_COUNT)

    for key, size in features.CATEGORICAL_INT_FEATURES.items():
        value = tf.cast(_fill_missing(inputs[key], _default_for(key)), tf.int64)
        # Out-of-range codes share the last id instead of breaking the one-hot encoding.
        outputs[features.transformed_name(key)] = tf.clip_by_value(value, 0, size - 1)

    for key in features.VOCAB_FEATURES:
        value = _fill_missing(inputs[key], _default_for(key))
        if value.dtype != tf.string:
            value = tf.strings.as_string(value)
        value = tf.strings.strip(value)
        # An absent value (tf.Example) and an empty string (JSON) mean the same: give both one
        # explicit token, since TFT's vocabulary leaves "" out and would hash it to an OOV bucket.
        value = tf.where(tf.equal(value, ""), MISSING_TOKEN, value)
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            value,
            top_k=features.VOCAB_SIZE,
            num_oov_buckets=features.OOV_SIZE,
            vocab_filename=key,
        )

    if features.TIPS_KEY in inputs:
        tips = tf.cast(_fill_missing(inputs[features.TIPS_KEY], 0.0), tf.float32)
        fare = tf.cast(_fill_missing(inputs[features.FARE_KEY], 0.0), tf.float32)
        outputs[features.LABEL_KEY] = tf.cast(tips > features.BIG_TIP_FRACTION * fare, tf.int64)
    return outputs
