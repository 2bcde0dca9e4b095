"""`taxi-pipeline run` on a span with a NUL byte, a UTF-16 BOM, integers written as floats or a FLOAT
column of whole numbers only: one line on stderr naming the file and the line, exit code 3, no
traceback, and no TFX component run.

The cases go through the CLI's entry function in this process (TFX is imported once); the
NUL byte, the crash the issue reported, also through `python -m runners` in a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runners import cli
from runners.errors import EXIT_INPUT
from tests.conftest import ROOT, SMALL_DATA

pytestmark = pytest.mark.fuzz

LINES = (SMALL_DATA / "span-1" / "data.csv").read_bytes().splitlines(keepends=True)[:20]
HEADER = LINES[0].decode().strip().split(",")


def _with_nul() -> bytes:
    return b"".join([*LINES[:6], LINES[6].replace(b",", b",\0", 1), *LINES[7:]])


def _utf16() -> bytes:
    return b"".join(LINES).decode().encode("utf-16")


HOUR = LINES[6].decode().rstrip("\r\n").split(",")[HEADER.index("trip_start_hour")]


def _hour_as_float() -> bytes:
    cells = LINES[6].decode().rstrip("\r\n").split(",")
    cells[HEADER.index("trip_start_hour")] = f"{HOUR}.0"
    return b"".join([*LINES[:6], (",".join(cells) + "\n").encode(), *LINES[7:]])


def _whole_fares() -> bytes:
    # Found by a real run (the data gate stopped it with "Expected data of type: FLOAT but got INT",
    # naming no file and advising a schema change): every fare of the span in whole dollars.
    index = HEADER.index("fare")
    lines = [LINES[0]]
    for raw in LINES[1:]:
        cells = raw.decode().rstrip("\r\n").split(",")
        cells[index] = str(round(float(cells[index]))) if cells[index] else ""
        lines.append((",".join(cells) + "\n").encode())
    return b"".join(lines)


FIRST_FARE = str(round(float(LINES[1].decode().split(",")[HEADER.index("fare")])))

CASES = {
    "nul": (_with_nul, "line 7 contains a NUL byte"),
    "utf16": (_utf16, "line 1 starts with a UTF-16 byte-order mark"),
    "float": (_hour_as_float, f"column 'trip_start_hour' holds '{HOUR}.0' on line 7, not an integer"),
    "whole floats": (
        _whole_fares,
        f"column 'fare' holds only whole numbers in this span (e.g. '{FIRST_FARE}' on line 2), which CsvExampleGen "
        "reads as integers (INT), but the curated schema types 'fare' as a number (FLOAT): the data gate would stop "
        f"the run with UNEXPECTED_DATA_TYPE. Write the numbers with a decimal point ('{FIRST_FARE}' as "
        f"'{FIRST_FARE}.0')",
    ),
}


def _data_root(base: Path, content: bytes) -> tuple[Path, Path]:
    folder = base / "data" / "span-1"
    folder.mkdir(parents=True)
    (folder / "data.csv").write_bytes(content)
    return base / "data", folder / "data.csv"


def _assert_stopped_before_tfx(home: Path) -> None:
    assert not (home / "pipeline_root").exists() and not (home / "serving").exists()
    assert not (home / "last_run.json").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_span_stops_with_one_line_naming_file_and_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, says = CASES[case]
    data_root, csv_file = _data_root(tmp_path, make())
    home = tmp_path / "home"
    code = cli.main(["run", "--data-root", str(data_root), "--home", str(home)])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT, err
    (line,) = err.splitlines()
    assert line.startswith("taxi-pipeline: stopped: span 1 cannot be ingested")
    assert f"{csv_file}: {says}" in line
    _assert_stopped_before_tfx(home)


@pytest.mark.e2e
def test_the_issues_nul_byte_through_python_m_runners(tmp_path: Path) -> None:
    data_root, csv_file = _data_root(tmp_path, _with_nul())
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "runners", "run", "--data-root", str(data_root), "--home", str(home)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == EXIT_INPUT, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert f"{csv_file}: line 7 contains a NUL byte" in line
    _assert_stopped_before_tfx(home)
    shutil.rmtree(home)
