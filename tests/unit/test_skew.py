"""Training/serving skew: the SERVING features, the schema's skew thresholds (else drift limits), overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from pipeline import validation
from runners.monitoring.skew import SkewRow, measure_skew, skew_table
from runners.serving.requests import serving_features

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = validation.load_schema(ROOT / "schema" / "schema.pbtxt")
SERVING = [f.name for f in serving_features(SCHEMA)]


def _stats(frame: pd.DataFrame) -> Any:
    return tfdv.generate_statistics_from_dataframe(frame, tfdv.StatsOptions(schema=SCHEMA))


@pytest.fixture(scope="module")
def span_1() -> pd.DataFrame:
    return pd.read_csv(ROOT / "tests" / "data" / "taxi-small" / "span-1" / "data.csv")


@pytest.fixture(scope="module")
def shifted(span_1: pd.DataFrame) -> pd.DataFrame:
    return span_1.assign(fare=span_1.fare * 10, payment_type="Credit Card")


def test_skew_measures_every_serving_feature_and_is_zero_against_itself(span_1: pd.DataFrame) -> None:
    rows = measure_skew(_stats(span_1), _stats(span_1), SCHEMA)
    assert [row.feature for row in rows] == SERVING
    assert "tips" not in SERVING
    measured = [row for row in rows if row.value is not None]
    assert len(measured) >= len(rows) - 1  # pickup_census_tract is empty throughout
    assert all(row.value == pytest.approx(0.0, abs=1e-6) for row in measured)
    assert not any(row.skewed for row in rows)


def test_shifted_traffic_is_skewed_by_the_drift_limits_when_the_schema_sets_no_skew_comparator(
    span_1: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    rows = {row.feature: row for row in measure_skew(_stats(span_1), _stats(shifted), SCHEMA)}
    assert rows["fare"].skewed and rows["fare"].measure == validation.JENSEN_SHANNON
    assert rows["payment_type"].skewed and rows["payment_type"].measure == validation.L_INFINITY
    fare = next(f for f in SCHEMA.feature if f.name == "fare")
    assert rows["fare"].threshold == validation.schema_threshold(fare, validation.DRIFT) == 0.6
    # Skew and drift are one measurement: the same pair of statistics gives the same distances.
    drift = {
        row.feature: row
        for row in validation.measure_drift(_stats(span_1), _stats(shifted), SCHEMA)
        if row.measure != validation.QUANTILE_SHIFT
    }
    for name in ("fare", "payment_type", "trip_miles"):
        assert rows[name].value == pytest.approx(drift[name].value), name


def test_the_schema_skew_comparator_and_then_given_thresholds_win(span_1: pd.DataFrame, shifted: pd.DataFrame) -> None:
    schema = copy.deepcopy(SCHEMA)
    fare = next(f for f in schema.feature if f.name == "fare")
    fare.skew_comparator.jensen_shannon_divergence.threshold = 0.99
    assert validation.schema_threshold(fare, validation.SKEW) == 0.99
    assert validation.schema_threshold(fare, validation.DRIFT) == 0.6
    lenient = {row.feature: row for row in measure_skew(_stats(span_1), _stats(shifted), schema)}
    assert lenient["fare"].threshold == 0.99 and not lenient["fare"].skewed
    strict = {row.feature: row for row in measure_skew(_stats(span_1), _stats(shifted), schema, {"fare": 0.01})}
    assert strict["fare"].threshold == 0.01 and strict["fare"].skewed


def test_skew_rows_speak_of_thresholds_and_carry_their_status_in_json() -> None:
    rows = [
        SkewRow("fare", validation.JENSEN_SHANNON, 0.9, 0.6),
        SkewRow("trip_miles", validation.JENSEN_SHANNON, 0.1, 0.3),
        SkewRow("company", validation.L_INFINITY, 0.05, None),
        SkewRow("pickup_census_tract", validation.L_INFINITY, None, None),
    ]
    assert rows[0].to_dict() == {
        "feature": "fare",
        "measure": validation.JENSEN_SHANNON,
        "value": 0.9,
        "threshold": 0.6,
        "status": "SKEWED",
    }
    assert [row.status for row in rows] == ["SKEWED", "ok", "no threshold", "not measured"]
    table = skew_table(rows)
    assert table.splitlines()[0].split() == ["feature", "comparator", "value", "threshold", "status"]
    assert "Jensen-Shannon" in table and "(label source)" not in table
