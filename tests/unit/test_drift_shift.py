"""The quantile shift: every numeric feature scaled by 1.5 or 3 is over its limit, the bundled spans are not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import validation

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = validation.load_schema(ROOT / "schema" / "schema.pbtxt")


def _frame(span: int, root: Path = ROOT / "data" / "taxi") -> pd.DataFrame:
    return pd.concat([pd.read_csv(path) for path in sorted((root / f"span-{span}").glob("*.csv"))])


def _statistics(frame: pd.DataFrame) -> object:
    # TFDV's in-memory generator gives the same numeric statistics as the pipeline's Beam one (the
    # quantiles agree to float32 precision) in a second instead of fifteen.
    import tensorflow_data_validation as tfdv

    return tfdv.generate_statistics_from_dataframe(frame, validation.stats_options(SCHEMA))


NUMERIC = [
    f.name for f in SCHEMA.feature if f.type in (schema_pb2.INT, schema_pb2.FLOAT) and not validation.is_categorical(f)
]


def test_every_numeric_feature_has_a_quantile_shift_limit() -> None:
    assert len(NUMERIC) == 9
    assert all(validation.shift_limit(f) is not None for f in SCHEMA.feature if f.name in NUMERIC)


@pytest.mark.parametrize(("root", "spans"), [(ROOT / "data" / "taxi", 4), (ROOT / "tests" / "data" / "taxi-small", 2)])
def test_bundled_spans_are_not_flagged_against_their_predecessor(root: Path, spans: int) -> None:
    statistics = {span: _statistics(_frame(span, root)) for span in range(1, spans + 1)}
    for span in range(2, spans + 1):
        rows = validation.measure_drift(statistics[span], statistics[span - 1], SCHEMA)
        shifts = [row for row in rows if row.measure == validation.QUANTILE_SHIFT]
        assert {row.feature for row in shifts} == set(NUMERIC)
        assert all(row.value is not None for row in shifts)
        # Numeric features only: pandas reads integer codes with empty cells as floats, so the
        # categories' L-infinity here is not the pipeline's (tests/e2e/test_data_gates.py covers it).
        numeric = [row for row in rows if row.feature in NUMERIC]
        assert [(row.feature, row.measure, row.value) for row in numeric if row.over_limit] == [], span


@pytest.mark.parametrize("factor", [1.5, 3.0])
def test_every_numeric_feature_scaled_is_flagged(factor: float) -> None:
    baseline = _frame(4)
    scaled = baseline.copy()
    for name in NUMERIC:
        scaled[name] = scaled[name] * factor
    rows = validation.measure_drift(_statistics(scaled), _statistics(baseline), SCHEMA)
    over = {row.feature for row in rows if row.measure == validation.QUANTILE_SHIFT and row.over_limit}
    assert over == set(NUMERIC)
    # The before/after values a reviewer sees show the scale change itself.
    fare = next(row for row in rows if row.feature == "fare" and row.measure == validation.QUANTILE_SHIFT)
    assert fare.before is not None and fare.after is not None
    before_mean, before_p99 = fare.before["mean"], fare.before["p99"]
    assert before_mean is not None and before_p99 is not None
    assert fare.after["mean"] == pytest.approx(factor * before_mean, rel=1e-4)
    assert fare.after["p99"] == pytest.approx(factor * before_p99, rel=1e-3)


def test_drift_report_keeps_before_and_after() -> None:
    row = validation.DriftRow(
        "fare", validation.QUANTILE_SHIFT, 0.5, 0.4, before={"mean": 1.0, "median": 1.0, "p99": None}, after=None
    )
    report = validation.drift_report(4, 3, [row])
    assert report["over_limit"] == ["fare"]
    assert validation.drift_rows(report) == [row]


def test_a_bad_limit_tag_names_the_feature() -> None:
    feature = schema_pb2.Feature(name="fare")
    feature.annotation.tag.append("quantile_shift_limit: lots")
    with pytest.raises(ValueError, match=r"'fare'.*positive number"):
        validation.shift_limit(feature)
