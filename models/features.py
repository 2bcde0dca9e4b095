"""Names and roles of the taxi features, and the model's serving contract: read by model and pipeline alike.

Standard library only, so that the pipeline, the schema tools and the tests can import it cheaply.
"""

from __future__ import annotations

# Continuous features, standardised to z-scores by Transform.
DENSE_FLOAT_FEATURES: tuple[str, ...] = ("trip_miles", "fare", "trip_seconds")

# Coordinates, cut into quantile buckets by Transform.
BUCKET_FEATURES: tuple[str, ...] = (
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
)
FEATURE_BUCKET_COUNT = 10

# Integer-coded categories whose values are already small ids: feature -> number of ids.
# Values outside [0, size) are folded into the last id by Transform.
CATEGORICAL_INT_FEATURES: dict[str, int] = {
    "trip_start_hour": 24,
    "trip_start_day": 8,
    "trip_start_month": 13,
}

# Strings and large integer codes, turned into ids through a vocabulary computed by Transform.
VOCAB_FEATURES: tuple[str, ...] = (
    "payment_type",
    "company",
    "pickup_census_tract",
    "dropoff_census_tract",
    "pickup_community_area",
    "dropoff_community_area",
)
VOCAB_SIZE = 1000
OOV_SIZE = 10

# Raw columns used to derive the label; `tips` is absent at serving time.
LABEL_SOURCE_FEATURES: tuple[str, ...] = ("tips", "fare")
TIPS_KEY = "tips"
FARE_KEY = "fare"
# A trip is a "big tip" when the tip exceeds this fraction of the fare, as the TFX taxi example defines it.
BIG_TIP_FRACTION = 0.2
LABEL_KEY = "big_tipper"

# Present in the CSV but not a model input: the split into spans is made on it.
TIMESTAMP_KEY = "trip_start_timestamp"

# Features the model is sliced on during evaluation.
SLICE_FEATURES: tuple[str, ...] = ("trip_start_hour", "payment_type")

# The exported model's serving contract: its signature names, and the output each serving signature
# returns. Clients, TFMA and the server call them by these names (models/signatures.py builds them).
# What TF Serving and Vertex call when a request names no signature: one [batch] tensor per raw
# feature, as JSON clients send them, so a raw-JSON request means the same on all three servers.
SERVING_DEFAULT = "serving_default"
SERVING_TF_EXAMPLE = "serving_tf_example"  # serialized tf.Examples, as the TFX examples name it
TRANSFORM_FEATURES = "transform_features"  # Transform applied to labelled tf.Examples, for TFMA
OUTPUT_KEY = "probability"

STRING_FEATURES: frozenset[str] = frozenset({"payment_type", "company"})
INT_FEATURES: frozenset[str] = frozenset(
    {
        "trip_start_hour",
        "trip_start_day",
        "trip_start_month",
        "trip_start_timestamp",
        "trip_seconds",
        "pickup_census_tract",
        "dropoff_census_tract",
        "pickup_community_area",
        "dropoff_community_area",
    }
)


def model_input_features() -> tuple[str, ...]:
    """Returns every raw feature the model reads at serving time, in a stable order."""
    return (
        *DENSE_FLOAT_FEATURES,
        *BUCKET_FEATURES,
        *CATEGORICAL_INT_FEATURES,
        *VOCAB_FEATURES,
    )


def raw_feature_kind(name: str) -> str:
    """Returns "string", "int" or "float": the type a raw feature has in the CSV and in requests.

    Args:
        name: a raw feature name.

    Raises:
        KeyError: the name is not a taxi feature.
    """
    if name in STRING_FEATURES:
        return "string"
    if name in INT_FEATURES:
        return "int"
    if name in model_input_features() or name in LABEL_SOURCE_FEATURES:
        return "float"
    raise KeyError(f"{name!r} is not a taxi feature")


def transformed_name(key: str) -> str:
    """Returns the name Transform gives to the transformed version of a raw feature."""
    return f"{key}_xf"
