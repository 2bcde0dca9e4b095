"""The curated schema: reading it, writing it canonically, what it asks of training data.

Also checks statistics against it, as ExampleValidator does.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

_INACTIVE = (schema_pb2.DEPRECATED, schema_pb2.DISABLED, schema_pb2.PLANNED)


def load_schema(path: str | Path) -> schema_pb2.Schema:
    """Reads a schema.pbtxt.

    Args:
        path: the text-format Schema file.

    Returns:
        The schema.

    Raises:
        ValueError: the file is missing or is not a text-format Schema; the message names the file.
    """
    path = Path(path)
    try:
        return text_format.Parse(path.read_bytes().decode("utf-8-sig"), schema_pb2.Schema())
    except FileNotFoundError:
        raise ValueError(f"schema file {path} does not exist") from None
    except OSError as err:
        raise ValueError(f"schema file {path} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"schema file {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except text_format.ParseError as err:
        raise ValueError(f"schema file {path} is not a valid text-format Schema: {err}") from None


def schema_text(schema: schema_pb2.Schema) -> str:
    """Returns the schema in canonical text format (comments are not part of the proto)."""
    return str(text_format.MessageToString(schema))


def training_features(schema: schema_pb2.Schema) -> list[schema_pb2.Feature]:
    """Returns, in schema order, the features training data must carry.

    That is every feature except those excluded from the TRAINING environment and those whose
    lifecycle stage is deprecated, disabled or planned (TFDV does not validate them either).
    """
    return [
        feature
        for feature in schema.feature
        if feature.lifecycle_stage not in _INACTIVE
        and "TRAINING" not in feature.not_in_environment
        and (not feature.in_environment or "TRAINING" in feature.in_environment)
    ]


def training_columns(schema: schema_pb2.Schema) -> list[str]:
    """Returns, in schema order, the names of `training_features`."""
    return [feature.name for feature in training_features(schema)]


def is_categorical(feature: schema_pb2.Feature) -> bool:
    """True for strings and for integers the schema marks as categorical codes."""
    return feature.type == schema_pb2.BYTES or (feature.HasField("int_domain") and feature.int_domain.is_categorical)


def validate(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, schema: schema_pb2.Schema
) -> anomalies_pb2.Anomalies:
    """Checks statistics against the schema, as ExampleValidator does."""
    import tensorflow_data_validation as tfdv

    anomalies: anomalies_pb2.Anomalies = tfdv.validate_statistics(statistics, schema)
    return anomalies
