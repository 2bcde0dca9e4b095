"""Which spans passed the data gate: the one definition, for the pipeline's resolvers and the runners' readers.

A span passes when a DataGate execution that consumed its Examples and statistics completed (or was
cached); a rejected span stays in ML Metadata but is never trained on nor used as a drift baseline.
Only ML Metadata's protos are imported here, so listing spans does not load TFX or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from ml_metadata.proto import metadata_store_pb2

_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
SPAN_PROPERTY = "span"
T = TypeVar("T")


def passed_gate_inputs(store: Any, gate_context: str) -> list[dict[str, int]]:
    """Returns, per successful data-gate execution (oldest first), its input key -> artifact id.

    Args:
        store: an ML Metadata store (only get_context_by_type_and_name, get_executions_by_context and
            get_events_by_execution_ids are used).
        gate_context: the gate's node context name, `<pipeline name>.<gate id>`.
    """
    context = store.get_context_by_type_and_name("node", gate_context)
    if context is None:
        return []
    passed = [e.id for e in store.get_executions_by_context(context.id) if e.last_known_state in _DONE]
    by_execution: dict[int, dict[str, int]] = {execution_id: {} for execution_id in passed}
    for event in store.get_events_by_execution_ids(passed) if passed else []:
        if event.type in _INPUT_EVENTS and event.path.steps:
            by_execution[event.execution_id][event.path.steps[0].key] = event.artifact_id
    return [by_execution[execution_id] for execution_id in sorted(by_execution)]


def accepted_artifact_ids(store: Any, gate_context: str) -> set[int]:
    """Returns the ids of every artifact a successful data-gate execution consumed.

    Args:
        store: an ML Metadata store.
        gate_context: the gate's node context name, `<pipeline name>.<gate id>`.
    """
    return {artifact_id for inputs in passed_gate_inputs(store, gate_context) for artifact_id in inputs.values()}


def accepted_spans(store: Any, gate_context: str) -> set[int]:
    """Returns the spans whose Examples passed the data gate.

    A span that was ingested but stopped by the gate is not among them, so the next run validates it
    again instead of training on it.

    Args:
        store: an ML Metadata store.
        gate_context: the gate's node context name, `<pipeline name>.<gate id>`.
    """
    examples = sorted(
        {inputs["examples"] for inputs in passed_gate_inputs(store, gate_context) if "examples" in inputs}
    )
    spans = (recorded_span(a) for a in store.get_artifacts_by_id(examples)) if examples else ()
    return {span for span in spans if span is not None}


def recorded_span(artifact: metadata_store_pb2.Artifact) -> int | None:
    """Returns the span ML Metadata records for an Examples artifact, or None when it records none.

    Read as examples_span reads a TFX artifact: ExampleGen's custom property first, then the property.
    """
    for properties in (artifact.custom_properties, artifact.properties):
        if SPAN_PROPERTY in properties and properties[SPAN_PROPERTY].WhichOneof("value") == "int_value":
            return int(properties[SPAN_PROPERTY].int_value)
    return None


def examples_span(artifact: Any) -> int:
    """Returns the span of an Examples artifact (a TFX types.Artifact).

    ExampleGen records it as a custom property (StatisticsGen's and ExampleValidator's outputs
    carry a `span` property that stays 0), so spans are always read from the Examples.
    """
    if artifact.has_custom_property(SPAN_PROPERTY):
        value = artifact.get_custom_property(SPAN_PROPERTY)
        return int(value) if value not in (None, "") else 0
    return int(getattr(artifact, SPAN_PROPERTY, 0) or 0)


def newest_before(items: Iterable[tuple[int, T]], span: int) -> T | None:
    """The drift-baseline rule: the item of the newest span older than `span`; for a tie the last one wins.

    Args:
        items: (span, item), oldest acceptance first.
        span: this run's span.
    """
    best: tuple[int, T] | None = None
    for candidate, item in items:
        if candidate < span and (best is None or candidate >= best[0]):
            best = (candidate, item)
    return None if best is None else best[1]


def examples_version(artifact: Any) -> int:
    """Returns the version of an Examples artifact (a TFX types.Artifact), read as examples_span reads the span."""
    if artifact.has_custom_property("version"):
        value = artifact.get_custom_property("version")
        return int(value) if value not in (None, "") else 0
    return int(getattr(artifact, "version", 0) or 0)


def select_previous(pairs: list[tuple[Any, Any]], span: int) -> tuple[Any, Any] | None:
    """Returns the (Examples, statistics) pair of the newest span older than `span`, or None.

    Args:
        pairs: accepted (Examples, statistics) pairs, oldest gate execution first; for a span
            accepted more than once the last pair wins.
        span: this run's span.
    """
    return newest_before(((examples_span(pair[0]), pair) for pair in pairs), span)
