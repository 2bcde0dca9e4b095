"""Predict bodies in TF Serving's formats, checked against the curated schema's SERVING environment."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from pipeline.validation import load_schema
from runners.serving.requests import (
    RequestError,
    ServingFeature,
    columns,
    parse_explain,
    parse_predict,
    serving_features,
)
from tests.conftest import ROOT

SCHEMA = load_schema(ROOT / "schema" / "schema.pbtxt")
FEATURES = serving_features(SCHEMA)
ROW: dict[str, Any] = {
    "trip_miles": 2.5,
    "fare": 9.25,
    "trip_seconds": 600,
    "pickup_latitude": 41.88,
    "pickup_longitude": -87.63,
    "dropoff_latitude": 41.89,
    "dropoff_longitude": -87.62,
    "trip_start_hour": 14,
    "trip_start_day": 3,
    "trip_start_month": 6,
    "payment_type": "Cash",
    "company": "Flash Cab",
    "pickup_census_tract": 17031081600,
    "dropoff_census_tract": 17031081700,
    "pickup_community_area": 8,
    "dropoff_community_area": 32,
}


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


def _refusal(document: Any) -> str:
    with pytest.raises(RequestError) as caught:
        parse_predict(_body(document), FEATURES)
    assert caught.value.status == 400
    return str(caught.value)


def test_serving_environment_leaves_out_the_label_source_and_the_timestamp() -> None:
    names = {f.name for f in FEATURES}
    assert names == set(ROW)
    required = {f.name for f in FEATURES if f.required}
    assert {"fare", "trip_miles", "payment_type"} <= required
    assert "company" not in required


def test_instances_of_raw_values_are_typed_and_gaps_are_filled_like_preprocessing() -> None:
    row = dict(ROW, trip_start_hour=14.0)
    del row["company"]
    request = parse_predict(_body({"instances": [row, dict(ROW, fare=[3])]}), FEATURES)
    assert len(request) == 2 and not request.columnar and not request.examples
    assert request.rows[0]["company"] is None
    assert request.rows[0]["trip_start_hour"] == 14 and isinstance(request.rows[0]["trip_start_hour"], int)
    assert request.rows[1]["fare"] == 3.0 and isinstance(request.rows[1]["fare"], float)
    filled = columns(request.rows, FEATURES)
    assert filled["company"] == ["", "Flash Cab"]


def test_columnar_inputs_become_rows() -> None:
    inputs = {name: [value, value] for name, value in ROW.items()}
    request = parse_predict(_body({"inputs": inputs}), FEATURES)
    assert request.columnar and len(request) == 2 and request.rows[1]["payment_type"] == "Cash"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"fare": None}, "feature 'fare' is missing"),
        ({"fare": "12.5"}, "feature 'fare' is '12.5'; expected a number"),
        ({"trip_start_hour": 1.5}, "feature 'trip_start_hour' is 1.5; expected an integer"),
        ({"payment_type": 3}, "feature 'payment_type' is 3; expected a string"),
        ({"trip_miles": True}, "feature 'trip_miles' is True"),
        ({"fare": [1.0, 2.0]}, "feature 'fare' has 2 values"),
        ({"tips": 1.0}, "unknown feature 'tips'"),
    ],
)
def test_a_bad_instance_is_refused_naming_the_feature(change: dict[str, Any], named: str) -> None:
    row = {k: v for k, v in {**ROW, **change}.items() if v is not None}
    message = _refusal({"instances": [ROW, row]})
    assert named in message and message.startswith("instance 1")


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([ROW], "must be a JSON object"),
        ({"rows": [ROW]}, 'exactly one of "instances"'),
        ({"instances": []}, "non-empty list"),
        ({"inputs": {"fare": [1.0], "trip_miles": [1.0, 2.0]}}, "lengths differ"),
        ({"instances": [{"b64": "%%%"}]}, "not valid base64"),
    ],
)
def test_malformed_bodies_are_refused(document: Any, says: str) -> None:
    assert says in _refusal(document)


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(RequestError, match="not JSON"):
        parse_predict(b"{instances", FEATURES)


def _example(values: dict[str, Any]) -> str:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in values.items():
        slot = example.features.feature[name]
        if value == []:  # present with no value, as CsvExampleGen writes an empty cell
            slot.float_list.SetInParent()
        elif isinstance(value, str):
            slot.bytes_list.value.append(value.encode())
        elif isinstance(value, int):
            slot.int64_list.value.append(value)
        else:
            slot.float_list.value.append(value)
    return base64.b64encode(example.SerializeToString()).decode()


def _example_refusal(document: Any) -> str:
    with pytest.raises(RequestError) as caught:
        parse_predict(_body(document), FEATURES, examples=True)
    return str(caught.value)


def test_b64_examples_are_checked_with_the_same_rules() -> None:
    good = _example(ROW)
    request = parse_predict(_body({"instances": [{"b64": good}, {"examples": {"b64": good}}]}), FEATURES, examples=True)
    assert len(request.examples) == 2 and not request.rows
    assert request.values[0]["payment_type"] == "Cash"  # decoded, for the log and domain checks
    assert "feature 'fare' is missing" in _example_refusal({"instances": [{"b64": _example({**ROW, "fare": []})}]})
    wrong_type = {k: v for k, v in ROW.items() if k != "fare"} | {"fare": "cheap"}
    assert "feature 'fare' holds string values" in _example_refusal({"instances": [{"b64": _example(wrong_type)}]})
    assert "takes serialized tf.Examples" in _example_refusal({"instances": [{"b64": good}, ROW]})
    # serving_default takes raw values: a b64 instance is pointed to serving_tf_example.
    assert "serving_tf_example" in _refusal({"instances": [{"b64": good}]})


@pytest.mark.parametrize(
    ("feature", "literal", "says"),
    [
        ("fare", b"1e39", "float32 can hold"),
        ("fare", b"1e400", "finite number"),
        ("fare", b"NaN", "JSON has no NaN"),
        ("trip_start_hour", b"9223372036854775808", "int64's range"),
        ("trip_start_hour", b"-9223372036854775809", "int64's range"),
        ("trip_start_hour", b"1e300", "int64's range"),
        ("fare", b"1" + b"0" * 5000, "5001-character number"),
        ("company", b'"\\ud800"', "lone UTF-16 surrogate"),
    ],
)
def test_values_the_model_cannot_hold_are_refused_naming_the_feature(feature: str, literal: bytes, says: str) -> None:
    others = json.dumps({k: v for k, v in ROW.items() if k != feature})[1:-1].encode()
    body = b'{"instances": [{' + others + b', "' + feature.encode() + b'": ' + literal + b"}]}"
    with pytest.raises(RequestError) as caught:
        parse_predict(body, FEATURES)
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"instance 0: feature '{feature}'") or "JSON" in str(caught.value)


def test_nesting_too_deep_to_parse_is_a_client_error() -> None:
    with pytest.raises(RequestError, match="nested too deeply"):
        parse_predict(b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", FEATURES)


def test_values_outside_the_schemas_domain_are_reported_or_refused() -> None:
    odd = {**ROW, "trip_start_month": 13, "payment_type": "Bitcoin", "fare": -5.0}
    request = parse_predict(_body({"instances": [ROW, odd]}), FEATURES)
    assert request.out_of_domain == [[], ["fare", "trip_start_month", "payment_type"]]
    with pytest.raises(RequestError, match=r"instance 1: feature 'fare' is -5\.0, outside the schema's domain"):
        parse_predict(_body({"instances": [ROW, odd]}), FEATURES, strict_domains=True)


def test_too_many_rows_get_413() -> None:
    with pytest.raises(RequestError, match="at most 2") as caught:
        parse_predict(_body({"instances": [ROW] * 3}), FEATURES, max_rows=2)
    assert caught.value.status == 413
    with pytest.raises(RequestError, match="at most 2"):
        parse_predict(_body({"inputs": {"fare": [1.0] * 3}}), FEATURES, max_rows=2)


def test_features_excluded_from_serving_are_not_served() -> None:
    assert all(isinstance(f, ServingFeature) for f in FEATURES)
    assert "trip_start_timestamp" not in {f.name for f in FEATURES}


def test_explain_keeps_only_the_features_an_instance_sent_so_the_rest_take_the_baseline() -> None:
    partial = {k: v for k, v in ROW.items() if k != "company"}
    rows = parse_explain(_body({"instances": [ROW, {**partial, "company": None}, partial]}), FEATURES, 10)

    assert rows[0] == ROW
    assert rows[1] == {**partial, "company": None}  # a null is sent: the model fills it, as for :predict
    assert rows[2] == partial and "company" not in rows[2]


def test_explain_refuses_what_predict_refuses_and_examples_and_columns() -> None:
    with pytest.raises(RequestError, match="instance 1: feature 'fare' is 'cheap'; expected a number"):
        parse_explain(_body({"instances": [ROW, {**ROW, "fare": "cheap"}]}), FEATURES, 10)
    with pytest.raises(RequestError, match="at most 2"):
        parse_explain(_body({"instances": [ROW] * 3}), FEATURES, 2)
    with pytest.raises(RequestError, match=r"b64 tf\.Examples are only predicted"):
        parse_explain(_body({"instances": [{"b64": _example(ROW)}]}), FEATURES, 10)
    with pytest.raises(RequestError, match="not the columnar"):
        parse_explain(_body({"inputs": {k: [v] for k, v in ROW.items()}}), FEATURES, 10)
