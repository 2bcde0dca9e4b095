"""DataGate: stops the run before Transform when a span has blocking anomalies or drifts too far.

The decision is pipeline.validation.judge_span, so the CLI, the runner's report and the notebook
judge a span exactly as the gate does.
"""

# No `from __future__ import annotations` here: TFX reads a component function's type hints from
# __annotations__ and needs the classes themselves, not their names as strings. mypy cannot read
# TFX's InputArtifact[...] hints (they are not typing generics), hence the narrow disable below.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,arg-type,assignment"

import logging

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from pipeline import span_record, validation
from pipeline.accepted_spans import examples_span, examples_version
from pipeline.components.drift_check import DriftReport


class DataGateError(RuntimeError):
    """A span did not pass the data gate; the message lists every reason."""


@component
def DataGate(
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    drift_report: InputArtifact[DriftReport],
    policy: Parameter[str],
    accepted_record: Parameter[str] = "",
) -> None:
    """Judges a span and raises DataGateError when it must not be trained on.

    A successful execution is the record that its `examples` and `statistics` passed: the
    training window and the next span's drift baseline only use spans that did.

    Args:
        examples: the span's Examples.
        statistics: the span's statistics (for lineage, and the record).
        anomalies: ExampleValidator's findings.
        drift_report: DriftCheck's findings.
        policy: a GatePolicy as JSON.
        accepted_record: a folder (pipeline.span_record) where a passed span is also recorded, for the
            drift check and window of orchestrators that cannot query ML Metadata; empty records nothing.

    Raises:
        DataGateError: a blocking anomaly, or drift over a limit while the policy says "stop".
    """
    verdict = validation.judge_span(anomalies.uri, drift_report.uri, policy)
    span = examples_span(examples)
    for line in verdict.warnings():
        logging.warning("Data gate warning for span %s: %s", span, line)
    if verdict.stopped:
        raise DataGateError(f"span {span} did not pass the data gate:\n  " + "\n  ".join(verdict.reasons()))
    if accepted_record:
        entry = span_record.record_accepted(
            accepted_record,
            span=span,
            version=examples_version(examples),
            examples_uri=examples.uri,
            statistics_uri=statistics.uri,
            split_names=tuple(artifact_utils.decode_split_names(examples.split_names)),
        )
        logging.info("Recorded span %s as accepted in %s", entry.span, accepted_record)
