"""TF Serving's REST request formats, checked against the schema's SERVING environment.

Pure functions over JSON and protos: they turn a predict body into typed columns or serialized
tf.Examples, or raise `RequestError` naming the feature and what was expected.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import ids

SERVING_ENVIRONMENT = "SERVING"
_KINDS = {schema_pb2.FLOAT: "float", schema_pb2.INT: "int", schema_pb2.BYTES: "string"}
_INACTIVE = (schema_pb2.DEPRECATED, schema_pb2.DISABLED, schema_pb2.PLANNED)
# What a client sends for each kind, in the words of an error message.
_EXPECTED = {"float": "a number", "int": "an integer", "string": "a string"}


class RequestError(ValueError):
    """A request the server refuses; `status` is the HTTP status code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class ServingFeature:
    """One feature a client may send: its name, kind ("float", "int" or "string") and whether it is required."""

    name: str
    kind: str
    required: bool

    @property
    def fill(self) -> Any:
        """What the model's preprocessing puts in place of a missing value ("" or 0)."""
        return "" if self.kind == "string" else (0 if self.kind == "int" else 0.0)


def serving_features(schema: schema_pb2.Schema) -> list[ServingFeature]:
    """Returns the features of the schema's SERVING environment, in schema order.

    A feature is required when the schema asks for at least one value (value_count.min >= 1); the others
    may be missing, as an empty CSV cell is in training data.

    Args:
        schema: the curated schema (or the snapshot a model was trained with).

    Returns:
        One entry per active feature that is not excluded from SERVING.
    """
    found = []
    for feature in schema.feature:
        if feature.lifecycle_stage in _INACTIVE or feature.type not in _KINDS:
            continue
        if SERVING_ENVIRONMENT in feature.not_in_environment:
            continue
        if feature.in_environment and SERVING_ENVIRONMENT not in feature.in_environment:
            continue
        found.append(ServingFeature(feature.name, _KINDS[feature.type], feature.value_count.min >= 1))
    return found


@dataclasses.dataclass
class PredictRequest:
    """A checked predict request.

    Attributes:
        rows: one mapping per instance, feature -> value (None when missing), for JSON values; empty
            when the request carries serialized examples.
        examples: serialized tf.Examples, for `{"b64": ...}` instances; empty for JSON values.
        columnar: the request used TF Serving's "inputs" format, so the answer goes under "outputs".
    """

    rows: list[dict[str, Any]]
    examples: list[bytes]
    columnar: bool

    def __len__(self) -> int:
        return len(self.rows) or len(self.examples)


def _check_value(feature: ServingFeature, value: Any, where: str) -> Any:
    """Returns a JSON value as the feature's kind, None when missing; raises RequestError otherwise."""
    if isinstance(value, list):
        # TF Serving accepts a feature's values as a list; the schema allows at most one.
        if len(value) > 1:
            raise RequestError(f"{where}: feature '{feature.name}' has {len(value)} values; expected at most one")
        value = value[0] if value else None
    if value is None:
        if feature.required:
            raise RequestError(
                f"{where}: feature '{feature.name}' is missing; it is required ({_EXPECTED[feature.kind]})"
            )
        return None
    if feature.kind == "string":
        if not isinstance(value, str):
            raise RequestError(f"{where}: feature '{feature.name}' is {value!r}; expected a string")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{where}: feature '{feature.name}' is {value!r}; expected {_EXPECTED[feature.kind]}")
    if feature.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise RequestError(f"{where}: feature '{feature.name}' is {value!r}; expected an integer")
        return int(value)
    if not math.isfinite(value):
        raise RequestError(f"{where}: feature '{feature.name}' is {value!r}; expected a finite number")
    return float(value)


def check_row(row: Any, features: Sequence[ServingFeature], where: str) -> dict[str, Any]:
    """Checks one instance of raw feature values.

    Args:
        row: a JSON object, feature name -> value (or a one-value list).
        features: the SERVING features.
        where: how error messages name the instance, e.g. "instance 3".

    Returns:
        feature -> typed value, None for a missing optional feature.

    Raises:
        RequestError: not an object, an unknown feature, a missing required one or a mistyped value.
    """
    if not isinstance(row, dict):
        raise RequestError(f"{where} is {type(row).__name__}; expected an object of feature values or {{'b64': ...}}")
    known = {f.name for f in features}
    unknown = sorted(set(row) - known)
    if unknown:
        raise RequestError(
            f"{where}: unknown feature '{unknown[0]}'; the schema's SERVING environment has: {', '.join(sorted(known))}"
        )
    return {f.name: _check_value(f, row.get(f.name), where) for f in features}


def _example_values(feature: Any) -> tuple[str, list[Any]]:
    kind = feature.WhichOneof("kind")
    if kind == "float_list":
        return "float", list(feature.float_list.value)
    if kind == "int64_list":
        return "int", list(feature.int64_list.value)
    if kind == "bytes_list":
        return "string", list(feature.bytes_list.value)
    return "", []


def check_example(serialized: bytes, features: Sequence[ServingFeature], where: str) -> None:
    """Checks one serialized tf.Example against the SERVING features (same rules as `check_row`).

    Raises:
        RequestError: not a tf.Example, an unknown feature, a missing required one or a wrong value type.
    """
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(serialized)
    except Exception:  # protobuf raises DecodeError, a private type
        raise RequestError(f"{where}: the b64 value is not a serialized tf.Example") from None
    by_name = {f.name: f for f in features}
    for name, value in example.features.feature.items():
        feature = by_name.get(name)
        if feature is None:
            raise RequestError(
                f"{where}: unknown feature '{name}'; the schema's SERVING environment has: {', '.join(sorted(by_name))}"
            )
        kind, values = _example_values(value)
        if values and kind != feature.kind:
            raise RequestError(f"{where}: feature '{name}' holds {kind} values; expected {_EXPECTED[feature.kind]}")
        if len(values) > 1:
            raise RequestError(f"{where}: feature '{name}' has {len(values)} values; expected at most one")
    for feature in features:
        if feature.required and not _example_values(example.features.feature[feature.name])[1]:
            raise RequestError(
                f"{where}: feature '{feature.name}' is missing; it is required ({_EXPECTED[feature.kind]})"
            )


def _b64(value: Any, where: str) -> bytes | None:
    """Returns the bytes of a {"b64": ...} value (alone or under the signature's "examples" key), else None."""
    if isinstance(value, dict) and set(value) == {"examples"}:
        value = value["examples"]
    if not (isinstance(value, dict) and set(value) == {"b64"}):
        return None
    if not isinstance(value["b64"], str):
        raise RequestError(f"{where}: 'b64' must be a base64 string")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{where}: 'b64' is not valid base64") from None


def _columns_to_rows(inputs: Any) -> list[Any]:
    """Turns TF Serving's columnar "inputs" (feature -> list of values) into instances."""
    if isinstance(inputs, dict) and set(inputs) == {"examples"}:
        examples = inputs["examples"]
        if not isinstance(examples, list):
            raise RequestError("'inputs.examples' must be a list of {'b64': ...} values")
        return list(examples)
    if not isinstance(inputs, dict) or not inputs:
        raise RequestError("'inputs' must be an object mapping each feature to a list of values, one per instance")
    lengths = {name: len(values) if isinstance(values, list) else -1 for name, values in inputs.items()}
    if any(n < 0 for n in lengths.values()):
        bad = next(name for name, n in lengths.items() if n < 0)
        raise RequestError(f"inputs: feature '{bad}' must be a list of values, one per instance")
    if len(set(lengths.values())) > 1:
        raise RequestError(
            "inputs: every feature needs one value per instance; lengths differ: "
            + ", ".join(f"{name}={n}" for name, n in sorted(lengths.items()))
        )
    count = next(iter(lengths.values()))
    return [{name: values[i] for name, values in inputs.items()} for i in range(count)]


def parse_predict(body: bytes, features: Sequence[ServingFeature], max_instances: int = 100_000) -> PredictRequest:
    """Parses and checks a `:predict` body in TF Serving's row ("instances") or columnar ("inputs") format.

    Instances are either objects of raw feature values (what `serving_raw` takes) or `{"b64": ...}`
    serialized tf.Examples (what `serving_default` takes); one request uses one kind.

    Args:
        body: the request body.
        features: the SERVING features of the served model's schema.
        max_instances: more instances than this are refused.

    Returns:
        The checked request.

    Raises:
        RequestError: with HTTP status 400 and a message naming the instance and feature at fault.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"the body is not JSON: {err}") from None
    if not isinstance(document, dict):
        raise RequestError('the body must be a JSON object: {"instances": [...]} or {"inputs": {...}}')
    signature = document.get("signature_name", ids.SERVING_DEFAULT)
    if signature not in (ids.SERVING_DEFAULT, ids.SERVING_RAW, ""):
        raise RequestError(f"signature_name '{signature}' is not served; use {ids.SERVING_DEFAULT} (or leave it out)")
    if ("instances" in document) == ("inputs" in document):
        raise RequestError('the body needs exactly one of "instances" (a list of rows) or "inputs" (columns)')
    columnar = "inputs" in document
    instances = _columns_to_rows(document["inputs"]) if columnar else document["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list')
    if len(instances) > max_instances:
        raise RequestError(f"{len(instances)} instances in one request; at most {max_instances}")
    rows: list[dict[str, Any]] = []
    examples: list[bytes] = []
    for index, instance in enumerate(instances):
        where = f"instance {index}"
        serialized = _b64(instance, where)
        if serialized is not None:
            check_example(serialized, features, where)
            examples.append(serialized)
        else:
            rows.append(check_row(instance, features, where))
        if rows and examples:
            raise RequestError(f"{where}: mixes raw feature values and b64 examples in one request; send one kind")
    return PredictRequest(rows, examples, columnar)


def columns(rows: Sequence[Mapping[str, Any]], features: Sequence[ServingFeature]) -> dict[str, list[Any]]:
    """Returns feature -> one value per row, missing values replaced by the feature's fill value.

    The model's preprocessing replaces a missing value by the same fill ("" or 0), so a raw request
    with a gap gets the answer a tf.Example without that feature gets.
    """
    return {f.name: [f.fill if row[f.name] is None else row[f.name] for row in rows] for f in features}


def parse_explain(body: bytes, features: Sequence[ServingFeature], max_instances: int) -> list[dict[str, Any]]:
    """Parses and checks an `:explain` body, `{"instances": [...]}` of raw feature values, as `:predict` does.

    Args:
        body: the request body.
        features: the SERVING features of the served model's schema.
        max_instances: more instances than this are refused (each costs one prediction per feature).

    Returns:
        Per instance, the features it sent, typed (None for a `null`, which the model fills as for
        :predict); a feature left out is absent, so the explanation gives it the baseline row's value.

    Raises:
        RequestError: with HTTP status 400 and a message naming the instance and feature at fault, as
            parse_predict; also for `{"b64": ...}` examples and the columnar "inputs" form.
    """
    request = parse_predict(body, features, max_instances)
    if request.examples:
        raise RequestError(
            ':explain takes raw feature values, {"instances": [{"fare": 12.5, ...}]}; '
            "b64 tf.Examples are only predicted"
        )
    if request.columnar:
        raise RequestError(':explain takes {"instances": [{feature: value, ...}]}, not the columnar "inputs" form')
    sent = json.loads(body)["instances"]  # parse_predict checked it: a list of objects, one per row
    return [
        {name: value for name, value in row.items() if name in instance}
        for row, instance in zip(request.rows, sent, strict=True)
    ]
