"""What the data gate found in a run, read back from ML Metadata: drift, anomalies, verdict, accepted spans."""

from __future__ import annotations

import dataclasses

from ml_metadata.metadata_store import metadata_store

from pipeline import accepted_spans as accepted
from pipeline import ids, validation
from runners.store import metadata as md

_DONE = (md.Execution.COMPLETE, md.Execution.CACHED)


def gate_context(pipeline_name: str) -> str:
    """The data gate's node context name, which pipeline.accepted_spans reads the gate's verdicts from."""
    return md.node_context_name(pipeline_name, ids.DATA_GATE)


def accepted_spans(store: metadata_store.MetadataStore, pipeline_name: str) -> set[int]:
    """Returns the spans whose Examples passed the data gate in this home (see pipeline.accepted_spans)."""
    return accepted.accepted_spans(store, gate_context(pipeline_name))


@dataclasses.dataclass(frozen=True)
class GateReport:
    """The data gate's findings for one span of one run."""

    span: int | None
    baseline_span: int | None
    verdict: validation.GateVerdict
    anomalies_uri: str | None
    drift_report_uri: str | None


def read_gate_report(
    store: metadata_store.MetadataStore, run_id: str, policy: validation.GatePolicy
) -> GateReport | None:
    """Reads ExampleValidator's anomalies and DriftCheck's report of one run and judges them.

    Args:
        store: the home's ML Metadata.
        run_id: the pipeline run.
        policy: the gate's policy.

    Returns:
        The report, or None when the run has no ExampleValidator output (it stopped earlier).
    """
    executions = md.run_executions(store, run_id)
    validator = executions.get(ids.EXAMPLE_VALIDATOR)
    anomalies = md.outputs(store, validator, "anomalies") if validator is not None else []
    if not anomalies:
        return None
    # The span is read from ExampleGen's Examples: the anomalies' own `span` property stays 0.
    example_gen = executions.get(ids.EXAMPLE_GEN)
    examples = md.outputs(store, example_gen, "examples") if example_gen is not None else []
    span = md.prop(examples[0], "span") if examples else None
    drift_check = executions.get(ids.DRIFT_CHECK)
    reports = md.outputs(store, drift_check, "drift_report") if drift_check is not None else []
    rows: list[validation.DriftRow] = []
    baseline_span = None
    if reports:
        report = validation.load_drift_report(reports[0].uri)
        rows = validation.drift_rows(report)
        baseline_span = report.get("baseline_span")
    verdict = validation.judge(validation.load_anomalies(anomalies[0].uri), rows, policy)
    return GateReport(
        span=span if isinstance(span, int) else None,
        baseline_span=baseline_span if isinstance(baseline_span, int) else None,
        verdict=verdict,
        anomalies_uri=anomalies[0].uri,
        drift_report_uri=reports[0].uri if reports else None,
    )


@dataclasses.dataclass(frozen=True)
class IngestedSpan:
    """One span's validation artifacts in ML Metadata (the newest ingestion of that span)."""

    span: int
    statistics_uri: str
    anomalies_uri: str | None
    drift_report_uri: str | None
    accepted: bool


def _consumers(store: metadata_store.MetadataStore, artifact_id: int, node_id: str, key: str) -> list[md.Execution]:
    """Returns the successful executions of one node that consumed an artifact as input `key`, oldest first."""
    execution_ids = sorted(
        {
            e.execution_id
            for e in store.get_events_by_artifact_ids([artifact_id])
            if e.type == md.Event.INPUT and e.path.steps and e.path.steps[0].key == key
        }
    )
    return [
        e
        for e in store.get_executions_by_id(execution_ids)
        if e.last_known_state in _DONE and md.node_id_of(store, e) == node_id
    ]


def ingested_spans(store: metadata_store.MetadataStore, pipeline_name: str) -> list[IngestedSpan]:
    """Lists every span StatisticsGen has profiled, oldest span first, with its anomalies and drift.

    Args:
        store: the home's ML Metadata.
        pipeline_name: the pipeline's name.

    Returns:
        One entry per span, from the newest StatisticsGen execution of that span; `accepted` says
        whether the data gate passed it.
    """
    passed = accepted.accepted_artifact_ids(store, gate_context(pipeline_name))
    newest: dict[int, md.Artifact] = {}
    for execution in md.node_executions(store, pipeline_name, ids.STATISTICS_GEN):
        if execution.last_known_state not in _DONE:
            continue
        examples = md.inputs(store, execution, "examples")
        statistics = md.outputs(store, execution, "statistics")
        span = md.prop(examples[0], "span") if examples else None
        if statistics and isinstance(span, int):
            newest[span] = statistics[0]
    result = []
    for span, statistics in sorted(newest.items()):
        anomalies = [
            a
            for e in _consumers(store, statistics.id, ids.EXAMPLE_VALIDATOR, "statistics")
            for a in md.outputs(store, e, "anomalies")
        ]
        reports = [
            a
            for e in _consumers(store, statistics.id, ids.DRIFT_CHECK, "statistics")
            for a in md.outputs(store, e, "drift_report")
        ]
        result.append(
            IngestedSpan(
                span=span,
                statistics_uri=statistics.uri,
                anomalies_uri=anomalies[-1].uri if anomalies else None,
                drift_report_uri=reports[-1].uri if reports else None,
                accepted=statistics.id in passed,
            )
        )
    return result
