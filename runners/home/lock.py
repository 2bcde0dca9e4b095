"""One run at a time per home folder: an exclusive lock on <home>/.lock held for the whole run.

The lock is an flock(2) on an open file, so the kernel releases it when the holder exits, however it
exits (SIGKILL included): a crashed run never leaves a stale lock behind to delete by hand.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from runners.errors import EXIT_LOCKED, EXIT_STORAGE, RunError
from runners.home.storage import unwritable_home

LOCK_FILE = ".lock"

# Locks this process holds: home -> [file descriptor, how many nested hold() calls]. flock locks
# belong to an open file, so a second open() in the same process would be refused by its own lock;
# nested holds (the CLI, then runners.local.run) share the first one instead.
_held: dict[Path, list[int]] = {}


def lock_path(home: str | Path) -> Path:
    """Returns the lock file of a home folder."""
    return Path(home).resolve() / LOCK_FILE


def read_holder(home: str | Path) -> dict[str, str]:
    """Returns what the holder of a home's lock wrote about itself (pid, host, started, command).

    Args:
        home: the home folder.

    Returns:
        The holder's record; empty if there is none or it cannot be read (e.g. caught mid-write).
    """
    try:
        record = json.loads(lock_path(home).read_text() or "{}")
    except (OSError, ValueError, RecursionError):  # RecursionError: deeply nested JSON, not a record of ours
        return {}
    return {str(k): str(v) for k, v in record.items()} if isinstance(record, dict) else {}


def is_held_here(home: str | Path) -> bool:
    """Whether this process holds the lock of home."""
    return Path(home).resolve() in _held


@contextmanager
def hold(home: str | Path) -> Iterator[Path]:
    """Holds the exclusive lock of a home folder, creating the folder if needed.

    Taking the lock is also the check that the home can be written: the folder is created and the
    holder's record written into the lock file before anything else runs.

    Args:
        home: the home folder.

    Yields:
        The resolved home folder.

    Raises:
        RunError: EXIT_LOCKED when another process holds the lock, naming it; EXIT_STORAGE when the
            home cannot be created or written (not a folder, not writable, disk full).
    """
    home = Path(home).resolve()
    if home in _held:
        _held[home][1] += 1
        try:
            yield home
        finally:
            _held[home][1] -= 1
        return

    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise unwritable_home(home, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _locked_error(home) from None
    except OSError as err:
        os.close(fd)
        raise RunError(
            f"cannot lock {home / LOCK_FILE}: {err.strerror}; the home folder must be on a file system with "
            "file locks (a local disk); choose another --home",
            EXIT_STORAGE,
        ) from None
    try:
        _write_record(fd)
    except OSError as err:
        _release(fd)
        raise unwritable_home(home, err) from None

    _held[home] = [fd, 1]
    try:
        yield home
    finally:
        del _held[home]
        _release(fd)


def _write_record(fd: int) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": _command_line(),
    }
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    written = os.pwrite(fd, data, 0)
    if written != len(data):  # a short write is how a full disk can show up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    # Forces the write to find room on the disk now, not at close, so a full disk stops the run here.
    os.fsync(fd)


def _command_line() -> str:
    """The holder's command as typed, near enough: `python -m runners run ...` or `taxi-pipeline run ...`."""
    if not sys.argv or not sys.argv[0]:
        return ""
    program = Path(sys.argv[0])
    name = f"python -m {program.parent.name}" if program.name == "__main__.py" else program.name
    return " ".join([name, *sys.argv[1:]])


def _release(fd: int) -> None:
    # An empty lock file says "nobody holds it" to anyone reading it; unlocking is what matters.
    with suppress(OSError):
        os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _locked_error(home: Path) -> RunError:
    holder = read_holder(home)
    if holder:
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
        if holder.get("command"):
            who += f": {holder['command']}"
    else:
        who = "a process that has not written its details yet"
    return RunError(
        f"another run holds the home folder {home} ({who}). Wait for it to finish, or run with another --home. "
        f"The lock ({home / LOCK_FILE}) is released when that process exits, even if it is killed, so there "
        "is no stale lock to delete.",
        EXIT_LOCKED,
    )
