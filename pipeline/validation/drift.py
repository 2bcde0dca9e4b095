"""Drift: how far each feature moved from the previous span, and the report a drift check records."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.validation.distance import DRIFT, DistanceRow, measure_distances
from pipeline.validation.schema import is_categorical
from pipeline.validation.shift import QUANTILE_SHIFT, numeric_summaries, shift_limit, shift_values

# Drift compares the train split of two spans: it holds two thirds of a span's rows, and comparing
# like with like keeps the numbers comparable from run to run.
DRIFT_SPLIT = "train"


@dataclasses.dataclass(frozen=True)
class DriftRow(DistanceRow):
    """The drift of one feature between two spans; drift reports call its threshold the limit."""

    COMPARISON: ClassVar[str] = DRIFT
    OVER: ClassVar[str] = "OVER LIMIT"
    NO_THRESHOLD: ClassVar[str] = "no limit"

    # A numeric feature's mean, median and p99 in the baseline span and in the new one (see
    # shift.NumericSummary.to_dict), so a reviewer can see what a measure may miss; None otherwise.
    before: Mapping[str, float | None] | None = None
    after: Mapping[str, float | None] | None = None

    @property
    def limit(self) -> float | None:
        """The schema's drift threshold of the feature, None when it sets none."""
        return self.threshold

    @property
    def over_limit(self) -> bool:
        """True when the value exceeds the limit (as TFDV judges it: strictly greater)."""
        return self.over_threshold

    def to_dict(self) -> dict[str, Any]:
        """Returns the row as JSON-able values, as drift.json holds them."""
        values: dict[str, Any] = {
            "feature": self.feature,
            "measure": self.measure,
            "value": self.value,
            "limit": self.limit,
        }
        if self.before is not None or self.after is not None:
            values["before"], values["after"] = self.before, self.after
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DriftRow:
        """Builds a row from `to_dict`'s output."""
        value, limit = values.get("value"), values.get("limit")
        before, after = values.get("before"), values.get("after")
        return cls(
            feature=str(values["feature"]),
            measure=str(values["measure"]),
            value=None if value is None else float(value),
            threshold=None if limit is None else float(limit),
            before=dict(before) if isinstance(before, Mapping) else None,
            after=dict(after) if isinstance(after, Mapping) else None,
        )


def measure_drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> list[DriftRow]:
    """Measures the drift of every schema feature from `previous` to `current`.

    Features with a drift comparator in the schema use it and its threshold as the limit; the
    others are measured too (L-infinity for categories, Jensen-Shannon for numbers) with no limit,
    so every run records a value for every feature. Each numeric, non-categorical feature also gets
    a quantile-shift row (see shift.py) judged by its schema annotation's limit, and its rows carry
    the before/after mean, median and p99.

    Args:
        current: statistics of the new span.
        previous: statistics of the span it is compared with.
        schema: the curated schema.

    Returns:
        One or two rows per schema feature, in schema order; `value` is None when a side has no values.
    """
    after, before = numeric_summaries(current), numeric_summaries(previous)
    features = {feature.name: feature for feature in schema.feature}
    rows: list[DriftRow] = []
    for row in measure_distances(DriftRow, current, previous, schema):
        feature = features[row.feature]
        summaries: dict[str, Any] = {}
        if row.feature in before or row.feature in after:
            summaries = {
                "before": before[row.feature].to_dict() if row.feature in before else None,
                "after": after[row.feature].to_dict() if row.feature in after else None,
            }
        rows.append(dataclasses.replace(row, **summaries))
        if summaries and not is_categorical(feature):
            rows.append(
                DriftRow(
                    feature=row.feature,
                    measure=QUANTILE_SHIFT,
                    value=shift_values(after, before, row.feature),
                    threshold=shift_limit(feature),
                    **summaries,
                )
            )
    return rows


def drift_report(span: int | None, baseline_span: int | None, rows: Sequence[DriftRow]) -> dict[str, Any]:
    """Builds the JSON document a drift check records.

    Args:
        span: the span measured.
        baseline_span: the span it was compared with; None when there was none.
        rows: the drift rows.

    Returns:
        A JSON-able dict.
    """
    return {
        "span": span,
        "baseline_span": baseline_span,
        "split": DRIFT_SPLIT,
        "features": [row.to_dict() for row in rows],
        "over_limit": [row.feature for row in rows if row.over_limit],
    }


def drift_rows(report: Mapping[str, Any]) -> list[DriftRow]:
    """Reads the rows of a drift report written by `drift_report`."""
    return [DriftRow.from_dict(values) for values in report.get("features", [])]
