"""DriftCheck: measures every feature's drift from the previous span, and the label's relationship with key
features, and records them, over a limit or not.

It never fails the run itself: the data gate decides, so the values are recorded in ML Metadata
even for a span that the gate then stops. The logic lives in pipeline.validation.check_drift.
"""

# No `from __future__ import annotations` here: TFX reads a component function's type hints from
# __annotations__ and needs the classes themselves, not their names as strings. mypy cannot read
# TFX's InputArtifact[...] hints (they are not typing generics), hence the narrow disable below.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,assignment,arg-type"

import json
import logging

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts

from pipeline import span_record, validation
from pipeline.accepted_spans import examples_span
from pipeline.settings import LabelShift


class DriftReport(artifact.Artifact):
    """Per-feature drift of one span against the previous one: drift.json plus summary properties.

    Custom properties: `span`, `baseline_span` (-1 when there was none), `over_limit` (comma-
    separated features) and `drift_values` (JSON feature -> value), so ML Metadata answers without
    the file. Custom ones only: Vertex compiles custom artifact types with no declared properties.
    """

    # `<module>.<Class>`: KubeflowV2DagRunner only compiles custom types named so, and its container
    # imports the class by that name (pipeline/__init__.py provides it).
    TYPE_NAME = "pipeline.DriftReport"


@component
def DriftCheck(
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    drift_report: OutputArtifact[DriftReport],
    baseline_examples: InputArtifact[standard_artifacts.Examples] = None,
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    label_shift: Parameter[str] = "",
    accepted_record: Parameter[str] = "",
) -> None:
    """Compares the train split of `statistics` with that of `baseline_statistics`.

    Args:
        examples: the new span's Examples (for its span number).
        statistics: the new span's StatisticsGen output.
        schema: the curated schema; its drift comparators give each feature's measure and limit.
        drift_report: where the report goes.
        baseline_examples: the previous accepted span's Examples; absent for the first span.
        baseline_statistics: that span's statistics; absent for the first span.
        label_shift: a pipeline.settings.LabelShift as JSON (its to_json); empty checks no label relationship.
        accepted_record: the data gate's record of accepted spans (pipeline.span_record), where the baseline
            is looked up when no baseline artifacts are given (orchestrators without ML Metadata resolvers).
    """
    span = examples_span(examples)
    baseline_span: int | None = None
    baseline_statistics_uri = baseline_examples_uri = None
    if baseline_statistics is not None and baseline_examples is not None:
        baseline_span = examples_span(baseline_examples)
        baseline_statistics_uri, baseline_examples_uri = baseline_statistics.uri, baseline_examples.uri
    elif accepted_record:
        previous = span_record.previous_accepted(span_record.read_accepted(accepted_record), span)
        if previous is not None:
            baseline_span = previous.span
            baseline_statistics_uri, baseline_examples_uri = previous.statistics_uri, previous.examples_uri
            # No input event links the baseline in ML Metadata here: the URIs are its lineage.
            drift_report.set_string_custom_property("baseline_statistics_uri", previous.statistics_uri)
    report = validation.check_drift(
        span,
        statistics.uri,
        schema.uri,
        baseline_span,
        baseline_statistics_uri,
        drift_report.uri,
        examples_uri=examples.uri,
        baseline_examples_uri=baseline_examples_uri,
        label_shift=LabelShift.from_json(label_shift) if label_shift else None,
    )
    rows = validation.drift_rows(report)
    if rows:
        logging.info("Drift of span %s against span %s:\n%s", span, baseline_span, validation.drift_table(rows))
    else:
        logging.info("Span %s has no earlier accepted span to compare with; no drift measured.", span)
    drift_report.set_int_custom_property("span", span)
    drift_report.set_int_custom_property("baseline_span", -1 if baseline_span is None else baseline_span)
    drift_report.set_string_custom_property("over_limit", ",".join(report["over_limit"]))
    drift_report.set_string_custom_property(
        "drift_values", json.dumps({row.feature: row.value for row in rows}, sort_keys=True)
    )
