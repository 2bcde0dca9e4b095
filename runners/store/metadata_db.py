"""What is wrong with a home's metadata.db when ML Metadata cannot read it, said in one line.

ML Metadata reports a damaged SQLite file as a RuntimeError quoting the SQL it ran ("Error when
executing query: file is not a database query: CREATE TABLE IF NOT EXISTS ..."), a locked one only
after half a minute of retries ("Concurrent writes aborted"). This turns those into a message that
names the file, what is wrong with it and what to do. It looks at the file only after ML Metadata
failed on it, and then only with SQLite's read-only mode.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from runners.errors import EXIT_INPUT, EXIT_LOCKED, EXIT_USAGE, RunError

_SQLITE_HEADER = b"SQLite format 3\x00"
# The tables ML Metadata 1.16 (schema version 10) keeps; a store without one of them cannot be read.
MLMD_TABLES = (
    "Artifact",
    "ArtifactProperty",
    "Association",
    "Attribution",
    "Context",
    "ContextProperty",
    "Event",
    "EventPath",
    "Execution",
    "ExecutionProperty",
    "MLMDEnv",
    "ParentContext",
    "ParentType",
    "Type",
    "TypeProperty",
)
# What SQLite and ML Metadata say about a damaged file, one with tables missing (ML Metadata then tries
# to create them, which a read-only connection refuses) and one another process holds.
_DAMAGED_TEXT = ("malformed", "file is not a database", "disk i/o error", "unable to open", "no such table")
_MISSING_TABLES_TEXT = ("subset of tables", "attempt to write a readonly database")
_LOCKED_TEXT = ("database is locked", "database table is locked", "concurrent writes aborted")

_LOCK_WAIT_SECONDS = 10

_RESTORE = (
    "restore metadata.db from a backup of the home, or move the home folder away and run the pipeline again "
    "(a new home starts with no record of earlier runs)"
)


class MetadataDbError(RunError):
    """A home's metadata.db that ML Metadata cannot read; `path` names it, the exit code says which kind."""

    def __init__(self, path: Path, problem: str, exit_code: int = EXIT_INPUT, hint: str = _RESTORE) -> None:
        super().__init__(f"ML Metadata at {path} {problem}: {hint}", exit_code)
        self.path = str(path)


def _locked(file: Path) -> MetadataDbError:
    return MetadataDbError(
        file,
        "is locked by another process (a `taxi-pipeline run` writing to it, or an open sqlite3 session)",
        EXIT_LOCKED,
        "wait for it to finish, then try again",
    )


def _tables(path: Path) -> set[str] | None:
    """The tables of an SQLite file opened read-only, or None when SQLite cannot list them."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return {str(name) for (name,) in rows}


def unreadable_values(path: str | Path) -> MetadataDbError | None:
    """Finds a row whose integer column holds text, which ML Metadata cannot parse, or None.

    ML Metadata reads such a value with a C++ CHECK that aborts the whole process (SIGABRT and a native
    stack trace, no Python exception to catch), so this looks first. One scan of each table; when SQLite
    itself cannot read the file, ML Metadata's own error says more (see diagnose).
    """
    file = Path(path)
    try:
        # A run holds its write lock for milliseconds; one held this long is another process's.
        connection = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=_LOCK_WAIT_SECONDS)
    except sqlite3.Error:
        return None
    try:
        tables = {str(name) for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in MLMD_TABLES:
            if table not in tables:
                continue
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info(`{table}`)") if "INT" in row[2].upper()]
            if not columns:
                continue
            wrong = " OR ".join(f"typeof(`{column}`) NOT IN ('integer', 'null')" for column in columns)
            found = connection.execute(
                f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM `{table}` WHERE {wrong} LIMIT 1"
            )
            row = found.fetchone()
            if row is not None:
                column = next(c for c, v in zip(columns, row, strict=True) if v is not None and not isinstance(v, int))
                return MetadataDbError(
                    file, f"is damaged (table {table}, column {column} holds a value that is not an integer)"
                )
    except sqlite3.Error as err:
        return _locked(file) if "locked" in str(err) else None
    finally:
        connection.close()
    return None


def _sqlite_reason(err: BaseException) -> str:
    """SQLite's words without the SQL ML Metadata quotes ("Error when executing query: <reason> query: <SQL>")."""
    found = re.search(r"executing query: (.*?) query:", str(err), re.DOTALL)
    reason = found.group(1) if found else (str(err).strip().splitlines() or [type(err).__name__])[0]
    return " ".join(reason.split())[:120]


def diagnose(path: str | Path, err: BaseException, opening: bool = True) -> MetadataDbError | None:
    """Explains why ML Metadata failed on a metadata.db, or None when the file is not the cause.

    Args:
        path: the home's metadata.db.
        err: what ML Metadata raised when opening or querying it.
        opening: it failed to open the store. Later, "attempt to write a readonly database" is a write
            through a read-only connection, not tables missing.

    Returns:
        The error to stop the command with: exit 3 for a damaged file, 6 for one another process has
        locked, 2 for one a newer ML Metadata wrote; None when the file looks whole (a bug elsewhere).
    """
    file = Path(path)
    text = str(err).lower()
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as os_err:
        return MetadataDbError(file, f"cannot be read ({os_err.strerror or os_err})")
    if size == 0:
        return MetadataDbError(file, "is an empty file (0 bytes), not an ML Metadata database")
    if header != _SQLITE_HEADER:
        return MetadataDbError(file, "is not an SQLite database (it does not start with SQLite's header)")
    if any(words in text for words in _LOCKED_TEXT):
        return _locked(file)
    if "greater than library version" in text:
        return MetadataDbError(
            file,
            "was written by a newer ML Metadata than this installation's",
            EXIT_USAGE,
            "use the taxi-pipeline version that wrote this home (or a newer one)",
        )
    if opening and any(words in text for words in _MISSING_TABLES_TEXT):
        tables = _tables(file)
        missing = [name for name in MLMD_TABLES if tables is not None and name not in tables]
        if len(missing) == len(MLMD_TABLES):
            return MetadataDbError(file, "is an SQLite database without ML Metadata's tables")
        if missing:
            return MetadataDbError(file, f"lacks ML Metadata's table(s) {', '.join(missing)}")
        # Every table listed, yet ML Metadata could not read them (a damaged page) or found its own
        # types or schema version gone, and tried to write them.
        return MetadataDbError(file, "is damaged (ML Metadata cannot read its tables)")
    if any(words in text for words in _DAMAGED_TEXT) or (opening and any(w in text for w in _MISSING_TABLES_TEXT)):
        return MetadataDbError(file, f"is damaged (SQLite: {_sqlite_reason(err)})")
    return None
