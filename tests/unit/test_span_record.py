"""The data gate's record of accepted spans: what Vertex runs read their window and drift baseline from."""

from __future__ import annotations

from pathlib import Path

from pipeline import span_record


def _accept(folder: str, span: int, version: int = 0, run: str = "a") -> span_record.AcceptedSpan:
    return span_record.record_accepted(
        folder,
        span=span,
        version=version,
        examples_uri=f"/root/{run}/examples/{span}",
        statistics_uri=f"/root/{run}/statistics/{span}",
        split_names=("train", "eval"),
    )


def test_entries_written_by_the_gate_read_back_oldest_first(tmp_path: Path) -> None:
    folder = str(tmp_path / "accepted-spans")
    assert span_record.read_accepted(folder) == []
    first, second = _accept(folder, 1), _accept(folder, 2)
    assert span_record.read_accepted(folder) == [first, second]
    # The same gate execution again (a retry) writes the same entry, not a second one.
    _accept(folder, 2)
    assert [e.span for e in span_record.read_accepted(folder)] == [1, 2]
    assert not list((tmp_path / "accepted-spans").glob("*.tmp"))


def test_window_takes_the_newest_entry_of_each_recent_span(tmp_path: Path) -> None:
    folder = str(tmp_path)
    for span in (1, 2, 3, 5):
        _accept(folder, span)
    reingested = _accept(folder, 3, run="b")  # span 3 ingested again after its files changed
    entries = span_record.read_accepted(folder)
    assert [e.span for e in span_record.window_of(entries, 3, None)] == [5, 3, 2]
    assert span_record.window_of(entries, 3, None)[1] == reingested
    assert [e.span for e in span_record.window_of(entries, 2, 3)] == [3, 2]


def test_baseline_is_the_newest_accepted_span_before_this_one(tmp_path: Path) -> None:
    folder = str(tmp_path)
    for span in (1, 3):
        _accept(folder, span)
    entries = span_record.read_accepted(folder)
    assert span_record.previous_accepted(entries, 1) is None
    previous = span_record.previous_accepted(entries, 4)
    assert previous is not None and previous.span == 3 and previous.statistics_uri == "/root/a/statistics/3"
    previous = span_record.previous_accepted(entries, 3)
    assert previous is not None and previous.span == 1
