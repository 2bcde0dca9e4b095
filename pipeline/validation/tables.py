"""Plain-text tables of validation findings (distances, drift, anomalies), for consoles and logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from models.features import LABEL_SOURCE_FEATURES
from pipeline.text_table import format_table
from pipeline.validation.distance import MEASURE_NAMES, DistanceRow
from pipeline.validation.drift import DriftRow
from pipeline.validation.gate import AnomalyRow


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


def distance_table(rows: Sequence[DistanceRow], headers: Sequence[str], label_sources: Sequence[str] = ()) -> str:
    """Formats distance rows: feature, measure, value, threshold, status.

    Args:
        rows: the rows (drift or skew).
        headers: the five column titles, in the words of the report.
        label_sources: features to mark as the raw inputs of the label.

    Returns:
        The table.
    """
    return format_table(
        headers,
        (
            (
                row.feature + (" (label source)" if row.feature in label_sources else ""),
                MEASURE_NAMES.get(row.measure, row.measure),
                _number(row.value),
                "-" if row.threshold is None else f"{row.threshold:g}",
                row.status,
            )
            for row in rows
        ),
    )


def readable_number(value: float | None) -> str:
    """A number as a reviewer reads it: 4 significant digits, thousands separated, no exponent under 1e15."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def summary_text(values: Mapping[str, float | None] | None) -> str:
    """Mean / median / p99 of one side of a numeric drift row."""
    if not values:
        return "-"
    return " / ".join(readable_number(values.get(key)) for key in ("mean", "median", "p99"))


def drift_table(rows: Sequence[DriftRow], label_sources: Sequence[str] = LABEL_SOURCE_FEATURES) -> str:
    """Formats drift rows: feature, measure, value, limit, status, and before/after mean / median / p99.

    Args:
        rows: the drift rows.
        label_sources: features to mark as the raw inputs of the label (by default tips and fare).

    Returns:
        The table.
    """
    return format_table(
        ("feature", "measure", "value", "limit", "status", "before: mean / median / p99", "after"),
        (
            (
                row.feature + (" (label source)" if row.feature in label_sources else ""),
                MEASURE_NAMES.get(row.measure, row.measure),
                _number(row.value),
                "-" if row.threshold is None else f"{row.threshold:g}",
                row.status,
                summary_text(row.before),
                summary_text(row.after),
            )
            for row in rows
        ),
    )


def anomaly_table(rows: Sequence[AnomalyRow]) -> str:
    """Formats anomaly rows: feature, anomaly, description, and whether it stops the run."""
    return format_table(
        ("feature", "anomaly", "description", "action"),
        (
            (row.feature, row.kind, " ".join(row.description.split()), "stop" if row.blocking else "warn")
            for row in rows
        ),
    )
