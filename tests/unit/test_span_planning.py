"""Span discovery, the window plan, and the resolver's choice of one artifact per span."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.span_window import SpanWindowStrategy, select_window
from runners.errors import EXIT_INPUT, EXIT_USAGE, RunError
from runners.local import MULTI_PROCESSING_BYTES, beam_args_for, discover_spans, plan_spans


def test_discover_spans_reads_numbered_folders(tmp_path: Path) -> None:
    for name in ("span-1", "span-10", "span-2", "notes", "span-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "span-3").write_text("a file, not a folder")
    assert list(discover_spans(tmp_path)) == [1, 2, 10]


def test_discover_spans_explains_an_empty_or_missing_root(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="has no span folders: expected folders named span-<N>") as err:
        discover_spans(tmp_path)
    assert err.value.exit_code == EXIT_INPUT
    with pytest.raises(RunError, match="does not exist"):
        discover_spans(tmp_path / "nope")


def test_default_plan_takes_the_newest_span_and_backfills_the_window() -> None:
    plan = plan_spans([1, 2, 3, 4], ingested=set(), requested=None, window_spans=4)
    assert plan.target == 4
    assert plan.window == (1, 2, 3, 4)
    assert plan.backfill == (1, 2, 3)


def test_new_span_only_ingests_itself_and_slides_the_window() -> None:
    plan = plan_spans([1, 2, 3, 4, 5], ingested={1, 2, 3, 4}, requested=None, window_spans=3)
    assert plan.target == 5
    assert plan.window == (3, 4, 5)
    assert plan.backfill == ()


def test_requested_span_ends_the_window_and_must_exist() -> None:
    plan = plan_spans([1, 2, 4], ingested={4}, requested=2, window_spans=4)
    assert plan.window == (1, 2)
    assert plan.backfill == (1,)
    with pytest.raises(RunError, match=r"span 3 is not in the data root \(spans there: 1, 2, 4\)") as err:
        plan_spans([1, 2, 4], ingested=set(), requested=3, window_spans=2)
    assert err.value.exit_code == EXIT_USAGE


@dataclass
class FakeExamples:
    """Stands in for a tfx Examples artifact: span and version are custom properties."""

    id: int
    span: int
    version: int = 0
    props: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.props = {"span": self.span, "version": self.version}

    def has_custom_property(self, name: str) -> bool:
        return name in self.props

    def get_string_custom_property(self, name: str) -> str:
        return ""

    def get_int_custom_property(self, name: str) -> int:
        return self.props[name]


def test_window_keeps_the_newest_artifact_of_each_recent_span() -> None:
    artifacts = [FakeExamples(1, 1), FakeExamples(2, 2), FakeExamples(3, 3), FakeExamples(4, 2), FakeExamples(5, 4)]
    chosen = select_window(artifacts, num_spans=3, end_span=3)
    assert [(a.span, a.id) for a in chosen] == [(3, 3), (2, 4), (1, 1)]
    assert [a.span for a in select_window(artifacts, num_spans=2, end_span=None)] == [4, 3]


def test_window_prefers_a_higher_version_over_a_newer_id() -> None:
    chosen = select_window([FakeExamples(7, 1, version=2), FakeExamples(8, 1, version=1)], 1, None)
    assert chosen[0].id == 7


def test_strategy_returns_none_when_a_window_is_empty() -> None:
    strategy = SpanWindowStrategy(num_spans=2, end_span=1)
    assert strategy.resolve_artifacts(None, {"examples": [FakeExamples(1, 5)]}) is None
    resolved = strategy.resolve_artifacts(None, {"examples": [FakeExamples(1, 1)]})
    assert resolved is not None and [a.id for a in resolved["examples"]] == [1]
    with pytest.raises(ValueError):
        SpanWindowStrategy(num_spans=0)


def test_small_input_runs_beam_in_process_and_large_input_on_every_core() -> None:
    small = beam_args_for((), input_bytes=2_000_000, cpus=8)
    assert small == ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    large = beam_args_for(("--foo=1",), input_bytes=MULTI_PROCESSING_BYTES, cpus=8)
    assert large == ("--direct_running_mode=multi_processing", "--direct_num_workers=8", "--foo=1")
    # One core has nothing to spread the work over.
    assert beam_args_for((), input_bytes=10 * MULTI_PROCESSING_BYTES, cpus=1)[0] == "--direct_running_mode=in_memory"


def test_configured_direct_runner_options_turn_the_automatic_choice_off() -> None:
    for configured in (("--direct_num_workers=3",), ("--direct_running_mode=multi_threading",), ("--runner=X",)):
        assert beam_args_for(configured, input_bytes=10 * MULTI_PROCESSING_BYTES, cpus=8) == configured
