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


def _stacked_floats(inputs: dict[str, Any], keys: tuple[str, ...]) -> tf.Tensor:
    """The given features, missing values filled, as the float32 columns of one [batch, len(keys)] matrix."""
    return tf.stack([tf.cast(_fill_missing(inputs[k], _default_for(k)), tf.float32) for k in keys], axis=1)


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
    # Each analyzer adds its own stages to Transform's Beam pipeline, and on small data those stages,
    # not the rows, are what Transform spends its time on. So the numbers are analysed as columns of
    # one matrix: one mean/variance analyzer for the z-scores and one quantiles analyzer for every
    # coordinate's bucket boundaries, per column exactly as the one-feature analyzers would compute them.
    dense = _stacked_floats(inputs, features.DENSE_FLOAT_FEATURES)
    scaled = tft.scale_to_z_score(dense, elementwise=True)
    for i, key in enumerate(features.DENSE_FLOAT_FEATURES):
        outputs[features.transformed_name(key)] = scaled[:, i]

    coordinates = _stacked_floats(inputs, features.BUCKET_FEATURES)
    # epsilon as tft.bucketize picks it for fewer than 100 buckets.
    boundaries = tft.quantiles(coordinates, features.FEATURE_BUCKET_COUNT, epsilon=0.01, reduce_instance_dims=False)
    for i, key in enumerate(features.BUCKET_FEATURES):
        outputs[features.transformed_name(key)] = tft.apply_buckets(coordinates[:, i], boundaries[i : i + 1])

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
        # The approximate vocabulary is a combiner, which Transform packs together with the others into
        # one pass; the exact one is a chain of Beam stages per feature. Its sketch holds VOCAB_SIZE
        # tokens, so it is exact for features with at most that many distinct values (Chicago has
        # about 800 census tracts, 77 community areas and a few hundred taxi companies).
        outputs[features.transformed_name(key)] = tft.experimental.compute_and_apply_approximate_vocabulary(
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
