"""Which spans passed the data gate, and resolver strategies that only see those spans.

A span passes when a DataGate execution that consumed its Examples and statistics completed; a
rejected span stays in ML Metadata (ingested, with its anomalies and drift) but is never trained
on and never becomes the drift baseline of the next span.
"""

from __future__ import annotations

from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from pipeline.span_window import SpanWindowStrategy

_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def _passed_gate_inputs(store: Any, gate_context: str) -> list[dict[str, int]]:
    """Returns, per successful data-gate execution, its input key -> artifact id."""
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
    return {artifact_id for inputs in _passed_gate_inputs(store, gate_context) for artifact_id in inputs.values()}


def examples_span(artifact: Any) -> int:
    """Returns the span of an Examples artifact.

    ExampleGen records it as a custom property (StatisticsGen's and ExampleValidator's outputs
    carry a `span` property that stays 0), so spans are always read from the Examples.
    """
    if artifact.has_custom_property("span"):
        value = artifact.get_custom_property("span")
        return int(value) if value not in (None, "") else 0
    return int(getattr(artifact, "span", 0) or 0)


def select_previous(pairs: list[tuple[Any, Any]], span: int) -> tuple[Any, Any] | None:
    """Returns the (Examples, statistics) pair of the newest span older than `span`, or None.

    Args:
        pairs: accepted (Examples, statistics) pairs, oldest gate execution first; for a span
            accepted more than once the last pair wins.
        span: this run's span.
    """
    best: tuple[Any, Any] | None = None
    for examples, statistics in pairs:
        candidate = examples_span(examples)
        if candidate < span and (best is None or candidate >= examples_span(best[0])):
            best = (examples, statistics)
    return best


class PreviousSpanStrategy(resolver.ResolverStrategy):
    """Resolves the Examples and statistics of the newest earlier span that passed the data gate.

    Inputs: `examples` (ExampleGen's outputs) and `statistics` (StatisticsGen's). Config:
    `gate_context` (the gate's node context name) and `span` (int; -1 means the newest span among
    the Examples, which is this run's once ExampleGen has published it). Both outputs are empty,
    not None, when no earlier span passed: the drift check then runs without a baseline.
    """

    def __init__(self, gate_context: str, span: int = -1) -> None:
        self._gate_context = gate_context
        self._span = None if span < 0 else span

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Returns {"examples": [...], "statistics": [...]}, each with one artifact or none."""
        examples = {a.id: a for a in input_dict.get("examples", [])}
        statistics = {a.id: a for a in input_dict.get("statistics", [])}
        current = self._span
        if current is None:
            current = max((examples_span(a) for a in examples.values()), default=0)
        pairs = [
            (examples[inputs["examples"]], statistics[inputs["statistics"]])
            for inputs in _passed_gate_inputs(store, self._gate_context)
            if inputs.get("examples") in examples and inputs.get("statistics") in statistics
        ]
        previous = select_previous(pairs, current)
        if previous is None:
            return {"examples": [], "statistics": []}
        return {"examples": [previous[0]], "statistics": [previous[1]]}


class AcceptedSpanWindowStrategy(SpanWindowStrategy):
    """SpanWindowStrategy over the spans that passed the data gate only.

    Config: `num_spans`, `end_span` as for SpanWindowStrategy, and `gate_context` (the gate's
    node context name).
    """

    def __init__(self, num_spans: int, gate_context: str, end_span: int = -1) -> None:
        super().__init__(num_spans=num_spans, end_span=end_span)
        self._gate_context = gate_context

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Returns the window of accepted spans, or None (skip) when an input has none."""
        accepted = accepted_artifact_ids(store, self._gate_context)
        return super().resolve_artifacts(
            store, {key: [a for a in artifacts if a.id in accepted] for key, artifacts in input_dict.items()}
        )
