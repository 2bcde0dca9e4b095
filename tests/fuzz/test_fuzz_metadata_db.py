"""Fuzzing the home's metadata.db as the read commands (runs, lineage, models, kpis) open it.

A zero-byte, truncated, overwritten or non-SQLite file, a valid SQLite file with ML Metadata's tables
missing or rows garbled, and one another process has locked: each command ends in one line that names
metadata.db and what to do, with exit 2, 3 or 6, or in its normal output; never a traceback, and never
ML Metadata's native abort (a CHECK failure on a text value in an integer column kills the process).
Each command runs in a forked child, so such an abort fails the test instead of ending the session.
"""

from __future__ import annotations

import atexit
import functools
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runners.errors import EXIT_INPUT, EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from runners.store import metadata_db
from tests.fuzz.test_fuzz_artifacts import damaged

pytestmark = pytest.mark.fuzz

COMMANDS = ("runs", "lineage", "models", "kpis")
# The fuzzed commands: `models` and `kpis` read TFMA's files, which the fabricated home lacks, and so
# load TensorFlow for its fallback (seconds each); they run on the fixed examples below.
FUZZED_COMMANDS = ("runs", "lineage")
# Each example forks two commands (about 0.1 s each): half the profile's examples keeps this well
# under a minute in CI; the long profile still tries 1000.
EXAMPLES = max(10, settings().max_examples // 2)


@functools.cache
def _home() -> tuple[Path, bytes]:
    """A home with a real metadata.db recording two runs and pushes (tests/unit/fake_home.py), and its bytes."""
    from tests.unit.fake_home import FakeHome

    root = Path(tempfile.mkdtemp(prefix="fuzz-metadata-"))
    atexit.register(shutil.rmtree, root, True)
    home = FakeHome(root, sqlite=True)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    del home  # closes its connection: the bytes below are the whole store
    return root, (root / "metadata.db").read_bytes()


def run_command(home: Path, command: str) -> tuple[int, str]:
    """Runs `taxi-pipeline COMMAND --home HOME` in a forked child: (exit code, stderr); -N for signal N."""
    from runners.cli import main
    from runners.commands import ops  # imported before the fork, so each child starts warm

    del ops
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: stderr into the pipe, stdout discarded
        code = 70
        try:
            os.dup2(write_end, 2)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False))
            sys.stdout = io.StringIO()
            code = main([command, "--home", str(home)])
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        err = stream.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), err


def assert_clear(home: Path, command: str, code: int, err: str) -> None:
    """The command's normal result, or one line naming metadata.db with a documented exit code."""
    assert code >= 0, f"{command} died of signal {signal.Signals(-code).name}:\n{err[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_LOCKED), (code, err)
    if code == EXIT_INPUT:
        assert f"ML Metadata at {home / 'metadata.db'}" in err, err


def _garble(data: bytes, statement: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "metadata.db"
        path.write_bytes(data)
        connection = sqlite3.connect(path)
        connection.execute(statement)
        connection.commit()
        connection.close()
        return path.read_bytes()


# Rows ML Metadata cannot take: text in integer columns (each one a native abort before the fix),
# tables gone, its own types renamed, the schema version of a newer release.
GARBLING = (
    "UPDATE ArtifactProperty SET int_value = 'abc' WHERE int_value IS NOT NULL",
    "UPDATE Execution SET last_known_state = 'done'",
    "UPDATE Artifact SET create_time_since_epoch = 'yesterday'",
    "UPDATE Event SET milliseconds_since_epoch = 'x'",
    "UPDATE Artifact SET state = 'live'",
    "UPDATE Context SET type_id = 'x' || id",
    "DROP TABLE Event",
    "DROP TABLE MLMDEnv",
    "UPDATE Type SET name = 'renamed' || id",
    "UPDATE MLMDEnv SET schema_version = 99",
    "UPDATE Execution SET type_id = 999",
    "DELETE FROM Context",
)


@st.composite
def metadata_files(draw: st.DrawFn) -> bytes:
    _, data = _home()
    kind = draw(st.sampled_from(["bytes", "garble", "truncate"]))
    if kind == "garble":
        return _garble(data, draw(st.sampled_from(GARBLING)))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    # Damage past SQLite's 100-byte header and first page as well as in them.
    return draw(damaged(data))


@settings(max_examples=EXAMPLES)
@given(metadata_files())
@example(b"")
@example(b"not a database\n" * 10)
@example(b"SQLite format 3\x00" + b"\0" * 84)  # a header and nothing else
def test_a_damaged_metadata_db_is_read_or_named(data: bytes) -> None:
    home, _ = _home()
    (home / "metadata.db").write_bytes(data)
    for command in FUZZED_COMMANDS:
        code, err = run_command(home, command)
        assert_clear(home, command, code, err)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("DROP TABLE Event", "lacks ML Metadata's table(s) Event"),
        (GARBLING[0], "is damaged (table ArtifactProperty, column int_value holds a value that is not an integer)"),
        ("UPDATE Type SET name = 'renamed' || id", "is damaged (ML Metadata cannot read its tables)"),
    ],
)
def test_garbled_tables_are_named(statement: str, problem: str) -> None:
    home, data = _home()
    (home / "metadata.db").write_bytes(_garble(data, statement))
    code, err = run_command(home, "runs")
    assert code == EXIT_INPUT and f"ML Metadata at {home / 'metadata.db'} {problem}" in err, err
    assert "restore metadata.db from a backup" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is an empty file (0 bytes), not an ML Metadata database"),
        (b"PK\x03\x04 a zip file", "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\0" * 84, "is damaged (SQLite: "),
    ],
)
def test_a_file_that_is_no_store_is_named(data: bytes, problem: str) -> None:
    home, _ = _home()
    (home / "metadata.db").write_bytes(data)
    for command in COMMANDS:
        code, err = run_command(home, command)
        assert code == EXIT_INPUT and f"ML Metadata at {home / 'metadata.db'} {problem}" in err, (command, err)


def test_a_damaged_page_found_mid_command_is_named() -> None:
    # The store opens (its first pages are whole) and a later query meets the damage: an InternalError
    # quoting the SQL (and ML Metadata's warning repeating it), until the store's calls were diagnosed too.
    home, data = _home()
    for page in (7, 12, 17):  # pages of this fabricated store that `runs` reads after opening it
        (home / "metadata.db").write_bytes(data[: page * 4096] + b"\0" * 4096 + data[(page + 1) * 4096 :])
        code, err = run_command(home, "runs")
        assert code == EXIT_INPUT, err
        assert err.strip().splitlines() == [
            f"taxi-pipeline: stopped: ML Metadata at {home / 'metadata.db'} is damaged (SQLite: database disk "
            "image is malformed): restore metadata.db from a backup of the home, or move the home folder away and "
            "run the pipeline again (a new home starts with no record of earlier runs)"
        ]


def test_a_store_another_process_has_locked_says_so() -> None:
    home, data = _home()
    (home / "metadata.db").write_bytes(data)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)",
            str(home / "metadata.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        code, err = run_command(home, "runs")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert code == EXIT_LOCKED, err
    assert f"ML Metadata at {home / 'metadata.db'} is locked by another process" in err
    print(f"waited {waited:.1f}s for the lock (metadata_db waits {metadata_db._LOCK_WAIT_SECONDS}s)")


def test_the_healthy_store_still_reads() -> None:
    home, data = _home()
    (home / "metadata.db").write_bytes(data)
    for command in FUZZED_COMMANDS:
        code, err = run_command(home, command)
        assert code == EXIT_OK, (command, err)


def test_a_run_on_a_damaged_store_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `run` opens the store to write: ML Metadata's RuntimeError quoting its CREATE TABLE was an
    # internal error with a traceback.
    from runners.cli import main
    from tests.conftest import SMALL_DATA

    _, data = _home()
    home = tmp_path / "home"
    home.mkdir()
    (home / "metadata.db").write_bytes(data[: len(data) // 3])
    shutil.copytree(SMALL_DATA / "span-1", tmp_path / "data" / "span-1")
    code = main(["run", "--home", str(home), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT, err
    assert "Traceback" not in err
    assert f"ML Metadata at {home / 'metadata.db'} is damaged (SQLite: database disk image is malformed)" in err
    assert not (home / "pipeline_root").exists()
