"""The runner's pre-flight check of span CSV files: each unreadable case is named by file, line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import validation
from runners.errors import EXIT_INPUT, RunError
from runners.preflight import check_span, require_readable

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = validation.load_schema(ROOT / "schema" / "schema.pbtxt")
SOURCE = ROOT / "tests" / "data" / "taxi-small" / "span-1" / "data.csv"
LINES = SOURCE.read_text().splitlines()
HEADER = LINES[0].split(",")


def _span(tmp_path: Path, lines: list[str], name: str = "data.csv") -> Path:
    folder = tmp_path / "span-3"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def _replace(line: str, column: str, value: str) -> str:
    cells = line.split(",")
    cells[HEADER.index(column)] = value
    return ",".join(cells)


def test_the_committed_spans_pass() -> None:
    for folder in sorted((ROOT / "data" / "taxi").glob("span-*")) + sorted(SOURCE.parent.parent.glob("span-*")):
        assert check_span(folder, SCHEMA) == [], folder


def test_a_span_without_csv_files_says_what_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "span-3"
    folder.mkdir()
    (folder / "data.txt").write_text("x")
    (problem,) = check_span(folder, SCHEMA)
    assert "no CSV file" in problem and "data.txt" in problem and "span-3/*.csv" in problem


def test_an_empty_file_and_a_header_without_rows_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "span-3"
    folder.mkdir()
    (folder / "data.csv").write_bytes(b"")
    (problem,) = check_span(folder, SCHEMA)
    assert problem.startswith(f"{folder / 'data.csv'}: the file is empty") and "pickup_community_area" in problem
    (problem,) = check_span(_span(tmp_path, LINES[:1]), SCHEMA)
    assert "has a header but no data rows" in problem


def test_a_ragged_row_is_named_by_line(tmp_path: Path) -> None:
    lines = [*LINES[:4], LINES[4] + ",extra", *LINES[5:8]]
    (problem,) = check_span(_span(tmp_path, lines), SCHEMA)
    assert "line 5 has 19 fields but the header has 18" in problem


def test_blank_lines_are_skipped_like_csv_example_gen_does(tmp_path: Path) -> None:
    assert check_span(_span(tmp_path, [*LINES[:3], "", *LINES[3:6]]), SCHEMA) == []


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    index = HEADER.index("company")
    lines = [",".join(c for i, c in enumerate(line.split(",")) if i != index) for line in LINES[:6]]
    (problem,) = check_span(_span(tmp_path, lines), SCHEMA)
    assert "column 'company' is missing" in problem and "schema diff" in problem


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [("fare", "twelve", "a number (FLOAT)"), ("trip_start_hour", "7.0", "an integer (INT)")],
)
def test_a_column_whose_type_changed_is_named_with_line_and_value(
    tmp_path: Path, column: str, value: str, expected: str
) -> None:
    lines = [LINES[0], LINES[1], _replace(LINES[2], column, value), _replace(LINES[3], column, value)]
    (problem,) = check_span(_span(tmp_path, lines), SCHEMA)
    assert f"column '{column}' holds '{value}' on line 3 (and 1 more rows)" in problem
    assert expected in problem


def test_files_of_one_span_must_share_a_header(tmp_path: Path) -> None:
    folder = _span(tmp_path, LINES[:5], "a.csv")
    reordered = [",".join(reversed(line.split(","))) for line in LINES[:5]]
    _span(tmp_path, reordered, "b.csv")
    problems = check_span(folder, SCHEMA)
    assert any("b.csv: the header differs from the span's first CSV file" in p for p in problems)


def test_only_readability_is_checked_when_schema_checks_are_off(tmp_path: Path) -> None:
    lines = [LINES[0], _replace(LINES[1], "fare", "twelve")]
    assert check_span(_span(tmp_path, lines), SCHEMA, schema_checks=False) == []


def test_require_readable_stops_with_exit_code_3_naming_the_span(tmp_path: Path) -> None:
    good = tmp_path / "span-1"
    shutil.copytree(SOURCE.parent, good)
    bad = _span(tmp_path, LINES[:1])
    require_readable([(1, good)], SCHEMA, "schema.pbtxt")
    with pytest.raises(RunError) as stopped:
        require_readable([(1, good), (3, bad)], SCHEMA, "schema.pbtxt")
    assert stopped.value.exit_code == EXIT_INPUT
    assert str(stopped.value).startswith("span 3 cannot be ingested (checked against schema.pbtxt)")
