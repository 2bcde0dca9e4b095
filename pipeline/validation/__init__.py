"""Data validation shared by the gate components, the CLI and the drift notebook: plain functions over TFDV protos.

One module per job, lowest first: schema, shift (quantile shift), distance (drift and skew), drift,
label_shift (the label's relationship with features), gate (policy and verdict), io (artifacts),
steps (the components' work), tables, csv_stats, schema_update. Import from here.
"""

from __future__ import annotations

from models.features import LABEL_SOURCE_FEATURES
from pipeline.validation.csv_stats import csv_statistics
from pipeline.validation.distance import (
    DRIFT,
    JENSEN_SHANNON,
    L_INFINITY,
    LABEL_RATE,
    MEASURE_NAMES,
    SKEW,
    DistanceRow,
    measure_distances,
    measure_kind,
    schema_threshold,
)
from pipeline.validation.drift import DRIFT_SPLIT, DriftRow, drift_report, drift_rows, measure_drift
from pipeline.validation.gate import (
    ALL_ANOMALIES,
    ANOMALIES_REFERENCE,
    DRIFT_ACTIONS,
    AnomalyRow,
    GatePolicy,
    GateVerdict,
    anomaly_rows,
    anomaly_type_names,
    check_anomaly_names,
    judge,
)
from pipeline.validation.io import (
    ANOMALIES_FILE,
    DRIFT_REPORT_FILE,
    STATISTICS_FILE,
    load_anomalies,
    load_drift_report,
    load_statistics,
    read_schema_artifact,
    write_drift_report,
)
from pipeline.validation.label_shift import csv_label_counts, label_counts, label_rate_change, measure_label_shift
from pipeline.validation.schema import (
    is_categorical,
    load_schema,
    schema_text,
    training_columns,
    training_features,
    validate,
)
from pipeline.validation.schema_update import accepting_schema, schema_diff
from pipeline.validation.shift import (
    QUANTILE_SHIFT,
    SHIFT_LIMIT_TAG,
    NumericSummary,
    numeric_summaries,
    quantile_shift,
    shift_limit,
    stats_options,
)
from pipeline.validation.steps import check_drift, judge_span
from pipeline.validation.tables import anomaly_table, distance_table, drift_table, format_table

__all__ = [
    "ALL_ANOMALIES",
    "ANOMALIES_FILE",
    "ANOMALIES_REFERENCE",
    "DRIFT",
    "DRIFT_ACTIONS",
    "DRIFT_REPORT_FILE",
    "DRIFT_SPLIT",
    "JENSEN_SHANNON",
    "LABEL_RATE",
    "LABEL_SOURCE_FEATURES",
    "L_INFINITY",
    "MEASURE_NAMES",
    "QUANTILE_SHIFT",
    "SHIFT_LIMIT_TAG",
    "SKEW",
    "STATISTICS_FILE",
    "AnomalyRow",
    "DistanceRow",
    "DriftRow",
    "GatePolicy",
    "GateVerdict",
    "NumericSummary",
    "accepting_schema",
    "anomaly_rows",
    "anomaly_table",
    "anomaly_type_names",
    "check_anomaly_names",
    "check_drift",
    "csv_label_counts",
    "csv_statistics",
    "distance_table",
    "drift_report",
    "drift_rows",
    "drift_table",
    "format_table",
    "is_categorical",
    "judge",
    "judge_span",
    "label_counts",
    "label_rate_change",
    "load_anomalies",
    "load_drift_report",
    "load_schema",
    "load_statistics",
    "measure_distances",
    "measure_drift",
    "measure_kind",
    "measure_label_shift",
    "numeric_summaries",
    "quantile_shift",
    "read_schema_artifact",
    "schema_diff",
    "schema_text",
    "schema_threshold",
    "shift_limit",
    "stats_options",
    "training_columns",
    "training_features",
    "validate",
    "write_drift_report",
]
