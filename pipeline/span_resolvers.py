"""Resolver strategies that only see spans that passed the data gate: the drift baseline and the training window.

Which spans passed is pipeline.accepted_spans; these classes apply it inside a TFX Resolver node.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.common import resolver

from pipeline.accepted_spans import accepted_artifact_ids, examples_span, passed_gate_inputs, select_previous
from pipeline.span_window import SpanWindowStrategy


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
            for inputs in passed_gate_inputs(store, self._gate_context)
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
