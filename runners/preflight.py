"""Pre-flight check of a span's CSV files before TFX starts: readable, complete and typed as the schema says.

CsvExampleGen fails deep inside Beam on an empty file or a ragged row, and quietly reads a numeric
column holding one word as text; this check names the file, line and column instead, in a second.
It reads each file with the same steps as TFX 1.16's CSV executor (lines split at "\n", a header
split at commas, records joined until their quotes balance, Python's csv module, int()/float() on
the cell's bytes for the type), so what passes here is what CsvExampleGen reads; tests/fuzz holds it
to that with TFX's own helpers.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.validation import training_columns, training_features
from runners.errors import EXIT_INPUT, RunError

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Byte-order marks, longest first: UTF-32's little-endian mark starts with UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_LONE_CR = (
    "holds a carriage return (\\r) that no newline follows; CsvExampleGen splits rows at \\n only: save the "
    "file with \\n (or \\r\\n) line endings"
)
_TYPE_NAMES = {schema_pb2.INT: "an integer (INT)", schema_pb2.FLOAT: "a number (FLOAT)"}
# Enough to fix a file without burying the first problem.
MAX_PROBLEMS = 12


def _number_problem(value: str, feature_type: int) -> str | None:
    """Why CsvExampleGen would not read a non-empty cell as the feature's type (None: it would).

    It infers a column's type with int() and float() on the cell's bytes, as here: so " 7" is an
    integer, while "7.0", a non-ASCII digit or a cell of spaces make the whole column FLOAT or text.
    """
    cell = value.encode("utf-8")
    if feature_type == schema_pb2.INT:
        try:
            number = int(cell)
        except ValueError:
            return "not an integer"
        if not _INT64_MIN <= number <= _INT64_MAX:
            return "beyond the 64-bit integer range (CsvExampleGen reads such a column as text)"
        return None
    if feature_type == schema_pb2.FLOAT:
        if _whole(cell) and not _INT64_MIN <= int(cell) <= _INT64_MAX:
            return "an integer beyond the 64-bit range (CsvExampleGen reads such a column as text; write it as 1e30)"
        try:
            real = float(cell)
        except ValueError:
            return "not a number"
        if not math.isfinite(real):
            return "not a finite number (NaN and infinity break Transform's statistics; leave the field empty instead)"
    return None


def _whole(cell: bytes) -> bool:
    """Whether CsvExampleGen's type inference takes a cell for an integer (int() of its bytes, as tfx_bsl)."""
    try:
        int(cell)
    except ValueError:
        return False
    return True


class _WholeColumns:
    """FLOAT columns of a span whose every value so far is an integer, which CsvExampleGen reads as INT.

    It infers one type per column over all files of a span: one value with a decimal point makes it
    FLOAT; none, and the data gate stops the run with UNEXPECTED_DATA_TYPE ("Expected FLOAT but got INT").
    """

    def __init__(self) -> None:
        self.first: dict[str, tuple[Path, int, str]] = {}  # column -> (file, line, value) of its first integer
        self.fractional: set[str] = set()

    def add(self, name: str, path: Path, line: int, value: str) -> None:
        if name in self.fractional:
            return
        if _whole(value.encode("utf-8")):
            self.first.setdefault(name, (path, line, value))
        else:
            self.fractional.add(name)

    def problems(self) -> list[str]:
        found = []
        for name, (path, line, value) in self.first.items():
            if name not in self.fractional:
                found.append(
                    f"{path}: column '{name}' holds only whole numbers in this span (e.g. {_shown(value)} on line "
                    f"{line}), which CsvExampleGen reads as integers (INT), but the curated schema types '{name}' as "
                    f"{_TYPE_NAMES[schema_pb2.FLOAT]}: the data gate would stop the run with UNEXPECTED_DATA_TYPE. "
                    f"Write the numbers with a decimal point ({_shown(value)} as {_shown(value.strip() + '.0')})"
                )
        return found


class _OneRecord:
    """Feeds csv.reader one record, and notes when the reader asks for more (a quoted field left open).

    CsvExampleGen's reader would then read the same record again and again: its parser never returns.
    """

    def __init__(self, record: str) -> None:
        self.record: str | None = record
        self.asked_again = False

    def __iter__(self) -> _OneRecord:
        return self

    def __next__(self) -> str:
        if self.record is None:
            self.asked_again = True
            raise StopIteration
        record, self.record = self.record, None
        return record


def _records(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yields (first line number, record) as CsvExampleGen groups the data lines: until the quotes balance.

    Raises:
        _Unbalanced: the file ends inside a quoted field (CsvExampleGen: "unbalanced quotes").
    """
    buffer: list[str] = []
    quotes = 0
    start = 2
    for number, line in enumerate(lines, start=2):
        if not buffer:
            start = number
        buffer.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            yield start, "".join(buffer)
            buffer, quotes = [], 0
    if buffer:
        raise _Unbalanced(start)


class _Unbalanced(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _encoding_problem(path: Path, data: bytes) -> str | None:
    """Names a file CsvExampleGen cannot decode: a UTF-16/32 or UTF-8 byte-order mark, NUL bytes, not UTF-8."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            if name == "UTF-8":
                return (
                    f"{path}: line 1 starts with a UTF-8 byte-order mark (BOM), which CsvExampleGen would read as "
                    "part of the first column's name; save the file as UTF-8 without a BOM"
                )
            return (
                f"{path}: line 1 starts with a {name} byte-order mark: the file is {name} text, and CsvExampleGen "
                f"reads UTF-8 only; save it as UTF-8 CSV (e.g. iconv -f {name} -t UTF-8)"
            )
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return (
            f"{path}: line {line} contains a NUL byte (\\0; a UTF-16 file without a byte-order mark, or binary "
            "data?); CSV text cannot hold one: remove it, or save the file as UTF-8 CSV"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"{path}: line {line} is not UTF-8 text (byte {err.start}); save the file as UTF-8 CSV"
    return None


def _check_file(
    path: Path,
    schema: schema_pb2.Schema,
    expected_header: list[str] | None,
    schema_checks: bool,
    whole: _WholeColumns | None = None,
) -> tuple[list[str], list[str] | None, int]:
    """Checks one CSV file as CsvExampleGen reads it; returns (problems, its header, its number of data rows).

    CsvExampleGen splits the file at "\\n" only, takes the first line split at commas (no quoting)
    as the header, joins lines until their quotes balance (a quoted field may hold a newline) and
    parses each such record with Python's csv module. The same steps here find what would stop it.
    `whole` collects the span's FLOAT columns that hold only integers.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        return [f"{path}: cannot be read: {err.strerror or err}"], None, 0
    encoding = _encoding_problem(path, data)
    if encoding:
        return [encoding], None, 0
    lines = _lines(data.decode("utf-8"))
    first = lines[0].strip() if lines else ""
    if not first:
        columns = ", ".join(training_columns(schema))
        return (
            [f"{path}: the file is empty; expected a header row naming the columns ({columns}), then data rows"],
            None,
            0,
        )
    if "\r" in first:
        return [f"{path}: line 1 {_LONE_CR}"], None, 0
    header = first.split(",")

    problems: list[str] = []
    if '"' in first:
        problems.append(
            f"{path}: the header row (line 1) quotes column names; CsvExampleGen splits the header at commas "
            "without reading quotes, so write the names without quotes"
        )
    if any(not name.strip() for name in header):
        problems.append(f"{path}: the header row (line 1) has an empty column name; name every column")
    duplicates = sorted({name for name in header if header.count(name) > 1 and name.strip()})
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
    bad_values: dict[str, list[tuple[int, str, str]]] = {}
    ragged: list[tuple[int, int]] = []
    unparsable: list[tuple[int, str]] = []
    rows = 0
    try:
        for line, record in _records(lines[1:]):
            feed = _OneRecord(record)
            try:
                row = next(csv.reader(feed), [])
            except csv.Error as err:
                unparsable.append((line, _csv_error(err, record)))
                continue
            if feed.asked_again:
                unparsable.append((line, "a quoted field does not close where the record ends"))
                continue
            if not row:  # CsvExampleGen skips blank lines too
                continue
            rows += 1
            if len(row) != len(header):
                ragged.append((line, len(row)))
                continue
            for index, name, feature_type in typed:
                value = row[index]
                why = _number_problem(value, feature_type) if value else None
                if why:
                    bad_values.setdefault(name, []).append((line, row[index], why))
                elif value and feature_type == schema_pb2.FLOAT and whole is not None:
                    whole.add(name, path, line, value)
    except _Unbalanced as err:
        unparsable.append(
            (err.line, 'opens a quoted field (") that is never closed before the end of the file; close the quote')
        )
    for line, why in unparsable[:3]:
        problems.append(f"{path}: line {line} cannot be parsed as CSV: {why}")
    if len(unparsable) > 3:
        problems.append(f"{path}: ... and {len(unparsable) - 3} more lines that cannot be parsed as CSV")
    if ragged:
        line, fields = ragged[0]
        more = f" (and {len(ragged) - 1} more such rows)" if len(ragged) > 1 else ""
        problems.append(
            f"{path}: line {line} has {fields} fields but the header has {len(header)}{more}; every row needs "
            "one field per column (quote values that contain commas)"
        )
    for name, found in bad_values.items():
        line, value, why = found[0]
        more = f" (and {len(found) - 1} more rows)" if len(found) > 1 else ""
        problems.append(
            f"{path}: column '{name}' holds {_shown(value)} on line {line}{more}, {why}, but the curated schema "
            f"types '{name}' as {_TYPE_NAMES[types[name]]}; a column whose type changed is read as text and would "
            "break Transform. Fix the values, or change the schema if the new type is intended"
        )
    if rows == 0 and not problems:
        problems.append(f"{path}: has a header but no data rows")
    return problems, header, rows


def _lines(text: str) -> list[str]:
    """Splits at "\\n" only, keeping it, as reading a file in binary does (str.splitlines splits at \\r too)."""
    parts = text.split("\n")
    found = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        found.append(parts[-1])
    return found


def _csv_error(err: csv.Error, record: str) -> str:
    text = str(err)
    if "new-line character" in text and "\r" in record.rstrip("\r\n"):
        return _LONE_CR
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit()} characters, the most Python's csv reader takes"
    return text


def _shown(value: str) -> str:
    """A value for a message: quoted, and cut short when long."""
    return repr(value) if len(value) <= 40 else repr(value[:40]) + f"... ({len(value)} characters)"


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
    whole = _WholeColumns()
    for path in csv_files:
        found_problems, file_header, file_rows = _check_file(path, schema, header, schema_checks, whole)
        problems += found_problems
        header = header or file_header
        rows += file_rows
    if rows == 0 and not problems:
        problems.append(f"{folder}: no data rows in any CSV file")
    # Only when the files are otherwise fine: a column of bad values already has its message.
    return problems or whole.problems()


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
            found = f" {shown[0]}. " if len(shown) == 1 else "\n  - " + "\n  - ".join(shown) + "\n"
            # One problem stays on one line, so a log search or a CI summary shows it whole.
            raise RunError(
                f"span {span} cannot be ingested (checked against {schema_path}):{found}"
                "Nothing was ingested, trained or pushed; fix the files and run again.",
                EXIT_INPUT,
            )
