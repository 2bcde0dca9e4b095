"""Pre-flight check of a span's CSV files before TFX starts: readable, complete and typed as the schema says.

CsvExampleGen fails deep inside Beam on an empty file or a ragged row, and quietly reads a numeric
column holding one word as text; this check names the file, line and column instead, in a second.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.validation import training_columns, training_features
from runners.errors import EXIT_INPUT, RunError

_INT = re.compile(r"[+-]?\d+")
_TYPE_NAMES = {schema_pb2.INT: "an integer (INT)", schema_pb2.FLOAT: "a number (FLOAT)"}
# Enough to fix a file without burying the first problem.
MAX_PROBLEMS = 12


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fits(value: str, feature_type: int) -> bool:
    if feature_type == schema_pb2.INT:
        return _INT.fullmatch(value) is not None
    if feature_type == schema_pb2.FLOAT:
        return _is_float(value)
    return True


def _check_file(
    path: Path, schema: schema_pb2.Schema, expected_header: list[str] | None, schema_checks: bool
) -> tuple[list[str], list[str] | None, int]:
    """Checks one CSV file; returns (problems, its header, its number of data rows)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return [f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8 CSV"], None, 0
    except OSError as err:
        return [f"{path}: cannot be read: {err.strerror}"], None, 0
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        columns = ", ".join(training_columns(schema))
        return (
            [f"{path}: the file is empty; expected a header row naming the columns ({columns}), then data rows"],
            None,
            0,
        )

    problems: list[str] = []
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        problems.append(f"{path}: the header names column(s) {', '.join(duplicates)} more than once")
    if expected_header is not None and header != expected_header:
        problems.append(
            f"{path}: the header differs from the span's first CSV file ({', '.join(header)} instead of "
            f"{', '.join(expected_header)}); every file of a span needs the same columns in the same order, "
            "because CsvExampleGen reads them all with one header"
        )
    if schema_checks:
        missing = [name for name in training_columns(schema) if name not in header]
        for name in missing:
            problems.append(
                f"{path}: column '{name}' is missing; the curated schema expects it in training data. Restore "
                f"the column, or if it was dropped on purpose, change the schema (`taxi-pipeline schema diff` "
                f"shows how)"
            )

    types = {f.name: f.type for f in training_features(schema) if f.type in _TYPE_NAMES} if schema_checks else {}
    typed = [(index, name, types[name]) for index, name in enumerate(header) if name in types]
    bad_values: dict[str, list[tuple[int, str]]] = {}
    ragged: list[tuple[int, int]] = []
    rows = 0
    for row in reader:
        if not row:  # CsvExampleGen skips blank lines too
            continue
        rows += 1
        line = reader.line_num
        if len(row) != len(header):
            ragged.append((line, len(row)))
            continue
        for index, name, feature_type in typed:
            value = row[index].strip()
            if value and not _fits(value, feature_type):
                bad_values.setdefault(name, []).append((line, row[index]))
    if ragged:
        line, fields = ragged[0]
        more = f" (and {len(ragged) - 1} more such rows)" if len(ragged) > 1 else ""
        problems.append(
            f"{path}: line {line} has {fields} fields but the header has {len(header)}{more}; every row needs "
            "one field per column (quote values that contain commas)"
        )
    for name, found in bad_values.items():
        line, value = found[0]
        more = f" (and {len(found) - 1} more rows)" if len(found) > 1 else ""
        problems.append(
            f"{path}: column '{name}' holds {value!r} on line {line}{more}, but the curated schema types "
            f"'{name}' as {_TYPE_NAMES[types[name]]}; a column whose type changed is read as text and would "
            "break Transform. Fix the values, or change the schema if the new type is intended"
        )
    if rows == 0 and not problems:
        problems.append(f"{path}: has a header but no data rows")
    return problems, header, rows


def check_span(folder: str | Path, schema: schema_pb2.Schema, schema_checks: bool = True) -> list[str]:
    """Checks every CSV file of one span folder.

    Args:
        folder: the `span-<N>` folder.
        schema: the curated schema: columns to expect and the types of numeric ones.
        schema_checks: also check that the schema's columns are present and typed as it says;
            False checks only that the files can be read at all.

    Returns:
        The problems found, each naming the file (and the line and column where it applies);
        empty when the span is fit to ingest.
    """
    folder = Path(folder)
    csv_files = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if not csv_files:
        others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        found = f"it holds {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}" if others else "it is empty"
        return [f"{folder}: no CSV file ({found}); ExampleGen reads {folder.name}/*.csv, with a header row"]
    problems: list[str] = []
    header: list[str] | None = None
    rows = 0
    for path in csv_files:
        found_problems, file_header, file_rows = _check_file(path, schema, header, schema_checks)
        problems += found_problems
        header = header or file_header
        rows += file_rows
    if rows == 0 and not problems:
        problems.append(f"{folder}: no data rows in any CSV file")
    return problems


def require_readable(spans: Iterable[tuple[int, Path]], schema: schema_pb2.Schema, schema_path: str) -> None:
    """Checks the spans a run will ingest, before TFX starts.

    Args:
        spans: (span number, span folder) pairs.
        schema: the curated schema.
        schema_path: where it came from, for the message.

    Raises:
        RunError: with EXIT_INPUT, listing every problem found (up to MAX_PROBLEMS).
    """
    for span, folder in spans:
        problems = check_span(folder, schema)
        if problems:
            shown = problems[:MAX_PROBLEMS]
            if len(problems) > MAX_PROBLEMS:
                shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
            raise RunError(
                f"span {span} cannot be ingested (checked against {schema_path}):\n  - "
                + "\n  - ".join(shown)
                + "\nNothing was ingested, trained or pushed; fix the files and run again.",
                EXIT_INPUT,
            )
