"""The work of the two gate components, from artifact URIs: DriftCheck's report and DataGate's verdict.

The components stay thin TFX wrappers, so the CLI and the tests can run the same work.
"""

from __future__ import annotations

from typing import Any

from pipeline.settings import LabelShift
from pipeline.validation.drift import DRIFT_SPLIT, DriftRow, drift_report, drift_rows, measure_drift
from pipeline.validation.gate import GatePolicy, GateVerdict, judge
from pipeline.validation.io import (
    load_anomalies,
    load_drift_report,
    load_statistics,
    read_schema_artifact,
    write_drift_report,
)
from pipeline.validation.label_shift import examples_label_counts, measure_label_shift


def check_drift(
    span: int,
    statistics_uri: str,
    schema_uri: str,
    baseline_span: int | None,
    baseline_uri: str | None,
    report_uri: str,
    examples_uri: str | None = None,
    baseline_examples_uri: str | None = None,
    label_shift: LabelShift | None = None,
) -> dict[str, Any]:
    """The drift check's work: measures drift against the baseline span and writes the report.

    Args:
        span: the new span.
        statistics_uri: its ExampleStatistics artifact.
        schema_uri: the Schema artifact; its drift comparators give each feature's measure and limit.
        baseline_span: the previous span, or None for the first span.
        baseline_uri: the previous span's ExampleStatistics artifact, or None.
        report_uri: the DriftReport artifact's folder.
        examples_uri: the new span's Examples artifact, read for the label's relationship with features.
        baseline_examples_uri: the previous span's Examples artifact.
        label_shift: which features the label's relationship is checked with, and the limit; None checks none.

    Returns:
        The report written to `report_uri`/drift.json.
    """
    rows: list[DriftRow] = []
    if baseline_uri is not None:
        rows = measure_drift(
            load_statistics(statistics_uri), load_statistics(baseline_uri), read_schema_artifact(schema_uri)
        )
    if label_shift is not None and label_shift.features and examples_uri and baseline_examples_uri:
        by = label_shift.features
        rows += measure_label_shift(
            examples_label_counts(examples_uri, DRIFT_SPLIT, by),
            examples_label_counts(baseline_examples_uri, DRIFT_SPLIT, by),
            by,
            label_shift.limit,
        )
    report = drift_report(span, baseline_span, rows)
    write_drift_report(report_uri, report)
    return report


def judge_span(anomalies_uri: str, drift_report_uri: str, policy_json: str) -> GateVerdict:
    """The data gate's work: judges ExampleValidator's and DriftCheck's findings by the policy.

    Args:
        anomalies_uri: the ExampleAnomalies artifact.
        drift_report_uri: the DriftReport artifact.
        policy_json: a GatePolicy as JSON.

    Returns:
        The verdict.
    """
    return judge(
        load_anomalies(anomalies_uri),
        drift_rows(load_drift_report(drift_report_uri)),
        GatePolicy.from_json(policy_json),
    )
