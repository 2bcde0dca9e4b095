"""The training window: a TFX resolver strategy choosing the newest Examples of the most recent spans.

TFX's SpanRangeStrategy returns every artifact of every span in range, so a span re-ingested
after its files changed would be trained on twice; this strategy keeps one artifact per span
(the highest version, then the newest) and counts spans, not span numbers, so gaps are fine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tfx import types
from tfx.dsl.components.common import resolver

T = TypeVar("T")


def _int_property(artifact: Any, name: str) -> int:
    """Reads span/version the way ExampleGen records them: as custom properties, once as strings."""
    if artifact.has_custom_property(name):
        text = artifact.get_string_custom_property(name)
        return int(text) if text else int(artifact.get_int_custom_property(name))
    return int(getattr(artifact, name, 0) or 0)


def newest_per_span(items: Iterable[tuple[int, tuple[Any, ...], T]], num_spans: int, end_span: int | None) -> list[T]:
    """The window rule: newest span first, the best-ranked item of each of the `num_spans` most recent spans.

    Args:
        items: (span, rank, item); within a span the highest rank wins (e.g. (version, id)).
        num_spans: window size in spans.
        end_span: the newest span allowed; None allows all.
    """
    newest: dict[int, tuple[tuple[Any, ...], T]] = {}
    for span, rank, item in items:
        if end_span is not None and span > end_span:
            continue
        best = newest.get(span)
        if best is None or rank > best[0]:
            newest[span] = (rank, item)
    return [newest[span][1] for span in sorted(newest, reverse=True)[:num_spans]]


def select_window(artifacts: list[Any], num_spans: int, end_span: int | None) -> list[Any]:
    """Returns, newest span first, one artifact for each of the `num_spans` most recent spans <= end_span.

    Args:
        artifacts: Examples artifacts carrying `span` and `version` properties.
        num_spans: window size in spans.
        end_span: the newest span allowed; None allows all.
    """
    return newest_per_span(
        (
            (_int_property(artifact, "span"), (_int_property(artifact, "version"), artifact.id), artifact)
            for artifact in artifacts
        ),
        num_spans,
        end_span,
    )


class SpanWindowStrategy(resolver.ResolverStrategy):
    """Resolves each input to the newest artifact of each of the last `num_spans` spans.

    Config: `num_spans` (int >= 1) and `end_span` (int; -1 means the newest ingested span).
    """

    def __init__(self, num_spans: int, end_span: int = -1) -> None:
        if num_spans < 1:
            raise ValueError(f"num_spans must be >= 1, got {num_spans}")
        self._num_spans = num_spans
        self._end_span = None if end_span < 0 else end_span

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Returns the window for every input, or None (skip the run) when one is empty."""
        result = {key: select_window(list(arts), self._num_spans, self._end_span) for key, arts in input_dict.items()}
        return result if all(result.values()) else None
