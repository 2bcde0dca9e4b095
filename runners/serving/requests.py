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
    """One feature a client may send: its name, kind ("float", "int" or "string"), whether it is required,
    and the domain the schema gives it (None where it gives none)."""

    name: str
    kind: str
    required: bool
    low: float | None = None
    high: float | None = None
    values: frozenset[str] | None = None

    @property
    def fill(self) -> Any:
        """What the model's preprocessing puts in place of a missing value ("" or 0)."""
        return "" if self.kind == "string" else (0 if self.kind == "int" else 0.0)

    def in_domain(self, value: Any) -> bool:
        """True when a present value lies in the schema's domain (or the schema gives none)."""
        if self.values is not None:
            return value in self.values
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value <= self.high


def _domain(feature: Any, schema: schema_pb2.Schema) -> dict[str, Any]:
    """The low/high bounds or the string values of a schema feature's domain."""
    which = feature.WhichOneof("domain_info")
    if which == "int_domain":
        d = feature.int_domain
        return {"low": d.min if d.HasField("min") else None, "high": d.max if d.HasField("max") else None}
    if which == "float_domain":
        f = feature.float_domain
        return {"low": f.min if f.HasField("min") else None, "high": f.max if f.HasField("max") else None}
    strings = None
    if which == "string_domain":
        strings = feature.string_domain.value
    elif which == "domain":
        strings = next((d.value for d in schema.string_domain if d.name == feature.domain), None)
    return {"values": frozenset(strings)} if strings is not None else {}


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
        found.append(
            ServingFeature(feature.name, _KINDS[feature.type], feature.value_count.min >= 1, **_domain(feature, schema))
        )
    return found


# What the model's tensors can hold: int64 and float32.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
# A JSON number with more digits than this is no int64 (19 digits) nor a float a client means; it is
# refused without being converted (Python's int() of a 5,000-digit string costs time and memory).
_MAX_DIGITS = 40


class _TooLong(str):
    """A JSON number literal too long to be any value the model takes."""


def _parse_int(text: str) -> int | _TooLong:
    return int(text) if len(text) <= _MAX_DIGITS else _TooLong(text)


def _parse_float(text: str) -> float | _TooLong:
    return float(text) if len(text) <= 4 * _MAX_DIGITS else _TooLong(text)


def _refuse_constant(text: str) -> Any:
    raise RequestError(f"the body is not JSON: {text} is not a JSON number (JSON has no NaN or Infinity)")


def load_json(body: bytes) -> Any:
    """Parses a request body as JSON, refusing NaN/Infinity, absurd numbers and nesting too deep to parse."""
    try:
        return json.loads(body, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestError("the body is nested too deeply to be a predict request") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"the body is not JSON: {err}") from None


@dataclasses.dataclass
class PredictRequest:
    """A checked predict request.

    Attributes:
        rows: one mapping per instance, feature -> value (None when missing), for JSON values; empty
            when the request carries serialized examples.
        examples: serialized tf.Examples, for `{"b64": ...}` instances; empty for JSON values.
        columnar: the request used TF Serving's "inputs" format, so the answer goes under "outputs".
        out_of_domain: per instance, the features whose value lies outside the schema's domain.
        example_values: for serialized examples, each one's values as `rows` holds them (for the log).
    """

    rows: list[dict[str, Any]]
    examples: list[bytes]
    columnar: bool
    out_of_domain: list[list[str]] = dataclasses.field(default_factory=list)
    example_values: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def values(self) -> list[dict[str, Any]]:
        """Each instance's checked values, whichever form it came in."""
        return self.rows or self.example_values

    def __len__(self) -> int:
        return len(self.rows) or len(self.examples)


def _show(value: Any) -> str:
    """A client's value for an error message: short, and printable whatever it holds."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} characters)"


def _check_number(feature: ServingFeature, value: Any, where: str) -> int | float:
    """Returns a JSON number as the feature's kind, refusing what int64/float32 cannot hold."""
    if isinstance(value, _TooLong):
        raise RequestError(
            f"{where}: feature '{feature.name}' is a {len(value)}-character number; "
            f"expected {_EXPECTED[feature.kind]} the model can hold"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{where}: feature '{feature.name}' is {_show(value)}; expected {_EXPECTED[feature.kind]}")
    if feature.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise RequestError(f"{where}: feature '{feature.name}' is {_show(value)}; expected an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise RequestError(
                f"{where}: feature '{feature.name}' is {_show(value)}; expected an integer in int64's range "
                f"[{INT64_MIN}, {INT64_MAX}]"
            )
        return int(value)
    if not math.isfinite(value):
        raise RequestError(f"{where}: feature '{feature.name}' is {_show(value)}; expected a finite number")
    if abs(value) > FLOAT32_MAX:
        raise RequestError(
            f"{where}: feature '{feature.name}' is {_show(value)}; expected a number float32 can hold "
            f"(at most {FLOAT32_MAX:.7g} in magnitude)"
        )
    return float(value)


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
        if not isinstance(value, str) or isinstance(value, _TooLong):
            raise RequestError(f"{where}: feature '{feature.name}' is {_show(value)}; expected a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(
                f"{where}: feature '{feature.name}' holds a lone UTF-16 surrogate; expected valid Unicode text"
            ) from None
        return value
    return _check_number(feature, value, where)


def _unknown(where: str, name: str, known: Sequence[str]) -> RequestError:
    return RequestError(
        f"{where}: unknown feature {_show(name)}; the schema's SERVING environment has: {', '.join(sorted(known))}"
    )


def check_row(row: Any, features: Sequence[ServingFeature], where: str) -> dict[str, Any]:
    """Checks one instance of raw feature values.

    Args:
        row: a JSON object, feature name -> value (or a one-value list).
        features: the SERVING features.
        where: how error messages name the instance, e.g. "instance 3".

    Returns:
        feature -> typed value, None for a missing optional feature.

    Raises:
        RequestError: not an object, an unknown feature, a missing required one or a value the model
            cannot take.
    """
    if not isinstance(row, dict):
        raise RequestError(f"{where} is {type(row).__name__}; expected an object of feature values")
    known = {f.name for f in features}
    unknown = sorted(set(row) - known)
    if unknown:
        raise _unknown(where, unknown[0], list(known))
    return {f.name: _check_value(f, row.get(f.name), where) for f in features}


def out_of_domain(row: Mapping[str, Any], features: Sequence[ServingFeature]) -> list[str]:
    """The features of a checked row whose present value lies outside the schema's domain."""
    return [f.name for f in features if row.get(f.name) is not None and not f.in_domain(row[f.name])]


def _example_values(feature: Any) -> tuple[str, list[Any]]:
    kind = feature.WhichOneof("kind")
    if kind == "float_list":
        return "float", list(feature.float_list.value)
    if kind == "int64_list":
        return "int", list(feature.int64_list.value)
    if kind == "bytes_list":
        return "string", list(feature.bytes_list.value)
    return "", []


def check_example(serialized: bytes, features: Sequence[ServingFeature], where: str) -> dict[str, Any]:
    """Checks one serialized tf.Example against the SERVING features (same rules as `check_row`).

    Returns:
        feature -> its value (None when absent), strings decoded, for domain checks and the log.

    Raises:
        RequestError: not a tf.Example, an unknown feature, a missing required one or a bad value.
    """
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(serialized)
    except Exception:  # protobuf raises DecodeError, a private type
        raise RequestError(f"{where}: the b64 value is not a serialized tf.Example") from None
    by_name = {f.name: f for f in features}
    found: dict[str, Any] = {f.name: None for f in features}
    for name, value in example.features.feature.items():
        feature = by_name.get(name)
        if feature is None:
            raise _unknown(where, name, list(by_name))
        kind, values = _example_values(value)
        if values and kind != feature.kind:
            raise RequestError(f"{where}: feature '{name}' holds {kind} values; expected {_EXPECTED[feature.kind]}")
        if len(values) > 1:
            raise RequestError(f"{where}: feature '{name}' has {len(values)} values; expected at most one")
        if values and kind == "float" and not math.isfinite(values[0]):
            raise RequestError(f"{where}: feature '{name}' is {values[0]}; expected a finite number")
        if values and kind == "string":
            try:
                values = [values[0].decode("utf-8")]
            except UnicodeDecodeError:
                raise RequestError(f"{where}: feature '{name}' is not UTF-8 text") from None
        found[name] = values[0] if values else None
    for feature in features:
        if feature.required and found[feature.name] is None:
            raise RequestError(
                f"{where}: feature '{feature.name}' is missing; it is required ({_EXPECTED[feature.kind]})"
            )
    return found


def _b64(value: Any, where: str) -> bytes | None:
    """Returns the bytes of a {"b64": ...} value (alone or under the signature's "examples" key), else None."""
    if isinstance(value, dict) and set(value) == {"examples"}:
        value = value["examples"]
    if not (isinstance(value, dict) and set(value) == {"b64"}):
        return None
    if not isinstance(value["b64"], str) or isinstance(value["b64"], _TooLong):
        raise RequestError(f"{where}: 'b64' must be a base64 string")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{where}: 'b64' is not valid base64") from None


def _too_many(count: int, max_rows: int) -> RequestError:
    return RequestError(
        f"{count} instances in one request; at most {max_rows} (serve --max-rows); split them over several requests",
        413,
    )


def _columns_to_rows(inputs: Any, max_rows: int) -> list[Any]:
    """Turns TF Serving's columnar "inputs" (feature -> list of values) into instances."""
    if isinstance(inputs, dict) and set(inputs) == {"examples"}:
        inputs = inputs["examples"]
    if isinstance(inputs, list):  # a signature with one input: the list of its values
        return inputs
    if not isinstance(inputs, dict) or not inputs:
        raise RequestError("'inputs' must be an object mapping each feature to a list of values, one per instance")
    lengths = {name: len(values) if isinstance(values, list) else -1 for name, values in inputs.items()}
    if any(n < 0 for n in lengths.values()):
        bad = next(name for name, n in lengths.items() if n < 0)
        raise RequestError(f"inputs: feature {_show(bad)} must be a list of values, one per instance")
    if len(set(lengths.values())) > 1:
        raise RequestError(
            "inputs: every feature needs one value per instance; lengths differ: "
            + ", ".join(f"{_show(name)}={n}" for name, n in sorted(lengths.items()))
        )
    count = next(iter(lengths.values()))
    if count > max_rows:
        raise _too_many(count, max_rows)
    return [{name: values[i] for name, values in inputs.items()} for i in range(count)]


def parse_predict(
    body: bytes | Mapping[str, Any],
    features: Sequence[ServingFeature],
    max_rows: int = 100_000,
    examples: bool = False,
    strict_domains: bool = False,
) -> PredictRequest:
    """Parses and checks a `:predict` body in TF Serving's row ("instances") or columnar ("inputs") format.

    Args:
        body: the request body, or its parsed JSON document.
        features: the SERVING features of the served model's schema.
        max_rows: more instances than this are refused with 413.
        examples: the signature takes serialized tf.Examples (`{"b64": ...}` instances), not raw values.
        strict_domains: refuse a value outside the schema's domain instead of only reporting it.

    Returns:
        The checked request.

    Raises:
        RequestError: with HTTP status 400 (413 for too many rows) and a message naming the instance
            and feature at fault.
    """
    document = load_json(body) if isinstance(body, bytes) else body
    if not isinstance(document, dict):
        raise RequestError('the body must be a JSON object: {"instances": [...]} or {"inputs": {...}}')
    if ("instances" in document) == ("inputs" in document):
        raise RequestError('the body needs exactly one of "instances" (a list of rows) or "inputs" (columns)')
    columnar = "inputs" in document
    instances = _columns_to_rows(document["inputs"], max_rows) if columnar else document["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list')
    if len(instances) > max_rows:
        raise _too_many(len(instances), max_rows)
    rows: list[dict[str, Any]] = []
    serialized: list[bytes] = []
    example_values: list[dict[str, Any]] = []
    outside: list[list[str]] = []
    for index, instance in enumerate(instances):
        where = f"instance {index}"
        data = _b64(instance, where)
        if examples:
            if data is None:
                raise RequestError(
                    f"{where}: this signature takes serialized tf.Examples, {{'b64': ...}}; "
                    "raw feature values go to serving_default (leave signature_name out)"
                )
            values = check_example(data, features, where)
            serialized.append(data)
            example_values.append(values)
        else:
            if data is not None:
                raise RequestError(
                    f"{where} is a b64 tf.Example; serving_default takes raw feature values: "
                    f'send "signature_name": "{ids.SERVING_TF_EXAMPLE}" for tf.Examples'
                )
            values = check_row(instance, features, where)
            rows.append(values)
        bad = out_of_domain(values, features)
        if bad and strict_domains:
            feature = next(f for f in features if f.name == bad[0])
            raise RequestError(
                f"{where}: feature '{feature.name}' is {_show(values[feature.name])}, outside the schema's domain "
                f"({_describe_domain(feature)}); the server refuses such values (--strict-domains)"
            )
        outside.append(bad)
    return PredictRequest(rows, serialized, columnar, outside, example_values)


def _describe_domain(feature: ServingFeature) -> str:
    if feature.values is not None:
        return "one of " + ", ".join(sorted(feature.values))
    low = "-inf" if feature.low is None else f"{feature.low:g}"
    high = "+inf" if feature.high is None else f"{feature.high:g}"
    return f"[{low}, {high}]"


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
        RequestError: with a message naming the instance and feature at fault, as parse_predict; also
            for `{"b64": ...}` examples and the columnar "inputs" form.
    """
    document = load_json(body)
    if isinstance(document, dict) and "inputs" in document and "instances" not in document:
        raise RequestError(':explain takes {"instances": [{feature: value, ...}]}, not the columnar "inputs" form')
    instances = document.get("instances") if isinstance(document, dict) else None
    if isinstance(instances, list) and any(isinstance(i, dict) and ("b64" in i or "examples" in i) for i in instances):
        raise RequestError(
            ':explain takes raw feature values, {"instances": [{"fare": 12.5, ...}]}; '
            "b64 tf.Examples are only predicted"
        )
    request = parse_predict(document, features, max_instances)
    sent = document["instances"]  # parse_predict checked it: a list of objects, one per row
    return [
        {name: value for name, value in row.items() if name in instance}
        for row, instance in zip(request.rows, sent, strict=True)
    ]
