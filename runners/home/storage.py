"""Clear errors for a home folder that cannot be written: not a folder, not writable, or a full disk.

The OS says "Errno 28" deep inside Beam, TensorFlow or SQLite; these helpers turn that into one
line that names the path, what was expected and what to do.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from runners.errors import EXIT_STORAGE, RunError

# What the OS, TensorFlow's file system layer and SQLite say when a write finds no room.
_NO_SPACE_TEXT = ("No space left on device", "Disk quota exceeded", "database or disk is full")
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
# A file where a folder should be (or the reverse): mkdir says EEXIST or ENOTDIR, open() EISDIR.
_IN_THE_WAY_ERRNOS = (errno.ENOTDIR, errno.EEXIST, errno.EISDIR)
# The path in an error message: quoted as Python prints it ("[Errno 28] ...: '/home/x/model/7'"), or
# before the reason as TensorFlow prints it ("ResourceExhaustedError: /home/x/saved_model.pb; No space ...").
_MESSAGE_PATHS = (re.compile(r"'(/[^']+)'"), re.compile(r"(/[^\s;:'\"]+)[;:] *(?:No space|Disk quota)"))


def describe_bytes(count: int) -> str:
    """Returns a byte count as a short human-readable size, e.g. '3.2 MB'."""
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def free_space(path: Path) -> str:
    """Returns the free space on the disk holding path (or its nearest existing parent), or 'unknown'."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return describe_bytes(shutil.disk_usage(probe).free)
    except OSError:
        return "unknown"


def unwritable_home(home: Path, err: OSError, outcome: str = "Nothing was run.") -> RunError:
    """Builds the error for a home folder that cannot be created or written, the same for every command.

    Args:
        home: the home folder.
        err: what the OS said when creating or writing it, or a file inside it.
        outcome: what the stopped command did not do, as the message's last sentence.

    Returns:
        A RunError with EXIT_STORAGE that names the path and what to do.
    """
    where = Path(os.fsdecode(err.filename)) if err.filename else home
    reason = (err.strerror or str(err)) + ("" if where == home else f" at {where}")
    # Inside the home, the hint names the folder or file in the way, not the home itself.
    inside = where if where.is_relative_to(home) else home
    if err.errno in _IN_THE_WAY_ERRNOS:
        blocker = _first_file_on_the_way(inside)
        hint = f"{blocker} is a file, not a folder; choose another --home, or move that file away" if blocker else ""
    elif err.errno in _NO_SPACE_ERRNOS:
        hint = f"the disk is full ({free_space(home)} free); free some space, or choose --home on another disk"
    elif err.errno == errno.EROFS:
        hint = "that file system is mounted read-only; choose --home on a writable disk"
    else:
        folder = next((p for p in [inside, *inside.parents] if p.is_dir()), home)
        hint = f"make {folder} writable for this user (e.g. chmod u+w {folder}), or choose another --home"
    hint = hint or "the home must be a folder this user can create and write; choose another --home"
    return RunError(f"cannot write to the home folder {home} ({reason}): {hint}. {outcome}", EXIT_STORAGE)


def home_write_error(err: BaseException, home: Path, outcome: str) -> RunError | None:
    """Recognises a command (other than `run`) that failed because it could not write into the home.

    Args:
        err: what the command's write raised, or an error raised while handling one.
        home: the home folder.
        outcome: what the stopped command did not do (see unwritable_home).

    Returns:
        unwritable_home's error, for a full disk or a path in the home that cannot be written;
        None for any other failure (e.g. a file that could not be read, or a path outside the home).
    """
    home = home.resolve()
    for exc in _chain(err):
        if not isinstance(exc, OSError) or exc.errno not in (
            *_NO_SPACE_ERRNOS,
            *_NOT_WRITABLE_ERRNOS,
            *_IN_THE_WAY_ERRNOS,
        ):
            continue
        if exc.filename is None:
            if exc.errno in _NO_SPACE_ERRNOS:  # write() names no file
                return unwritable_home(home, exc, outcome)
            continue
        if Path(os.fsdecode(exc.filename)).resolve().is_relative_to(home):
            return unwritable_home(home, exc, outcome)
    return None


def _first_file_on_the_way(path: Path) -> Path | None:
    """Returns path, or the first of its parents, that exists but is not a folder."""
    for candidate in [*reversed(path.parents), path]:
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def _chain(err: BaseException) -> list[BaseException]:
    """Returns err and the exceptions it was raised from or while handling, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def storage_failure(err: BaseException, step: str, home: Path) -> RunError | None:
    """Recognises a step that failed because the disk is full or the home stopped being writable.

    Args:
        err: what the step raised (TFX, Beam and TensorFlow wrap the OS error in their own).
        step: the component that failed, for the message.
        home: the run's home folder.

    Returns:
        A RunError with EXIT_STORAGE naming the path and what to do, or None for any other failure.
    """
    for exc in _chain(err):
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
            return _no_space(step, exc.filename, home)
        text = str(exc)
        if any(marker in text for marker in _NO_SPACE_TEXT):
            found = (m.group(1) for m in (p.search(text) for p in _MESSAGE_PATHS) if m)
            return _no_space(step, next(found, None), home)
        if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE_ERRNOS and exc.filename:
            path = Path(os.fsdecode(exc.filename))
            if path.is_relative_to(home):
                return RunError(
                    f"{step} could not write {path}: {exc.strerror}. The home folder {home} must stay writable "
                    "for the whole run; make it writable again (or choose another --home) and run again: "
                    "finished steps are reused from the cache.",
                    EXIT_STORAGE,
                )
    return None


def _no_space(step: str, path: str | bytes | None, home: Path) -> RunError:
    target = os.fsdecode(path) if path else "its outputs"
    return RunError(
        f"no space left on the disk: {step} could not write {target} ({free_space(home)} free on the disk "
        f"holding the home folder {home}). What it wrote was not recorded as a result; free some space, or "
        "choose --home on a bigger disk, and run again: finished steps are reused from the cache.",
        EXIT_STORAGE,
    )
