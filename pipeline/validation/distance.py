"""How far a feature's values moved between two statistics: drift (span to span) and skew (training to serving).

Both are TFDV's measurements: Jensen-Shannon divergence for numbers, L-infinity distance for
categories, each judged by a threshold the schema sets in its drift or skew comparator.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Mapping
from typing import ClassVar, TypeVar

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from pipeline.validation.schema import is_categorical
from pipeline.validation.shift import QUANTILE_SHIFT

DRIFT = "drift"
SKEW = "skew"

L_INFINITY = "infinity_norm"
JENSEN_SHANNON = "jensen_shannon_divergence"
# Not a TFDV distance, but reported and judged beside them: see label_shift.py.
LABEL_RATE = "label_rate"
MEASURE_NAMES = {
    L_INFINITY: "L-infinity",
    JENSEN_SHANNON: "Jensen-Shannon",
    LABEL_RATE: "label-rate change",
    # Not a TFDV distance either: see shift.py.
    QUANTILE_SHIFT: "quantile shift",
}
# The two measures as TFDV reports them (it has a third, NORMALIZED_ABSOLUTE_DIFFERENCE, no comparator here sets).
_MEASUREMENTS = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE,
}

# The schema comparators a comparison reads, the first one set wins: skew falls back to the drift
# comparator, so a schema that sets drift limits only still has skew thresholds.
_COMPARATORS = {DRIFT: ("drift_comparator",), SKEW: ("skew_comparator", "drift_comparator")}
# TFDV's names per comparison: the comparator it reads, the keyword of the other statistics and the
# DriftSkewInfo field it reports into.
_TFDV_FIELDS = {
    DRIFT: ("drift_comparator", "previous_statistics", "drift_measurements"),
    SKEW: ("skew_comparator", "serving_statistics", "skew_measurements"),
}


def _schema_comparator(feature: schema_pb2.Feature, comparison: str) -> tuple[str, float] | None:
    for field in _COMPARATORS[comparison]:
        comparator = getattr(feature, field)
        for kind in (JENSEN_SHANNON, L_INFINITY):
            if comparator.HasField(kind):
                return kind, float(getattr(comparator, kind).threshold)
    return None


def measure_kind(feature: schema_pb2.Feature, comparison: str = DRIFT) -> str:
    """Returns how a feature is measured: the schema's comparator, else the type's natural measure.

    L-infinity distance suits categories; for numbers TFDV's L-infinity compares nothing and always
    reads 0, so they get Jensen-Shannon divergence.

    Args:
        feature: a schema feature.
        comparison: DRIFT or SKEW, which of the schema's comparators to read.
    """
    found = _schema_comparator(feature, comparison)
    if found is not None:
        return found[0]
    return L_INFINITY if is_categorical(feature) else JENSEN_SHANNON


def schema_threshold(feature: schema_pb2.Feature, comparison: str = DRIFT) -> float | None:
    """Returns the schema's threshold of a feature for DRIFT or SKEW, or None when it sets none."""
    found = _schema_comparator(feature, comparison)
    return None if found is None else found[1]


@dataclasses.dataclass(frozen=True)
class DistanceRow:
    """One feature's distance between two statistics, and the threshold it is judged by.

    Subclasses say which comparison they are and how their reports word the status.
    """

    COMPARISON: ClassVar[str] = DRIFT
    OVER: ClassVar[str] = "OVER THRESHOLD"
    NO_THRESHOLD: ClassVar[str] = "no threshold"

    feature: str
    measure: str
    value: float | None
    threshold: float | None

    @property
    def over_threshold(self) -> bool:
        """True when the value exceeds the threshold (as TFDV judges it: strictly greater)."""
        return self.value is not None and self.threshold is not None and self.value > self.threshold

    @property
    def status(self) -> str:
        """A word for the table: OVER, ok, NO_THRESHOLD or not measured."""
        if self.value is None:
            return "not measured"
        if self.threshold is None:
            return self.NO_THRESHOLD
        return self.OVER if self.over_threshold else "ok"


_Row = TypeVar("_Row", bound=DistanceRow)


def measure_distances(
    row_type: type[_Row],
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    other: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    features: Collection[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> list[_Row]:
    """Measures each feature's distance from `other` to `statistics` with TFDV, as `row_type.COMPARISON`.

    Every feature is measured, with or without a threshold in the schema, so each run records a
    value for each feature.

    Args:
        row_type: the rows to return; its COMPARISON (DRIFT or SKEW) picks the schema comparators.
        statistics: the new span (drift) or the training data (skew).
        other: the span it is compared with (drift) or the serving data (skew).
        schema: the schema; its comparators give each feature's measure and threshold.
        features: the features to measure; None for all.
        thresholds: feature -> threshold, over the schema's.

    Returns:
        One row per measured feature, in schema order; `value` is None when a side has no values.
    """
    import tensorflow_data_validation as tfdv

    comparison = row_type.COMPARISON
    comparator_field, other_keyword, measurements_field = _TFDV_FIELDS[comparison]
    chosen = [f for f in schema.feature if features is None or f.name in features]
    names = {f.name for f in chosen}
    # TFDV reports a value only when it crosses the threshold: with 0 it reports every feature, and
    # the real thresholds are applied to the rows.
    probe = copy.deepcopy(schema)
    for feature in probe.feature:
        kind = measure_kind(feature, comparison)
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
        if feature.name in names:
            getattr(getattr(feature, comparator_field), kind).threshold = 0.0
    anomalies = tfdv.validate_statistics(statistics, probe, **{other_keyword: other})
    measured: dict[str, float] = {}
    for info in anomalies.drift_skew_info:
        for measurement in getattr(info, measurements_field):
            if measurement.type in _MEASUREMENTS:
                measured[".".join(info.path.step)] = float(measurement.value)
    overrides = thresholds or {}
    return [
        row_type(
            feature=f.name,
            measure=measure_kind(f, comparison),
            value=measured.get(f.name),
            threshold=overrides.get(f.name, schema_threshold(f, comparison)),
        )
        for f in chosen
    ]
